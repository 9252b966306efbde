"""A folder or file named in another encoding than UTF-8 (cp1251, as an older Russian system writes
"Элиста") is refused in one line naming it with the odd bytes escaped: an audit's intact VCF in
such a folder read as "corrupt or not a VCF", and in `genofed simulate` that hospital's worker died
and took a healthy hospital's round with it, the run ending with status 0."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers.mixed_federation import write_mixed_federation

from genofed.cli.main import main
from genofed.common.data.layout import hospital_folders
from genofed.common.data.readers import read_genotypes
from genofed.common.errors import DataError

ELISTA_CP1251 = "Элиста".encode("cp1251")


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    root = tmp_path_factory.mktemp("cp1251") / "federation"
    written = write_mixed_federation(root)
    return root, written


def test_a_hospital_folder_named_in_cp1251_refuses_the_federation_by_name(federation, tmp_path):
    root, written = federation
    copy = tmp_path / "federation"
    shutil.copytree(root, copy)
    first = next(iter(written))
    os.rename(copy / first, os.fsdecode(os.fsencode(copy) + b"/" + ELISTA_CP1251))
    with pytest.raises(DataError) as raised:
        hospital_folders(copy)
    text = str(raised.value)
    assert "not UTF-8" in text and "\\xdd\\xeb\\xe8\\xf1\\xf2\\xe0" in text and "convmv" in text
    text.encode("utf-8")  # printable: no surrogate left in the message


def test_a_genotype_file_in_such_a_folder_is_not_called_corrupt(federation, tmp_path, capsys):
    root, written = federation
    genotypes, phenotypes = written[next(iter(written))]
    odd = os.fsencode(tmp_path) + b"/" + ELISTA_CP1251
    os.mkdir(odd)
    target = os.fsdecode(odd + b"/" + os.fsencode(genotypes.name))
    shutil.copy(genotypes, target)
    with pytest.raises(DataError, match="not UTF-8"):
        read_genotypes(target)
    assert main(["data", "check", "--genotypes", target, "--phenotypes", str(phenotypes)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "corrupt" not in err
