"""The clinician report's defects an outside audit found (2026-12-05): the chance figure for causal
variants when the model reads only some variants, "the most-spending hospital" naming one hospital,
a Hosmer-Lemeshow p-value that is never printed as 0, baselines skipped on request said to be so,
and synthetic records requested but never used said so in the section's opening and the headline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch
from helpers.report_run import (
    CAUSAL,
    N_VARIANTS,
    rewrite_risks,
    write_federation,
    write_predictions,
    write_run,
)

from genofed.common.model.network import ModelConfig, build_model
from genofed.server.report import write_report
from genofed.server.report.drivers import drivers_section
from genofed.server.report.explain import explain_run
from genofed.server.report.privacy import privacy_section
from genofed.server.report.summary import headline
from genofed.server.report.synthetic import synthetic_section

#: Panel indices a prior kept: two of the five causal variants (3, 17) and eight others.
SELECTED = (0, 1, 3, 5, 8, 12, 17, 20, 24, 33)


def _section(text: str, title: str) -> str:
    """The text of one '## title' section."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def _narrowed_run(root: Path) -> tuple[Path, dict, dict]:
    """(run folder, results, truth) for a logistic model that reads only `SELECTED` of the panel."""
    data_dir = write_federation(root / "cohorts")
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=SELECTED)
    model = build_model(config, seed=0)
    weights = np.linspace(0.1, 0.5, len(SELECTED) + 2)
    with torch.no_grad():
        model.linear.weight[0] = torch.as_tensor(weights, dtype=torch.float32)
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict(), "model_config": config.to_dict()}, run_dir / "model.pt")
    write_predictions(run_dir)
    results = {"config": {"data-dir": str(data_dir), "panel": ""}}
    truth = json.loads((data_dir / "truth.json").read_text())
    return run_dir, results, truth


def test_chance_counts_the_causal_variants_the_model_reads(tmp_path: Path) -> None:
    """b_priork: 33 causal variants in the panel, 6 among the 50 read; chance was 20 x 33 / 50."""
    run_dir, results, truth = _narrowed_run(tmp_path)
    explanation = explain_run(run_dir, results, truth)
    assert not isinstance(explanation, str)
    read = len(set(SELECTED) & set(CAUSAL))
    assert explanation.model_reads == len(SELECTED) and len(explanation.drivers) == len(SELECTED)
    assert explanation.chance == len(explanation.drivers) * read / len(SELECTED)
    assert explanation.recovered == read
    text = drivers_section(explanation)
    assert f"({len(CAUSAL)} of them in the panel, {read} among the variants the model reads)" in text
    assert f"from the {len(SELECTED)} variants the model reads would hold {read:.2f} on average" in text


def _release_results() -> dict:
    """r1: astrakhan and elista spent the most over the run (7.98), rostov the most on training
    (7.56, the privacy line's last point), with a lower total (7.97)."""
    costs = {
        "astrakhan": {"training": 7.54, "evaluation": 2.17, "run": 7.98, "rounds": 3, "evaluations": 1},
        "elista": {"training": 7.54, "evaluation": 2.17, "run": 7.98, "rounds": 3, "evaluations": 1},
        "rostov": {"training": 7.56, "evaluation": 2.17, "run": 7.97, "rounds": 3, "evaluations": 1},
    }
    return {
        "epsilon_budget": 8.0,
        "delta": 1e-5,
        "rounds": [{"round": r, "epsilon_max": e} for r, e in enumerate([None, 4.6, 6.3, 7.56])],
        "epsilon": {name: cost["run"] for name, cost in costs.items()},
        "sites": {name: {"train": 64, "epsilon": cost["run"]} for name, cost in costs.items()},
        "release_costs": costs,
    }


def test_the_most_spending_hospital_is_one_named_hospital_in_costs_and_caption() -> None:
    text = privacy_section(_release_results(), plot_written=True)
    assert "**What each release cost** (astrakhan, the most-spending hospital, level with elista; " in text
    assert "the star is the run's total, 7.98, at astrakhan, the most-spending hospital" in text
    assert "The line's last point is rostov's: its training alone cost the most" in text
    assert "The line is the epsilon the most-spending hospital had spent" not in text


def test_a_vanishing_hosmer_lemeshow_p_is_not_printed_as_zero(tmp_path: Path) -> None:
    """r5: risks near 1 for a cohort with 40 % cases; the chi-square tail underflows to 0.0."""
    run_dir, results = write_run(tmp_path)
    rewrite_risks(run_dir, lambda risk: 0.97 + 0.02 * risk)
    text = write_report(run_dir, results).read_text()
    assert re.search(r"p = 0(?![.\d])", text) is None
    assert "(Hosmer-Lemeshow test p < 1e-16;" in _section(text, "Verdict")
    assert "agree over all bins together?) gives p < 1e-16." in _section(text, "Calibration")


def _no_reference_results(**extra: object) -> dict:
    """A finished run without reference models: no pooled or hospitals-alone AUC."""
    return {"test_auc": 0.75, "epsilon_budget": 8.0, "pooled_auc": None, "local_only_auc": None, **extra}


def test_baselines_skipped_on_request_are_said_to_be() -> None:
    why = "the run skipped the reference models on request (--no-references)"
    assert why in headline(_no_reference_results(config={"no-references": True}))
    assert why in headline(_no_reference_results(references=False))
    plain = headline(_no_reference_results(config={"no-references": False}))
    assert "baselines were not measured." in plain and why not in plain


def _synthetic_results(used: int) -> dict:
    """b_synth: every hospital's synthetic batch failed validation (used=0), or each trained with `used`."""
    record = {"passed": used > 0, "failed_checks": [] if used else ["aats_train"], "records_generated": 60}
    names = ("astrakhan", "elista", "rostov")
    return {
        "test_auc": 0.67,
        "epsilon_budget": 8.0,
        "synthetic": {
            "ratio": 1.0,
            "generator": "vae",
            "generator_epsilon": 2.0,
            "sites": {name: dict(record, records_accepted=used) for name in names},
        },
        "sites": {name: {"train": 64, "synthetic": used} for name in names},
    }


def test_synthetic_records_requested_but_unused_are_said_so() -> None:
    section = synthetic_section(_synthetic_results(used=0))
    opening = section.split("\n\n")[1].split(". ")[0]
    assert "0 of the 3 hospitals trained with synthetic records" in opening
    assert "each generator's epsilon was spent all the same" in opening
    assert "and added up to 1 validated" not in section
    assert "**Synthetic records were requested (--synthetic-ratio 1) but none was used**" in headline(
        _synthetic_results(used=0)
    )
    assert "all 3 hospitals trained with synthetic records" in synthetic_section(_synthetic_results(used=40))
    assert "none was used" not in headline(_synthetic_results(used=40))
