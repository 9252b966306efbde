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

from genofed.cli.main import build_parser, main
from genofed.client.agent.keys import init_site
from genofed.common.data.layout import hospital_folders
from genofed.server.report.privacy import WEAK_EPSILON
from tests.helpers.cli_refusal import refused


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: sites and ledgers go to tmp_path)."""
    return simulated_cohorts(11)


def _check_args(site: Path, cohorts: Path) -> list[str]:
    data = hospital_folders(cohorts)[0]
    return [
        "hospital",
        "check",
        str(site),
        "--genotypes",
        str(data.genotypes),
        "--phenotypes",
        str(data.phenotypes),
        "--panel",
        str(cohorts / "panel.tsv"),
    ]


def test_check_without_a_budget_is_refused_saying_what_it_is(tmp_path, capsys):
    site = tmp_path / "site"
    init_site(site, "rostov")
    before = (site / "hospital.json").read_text()
    # refused before any file is read: these do not exist
    args = ["hospital", "check", str(site), "--genotypes", "no.vcf", "--phenotypes", "no.csv"]
    err = refused(args, capsys, max_lines=1)
    assert "give --epsilon-budget E" in err and "lifetime privacy budget" in err
    assert "1-3 for strong protection" in err and "8 is weak" in err and "inf" in err
    assert f"above {WEAK_EPSILON:g}" in err
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
