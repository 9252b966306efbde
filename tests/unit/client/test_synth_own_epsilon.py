"""`genofed synth --epsilon E`: E is the batch's OWN guarantee, whatever the ledger already holds.

An outside walkthrough: on a ledger holding epsilon 1.99, `--epsilon 1` calibrated the noise so
that the ledger's composed total moved by 1, which took a release at noise 2.08, epsilon 2.07 on
its own, while the tool said the records' bound was "that epsilon itself"; a fresh ledger got
about twice the noise for the same command, and `--epsilon 0.0134` was accepted (0.21 on its own)
although an epsilon too small for the run is refused. Now the noise is calibrated for the release
alone, the ledger is charged what composing it adds (at most E), and the budget refuses the total.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.site_files import synth_args, write_small_site

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

DELTA = 1e-5


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "rostov")


def _noises(monkeypatch) -> list[float]:
    """Record the noise multiplier each run's generator is given."""
    seen: list[float] = []
    real = synth_module.generate_validated

    def recording(*args, **kwargs):
        seen.append(kwargs["noise_multiplier"])
        return real(*args, **kwargs)

    monkeypatch.setattr(synth_module, "generate_validated", recording)
    return seen


def _plan_steps(ledger: PrivacyLedger, plan: str) -> list:
    return [c.step for c in ledger.charges if c.plan_id == plan]


def test_a_ledger_with_history_gets_the_noise_of_a_fresh_one_and_is_charged_what_composing_adds(
    files, tmp_path, monkeypatch, capsys
):
    noises = _noises(monkeypatch)
    state = tmp_path / "state"
    budget = ["--state-dir", str(state), "--budget", "8"]
    assert main(synth_args(files, tmp_path / "a", "--epsilon", "1", *budget)) in (0, 1)
    assert main(synth_args(files, tmp_path / "b", "--epsilon", "1", *budget)) in (0, 1)
    capsys.readouterr()
    first, second = noises  # the second run's ledger held the first's epsilon
    assert second == pytest.approx(first, rel=1e-6)
    ledger = PrivacyLedger(state / LEDGER_FILE)
    for out in ("a", "b"):
        summary = json.loads((tmp_path / out / "validation.json").read_text())
        own = epsilon_of(_plan_steps(ledger, summary["ledger_plan"]), DELTA)
        assert summary["epsilon"] == 1.0 and own == pytest.approx(1.0, abs=0.01)
    before, after = summary["ledger_epsilon_before"], summary["ledger_epsilon_after"]
    assert before == pytest.approx(
        epsilon_of(
            _plan_steps(ledger, json.loads((tmp_path / "a" / "validation.json").read_text())["ledger_plan"]),
            DELTA,
        )
    )
    # composition adds less than the batch's own epsilon, and the ledger holds exactly that total
    assert before < after < before + 1.0 and after == pytest.approx(ledger.epsilon(DELTA))
    report = (tmp_path / "b" / "report.md").read_text()
    assert "epsilon 1 (delta 1e-05), the bound on what this batch alone reveals" in report
    assert f"went from epsilon {before:.3g} to {after:.3g}" in report


def test_an_epsilon_too_small_on_its_own_is_refused_on_a_ledger_with_history(files, tmp_path, capsys):
    """On a ledger that holds epsilon 2, 0.05 more of the composed total was reachable at some noise
    (and was accepted); on its own a VAE release at the largest noise still costs more than 0.05."""
    state = tmp_path / "state"
    budget = ["--state-dir", str(state), "--budget", "8"]
    assert main(synth_args(files, tmp_path / "a", "--epsilon", "2", *budget)) in (0, 1)
    charges = len(PrivacyLedger(state / LEDGER_FILE).charges)
    capsys.readouterr()
    assert main(synth_args(files, tmp_path / "b", "--epsilon", "0.05", *budget)) == 2
    err = capsys.readouterr().err
    assert "--epsilon 0.05 is too small to calibrate" in err and "on its own" in err
    assert len(PrivacyLedger(state / LEDGER_FILE).charges) == charges and not (tmp_path / "b").exists()


def test_the_budget_refuses_the_composed_total_not_the_sum(files, tmp_path, capsys):
    """Two releases of epsilon 1 each compose to about 1.46: a second one fits a budget of 1.6,
    which the sum (2) would have refused; a third (about 1.82) does not."""
    state = tmp_path / "state"
    budget = ["--state-dir", str(state), "--budget", "1.6"]
    assert main(synth_args(files, tmp_path / "a", "--epsilon", "1", *budget)) in (0, 1)
    assert main(synth_args(files, tmp_path / "b", "--epsilon", "1", *budget)) in (0, 1)
    spent = PrivacyLedger(state / LEDGER_FILE).epsilon(DELTA)
    assert 1.0 < spent <= 1.6
    capsys.readouterr()
    assert main(synth_args(files, tmp_path / "c", "--epsilon", "1", *budget)) == 2
    err = capsys.readouterr().err
    assert "would bring its total to" in err and "exceed its budget of 1.6" in err
    assert PrivacyLedger(state / LEDGER_FILE).epsilon(DELTA) == pytest.approx(spent)
    assert not (tmp_path / "c").exists()
