"""`genofed hospital check` on a site whose budget went on local releases says what is spent, by what,
and, when (almost) nothing is left, that the site cannot train, instead of "next: genofed hospital
start"; `hospital ledger` labels a synthetic-data generator's release "generator", not "training".

A walkthrough's site spent its whole budget of 3 on synthetic batches; `check` then still said
"data OK ... next: genofed hospital start", and the ledger listed each generator as `training`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.site_check import check_args

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.client.agent.ledger_report import kind_label, spent_on
from genofed.common.data.layout import hospital_folders


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: sites and ledgers go to tmp_path)."""
    return simulated_cohorts(11)


def _synth(cohorts: Path, site: Path, out: Path, epsilon: str) -> list[str]:
    data = hospital_folders(cohorts)[0]
    return [
        "synth",
        "--genotypes",
        str(data.genotypes),
        "--phenotypes",
        str(data.phenotypes),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--epsilon",
        epsilon,
        "--state-dir",
        str(site / "state"),
        "--spend-anyway",  # a batch that cannot pass: what the walkthrough's site spent on
    ]


def test_check_says_what_is_spent_by_what_and_that_a_spent_site_cannot_train(cohorts, tmp_path, capsys):
    site = tmp_path / "site_volgograd"
    init_site(site, "volgograd")
    check = check_args(site, cohorts, "--epsilon-budget", "3")
    assert main(check) == 0
    out = capsys.readouterr().out
    assert "privacy spent" not in out and "next: genofed hospital start" in out  # nothing spent yet
    main(_synth(cohorts, site, tmp_path / "syn1", "1"))
    capsys.readouterr()
    assert main(check) == 0
    out = capsys.readouterr().out
    assert "privacy spent: epsilon " in out and " of 3, by 1 synthetic-data generator release; left: 2" in out
    assert "cannot train" not in out and "next: genofed hospital start" in out
    main(_synth(cohorts, site, tmp_path / "syn2", "2.84"))  # its own epsilon: the total 2.98
    capsys.readouterr()
    assert main(check) == 0  # the data are still fine: check validates them
    out = capsys.readouterr().out
    assert "data OK" in out
    assert "by 2 synthetic-data generator releases; left: 0.0" in out
    assert "this site cannot train: 99% of its lifetime budget is spent" in out
    assert "next: genofed hospital start" not in out and "--change-budget REASON" in out


def test_the_ledger_labels_generator_releases_and_old_ledgers_read_the_same(cohorts, tmp_path, capsys):
    site = tmp_path / "site_volgograd"
    init_site(site, "volgograd")
    assert main(check_args(site, cohorts, "--epsilon-budget", "3")) == 0
    main(_synth(cohorts, site, tmp_path / "syn", "1"))
    capsys.readouterr()
    assert main(["hospital", "ledger", str(site)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("20")]  # a time
    assert len(rows) == 2 and all(" generator " in row and " training " not in row for row in rows)
    assert main(["hospital", "ledger", str(site), "--json"]) == 0
    releases = json.loads(capsys.readouterr().out)["releases"]
    # the stored kind is unchanged ("train"): ledgers written before the label read the same way
    assert {(r["kind"], r["label"]) for r in releases} == {("train", "generator")}
    assert kind_label("train", "synth-gan-0123-42-abcd") == "generator"
    assert kind_label("train", "fed-run-7") == "training" and kind_label("evaluate", "x") == "evaluation"
    report = {"releases": [*releases, dict(releases[0], plan_id="run-1", label="training")]}
    assert spent_on(report) == "1 synthetic-data generator release and 1 training run"
