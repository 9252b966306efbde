"""`genofed adapt`: writes an adapted model file that `genofed predict` reads, prints the local
comparison and the privacy warning, refuses clearly (exit 2, no traceback), never overwrites
unasked, and its --help does not import torch."""

from __future__ import annotations

import pytest
from helpers.cli_help import help_and_heavy_imports
from helpers.model_files import write_model_file, write_people

from genofed.cli.main import main
from genofed.common.scoring.model_file import load_model_file


@pytest.fixture
def hospital(tmp_path):
    model = write_model_file(tmp_path / "shared.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    return tmp_path, model, genotypes, phenotypes


def _args(model, genotypes, phenotypes, out) -> list[str]:
    return ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes),
            "--out", str(out)]  # fmt: skip


def test_adapt_writes_a_file_predict_reads(hospital, capsys):
    folder, model, genotypes, phenotypes = hospital
    out = folder / "adapted.pt"
    assert main(_args(model, genotypes, phenotypes, out)) == 0
    printed = capsys.readouterr().out
    assert "weight on the shared model's score" in printed and "validation patients" in printed
    assert "keep this file inside the hospital" in printed and "calibrated out of fold" in printed
    assert "validated on (recorded in the file): the hospital's own validation patients:" in printed
    assert "  calibration there: not judged:" in printed  # fewer than 20 validation patients here
    adapted = load_model_file(out)
    assert adapted.validated_on["age"]["known"] == adapted.validated_on["people"]  # their ages, read
    assert adapted.provenance["kind"] == "adapted"
    assert adapted.provenance["shared_model"] == load_model_file(model).content_hash
    risks = folder / "risks.csv"
    predict = ["predict", "--model", str(out), "--genotypes", str(genotypes), "--out", str(risks)]
    assert main([*predict, "--phenotypes", str(phenotypes)]) == 0
    assert len(risks.read_text().splitlines()) == 61
    # never overwritten unasked
    assert main(_args(model, genotypes, phenotypes, out)) == 2
    assert "pass --force to replace it" in capsys.readouterr().err


def test_adapt_refuses_a_cohort_without_diagnoses(hospital, capsys):
    folder, model, genotypes, phenotypes = hospital
    args = _args(model, genotypes, phenotypes, folder / "adapted.pt")
    assert main([*args, "--label-column", "diagnosis"]) == 2
    err = capsys.readouterr().err
    assert "has no 'diagnosis' column" in err and "Traceback" not in err
    assert not (folder / "adapted.pt").exists()


def test_adapt_help_does_not_import_torch():
    text, heavy = help_and_heavy_imports("adapt")
    assert "--validation-fraction" in text
    assert heavy == []


def test_adapt_refuses_an_adapted_model_and_an_out_folder_up_front(hospital, capsys):
    folder, model, genotypes, phenotypes = hospital
    adapted = folder / "adapted.pt"
    assert main(_args(model, genotypes, phenotypes, adapted)) == 0
    capsys.readouterr()
    assert main(_args(adapted, genotypes, phenotypes, folder / "again.pt")) == 2
    err = capsys.readouterr().err
    assert "already an adapted model" in err and "adapt the federation's shared model instead" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    (folder / "adir").mkdir()
    assert main([*_args(folder / "none.pt", genotypes, phenotypes, folder / "adir"), "--force"]) == 2
    err = capsys.readouterr().err  # refused before the (missing) model is even looked for
    assert "--out" in err and "is a folder" in err and "not found" not in err
    assert not (folder / "again.pt").exists()


def test_adapt_warns_when_the_adapted_model_ranks_validation_worse(hospital, capsys):
    """Validation patients labelled by the shared score itself: the shared model ranks them
    perfectly, so the adapted one is worse there, and `adapt` says the shared model may be better."""
    import numpy as np
    import pandas as pd

    from genofed.client.site import VALIDATION_FRACTION
    from genofed.common.data.splits import keyed_split
    from genofed.common.scoring.predict import predict_file

    folder, model, genotypes, phenotypes = hospital
    risks = predict_file(load_model_file(model), genotypes, phenotypes=phenotypes).risks
    frame = pd.read_csv(phenotypes, dtype=str)
    _, validation = keyed_split(frame["sample_id"].tolist(), VALIDATION_FRACTION, 0)
    labels = (np.random.default_rng(0).random(len(frame)) < 0.5).astype(int)
    labels[validation] = risks[validation] > np.median(risks[validation])
    frame["label"] = labels
    rigged = folder / "rigged.csv"
    frame.to_csv(rigged, index=False)
    out = folder / "adapted.pt"
    assert main(_args(model, genotypes, rigged, out)) == 0
    printed = capsys.readouterr()
    assert "AUC on" in printed.out and "shared 1.0000" in printed.out
    assert "warning: " in printed.err and "the shared model may be the better choice" in printed.err
    assert "the shared model may be the better choice" in load_model_file(out).provenance["warning"]


