"""A folder `genofed synth` wrote is not a hospital: a federation folder holding one is refused,
naming it, before anything runs (an audit ran `genofed simulate --data` over a synthetic copy made
without DP and got an epsilon reported for patients that had none)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from genofed.client.synth import SUMMARY_FILE
from genofed.common.data.layout import SYNTH_SUMMARY, hospital_folders
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError

VARIANTS = [f"1:{1000 + i}:A:G" for i in range(6)]


def _hospital(folder, ids, seed: int = 0) -> None:
    """A hospital folder (a genofed-written VCF, as simulate-cohorts writes, and phenotypes)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    haplotypes = rng.integers(0, 2, (len(ids), len(VARIANTS), 2))  # phased: usable as a panel too
    write_vcf(folder / "genotypes.vcf.gz", haplotypes, ids, VARIANTS)
    rows = "".join(f"{sample},{i % 2}\n" for i, sample in enumerate(ids))
    (folder / "phenotypes.csv").write_text("sample_id,label\n" + rows)


@pytest.fixture
def federation(tmp_path):
    root = tmp_path / "federation"
    _hospital(root / "maykop", [f"MAY{i:04d}" for i in range(30)])
    return root


def test_real_hospitals_written_by_genofed_are_hospitals(federation):
    assert [site.name for site in hospital_folders(federation)] == ["maykop"]


def test_a_folder_with_synths_validation_json_is_refused_by_name(federation):
    synthetic = federation / "maykop_synth"
    _hospital(synthetic, [f"P{i}" for i in range(30)])
    summary = {"passed": True, "records_generated": 30, "epsilon": None, "validation": {"checks": []}}
    (synthetic / SYNTH_SUMMARY).write_text(json.dumps(summary))
    with pytest.raises(DataError) as refused:
        hospital_folders(federation)
    text = str(refused.value)
    assert "maykop_synth" in text and "validation.json" in text and "not a hospital" in text
    assert "without DP carries its real patients unprotected" in text
    assert "--synthetic-ratio" in text


def test_a_synthetic_vcf_alone_is_refused_too(federation):
    """Only the records copied over: ##source=genofed and every sample a SYN id."""
    _hospital(federation / "copy", [f"SYN{i + 1:06d}" for i in range(30)])
    with pytest.raises(DataError, match="copy.*SYN000001"):
        hospital_folders(federation)


def test_someone_elses_validation_json_or_a_few_syn_ids_are_not_taken_for_synth(federation):
    other = federation / "rostov"
    _hospital(other, [*(f"SYN{i + 1:06d}" for i in range(3)), *(f"ROS{i}" for i in range(27))])
    (other / SYNTH_SUMMARY).write_text('{"qc": "passed"}')
    assert [site.name for site in hospital_folders(federation)] == ["maykop", "rostov"]


def test_the_file_name_is_the_one_synth_writes():
    assert SYNTH_SUMMARY == SUMMARY_FILE


def test_a_real_synth_output_is_refused(federation, tmp_path):
    """The real `genofed synth` output (reference generator, permissive checks) in a federation."""
    from helpers.synthetic import PERMISSIVE

    from genofed.client.synth import SynthOptions, synthesize

    site = federation / "maykop"
    panel = tmp_path / "public"  # other people: the site's own file is refused as a panel
    _hospital(panel, [f"REF{i:04d}" for i in range(30)], seed=1)
    out = tmp_path / "synth"
    synthesize(
        site / "genotypes.vcf.gz",
        site / "phenotypes.csv",
        out,
        SynthOptions(thresholds=PERMISSIVE, generator="reference", reference=str(panel / "genotypes.vcf.gz")),
    )
    shutil.copytree(out, federation / "maykop_synth")
    with pytest.raises(DataError, match="maykop_synth"):
        hospital_folders(federation)
