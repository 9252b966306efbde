"""`genofed predict`'s summary reads right for a file of one person, as a hospital scoring one new
patient has it (a walkthrough read "1 people")."""

from __future__ import annotations

from helpers.model_files import people, write_model_file

from genofed.cli.main import main
from genofed.common.data.writers import write_vcf
from genofed.common.scoring.model_file import load_model_file


def test_one_person_is_one_person(tmp_path, capsys):
    model = write_model_file(tmp_path / "model.pt")
    dosages, samples, _, _ = people()
    genotypes = tmp_path / "one.vcf"
    write_vcf(genotypes, dosages[:1], samples[:1], list(load_model_file(model).panel.variant_ids))
    out = tmp_path / "risks.csv"
    assert main(["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "risks.csv.json: 1 person, model " in printed and "1 people" not in printed
