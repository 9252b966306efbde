"""The caveat beside `genofed adapt`'s comparison on validation patients split by --split-seed
(many may have trained the shared model, which flatters it) is printed whenever it applies, not
only inside the warning when the adapted model does worse: a member hospital read "shared 0.8286,
adapted 0.8857" with no caveat (a new-user walkthrough). `inspect-model` says it too; the agent's
own split (--state-dir) needs none. When the adapted model scores lower the warning carries the
caveat, and it is said once: beside the comparison a pointer to the warning."""

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


def test_the_caveat_is_said_once_when_the_adapted_model_scores_lower(tmp_path, capsys):
    """Validation patients labelled by the shared score itself: the shared model ranks them
    perfectly, the adapted one lower, and the warning says the shared model may be better, with
    the caveat; `adapt` printed the caveat there and again beside the comparison."""
    import numpy as np
    import pandas as pd

    from genofed.client.site import VALIDATION_FRACTION
    from genofed.common.data.splits import keyed_split
    from genofed.common.scoring.predict import predict_file

    model = write_model_file(tmp_path / "shared.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    risks = predict_file(load_model_file(model), genotypes, phenotypes=phenotypes).risks
    frame = pd.read_csv(phenotypes, dtype=str)
    _, validation = keyed_split(frame["sample_id"].tolist(), VALIDATION_FRACTION, 0)
    labels = (np.random.default_rng(0).random(len(frame)) < 0.5).astype(int)
    labels[validation] = risks[validation] > np.median(risks[validation])
    frame["label"] = labels
    rigged = tmp_path / "rigged.csv"
    frame.to_csv(rigged, index=False)
    out = tmp_path / "adapted.pt"
    args = ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(rigged)]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "the shared model may be the better choice" in printed.err
    assert (printed.out + printed.err).count(FLATTERED) == 1 and FLATTERED in printed.err
    lines = printed.out.splitlines()
    compared = next(i for i, line in enumerate(lines) if line.startswith("  AUC on "))
    assert (
        lines[compared + 1]
        == "    caveat: the warning above says why the shared model's figure may be flattered"
    )
    assert FLATTERED in load_model_file(out).provenance["warning"]  # predict shows the warning alone
    assert main(["inspect-model", str(out)]) == 0
    described = capsys.readouterr().out
    assert described.count(FLATTERED) == 1
    assert described.index("warning: ") < described.index("the warning above says why")
