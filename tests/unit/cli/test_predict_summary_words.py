"""`genofed predict`'s summary reads right for a file of one person, as a hospital scoring one new
patient has it (a walkthrough read "1 people"), and says a person's call rate as the row notes do."""

from __future__ import annotations

import csv
import re

from helpers.model_files import people, write_model_file, write_people

from genofed.cli.main import main
from genofed.common.data.writers import write_vcf
from genofed.common.scoring.model_file import load_model_file
from genofed.common.scoring.person_notes import called_percent


def test_one_person_is_one_person(tmp_path, capsys):
    model = write_model_file(tmp_path / "model.pt")
    dosages, samples, _, _ = people()
    genotypes = tmp_path / "one.vcf"
    write_vcf(genotypes, dosages[:1], samples[:1], list(load_model_file(model).panel.variant_ids))
    out = tmp_path / "risks.csv"
    assert main(["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "risks.csv.json: 1 person, model " in printed and "1 people" not in printed


def test_the_lowest_call_rate_and_the_row_notes_round_alike(tmp_path, capsys):
    """The summary rounded ("lowest 59.9%") and the row notes truncated ("59% of panel genotypes
    called"): one person, two figures. A share just under the minimum is never shown at it."""
    model = write_model_file(tmp_path / "model.pt")
    genotypes, _ = write_people(tmp_path / "people", drop_last=11)  # 19 of 30 variants: 63.3% at most
    out = tmp_path / "risks.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main([*args, "--min-coverage", "0.5"]) == 0
    lowest = re.search(r"lowest ([0-9.]+%);", capsys.readouterr().out).group(1)
    notes = [row["notes"] for row in csv.DictReader(out.open())]
    said = f"{lowest} of panel genotypes called, under the minimum 90%"
    assert any(note.startswith(said) for note in notes)
    assert "63.3% of panel genotypes called" in " ".join(notes)
    assert called_percent(19 / 30) == "63.3%" and called_percent(0.8996, 0.9) == "89.9%"
    assert called_percent(0.8996) == "90.0%" and called_percent(1.0, 0.9) == "100.0%"