def test_state_dir_holds_out_the_agents_own_validation_patients(hospital, capsys):
    """With the agent's state folder, adapt validates on exactly the patients the agent held out in
    federated training (its secret split), and says so in the file; without a secret it refuses."""

    from genofed.client.site import VALIDATION_FRACTION, derived_seed
    from genofed.common.data.readers import read_phenotypes
    from genofed.common.data.splits import keyed_split

    folder, model, genotypes, phenotypes = hospital
    state = folder / "agent-state"
    state.mkdir()
    args = [*_args(model, genotypes, phenotypes, folder / "adapted.pt"), "--state-dir", str(state)]
    assert main(args) == 2  # no secret: not the agent's folder, and none is created
    err = capsys.readouterr().err
    assert "holds no secret.key" in err and "Traceback" not in err
    assert not (state / "secret.key").exists()

    ids = read_phenotypes(phenotypes).sample_ids
    _, by_seed_0 = keyed_split(ids, VALIDATION_FRACTION, 0)

    def held_out_by(secret: bytes):
        return keyed_split(ids, VALIDATION_FRACTION, derived_seed(secret, "split"))[1]

    # a secret whose split holds out another number of patients than seed 0's, so that the count
    # printed below tells the two splits apart
    secret = next(bytes([k]) * 32 for k in range(256) if len(held_out_by(bytes([k]) * 32)) != len(by_seed_0))
    held_out = held_out_by(secret)
    (state / "secret.key").write_bytes(secret)
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"on {len(held_out)} validation patients" in printed
    adapted = load_model_file(folder / "adapted.pt")
    assert adapted.provenance["validation"]["split"] == "the hospital agent's own"
    assert adapted.provenance["validation"]["patients"] == len(held_out)

    assert main([*args, "--force", "--split-seed", "3"]) == 2  # the agent's split has its own seed
    assert "leave out --split-seed" in capsys.readouterr().err


def test_the_adapted_threshold_is_printed_with_what_it_does_on_the_validation_patients():
    """Beside the threshold, `adapt` prints its sensitivity and specificity on the hospital's own
    validation patients (with Wilson intervals) and how many it flags (the audit's krasnodar run)."""
    from genofed.cli.adapt import _threshold_lines

    point = {"threshold": 0.2, "sensitivity": 20 / 21, "specificity": 13 / 25, "validation_patients": 46.0,
             "validation_cases": 21.0, "flagged": 32, "flagged_share": 32 / 46}  # fmt: skip
    lines = _threshold_lines(point)
    assert lines[0].startswith("operating threshold: risk >= 0.2, the cut-off with the largest sensitivity")
    assert "on the 46 validation patients (21 with the disease)" in lines[0]
    assert "sensitivity 95.2% (20 of 21; 95 % CI 77-99%)" in lines[1]
    assert "specificity 52.0% (13 of 25; 95 % CI 33-70%)" in lines[1]
    assert "it flags 32 of the 46 (69.6%), at these patients' 46% case share" in lines[2]


