"""`genofed hospital check --max-coalition-epsilon` follows the governance of the lifetime budget: a
raised cap (a larger number, or inf) needs `--change-budget REASON` and is audited, with the
earlier cap kept in hospital.json's `earlier_budgets`; a lower one needs no reason but is recorded
too; a cap below what the site already spent against the coordinator and all other hospitals
colluding is refused; a first cap (the site's opt-in to distributed DP) needs no reason. Before,
an operator raised a site's cap from 0.5 to 20 and then to inf with no reason and no trace, and set
it to 5 after 10.1 was spent, which `hospital ledger` then showed as "10.1 (cap 5)"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli_refusal import refused
from helpers.site_check import check_args

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger

#: A distributed round: the coordinator faces noise 2.0, a coalition only the site's own share, 1.4
#: (epsilon about 1.77 against a coalition at 1e-5).
DISTRIBUTED = Charge("plan", 1, 2.0, 0.1, 10, 0.0, delta=1e-5, coalition_noise_multiplier=1.4)


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: sites and ledgers go to tmp_path)."""
    return simulated_cohorts(11)


def _check(site: Path, cohorts: Path, *options: str) -> list[str]:
    return check_args(site, cohorts, "--epsilon-budget", "8", *options)


def _site(tmp_path, cohorts, monkeypatch, capsys, *options: str) -> tuple[Path, float]:
    """A site checked with `options`, whose ledger holds one distributed round; returns it and its
    epsilon against a coalition at 1e-5."""
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))
    site = tmp_path / "site"
    init_site(site, "rostov")
    assert main(_check(site, cohorts, *options)) == 0
    ledger = PrivacyLedger(site / "state" / LEDGER_FILE)
    ledger.charge(DISTRIBUTED)
    capsys.readouterr()
    return site, ledger.coalition_epsilon(1e-5)


def _data(site: Path) -> dict:
    return json.loads((site / "hospital.json").read_text())["data"]


def _changes(site: Path) -> list[dict]:
    path = site / "audit.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in entries if e.get("event") == "budget-change"]


def test_raising_the_coalition_cap_needs_change_budget_and_is_audited(tmp_path, cohorts, monkeypatch, capsys):
    site, _ = _site(tmp_path, cohorts, monkeypatch, capsys, "--max-coalition-epsilon", "5")
    before = (site / "hospital.json").read_text()
    for raised in ("20", "inf"):
        err = refused(_check(site, cohorts, "--max-coalition-epsilon", raised), capsys, max_lines=1)
        assert f"--max-coalition-epsilon {float(raised):g} would raise this site's coalition cap" in err
        assert "colluding: 5," in err and "give --change-budget REASON" in err
        assert (site / "hospital.json").read_text() == before and _changes(site) == []

    # lowering it tightens: no reason needed, but recorded as a budget change is
    assert main(_check(site, cohorts, "--max-coalition-epsilon", "3")) == 0
    assert "budget CHANGED from epsilon 8 at delta 1e-05, coalition cap 5;" in capsys.readouterr().out
    data = _data(site)
    assert data["max_coalition_epsilon"] == 3.0
    assert [(e["max_coalition_epsilon"], e["reason"]) for e in data["earlier_budgets"]] == [(5.0, "")]
    (lowered,) = _changes(site)
    assert lowered["old"]["max_coalition_epsilon"] == 5.0 and lowered["new"]["max_coalition_epsilon"] == 3.0

    args = _check(site, cohorts, "--max-coalition-epsilon", "inf", "--change-budget", "DPO decision 14")
    assert main(args) == 0
    assert "coalition cap 3;" in capsys.readouterr().out
    data = _data(site)
    assert data["max_coalition_epsilon"] == float("inf") and data["epsilon_budget"] == 8.0
    assert [(e["max_coalition_epsilon"], e["reason"]) for e in data["earlier_budgets"]] == [
        (5.0, ""),
        (3.0, "DPO decision 14"),
    ]
    raised = _changes(site)[-1]
    assert raised["old"]["max_coalition_epsilon"] == 3.0 and raised["new"]["max_coalition_epsilon"] == "inf"
    assert raised["reason"] == "DPO decision 14"
    assert main(["hospital", "audit", str(site)]) == 0
    out = capsys.readouterr().out
    assert "coalition cap 3 (since" in out and "coalition cap inf; reason: DPO decision 14" in out
    # the same cap again changes nothing
    assert main(_check(site, cohorts, "--max-coalition-epsilon", "inf")) == 0
    assert len(_data(site)["earlier_budgets"]) == 2 and len(_changes(site)) == 2


def test_a_coalition_cap_below_what_was_spent_is_refused(tmp_path, cohorts, monkeypatch, capsys):
    site, coalition = _site(tmp_path, cohorts, monkeypatch, capsys, "--max-coalition-epsilon", "inf")
    before = (site / "hospital.json").read_text()
    err = refused(_check(site, cohorts, "--max-coalition-epsilon", f"{coalition / 2:g}"), capsys, max_lines=1)
    assert f"has already spent epsilon {coalition:.4g} at delta 1e-05 against the coordinator" in err
    assert "a cap is never set below what was spent" in err
    assert (site / "hospital.json").read_text() == before and _changes(site) == []
    # at or above what was spent, lowering the cap is allowed
    assert main(_check(site, cohorts, "--max-coalition-epsilon", f"{coalition * 1.01:g}")) == 0


def test_a_first_cap_is_an_opt_in_and_dropping_it_does_not_reset_it(tmp_path, cohorts, monkeypatch, capsys):
    site, _ = _site(tmp_path, cohorts, monkeypatch, capsys)  # distributed DP refused
    assert _data(site)["max_coalition_epsilon"] is None
    # the first cap is the site's opt-in to distributed DP, like a first budget: no reason needed
    assert main(_check(site, cohorts, "--max-coalition-epsilon", "5")) == 0
    (opt_in,) = _changes(site)
    assert opt_in["old"]["max_coalition_epsilon"] is None and opt_in["new"]["max_coalition_epsilon"] == 5.0
    # refusing distributed DP again tightens; opting in again is compared with the last cap, 5
    assert main(_check(site, cohorts)) == 0
    capsys.readouterr()
    err = refused(_check(site, cohorts, "--max-coalition-epsilon", "inf"), capsys, max_lines=1)
    assert "would raise this site's coalition cap" in err and "colluding: 5," in err
    assert main(_check(site, cohorts, "--max-coalition-epsilon", "5")) == 0
    assert _data(site)["max_coalition_epsilon"] == 5.0
