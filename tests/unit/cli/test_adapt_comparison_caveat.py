"""The caveat beside `genofed adapt`'s comparison on validation patients split by --split-seed
(many may have trained the shared model, which flatters it) is printed whenever it applies, not
only inside the warning when the adapted model does worse: a member hospital read "shared 0.8286,
adapted 0.8857" with no caveat (a new-user walkthrough). `inspect-model` says it too; the agent's
own split (--state-dir) needs none."""

from __future__ import annotations

from helpers.model_files import write_model_file, write_people

from genofed.cli.main import main
from genofed.common.scoring.adapt import AGENT_SPLIT, FLATTERED, comparison_caveat
from genofed.common.scoring.model_file import load_model_file


def test_the_comparison_on_a_split_seed_split_carries_its_caveat(tmp_path, capsys):
    model = write_model_file(tmp_path / "shared.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    out = tmp_path / "adapted.pt"
    args = ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main([*args, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    compared = next(i for i, line in enumerate(lines) if line.startswith("  AUC on "))
    assert lines[compared + 1] == f"    caveat: {FLATTERED}"
    assert FLATTERED.startswith("if this hospital helped train the shared model, most of these patients")
    assert comparison_caveat(load_model_file(out).provenance) == FLATTERED
    assert main(["inspect-model", str(out)]) == 0
    validation = [line for line in capsys.readouterr().out.splitlines() if "validation: AUC on" in line]
    assert len(validation) == 1 and validation[0].endswith(f" ({FLATTERED})")


def test_the_agents_own_split_and_a_file_without_a_split_need_no_caveat():
    assert comparison_caveat({"validation": {"split": AGENT_SPLIT}}) is None
    assert comparison_caveat({"kind": "adapted"}) is None
    assert comparison_caveat({"validation": {"split": "keyed by --split-seed"}}) == FLATTERED
