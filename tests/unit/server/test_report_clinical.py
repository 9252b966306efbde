"""The clinician's part of the run report: verdict, threshold table, calibration, top variants, model
card, per-site uncertainty, and a report that never crashes for a missing input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.report_run import CAUSAL, variant_ids, write_federation, write_predictions, write_run

from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.reporting.clinical import threshold_metrics
from genofed.server.report import CALIBRATION_PLOT, REPORT_HTML, format_summary, write_report
from genofed.server.report.attribution import hwe_features, integrated_gradient_scores
from genofed.server.report.run_files import read_predictions


def _section(text: str, title: str) -> str:
    """The text of one '## title' section."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def test_report_gives_threshold_metrics_at_the_run_threshold_and_the_real_prevalence(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    bedside = _section(text, "At the bedside")
    predictions = read_predictions(run_dir)
    expected = threshold_metrics(predictions.labels, predictions.risks, 0.45)
    # the rule in plain words; its recorded wording in the appendix only
    assert "risk >= 0.450" in bedside and "the cut-off with the largest sensitivity + specificity" in bedside
    assert "not as counts: where the disease is rare it accepts many false alarms per case found" in bedside
    assert "maximise Youden's J" not in bedside and "maximise Youden's J" in _section(text, "Appendix")
    assert f"{expected.flagged:,} of 400 ({expected.true_positives:,} of the" in bedside
    assert f"{100 * expected.sensitivity:.1f}% (" in bedside  # with its Wilson interval
    # truth.json's prevalence_target (2 %) gives its own PPV / NPV column, each with an interval
    ppv, npv = expected.ppv_npv_at(0.02)
    assert "real prevalence 2.0%" in bedside
    assert re.search(rf"{100 * ppv:.1f}% \(\d+\.\d-\d+\.\d\) / {100 * npv:.1f}% \(", bedside)
    # the same as counts per 1,000 people, and a person not flagged against the risk before the test
    found, alarms = 20 * expected.sensitivity, 980 * (1 - expected.specificity)
    assert (
        f"Per 1,000 people of that prevalence the operating threshold finds {found:.1f} of the 20.0 with "
        f"the disease, misses {20 - found:.1f}, and raises {alarms:.0f} false alarms; a person not flagged "
        f"has the disease with probability {100 * (1 - npv):.1f}%, against 2.0% before the test."
    ) in bedside.replace("\n", " ")
    assert "Top risk decile" in bedside and "DeLong" in bedside
    assert re.search(r"AUC \*\*0\.\d{3}\*\* \(95 % confidence interval 0\.\d{3}-0\.\d{3}", bedside)


def test_a_run_without_an_operating_threshold_names_no_placeholder(tmp_path: Path) -> None:
    """With no threshold (no hospital released a validation histogram) the row printed a literal
    "risk >= {threshold}"."""
    run_dir, results = write_run(tmp_path)
    results["operating_point"] = {"threshold": None, "rule": "none", "note": "no histogram released"}
    bedside = _section(write_report(run_dir, results).read_text(), "At the bedside")
    assert "{threshold}" not in bedside
    assert "| Operating threshold (risk >= its threshold) | not measured |" in bedside


