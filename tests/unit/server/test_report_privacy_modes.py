"""The report states the privacy the run actually had: under distributed DP both epsilons, each with
the adversary it holds against, and what SecAgg+ lets leave a hospital; without DP, that the
validation histograms (and the threshold read from them) were exact counts, not noisy releases."""

from __future__ import annotations

import math
from pathlib import Path

from helpers.report_run import write_run

from genofed.server.report import write_report
from genofed.server.report.assessment import assess
from genofed.server.report.bedside import bedside_section
from genofed.server.report.facts import run_facts_section
from genofed.server.report.privacy import privacy_section, privacy_summary_line
from genofed.server.report.privacy_mode import distributed_dp, privacy_mode_text, worst_coalition_epsilon
from genofed.server.report.verdict import verdict_section


def _section(text: str, title: str) -> str:
    """The text of one '## title' section."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def _distributed_results(cap: float = math.inf) -> dict:
    """A `--secagg --privacy distributed --epsilon 3` run as results.json records it: each hospital's
    epsilon against the coordinator and its larger coalition epsilon."""
    coalition = {"rostov": 9.87, "elista": 11.52}
    return {
        "epsilon_budget": 3.0,
        "delta": 1e-5,
        "secagg": True,
        "epsilon": {name: 2.98 for name in coalition},
        "sites": {
            name: {"samples": 300 if name == "rostov" else 60, "epsilon": 2.98, "coalition_epsilon": value}
            for name, value in coalition.items()
        },
        "config": {"privacy": "distributed", "secagg": True, "clip": 1.0, "max-coalition-epsilon": cap},
    }


def _local_results(secagg: bool) -> dict:
    """The same run under local DP: one epsilon per hospital, no coalition epsilon."""
    results = _distributed_results()
    results["secagg"] = secagg
    results["config"] = {"privacy": "local", "secagg": secagg, "clip": 1.0}
    for record in results["sites"].values():
        del record["coalition_epsilon"]
    return results


def test_distributed_privacy_section_states_the_mode_and_both_epsilons_with_their_adversaries() -> None:
    text = privacy_section(_distributed_results(), plot_written=False)
    assert "**Privacy mode: distributed differential privacy under secure aggregation**" in text
    assert "- **epsilon = 3** at delta = 1e-05 (the budget) against a coordinator that sees only" in text
    assert (
        "- **coalition epsilon up to 11.52 (the largest over hospitals)** at the same delta against" in text
    )
    assert "**Against a coordinator that sees only the SecAgg+ sum** (epsilon 3)" in text
    assert "any outcome of what a coordinator that sees only the SecAgg+ sum learns" in text
    assert "e^epsilon = 20.1 times as likely" in text
    coalition = text[text.index("**Against the coordinator colluding with all other hospitals**") :]
    assert "coalition epsilon, 11.52 at the most-exposed hospital" in coalition
    assert f"e^11.52 = {math.exp(11.52):,.0f} times as likely" in coalition
    assert "a weak guarantee" in coalition and "This run set no cap on it" in coalition
    assert "against a coordinator that sees only the sum; against the coordinator with all other " in text
    assert "9.87 to 11.52 (coalition epsilon)" in text
    plotted = privacy_section(_distributed_results(), plot_written=True)
    assert plotted.endswith("the SecAgg+ sum; the coalition epsilon is not plotted.")


def test_distributed_what_leaves_is_a_masked_share_of_the_noisy_update() -> None:
    text = privacy_section(_distributed_results(), plot_written=False)
    leaves = text[text.index("**What leaves a hospital:**") :]
    assert leaves.startswith("**What leaves a hospital:** a masked share of its noisy update")
    assert "only its share of the DP noise" in leaves and "never one hospital's update" in leaves
    assert "model weights (the update after local training" not in text


def test_coalition_cap_and_missing_coalition_epsilon_are_said() -> None:
    assert "capped each hospital's coalition epsilon at 12" in privacy_section(
        _distributed_results(cap=12.0), plot_written=False
    )
    results = _distributed_results()
    for record in results["sites"].values():
        record["coalition_epsilon"] = None  # a hospital that did not report it
    assert distributed_dp(results) and worst_coalition_epsilon(results) is None
    text = privacy_section(results, plot_written=False)
    assert "coalition epsilon not recorded by any hospital" in text
    assert "which no hospital recorded in this run" in text


def test_distributed_run_facts_give_the_mode_and_the_coalition_epsilon() -> None:
    results = _distributed_results()
    facts = run_facts_section(results)
    assert "| Privacy mode | distributed DP under secure aggregation (SecAgg+)" in facts
    assert "max coalition epsilon 11.52" in facts
    line = privacy_summary_line(results)
    assert line.startswith("Privacy: distributed DP under SecAgg+, epsilon budget 3.00 per hospital")
    assert "max spent 2.98 (rostov 2.98, elista 2.98) against a coordinator that sees only the sum" in line


def test_local_dp_keeps_one_epsilon_and_says_what_secagg_masks() -> None:
    plain = privacy_section(_local_results(secagg=False), plot_written=False)
    masked = privacy_section(_local_results(secagg=True), plot_written=False)
    for text in (plain, masked):
        assert "coalition" not in text and "Privacy mode: distributed" not in text
        assert "so that the whole run stays within epsilon = 3" in text
        assert "any outcome of what the hospital sent is at most e^epsilon = 20.1" in text
    assert "model weights (the update after local training, clipped and noised by DP-SGD)" in plain
    assert "masked by SecAgg+ so that the coordinator can unmask only the sum" in masked
    assert privacy_mode_text(_local_results(secagg=True)).startswith("local DP: each hospital added all")
    assert "coalition" not in privacy_summary_line(_local_results(secagg=True))


def _no_dp_run(tmp_path: Path) -> tuple[Path, dict]:
    """The report fixture run without DP: no budget, exact released counts (noise 0)."""
    run_dir, results = write_run(tmp_path)
    results.update(epsilon_budget=None, epsilon={})
    for name, record in results["sites"].items():
        record["epsilon"] = None
        results["site_evaluation"]["sites"][name]["noise_per_count"] = 0.0
    # of its 4 validation patients, released exactly (no noise)
    results["site_evaluation"]["sites"]["elista"].update(cases=3.0, patients=4.0)
    return run_dir, results


def test_without_dp_the_threshold_and_histograms_are_exact_not_noisy(tmp_path: Path) -> None:
    run_dir, results = _no_dp_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    bedside = _section(text, "At the bedside")
    assert "charged to its privacy budget" not in bedside and "noisy counts" not in bedside
    assert "this run had no differential privacy, so their counts were exact" in bedside
    privacy = _section(text, "Privacy")
    assert "noisy histogram" not in privacy
    assert "a histogram of how the shared model scores its validation patients" in privacy
    assert "with exact counts (this run had no differential privacy: no noise, no budget)" in privacy
    assert "nor any loss, AUC or count of cases computed exactly" not in privacy
    assert "public facts: its name and its cohort sizes. " in privacy
    hospitals = _section(text, "Hospitals")
    assert "noisy" not in hospitals and "charged to its budget" not in hospitals
    assert "too few to judge (counts: 3 cases, 1 controls)" in hospitals


def test_with_dp_the_threshold_is_still_read_from_noisy_charged_releases(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    bedside = _section(text, "At the bedside")
    assert "released with differential privacy (noisy counts, charged to its privacy budget)" in bedside
    assert "noisy histogram of how the shared model scores" in _section(text, "Privacy")


def test_without_predictions_the_verdict_names_the_releases_as_they_were() -> None:
    private = {"epsilon_budget": 3.0, "test_auc": None}
    for results, words in (
        (private, "hospitals' differentially private releases"),
        (
            {"epsilon_budget": None},
            "hospitals' releases (exact counts: this run had no differential privacy)",
        ),
    ):
        assessment = assess(results, None, None)
        assert words in verdict_section(assessment)
        assert words in bedside_section(assessment)
