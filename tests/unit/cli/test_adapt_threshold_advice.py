"""`genofed adapt` without a threshold says how to get one (the --validation-fraction that holds out
enough cases and controls, and its price: fewer patients to fit on), and `genofed predict` quotes an
adapted model's exact threshold figures with their 95 % intervals, as `adapt` printed them (a
new-user walkthrough: "operating threshold: none (9 cases and 14 controls ...)" with no way out
named, and "sensitivity 0.643, specificity 0.826 on 37 validation patients" bare)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from helpers.model_files import model_file, write_model_file, write_people

from genofed.cli.main import main
from genofed.common.scoring.adapt import _no_threshold_note
from genofed.common.scoring.model_file import save_model_file

#: The walkthrough's hospital: 120 patients, 47 cases; at the default 0.2, 9 cases and 14 controls
#: were held out, and 97 patients (38 cases, 59 controls) were left to fit on.
TRAINING = np.array([1] * 38 + [0] * 59)


def test_no_threshold_names_the_validation_fraction_that_gives_one():
    note = _no_threshold_note(9, 14, TRAINING)
    assert note == (
        "9 cases and 14 controls among the hospital's validation patients: fewer than 10 of a class, too few "
        "to set an operating threshold; to get one, adapt again with --validation-fraction 0.3: it holds out "
        "about 14 of the 47 cases and 22 of the 73 controls, and leaves fewer patients to fit on (about 84 "
        "of the 120 patients instead of 97)"
    )
    # the agent's own split has no fraction to change: leaving it has its own price, said
    assert "adapt again without --state-dir (its validation patients would then include" in (
        _no_threshold_note(9, 14, TRAINING, agent_split=True)
    )
    # a cohort too small for both says what is left
    small = _no_threshold_note(3, 7, np.array([1] * 12 + [0] * 38))
    assert "too few to hold out 10 of each for a threshold and keep 10 of each to fit on" in small
    assert "`genofed predict --threshold T`" in small


def test_adapt_prints_it(tmp_path, capsys):
    model = write_model_file(tmp_path / "shared.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")  # 60 people: too few for both
    args = ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main([*args, "--out", str(tmp_path / "adapted.pt")]) == 0
    printed = capsys.readouterr().out
    assert "operating threshold: none (" in printed and "--threshold T" in printed


def test_predict_quotes_an_adapted_thresholds_exact_figures_with_their_intervals(tmp_path, capsys):
    shared = model_file()
    point = {  # as `adapt` records it: the walkthrough's 37 validation patients, 14 of them cases
        **shared.operating["threshold"],
        "sensitivity": 9 / 14,
        "specificity": 19 / 23,
        "validation_patients": 37.0,
        "validation_cases": 14.0,
        "source": "the hospital's own validation patients, exact counts (nothing released)",
    }
    adapted = replace(
        shared, provenance={"kind": "adapted"}, operating={**shared.operating, "threshold": point}
    )
    save_model_file(tmp_path / "adapted.pt", adapted)
    genotypes, phenotypes = write_people(tmp_path / "people")
    args = ["predict", "--model", str(tmp_path / "adapted.pt"), "--genotypes", str(genotypes)]
    assert main([*args, "--phenotypes", str(phenotypes), "--out", str(tmp_path / "risks.csv")]) == 0
    assert (
        "the model's operating threshold (youden, sensitivity 0.643 (0.388-0.837), specificity 0.826 "
        "(0.629-0.930) on 37 validation patients (14 cases, 23 controls, exact; 95 % intervals))"
    ) in capsys.readouterr().out