def _relabelled(folder, phenotypes, labels, name: str = "relabelled.csv"):
    import pandas as pd

    frame = pd.read_csv(phenotypes, dtype=str)
    frame["label"] = labels
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def test_adapt_refuses_too_few_cases_or_controls_and_no_validation(hospital, capsys):
    """An audit's 1 case and 1 control (and 1 case with 18 controls) were adapted into an inverted
    model, rc 0; fewer than 10 training cases or controls are refused, and so is a validation share of
    0 (nothing would be validated), each before anything is written."""
    import numpy as np

    folder, model, genotypes, phenotypes = hospital
    out = folder / "adapted.pt"
    labels = np.zeros(60, dtype=int)
    labels[:3] = 1
    few = _relabelled(folder, phenotypes, labels)
    assert main(_args(model, genotypes, few, out)) == 2
    err = capsys.readouterr().err
    assert "case(s) and" in err and "fewer than the 10 of each that adapting needs" in err
    assert "at least 10 cases and 10 controls" in err and "Traceback" not in err
    assert main([*_args(model, genotypes, phenotypes, out), "--validation-fraction", "0"]) == 2
    err = capsys.readouterr().err
    assert "--validation-fraction must be in (0, 0.9], got 0" in err and "nothing would be validated" in err
    assert main([*_args(model, genotypes, phenotypes, out), "--validation-fraction", "0.0001"]) == 2
    err = capsys.readouterr().err  # a share so small that the keyed split holds out nobody of 60
    assert "the validation split holds out none of the 60 patients" in err and "Traceback" not in err
    assert not out.exists()


def test_adapt_warns_when_the_fit_inverts_the_shared_model(hospital, capsys):
    """Labels that run against the shared score: the fitted weight on it is negative, which `adapt`
    says in the summary line and in a warning, also recorded in the file."""
    import numpy as np

    from genofed.common.scoring.predict import predict_file

    folder, model, genotypes, phenotypes = hospital
    risks = predict_file(load_model_file(model), genotypes, phenotypes=phenotypes).risks
    inverted = _relabelled(folder, phenotypes, (risks < np.median(risks)).astype(int))
    out = folder / "adapted.pt"
    assert main(_args(model, genotypes, inverted, out)) == 0
    printed = capsys.readouterr()
    assert "(negative: the adaptation inverted the shared model; see the warning)" in printed.out
    assert "warning: the fitted weight on the shared model's score is negative" in printed.err
    assert "inverted the shared model" in load_model_file(out).provenance["warning"]
    assert load_model_file(out).provenance["fit"]["weight_on_shared"] < 0


@pytest.mark.parametrize("secret", [b"", b"not-a-key\n", bytes(33)])
def test_state_dir_with_a_secret_the_agent_did_not_write_is_refused(hospital, capsys, secret):
    """The agent writes a 32-byte secret.key; an empty or other file cannot be its own and would give
    another split: refused, naming the folder and the reason."""
    folder, model, genotypes, phenotypes = hospital
    state = folder / "agent-state"
    state.mkdir()
    (state / "secret.key").write_bytes(secret)
    args = [*_args(model, genotypes, phenotypes, folder / "adapted.pt"), "--state-dir", str(state)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--state-dir {state}: its secret.key" in err and "writes a 32-byte secret" in err
    assert "not the agent's secret" in err and "Traceback" not in err
    assert not (folder / "adapted.pt").exists()


def test_adapting_a_model_judged_not_fit_warns_and_the_adapted_file_keeps_the_verdict(tmp_path, capsys):
    """`adapt` said nothing when the shared model's run report judged it NOT FIT FOR USE, and the
    adapted file's rows then came out of `predict` without the note (a walkthrough)."""
    from dataclasses import replace

    from helpers.model_files import model_file
    from helpers.validated_on import adults

    from genofed.common.scoring.model_file import save_model_file
    from genofed.server.report.verdict import NOT_FIT

    fitness = {"verdict": NOT_FIT, "passed": False, "failed": ["its operating threshold flags everyone"]}
    model = tmp_path / "shared.pt"
    save_model_file(model, replace(model_file(), validated_on={**adults(), "fitness": fitness}))
    genotypes, phenotypes = write_people(tmp_path / "people")
    out = tmp_path / "adapted.pt"
    assert main(_args(model, genotypes, phenotypes, out)) == 0
    err = capsys.readouterr().err
    assert f"warning: the run's report judged the shared model {NOT_FIT}: fails 1 of " in err
    assert "`genofed predict` marks every row of its scores not for patient care" in err
    risks = tmp_path / "risks.csv"
    assert main(["predict", "--model", str(out), "--genotypes", str(genotypes), "--out", str(risks)]) == 0
    rows = risks.read_text().splitlines()[1:]
    note = f"{NOT_FIT} (the shared model it was adapted from): not for patient care"
    assert rows and all(note in row for row in rows)
