"""`genofed hospital check` takes no default lifetime budget: without `--epsilon-budget` it is
refused, saying what the number is and giving examples (a default of 8 chose for the hospital,
silently, a budget the run report calls weak: a DPO audit). A budget above the report's
WEAK_EPSILON is accepted with one line saying it is weak; inf with one saying there is no DP.
What check records is what `genofed hospital ledger` reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from helpers.site_check import check_args

from genofed.cli.main import build_parser, main
from genofed.client.agent.keys import init_site
from genofed.server.report.privacy import WEAK_EPSILON
from tests.helpers.cli_refusal import refused


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: sites and ledgers go to tmp_path)."""
    return simulated_cohorts(11)


def _check_args(site: Path, cohorts: Path) -> list[str]:
    return check_args(site, cohorts)


def test_check_without_a_budget_is_refused_saying_what_it_is(tmp_path, capsys):
    site = tmp_path / "site"
    init_site(site, "rostov")
    before = (site / "hospital.json").read_text()
    # refused before any file is read: these do not exist
    args = ["hospital", "check", str(site), "--genotypes", "no.vcf", "--phenotypes", "no.csv"]
    err = refused(args, capsys, max_lines=1)
    assert "give --epsilon-budget E" in err and "lifetime privacy budget" in err
    assert "1-2 for strong protection" in err and "8 is weak" in err and "inf" in err
    assert f"above {WEAK_EPSILON:g}" in err
    assert (site / "hospital.json").read_text() == before and not (site / "state").exists()
    # a number beyond a float read as inf would be no DP at all: only `inf` written so means that
    with pytest.raises(SystemExit):
        main([*args, "--epsilon-budget", "1e400"])
    err = capsys.readouterr().err
    assert "1e400 is beyond any epsilon and would read as inf (no differential privacy)" in err
    with pytest.raises(SystemExit):
        main([*args, "--epsilon-budget", "abc"])
    assert "'abc' is not a number" in capsys.readouterr().err
    assert (site / "hospital.json").read_text() == before and not (site / "state").exists()


def test_the_help_says_the_budget_is_required_and_where_weak_starts():
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    hospital = commands.choices["hospital"]
    check = next(a for a in hospital._actions if isinstance(a, argparse._SubParsersAction)).choices["check"]
    (budget,) = [a for a in check._actions if "--epsilon-budget" in a.option_strings]
    assert budget.default is None and "required" in budget.help and "(default" not in budget.help
    assert f"above {WEAK_EPSILON:g} the run report calls the guarantee weak" in budget.help


@pytest.mark.parametrize(
    ("budget", "warning"),
    [
        pytest.param("2", None, id="strong"),
        pytest.param("8", "  warning: epsilon budget 8 is weak (the run report's word above 2)", id="weak"),
        pytest.param("inf", "  warning: epsilon budget inf: no differential privacy", id="no-dp"),
    ],
)
def test_check_says_when_the_budget_is_weak(tmp_path, cohorts, capsys, budget, warning):
    site = tmp_path / "site"
    init_site(site, "rostov")
    assert main([*_check_args(site, cohorts), "--epsilon-budget", budget]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("  warning: epsilon budget")]
    if warning is None:
        assert warnings == [], out
    else:
        assert len(warnings) == 1 and warnings[0].startswith(warning), out
    assert f"privacy budget: epsilon {float(budget):g}" in out
    recorded = json.loads((site / "hospital.json").read_text())["data"]
    assert recorded["epsilon_budget"] == float(budget)

    # what check recorded is what the ledger command reads: nothing spent yet, all of it left
    assert main(["hospital", "ledger", str(site)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("hospital rostov: nothing spent yet: ")
    assert line.endswith(f"budget epsilon {float(budget):g} at delta 1e-05, all of it left")


# --- a re-check never changes the recorded budget or delta silently (an audit: budget 3, 2.99 spent,
# re-checked with --epsilon-budget 10, 1, or --delta 1e-7: rc 0, no audit line, no earlier value kept)


def _spent_site(tmp_path, cohorts, monkeypatch, capsys, budget: str = "3") -> tuple[Path, float]:
    """A checked site whose ledger holds one training round; returns it and its epsilon at 1e-5."""
    from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger

    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))
    site = tmp_path / "site"
    init_site(site, "rostov")
    assert main([*_check_args(site, cohorts), "--epsilon-budget", budget]) == 0
    ledger = PrivacyLedger(site / "state" / LEDGER_FILE)
    ledger.charge(Charge("plan", 1, 2.0, 0.1, 10, 0.0, delta=1e-5))
    capsys.readouterr()
    return site, ledger.epsilon(1e-5)


def _audit_entries(site: Path) -> list[dict]:
    path = site / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_budget_below_what_was_spent_is_refused(tmp_path, cohorts, monkeypatch, capsys):
    site, spent = _spent_site(tmp_path, cohorts, monkeypatch, capsys, budget="8")
    before = (site / "hospital.json").read_text()
    err = refused([*_check_args(site, cohorts), "--epsilon-budget", f"{spent / 2:g}"], capsys, max_lines=1)
    assert "has already spent epsilon" in err and "never set below" in err
    assert (site / "hospital.json").read_text() == before and _audit_entries(site) == []


