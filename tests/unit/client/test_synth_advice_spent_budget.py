"""When a site's (or a bare ledger's) budget cannot pay for another DP batch worth making (less than
`synth_feasibility.MIN_BATCH_EPSILON` left), a failed batch's advice is only "no new batch here" and
augmentation, and `hospital check --synthetic` on a failed batch says the same instead of "generate one
that passes".

A walkthrough with 0.0151 of a budget of 3 left was offered a larger epsilon, the other generator and
the reference generator; following it spent the rest on a batch at noise 158.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.site_check import check_args

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.client.synth_advice import SiteBudget, suggestions
from genofed.common.data.layout import hospital_folders


def _failed_dp_batch(kind: str = "vae") -> dict:
    checks = [
        {"name": "allele_frequency_correlation", "value": -0.04, "threshold": ">= 0.84", "passed": False},
        {"name": "pca_mixing", "value": 0.0, "threshold": ">= 0.87", "passed": False},
    ]
    return {
        "passed": False,
        "failed_checks": [c["name"] for c in checks],
        "epsilon": 1.0,
        "delta": 1e-5,
        "generator": {"kind": kind, "settings": {"epochs": 80}},
        "validation": {"checks": checks},
    }


@pytest.mark.parametrize("left", [0.0151, 0.5])
def test_too_little_left_for_a_batch_gets_only_no_new_batch_and_augmentation(left):
    site = SiteBudget("kstate", 3.0, left, outside_site=True)
    tips = suggestions(_failed_dp_batch(), site)
    assert len(tips) == 2, tips
    assert tips[0].startswith("no new batch here: this ledger's budget cannot pay for another DP batch")
    assert "augmentation" in tips[1]
    text = " ".join(tips)
    assert "--generator" not in text and "larger --epsilon" not in text and "--epochs" not in text


def test_enough_left_still_gets_the_other_generators():
    tips = " ".join(
        suggestions(_failed_dp_batch("reference"), SiteBudget("kstate", 3.0, 1.5, outside_site=True))
    )
    assert "no new batch here" not in tips and "--generator vae or --generator gan" in tips


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: sites and ledgers go to tmp_path)."""
    return simulated_cohorts(11)


def test_check_synthetic_on_a_failed_batch_at_a_spent_site_says_no_new_batch(cohorts, tmp_path, capsys):
    site = tmp_path / "site_volgograd"
    init_site(site, "volgograd")
    check = check_args(site, cohorts, "--epsilon-budget", "3")
    assert main(check) == 0
    data = hospital_folders(cohorts)[0]
    synth = ["synth", "--genotypes", str(data.genotypes), "--phenotypes", str(data.phenotypes)]
    synth += ["--epochs", "1", "--epsilon", "2.995", "--state-dir", str(site / "state"), "--spend-anyway"]
    assert main([*synth, "--out", str(tmp_path / "syn")]) == 1  # a failed batch, charged
    out = capsys.readouterr().out
    assert "no new batch here" in out and "--generator gan" not in out
    assert main([*check, "--synthetic", str(tmp_path / "syn"), "--synthetic-ratio", "0.5"]) != 0
    err = capsys.readouterr().err
    assert "the synthetic batch failed validation" in err and "no new batch here" in err
    assert "generate one that passes" not in err and "augmentation" in err
