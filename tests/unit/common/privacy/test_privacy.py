"""Privacy accounting: agreement with Opacus, calibration, budget refusal, and the on-disk ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opacus.accountants import RDPAccountant

from genofed.common.errors import DataError, GenofedError
from genofed.common.privacy.accountant import BudgetExhausted, calibrate_noise, epsilon_of
from genofed.common.privacy.ledger import Charge, PrivacyLedger

DELTA = 1e-5


def test_epsilon_of_matches_opacus_accountant() -> None:
    accountant = RDPAccountant()
    for _ in range(40):
        accountant.step(noise_multiplier=1.1, sample_rate=0.1)
    for _ in range(25):
        accountant.step(noise_multiplier=2.0, sample_rate=0.2)
    assert accountant.history == [(1.1, 0.1, 40), (2.0, 0.2, 25)]
    assert epsilon_of(accountant.history, DELTA) == pytest.approx(accountant.get_epsilon(DELTA), rel=1e-12)
    assert epsilon_of([], DELTA) == 0.0


@pytest.mark.parametrize("target", [1.0, 3.0, 8.0])
def test_calibrate_noise_reaches_target_from_below(target: float) -> None:
    sigma = calibrate_noise([], sample_rate=0.05, steps=600, target_epsilon=target, delta=DELTA)
    eps = epsilon_of([(sigma, 0.05, 600)], DELTA)
    assert 0.98 * target <= eps <= target


def test_calibrate_noise_is_monotone_and_pays_for_history() -> None:
    kwargs = dict(sample_rate=0.1, steps=200, delta=DELTA)
    loose = calibrate_noise([], target_epsilon=8.0, **kwargs)
    tight = calibrate_noise([], target_epsilon=3.0, **kwargs)
    assert tight > loose
    history = [(loose, 0.1, 200)]
    assert calibrate_noise(history, target_epsilon=12.0, **kwargs) > calibrate_noise(
        [], target_epsilon=12.0, **kwargs
    )
    sigma = calibrate_noise(history, target_epsilon=12.0, **kwargs)
    assert epsilon_of([*history, (sigma, 0.1, 200)], DELTA) <= 12.0


def test_budget_exhausted_when_history_already_exceeds_target() -> None:
    history = [(0.8, 0.2, 500)]
    spent = epsilon_of(history, DELTA)
    with pytest.raises(BudgetExhausted, match="raises its privacy budget") as caught:
        calibrate_noise(history, sample_rate=0.1, steps=10, target_epsilon=spent * 0.9, delta=DELTA)
    assert isinstance(caught.value, GenofedError)
    assert f"{spent:.3g}" in str(caught.value)


def test_budget_exhausted_when_no_noise_is_enough() -> None:
    with pytest.raises(BudgetExhausted, match="even with noise multiplier"):
        calibrate_noise([], sample_rate=1.0, steps=10**6, target_epsilon=0.01, delta=DELTA)


def _charge(plan: str, rnd: int, sigma: float = 1.0) -> Charge:
    return Charge(
        plan_id=plan,
        round=rnd,
        noise_multiplier=sigma,
        sample_rate=0.1,
        steps=50,
        epsilon_after=0.0,
        note="test",
    )


def test_ledger_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.json"
    ledger = PrivacyLedger(path)
    assert ledger.charges == [] and ledger.plan("p") is None and ledger.epsilon(DELTA) == 0.0
    ledger.set_plan("p", 1.0, 0.1, 100, 3.0, DELTA)
    ledger.charge(_charge("p", 1))
    ledger.charge(_charge("p", 2))
    again = PrivacyLedger(path)
    assert again.charges == ledger.charges
    assert again.plan("p") == {
        "noise_multiplier": 1.0,
        "sample_rate": 0.1,
        "planned_steps": 100,
        "target_epsilon": 3.0,
        "delta": DELTA,
        "evaluations": 0,
        "evaluation_noise": 0.0,
        "model": "",
    }
    assert again.history() == [(1.0, 0.1, 50), (1.0, 0.1, 50)]
    assert again.epsilon(DELTA) == pytest.approx(epsilon_of([(1.0, 0.1, 100)], DELTA))
    assert json.loads(path.read_text())["version"] == 1


def test_ledger_charge_is_idempotent_per_plan_and_round(tmp_path: Path) -> None:
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    ledger.charge(_charge("p", 1))
    once = ledger.epsilon(DELTA)
    ledger.charge(_charge("p", 1))  # the same round re-run after a crash
    assert len(ledger.charges) == 1 and ledger.epsilon(DELTA) == once
    ledger.charge(_charge("q", 1))  # another plan's round 1 is a new release
    assert len(PrivacyLedger(tmp_path / "ledger.json").charges) == 2


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"version": 1}',
        '{"version": 2, "plans": {}, "charges": []}',
        "[]",
        '{"version": 1, "plans": {}, "charges": [{"plan_id": "p"}]}',
    ],
)
def test_corrupt_ledger_is_an_error_and_left_untouched(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ledger.json"
    path.write_text(content)
    with pytest.raises(DataError, match="corrupt") as caught:
        PrivacyLedger(path)
    assert "backup" in str(caught.value)
    assert path.read_text() == content


def test_locked_ledger_rereads_so_overlapping_runs_keep_both_charges(tmp_path):
    """Two runs at one site, each with its own ledger object: under the lock each re-reads the
    file, so the second charge is added to the first instead of overwriting it."""
    from genofed.common.privacy.ledger import Charge, PrivacyLedger

    first, second = PrivacyLedger(tmp_path / "l.json"), PrivacyLedger(tmp_path / "l.json")
    with first.locked() as ledger:
        ledger.charge(Charge("run-a", 1, 1.0, 0.1, 10, 1.0))
    with second.locked() as ledger:
        ledger.charge(Charge("run-b", 1, 1.0, 0.1, 10, 1.5))
    assert [c.plan_id for c in PrivacyLedger(tmp_path / "l.json").charges] == ["run-a", "run-b"]


def test_ledger_lock_is_exclusive_across_threads(tmp_path):
    import threading
    import time

    from genofed.common.privacy.ledger import PrivacyLedger

    order: list[str] = []

    def hold(name: str, seconds: float) -> None:
        with PrivacyLedger(tmp_path / "l.json").locked():
            order.append(f"{name}+")
            time.sleep(seconds)
            order.append(f"{name}-")

    a = threading.Thread(target=hold, args=("a", 0.3))
    a.start()
    time.sleep(0.05)
    b = threading.Thread(target=hold, args=("b", 0.0))
    b.start()
    a.join()
    b.join()
    assert order == ["a+", "a-", "b+", "b-"]


def test_locked_at_reads_the_ledger_once_under_its_lock_and_refuses_a_damaged_one(tmp_path, monkeypatch):
    """`PrivacyLedger(path).locked()` parsed the file twice per message (once unlocked); `locked_at`
    reads it once, under the lock, and sees what another writer charged before it took the lock."""
    from genofed.common.errors import DataError
    from genofed.common.privacy.ledger import Charge, PrivacyLedger

    path = tmp_path / "l.json"
    with PrivacyLedger.locked_at(path) as ledger:
        assert ledger.charges == [] and ledger.plans == {}
        ledger.charge(Charge("run-a", 1, 1.0, 0.1, 10, 1.0))
    loads = []
    original = PrivacyLedger._load
    monkeypatch.setattr(PrivacyLedger, "_load", lambda self: (loads.append(1), original(self))[1])
    with PrivacyLedger.locked_at(path) as ledger:
        assert [c.plan_id for c in ledger.charges] == ["run-a"]
        ledger.charge(Charge("run-b", 1, 1.0, 0.1, 10, 1.5))
    assert len(loads) == 1
    assert [c.plan_id for c in PrivacyLedger(path).charges] == ["run-a", "run-b"]
    path.write_text("{not json")
    with pytest.raises(DataError, match="unreadable or corrupt"), PrivacyLedger.locked_at(path):
        pass