def test_a_smaller_delta_under_which_the_spending_exceeds_the_budget_is_refused(
    tmp_path, cohorts, monkeypatch, capsys
):
    from genofed.common.privacy.accountant import epsilon_of

    site, spent = _spent_site(tmp_path, cohorts, monkeypatch, capsys, budget="8")
    budget = (spent + epsilon_of([(2.0, 0.1, 10)], 1e-9)) / 2  # above the spent at 1e-5, below at 1e-9
    args = [*_check_args(site, cohorts), "--epsilon-budget", f"{budget:g}", "--change-budget", "test"]
    assert main([*args, "--delta", "1e-5"]) == 0  # lowering the budget, still above what was spent
    capsys.readouterr()
    err = refused([*args, "--delta", "1e-9"], capsys, max_lines=1)
    assert "--delta 1e-09" in err and "has already spent epsilon" in err


def test_raising_the_budget_needs_change_budget_and_is_audited(tmp_path, cohorts, monkeypatch, capsys):
    site, _ = _spent_site(tmp_path, cohorts, monkeypatch, capsys, budget="3")
    before = (site / "hospital.json").read_text()
    err = refused([*_check_args(site, cohorts), "--epsilon-budget", "10"], capsys, max_lines=1)
    assert "--change-budget REASON" in err and "epsilon 3 at delta 1e-05" in err
    assert (site / "hospital.json").read_text() == before and _audit_entries(site) == []
    err = refused([*_check_args(site, cohorts), "--epsilon-budget", "3", "--delta", "1e-4"], capsys)
    assert "--change-budget REASON" in err

    args = [*_check_args(site, cohorts), "--epsilon-budget", "10", "--change-budget", "DPO decision 12"]
    assert main(args) == 0
    assert "budget CHANGED from epsilon 3 at delta 1e-05" in capsys.readouterr().out
    data = json.loads((site / "hospital.json").read_text())["data"]
    assert data["epsilon_budget"] == 10.0
    (earlier,) = data["earlier_budgets"]
    assert (
        earlier["epsilon_budget"] == 3.0
        and earlier["delta"] == 1e-5
        and earlier["reason"] == "DPO decision 12"
    )
    assert earlier["from"] and earlier["until"]
    (entry,) = [e for e in _audit_entries(site) if e.get("event") == "budget-change"]
    assert entry["old"]["epsilon_budget"] == 3.0 and entry["new"]["epsilon_budget"] == 10.0
    assert entry["reason"] == "DPO decision 12"
    assert main(["hospital", "audit", str(site)]) == 0
    assert "budget changed (hospital check): epsilon 3.0 at delta 1e-05" in capsys.readouterr().out
    # the same budget again changes nothing and keeps the earlier one
    assert main([*_check_args(site, cohorts), "--epsilon-budget", "10"]) == 0
    assert len(json.loads((site / "hospital.json").read_text())["data"]["earlier_budgets"]) == 1


def test_a_delta_of_one_over_the_patients_is_refused(tmp_path, cohorts, capsys):
    site = tmp_path / "site"
    init_site(site, "rostov")
    err = refused(
        [*_check_args(site, cohorts), "--epsilon-budget", "3", "--delta", "0.5"], capsys, max_lines=1
    )
    assert "--delta 0.5 is not below 1 /" in err and "releasing a patient's record outright" in err
    assert "data" not in json.loads((site / "hospital.json").read_text())


def test_a_synthetic_ratio_without_synthetic_is_refused(tmp_path, cohorts, capsys):
    site = tmp_path / "site"
    init_site(site, "rostov")
    args = [*_check_args(site, cohorts), "--epsilon-budget", "3", "--synthetic-ratio", "0.5"]
    err = refused(args, capsys, max_lines=1)
    assert "--synthetic-ratio 0.5 needs --synthetic DIR" in err
    assert "data" not in json.loads((site / "hospital.json").read_text())


def _two_sites(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """sevastopol's site folder (to check) and rostov's (whose key is copied over sevastopol's)."""
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))
    site, other = tmp_path / "k6", tmp_path / "k7"
    init_site(site, "sevastopol")
    init_site(other, "rostov")
    return site, other


def test_another_sites_key_is_refused_by_check(tmp_path, cohorts, monkeypatch, capsys):
    import shutil

    site, other = _two_sites(tmp_path, monkeypatch)
    shutil.copyfile(other / "supernode.key", site / "supernode.key")
    err = refused([*_check_args(site, cohorts), "--epsilon-budget", "3"], capsys, max_lines=2)
    assert "supernode.key: this private key is not the one of" in err and "replaced" in err
    # the same key with a matching .pub copied too: the fingerprint hospital init recorded tells
    shutil.copyfile(other / "supernode.pub", site / "supernode.pub")
    err = refused([*_check_args(site, cohorts), "--epsilon-budget", "3"], capsys, max_lines=2)
    assert "is not the one" in err and "recorded at `genofed hospital init`" in err
    assert "data" not in json.loads((site / "hospital.json").read_text())


def test_start_refuses_a_key_swapped_after_the_check(tmp_path, cohorts, monkeypatch, capsys):
    """`hospital start` launched the SuperNode with another site's key copied in after `check`."""
    import shutil

    from genofed.client.agent.launch import AgentOptions, prepare_start
    from genofed.common.deployment.flower_env import SUPEREXEC_SECRET
    from genofed.common.errors import GenofedError
    from genofed.server.service.pki import write_pki

    site, other = _two_sites(tmp_path, monkeypatch)
    assert main([*_check_args(site, cohorts), "--epsilon-budget", "3"]) == 0
    shutil.copyfile(other / "supernode.key", site / "supernode.key")
    write_pki(tmp_path / "pki", ["localhost"])
    with pytest.raises(GenofedError, match="is not the one"):
        prepare_start(site, AgentOptions("localhost:9", tmp_path / "pki" / "ca.pem"))
    assert not (site / SUPEREXEC_SECRET).exists()  # refused before anything is started or written
