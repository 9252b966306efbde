"""Secure aggregation (Flower's SecAgg+) on Flower's real simulation engine, small preset.

One plain and one SecAgg+ run from the same settings and plan id: every hospital draws the same
DP noise in round 1 (its seed is derived from the round's inputs, which are identical), so the
two round-1 models differ only by SecAgg+'s quantization, and the ledgers by nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.secagg import small_run_settings

from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.server import secagg
from genofed.server.app import NothingTrained
from genofed.simulations.local.simulate import simulate

#: Bound on |SecAgg+ average - plain average| per weight: 3 hospitals, each off by less than one
#: quantization step (16 / 2**22 = 3.8e-6, stochastic rounding) after scaling by n_i / max n,
#: divided by sum(n_i) / max n = 2.4 here: 3 * 3.8e-6 / 2.4 = 4.8e-6; float32 rounding adds ~1e-7.
TOLERANCE = 5e-6


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 5 (read only: runs keep their ledgers in their out dir)."""
    return simulated_cohorts(5)


def _round(out: str | Path, number: int) -> dict[str, torch.Tensor]:
    return torch.load(Path(out) / "checkpoints" / f"round-{number:04d}.pt", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def runs(federation, tmp_path_factory):
    """(plain results, secagg results, plain settings, secagg settings, masked replies the
    coordinator saw)."""
    root = tmp_path_factory.mktemp("runs")
    plain_settings = small_run_settings(federation, root / "plain")
    secagg_settings = small_run_settings(federation, root / "secagg", secagg=True)
    seen: list[tuple[int, int, str, object]] = []

    def tap(real_round, node, stage, reply):
        if stage == secagg.MASKED_STAGE and not reply.has_error():
            seen.append((real_round, node, stage, secagg.masked_vector(reply)))

    plain = simulate(plain_settings, references=False)
    secagg.REPLY_TAPS.append(tap)
    try:
        masked = simulate(secagg_settings, references=False)
    finally:
        secagg.REPLY_TAPS.remove(tap)
    return plain, masked, plain_settings, secagg_settings, seen


def test_a_secagg_run_completes_with_dp_and_charges_every_ledger_as_a_plain_run(runs):
    plain, masked, plain_settings, secagg_settings, _seen = runs
    assert masked["secagg"] is True and plain["secagg"] is False
    assert [r["round"] for r in masked["rounds"]] == [0, 1, 2]
    for record in masked["rounds"][1:]:
        assert record["participants"] == ["astrakhan", "elista", "rostov"] and record["refused"] == []
    assert set(masked["epsilon"]) == {"rostov", "astrakhan", "elista"}
    assert masked["epsilon"] == pytest.approx(plain["epsilon"], rel=1e-12)
    for site, epsilon in masked["epsilon"].items():
        assert 0.7 * 8.0 < epsilon <= 8.0 * (1 + 1e-6), site
        plain_ledger = PrivacyLedger(Path(plain_settings.ledger_dir) / site / LEDGER_FILE)
        secagg_ledger = PrivacyLedger(Path(secagg_settings.ledger_dir) / site / LEDGER_FILE)
        assert [(c.round, c.noise_multiplier, c.sample_rate, c.steps) for c in secagg_ledger.charges] == [
            (c.round, c.noise_multiplier, c.sample_rate, c.steps) for c in plain_ledger.charges
        ]
    report = (Path(secagg_settings.out_dir) / "report.md").read_text()
    assert "| Secure aggregation | on (SecAgg+)" in report


def test_the_secure_aggregate_is_the_plain_weighted_average(runs):
    """Round 1 from the same model with the same DP noise: plain FedAvg vs SecAgg+ differ by
    quantization only (round 2 starts from slightly different weights, so draws other noise)."""
    _plain, _masked, plain_settings, secagg_settings, _seen = runs
    plain_model, secure_model = _round(plain_settings.out_dir, 1), _round(secagg_settings.out_dir, 1)
    start = _round(plain_settings.out_dir, 0)
    worst = max(float((secure_model[k] - plain_model[k]).abs().max()) for k in plain_model)
    moved = max(float((plain_model[k] - start[k]).abs().max()) for k in plain_model)
    assert worst < TOLERANCE, worst
    assert moved > 1000 * TOLERANCE  # the round did change the model: the comparison is not trivial
    assert all(secure_model[k].dtype == plain_model[k].dtype for k in plain_model)


def test_the_coordinator_never_sees_one_hospitals_update(runs):
    """What each hospital uploads in the masked stage is uniform noise mod 2**32: an unmasked
    quantized update would lie in [0, 2**22] and correlate with the model; these do neither."""
    _plain, _masked, _plain_settings, secagg_settings, seen = runs
    assert len(seen) == 6  # 3 hospitals x 2 rounds
    model = _round(secagg_settings.out_dir, 1)
    reference = np.concatenate([t.numpy().ravel() for t in model.values()]).astype(np.float64)
    for _round_number, _node, _stage, vectors in seen:
        values = np.concatenate([v.ravel() for v in vectors[1:]]).astype(
            np.float64
        )  # [0] is the masked weight
        assert values.size == reference.size
        assert np.mean(values > secagg.QUANTIZATION_RANGE) > 0.99
        decoded = values * (2 * secagg.CLIPPING_RANGE / secagg.QUANTIZATION_RANGE) - secagg.CLIPPING_RANGE
        # a uniform vector's correlation with any fixed one has sd 1 / sqrt(n): 6 sd is never reached by
        # chance (the logistic model has ~1,000 weights here, where a fixed 0.1 was 3 sd: 1 % of runs failed)
        assert abs(np.corrcoef(decoded, reference)[0, 1]) < 6 / np.sqrt(values.size)
        assert np.abs(decoded - reference).mean() > 100  # nowhere near any model's weights
    round_0 = np.concatenate([t.numpy().ravel() for t in _round(secagg_settings.out_dir, 0).values()])
    assert np.corrcoef(round_0, reference)[0, 1] > 0.9  # a real update would be recognisable


def test_a_refusing_hospital_does_not_stall_the_round(federation, tmp_path):
    """elista's ledger is already spent: it passes SecAgg+'s key stages, then refuses to train in
    the masked stage; the other two are unmasked without it and the run goes on."""
    settings = small_run_settings(federation, tmp_path / "refusing", rounds=1, secagg=True)
    ledger = PrivacyLedger(Path(settings.ledger_dir) / "elista" / LEDGER_FILE)
    ledger.set_plan("old", 1.0, 0.2, 500, 8.0, 1e-5)
    ledger.charge(Charge("old", 1, 1.0, 0.2, 500, 7.99, "2026-01-01T00:00:00", "earlier run"))
    results = simulate(settings, references=False)
    record = results["rounds"][1]
    assert record["participants"] == ["astrakhan", "rostov"] and record["refused"] == ["elista"]
    assert "privacy budget exhausted" in results["refusals"]["1"]["elista"]
    before, after = _round(settings.out_dir, 0), _round(settings.out_dir, 1)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the two others' sum was used
    assert all(torch.isfinite(t).all() and t.abs().max() < 5 for t in after.values())  # and is not garbage


def _two_sites_spent(settings) -> None:
    """elista and astrakhan have spent their budget: they refuse every round."""
    for site in ("elista", "astrakhan"):
        ledger = PrivacyLedger(Path(settings.ledger_dir) / site / LEDGER_FILE)
        ledger.set_plan("old", 1.0, 0.2, 500, 8.0, 1e-5)
        ledger.charge(Charge("old", 1, 1.0, 0.2, 500, 7.99, "2026-01-01T00:00:00", "earlier run"))


def test_too_few_hospitals_left_fails_the_round_cleanly(federation, tmp_path):
    """Two of three refuse: fewer than the threshold (2) remain, so the round halts, the model
    stays as it was and the refusals are logged. With no round trained, `genofed simulate` fails
    naming them (no model, results nor report); an experiment records the run with its report."""
    settings = small_run_settings(federation, tmp_path / "halted", rounds=1, secagg=True)
    _two_sites_spent(settings)
    with pytest.raises(NothingTrained, match="secure aggregation halted"):
        simulate(settings, references=False)
    assert not (Path(settings.out_dir) / "report.md").exists()

    settings = small_run_settings(federation, tmp_path / "recorded", rounds=1, secagg=True)
    _two_sites_spent(settings)
    results = simulate(settings, references=False, require_training=False)
    record = results["rounds"][1]
    assert record["participants"] == [] and record["refused"] == ["astrakhan", "elista", "rostov"]
    assert "secure aggregation halted" in results["refusals"]["1"]["rostov"]
    before, after = _round(settings.out_dir, 0), _round(settings.out_dir, 1)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (Path(settings.out_dir) / "report.md").is_file()