def test_top_variants_recover_the_causal_ones_with_position_and_gene(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    drivers = _section(write_report(run_dir, results).read_text(), "Which variants drive the model")
    ids = variant_ids()
    rows = [line for line in drivers.splitlines() if line.startswith("| ") and line[2].isdigit()]
    top_five = [row.split(" | ")[1] for row in rows[:5]]
    assert sorted(top_five) == sorted(ids[i] for i in CAUSAL)
    assert f"{len(CAUSAL)} of these 20 variants are among the disease's {len(CAUSAL)} causal" in drivers
    assert "sqrt(2p(1-p))" in drivers
    # 1:1300 (index 3) lies in GENEA (BED 1000-2400], 1:5100 (index 41) in no gene
    assert f"| {ids[3]} | chr1:1,300 | GENEA |" in drivers
    assert f"| {ids[41]} | chr1:5,100 | - |" in drivers


def test_panel_gene_column_wins_over_the_gene_list(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path, gene_column=True)
    drivers = _section(write_report(run_dir, results).read_text(), "Which variants drive the model")
    assert "PANELGENE" in drivers and "GENEA" not in drivers


def test_a_chr_named_panels_gene_column_meets_the_models_variants(tmp_path: Path) -> None:
    """The panel's ids are read as the genotype readers write theirs (`chr1:` is `1:`); its gene
    column must be keyed the same way, or a chr-named panel's genes would name no variant."""
    from genofed.server.report.explain import _panel_column

    panel = tmp_path / "panel.tsv"
    panel.write_text("id\talt_freq\tgene\nchr1:100:a:g\t0.2\tGENEX\n")
    assert _panel_column(panel, "gene") == {"1:100:A:G": "GENEX"}


def test_top_variants_show_the_rsids_the_panel_has(tmp_path: Path) -> None:
    """A clinician looks a variant up by its dbSNP name: the panel's `rsid` column (from the
    hospitals' genotype files) is a column of the table, '-' where no file names the variant."""
    run_dir, results = write_run(tmp_path, rsids=True)
    drivers = _section(write_report(run_dir, results).read_text(), "Which variants drive the model")
    ids = variant_ids()
    assert "| Rank | rsID | Variant (chrom:pos:ref:alt) |" in drivers
    assert f"| rs1003 | {ids[3]} |" not in drivers and f"| - | {ids[3]} | chr1:1,300 |" in drivers
    assert "the panel's `rsid` column" in drivers
    named = [i for i in range(len(ids)) if i % 2 == 0 and f"| rs{1000 + i} | {ids[i]} |" in drivers]
    assert named, "an even variant among the top 20 shows its rsID"


def test_top_variants_without_rsids_have_no_rsid_column(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    drivers = _section(write_report(run_dir, results).read_text(), "Which variants drive the model")
    assert "rsID" not in drivers and "| Rank | Variant (chrom:pos:ref:alt) |" in drivers


def test_linear_ranking_is_weight_times_genotype_sd(tmp_path: Path) -> None:
    """Two variants with the same weight: the more common one (larger sd) contributes more."""
    from genofed.server.report.attribution import genotype_sd, linear_scores

    panel = VariantPanel(["1:1:A:G", "1:2:A:G", "1:3:A:G"], np.array([0.01, 0.5, 0.2]))
    config = ModelConfig(n_variants=3, architecture="logistic")
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight[0] = torch.tensor([1.0, 1.0, -2.0, 0.0, 0.0])
    scores = linear_scores(model, config, panel)
    assert np.allclose(scores, np.array([1.0, 1.0, 2.0]) * genotype_sd(panel))
    assert list(np.argsort(-scores)) == [2, 1, 0]


def test_integrated_gradients_are_complete_for_the_network() -> None:
    """IG's attributions of a row sum to its logit minus the baseline's (captum's completeness)."""
    config = ModelConfig(n_variants=40, block_size=10, hidden=4)
    model = build_model(config, seed=3)
    panel = VariantPanel([f"1:{i + 1}:A:G" for i in range(40)], np.full(40, 0.3))
    features = hwe_features(panel, 2, 1, seed=2)
    scores = integrated_gradient_scores(model, features, 40)
    assert scores.shape == (40,) and np.all(scores >= 0)
    from captum.attr import IntegratedGradients

    x = torch.as_tensor(features)
    base = x.clone()
    base[:, :40] = 0
    attributions = IntegratedGradients(model).attribute(x, baselines=base, n_steps=64)
    with torch.no_grad():
        gap = (model(x) - model(base)).item()
    assert attributions.sum().item() == pytest.approx(gap, abs=2e-3)


def test_verdict_says_not_fit_for_an_uninformative_model(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path, informative=False)
    verdict = _section(write_report(run_dir, results).read_text(), "Verdict")
    assert "**NOT FIT FOR USE.**" in verdict and "includes 0.5" in verdict
    assert "worse than the" in verdict  # Brier of beta(2,3) risks vs a 40 % base rate


def test_verdict_names_a_threshold_that_flags_no_one(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    results["operating_point"]["threshold"] = 0.999
    verdict = _section(write_report(run_dir, results).read_text(), "Verdict")
    assert "flags no one" in verdict


def test_good_model_passes_every_rule_but_is_not_called_validated(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    verdict = _section(write_report(run_dir, results).read_text(), "Verdict")
    assert "**Minimum checks passed; not validated for clinical use.**" in verdict
    assert "not a clinical validation" in verdict and "No fitness rule failed" not in verdict


def test_calibration_plot_and_table(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    assert (run_dir / CALIBRATION_PLOT).read_bytes()[:4] == b"\x89PNG"
    calibration = _section(text, "Calibration")
    assert f"]({CALIBRATION_PLOT})" in calibration
    rows = [line for line in calibration.splitlines() if re.match(r"\| 0\.\d{3}-", line)]
    assert len(rows) == 10 and sum(int(r.split(" | ")[1]) for r in rows) == 400


def test_model_card_lists_sources_sizes_and_privacy(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    card = _section(write_report(run_dir, results).read_text(), "Model card")
    assert "**Intended use:**" in card and "**Limitations:**" in card
    assert "| rostov | training | 300 | 30 | 3.90 | 1e-05 |" in card
    assert "| test cohort (coordinator) | evaluation only | - | 400 |" in card


def test_small_sites_are_marked_too_few_to_judge_and_others_get_an_interval(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    hospitals = _section(write_report(run_dir, results).read_text(), "Hospitals")
    rostov = next(line for line in hospitals.splitlines() if line.startswith("| rostov"))
    maykop = next(line for line in hospitals.splitlines() if line.startswith("| maykop"))
    assert re.search(r"\| 0\.70 \(0\.\d\d-0\.\d\d\) \|", rostov)
    # the released noisy counts (results.json site_evaluation: 6.1 cases of 15.8 patients), not the
    # declared validation size less the noisy case count
    assert "too few to judge (released noisy counts: 6.1 cases, 9.7 controls)" in maykop


def test_report_without_predictions_model_or_test_auc_still_written(tmp_path: Path) -> None:
    data_dir = write_federation(tmp_path / "cohorts")
    results = {"test_auc": None, "test_metrics": None, "config": {"data-dir": str(data_dir)}}
    run_dir = tmp_path / "run"
    text = write_report(run_dir, results).read_text()
    assert "**Cannot be judged:**" in text
    # no epsilon budget: a run without DP, whose releases were exact counts
    assert "evaluated only by the hospitals' releases (exact counts: this run had no differential" in text
    assert "model.pt) is not in the run folder" in text
    assert (run_dir / REPORT_HTML).is_file() and not (run_dir / CALIBRATION_PLOT).exists()


def test_without_real_prevalence_ppv_is_at_the_cohort_share_only(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    (Path(results["config"]["data-dir"]) / "truth.json").unlink()
    bedside = _section(write_report(run_dir, results).read_text(), "At the bedside")
    assert "real prevalence is not known to this run (it is set with `genofed simulate --prevalence P`;" in (
        bedside.replace("\n", " ")
    )
    results["config"]["prevalence"] = 0.05
    bedside = _section(write_report(run_dir, results).read_text(), "At the bedside")
    assert "real prevalence 5.0%" in bedside and "the run's --prevalence setting" in bedside


def test_a_deployed_report_names_coordinator_init_for_the_prevalence(tmp_path: Path) -> None:
    """A deployed walkthrough's report said "pass `--prevalence`", an option neither `coordinator
    init` nor `coordinator start` had; its Limitations said "use the PPV at the real prevalence",
    which the report did not give."""
    run_dir, results = write_run(tmp_path)
    (Path(results["config"]["data-dir"]) / "truth.json").unlink()
    results["config"]["expected-nodes"] = 3  # a deployed federation's run waits for its enrolled hospitals
    text = write_report(run_dir, results).read_text().replace("\n", " ")
    bedside, card = _section(text, "At the bedside"), _section(text, "Model card")
    assert (
        "(it is set with `genofed coordinator init --prevalence P`, when the federation folder is made;"
        in (bedside)
    )
    assert (
        "`genofed predict --prevalence P` gives the PPV at it" in bedside
        and "pass `--prevalence`" not in text
    )
    assert (
        "use the PPV at the real prevalence" not in text and "and the PPV at the real prevalence" not in text
    )
    assert "this report has no PPV at the real prevalence, which was not given to the run" in card
    results["config"]["prevalence"] = 0.05
    text = write_report(run_dir, results).read_text().replace("\n", " ")
    assert "real prevalence is 5.0% (the federation's --prevalence setting (coordinator init))" in text
    assert "this report has no PPV at the real prevalence" not in text


def test_malformed_predictions_read_as_absent(tmp_path: Path) -> None:
    write_predictions(tmp_path)
    assert read_predictions(tmp_path).n == 400
    (tmp_path / "test_predictions.csv").write_text("sample_id,label,risk\nA,2,0.5\n")
    assert read_predictions(tmp_path) is None
    (tmp_path / "test_predictions.csv").write_text("id,y\nA,1\n")
    assert read_predictions(tmp_path) is None


def test_summary_names_report_html(tmp_path: Path) -> None:
    assert f"{tmp_path / REPORT_HTML}" in format_summary({}, tmp_path / "report.md")


def test_unreadable_model_is_explained_not_raised(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    (run_dir / "model.pt").write_bytes(b"not a model")
    drivers = _section(write_report(run_dir, results).read_text(), "Which variants drive the model")
    assert "could not be read" in drivers
