"""The top-variant table says which way each variant moves the risk (a biostatistician's review,
2026-12-06: the Contribution column gives the size only, and a protective variant read as a risk
variant misleads).

Each direction must match what the model actually does: the change in its logit when a person's
dosage goes from 0 to 2, through the federation's own encoding (`encode_dosage_rows`), with a
column scale that is not all ones and a model that reads only part of the panel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.report_run import N_VARIANTS, write_federation

from genofed.common.data.features import FeatureSpec, encode_dosage_rows
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.server.report.drivers import DIRECTION_COLUMN, direction_cell, drivers_section
from genofed.server.report.explain import Explanation, explain_run

#: Panel indices the model reads, with their weights (mixed signs) and column scales (not ones).
SELECTED = (2, 3, 9, 17, 30, 41, 55)
WEIGHTS = (0.4, -0.9, 0.25, -0.3, 0.6, -0.5, 0.2)
SCALES = (1.0, 0.5, 3.0, 2.0, 0.7, 1.5, 2.5)


def _save(run_dir: Path, model: torch.nn.Module, config: ModelConfig) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "model_config": config.to_dict()}, run_dir / "model.pt")


def _logistic_run(root: Path) -> tuple[Path, dict, dict, torch.nn.Module]:
    """(run folder, results, truth, model): a logistic model reading `SELECTED` with `SCALES`."""
    data_dir = write_federation(root / "cohorts")
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=SELECTED)
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight[0, : len(SELECTED)] = torch.tensor(WEIGHTS)
        model.scale[: len(SELECTED)] = torch.tensor(SCALES)
    _save(root / "run", model, config)
    truth = json.loads((data_dir / "truth.json").read_text())
    return root / "run", {"config": {"data-dir": str(data_dir), "panel": ""}}, truth, model


def _logit_change(model: torch.nn.Module, panel: VariantPanel, people: np.ndarray, index: int) -> np.ndarray:
    """Each person's logit at dosage 2 minus at dosage 0 of variant `index`, the rest of their
    genotype kept, encoded as every site encodes."""
    spec = FeatureSpec(panel.alt_freq)
    none, two = people.copy(), people.copy()
    none[:, index], two[:, index] = 0, 2
    covariates = np.zeros((len(people), 2), dtype=np.float32)
    with torch.no_grad():
        logits = [
            model(torch.as_tensor(np.hstack([encode_dosage_rows(spec, d), covariates]))).numpy()
            for d in (none, two)
        ]
    return logits[1] - logits[0]


def _people(panel: VariantPanel, n: int = 30) -> np.ndarray:
    return np.random.default_rng(5).binomial(2, panel.alt_freq, size=(n, len(panel))).astype(np.int64)


def _explanation(run_dir: Path, results: dict, truth: dict) -> Explanation:
    explanation = explain_run(run_dir, results, truth)
    assert not isinstance(explanation, str)
    return explanation


def test_each_direction_is_the_sign_of_the_logistic_models_score_change_from_0_to_2_copies(
    tmp_path: Path,
) -> None:
    run_dir, results, truth, model = _logistic_run(tmp_path)
    panel = VariantPanel.load(Path(results["config"]["data-dir"]) / "panel.tsv")
    explanation = _explanation(run_dir, results, truth)
    assert len(explanation.drivers) == len(SELECTED)
    people = _people(panel)
    for driver in explanation.drivers:
        change = _logit_change(model, panel, people, panel.variant_ids.index(driver.variant_id))
        assert np.sign(change).tolist() == [np.sign(driver.per_copy)] * len(people)
        assert change == pytest.approx(2 * driver.per_copy, rel=1e-5)  # per copy: half of 0 -> 2
    signs = {d.variant_id: np.sign(d.per_copy) for d in explanation.drivers}
    assert sorted(signs.values()) == sorted(np.sign(WEIGHTS))


def test_the_table_says_raises_or_lowers_with_the_odds_factor_per_copy(tmp_path: Path) -> None:
    run_dir, results, truth, _ = _logistic_run(tmp_path)
    explanation = _explanation(run_dir, results, truth)
    text = drivers_section(explanation)
    assert f"| Contribution | {DIRECTION_COLUMN} |" in text
    for driver in explanation.drivers:
        cell = direction_cell(driver.per_copy)
        assert f"| {driver.score:.3g} | {cell} |" in text
        assert cell.startswith("raises risk" if driver.per_copy > 0 else "lowers risk")
    # the top variant (panel index 41: weight -0.5 x scale 1.5 = -0.75 per copy) divides the odds
    top = explanation.drivers[0]
    assert top.per_copy == pytest.approx(-0.75) and "lowers risk (x0.472)" in text
    assert f"the top variant's {top.score:.3g} divides the odds by e^{top.score:.3g}" in text
    assert "up or down (the size, not the direction" not in text


def test_a_networks_direction_is_the_mean_score_change_from_0_to_2_copies(tmp_path: Path) -> None:
    """The network has no weight per variant: its direction is the mean logit change over the
    people attributed (genotypes drawn from the panel here: the federation has no test cohort)."""
    from genofed.server.report.attribution import IG_PEOPLE, hwe_features

    data_dir = write_federation(tmp_path / "cohorts")
    config = ModelConfig(n_variants=N_VARIANTS, block_size=10, hidden=4)
    model = build_model(config, seed=3)
    _save(tmp_path / "run", model, config)
    explanation = _explanation(tmp_path / "run", {"config": {"data-dir": str(data_dir), "panel": ""}}, {})
    panel = VariantPanel.load(data_dir / "panel.tsv")
    features = hwe_features(panel, 2, IG_PEOPLE)
    people = np.rint(features[:, :N_VARIANTS] + 2 * panel.alt_freq).astype(np.int64)  # back to dosages
    model.eval()
    for driver in explanation.drivers:
        change = _logit_change(model, panel, people, panel.variant_ids.index(driver.variant_id))
        assert float(np.mean(change)) / 2 == pytest.approx(driver.per_copy, rel=1e-4, abs=1e-7)
    assert "from the mean change in the score when each of" in drivers_section(explanation)


@pytest.mark.parametrize(
    ("per_copy", "cell"),
    [
        (0.2, "raises risk (x1.221)"),
        (-0.2, "lowers risk (x0.819)"),
        (0.0, "no change"),
        (None, "not computed"),
    ],
)
def test_direction_cells(per_copy: float | None, cell: str) -> None:
    assert direction_cell(per_copy) == cell
