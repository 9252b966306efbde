"""Augmentation inside DP-SGD: one augmented example per drawn record, so the privacy
accountant's figures are exactly those of the same run without augmentation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from genofed.client.app import make_client_app
from genofed.client.trainer import TrainSettings, train_model
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.server.settings import RunSettings, SettingsError


def _data(n: int = 120, v: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, v)).astype(np.float32)
    return x, (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.float32)


class Recorder:
    """An augmentation that perturbs the drawn records and remembers which ones it saw."""

    def __init__(self, features: np.ndarray) -> None:
        self.features, self.seen = features, []

    def __call__(self, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.seen.append(index.copy())
        return self.features[index] + rng.normal(scale=0.3, size=self.features[index].shape).astype(
            np.float32
        )


def _train(x, y, augment, sigma=1.1, seed=5):
    model = build_model(
        ModelConfig(n_variants=x.shape[1] - 2, hidden=4, block_size=8, hidden_per_block=1), seed=0
    )
    return train_model(
        model,
        x,
        y,
        TrainSettings(epochs=3, batch_size=16),
        noise_multiplier=sigma,
        seed=seed,
        augment=augment,
    )


def test_the_accountant_is_unchanged_by_augmentation():
    x, y = _data()
    plain = _train(x, y, None)
    recorder = Recorder(x)
    augmented = _train(x, y, recorder)
    # the same privacy history, step for step, hence the same epsilon
    assert augmented.history == plain.history and augmented.steps == plain.steps
    assert augmented.sample_rate == plain.sample_rate and augmented.examples == plain.examples == len(y)
    assert epsilon_of(augmented.history, 1e-5) == epsilon_of(plain.history, 1e-5)
    # every drawn record gave exactly one example: the recorder saw real record indices, each batch
    # without repeats (Poisson sampling draws a record at most once per step)
    drawn = np.concatenate(recorder.seen)
    assert drawn.min() >= 0 and drawn.max() < len(y)
    assert all(len(np.unique(b)) == len(b) for b in recorder.seen)
    # and the augmentation was really applied
    assert any(not np.array_equal(plain.state_dict[k], augmented.state_dict[k]) for k in plain.state_dict)


def test_augmented_training_is_deterministic_by_seed():
    x, y = _data()
    first = _train(x, y, Recorder(x))
    again = _train(x, y, Recorder(x))
    other = _train(x, y, Recorder(x), seed=6)
    assert all(np.array_equal(first.state_dict[k], again.state_dict[k]) for k in first.state_dict)
    assert any(not np.array_equal(first.state_dict[k], other.state_dict[k]) for k in first.state_dict)


def test_without_dp_each_epoch_augments_every_record_once():
    x, y = _data(n=50)
    recorder = Recorder(x)
    model = build_model(
        ModelConfig(n_variants=x.shape[1] - 2, hidden=4, block_size=8, hidden_per_block=1), seed=0
    )
    train_model(
        model, x, y, TrainSettings(epochs=2, batch_size=16), noise_multiplier=None, seed=1, augment=recorder
    )
    drawn = np.concatenate(recorder.seen)
    assert len(drawn) == 2 * len(y) and np.array_equal(np.sort(drawn), np.repeat(np.arange(len(y)), 2))


# --- the hospital's ClientApp with augmentation (deployed node config) --------------------------


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 31 (read only: each site's state dir is in tmp_path)."""
    return simulated_cohorts(31)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _context(federation: Path, state: Path, **extra) -> Context:
    site = hospital_folders(federation)[0]
    node = {
        "genotypes": str(site.genotypes),
        "phenotypes": str(site.phenotypes),
        "panel": str(federation / "panel.tsv"),
        "state-dir": str(state),
        **extra,
    }
    return Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={})


def _message(federation: Path, epsilon: float, augment: str = "") -> Message:
    config = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")))
    settings = {
        "server-round": 1,
        "num-rounds": 2,
        "plan-id": "p",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 0.03,
        "clip": 1.0,
        "epsilon": epsilon,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
    }
    if augment:
        settings["augment"] = augment
    content = RecordDict(
        {"arrays": ArrayRecord(build_model(config, seed=0).state_dict()), "config": ConfigRecord(settings)}
    )
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=7)


def _reply(app, message, context):
    reply = app(message, context)
    assert not reply.has_error(), reply.error.reason
    return reply


def test_a_site_trains_with_augmentation_under_dp_at_the_same_epsilon(federation, tmp_path):
    app = make_client_app()
    plain = _reply(
        app, _message(federation, 4.0), _context(federation, tmp_path / "a", **{"epsilon-budget": 4.0})
    )
    augmented = _reply(
        app,
        _message(federation, 4.0, "noise=0.05,mutate=0.02,missing=0.05"),
        _context(federation, tmp_path / "b", **{"epsilon-budget": 4.0}),
    )
    p, a = (next(iter(r.content.metric_records.values())) for r in (plain, augmented))
    assert a["epsilon"] == pytest.approx(p["epsilon"]) and a["noise-multiplier"] == pytest.approx(
        p["noise-multiplier"]
    )
    weights = [r.content["arrays"].to_torch_state_dict() for r in (plain, augmented)]
    assert any(not np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_mixing_patients_is_refused_under_dp_and_allowed_without(federation, tmp_path):
    app = make_client_app()
    reply = app(
        _message(federation, 4.0),
        _context(federation, tmp_path / "s", **{"epsilon-budget": 4.0, "augment": "mix=0.3"}),
    )
    assert reply.has_error() and "disabled under differential privacy" in reply.error.reason
    assert "augmentation 'mix=0.3' (read as: segment mix 30% of records" in reply.error.reason  # as written
    assert not (tmp_path / "s" / LEDGER_FILE).exists()  # refused before anything was trained or charged
    _reply(
        app,
        _message(federation, math.inf),
        _context(federation, tmp_path / "t", **{"epsilon-budget": math.inf, "augment": "mix=0.3,mixup=0.2"}),
    )
    with pytest.raises(SettingsError, match="mixes two patients"):
        RunSettings(augment="mixup=0.2")  # the coordinator refuses it for a DP run before contacting anyone
    assert RunSettings(augment="mixup=0.2", epsilon=math.inf).augment


def test_an_unknown_known_causal_variant_is_a_clear_error(federation, tmp_path):
    listed = tmp_path / "causal.txt"
    listed.write_text("# variants our clinicians know cause the disease\n1:999999999:A:G\n")
    reply = make_client_app()(
        _message(federation, math.inf, "mutate=0.01"),
        _context(federation, tmp_path / "s", **{"epsilon-budget": math.inf, "known-causal": str(listed)}),
    )
    assert reply.has_error() and "1:999999999:A:G" in reply.error.reason


def test_a_round_replayed_after_the_known_causal_list_changed_is_the_same_release(federation, tmp_path):
    """The list decides which variants the coordinator's `mutate` may change, so it is an input of
    the round: an audit replayed a charged round after the clinicians edited the list, got a
    second reply with the same noise on other inputs (their difference noise-free), charged once.
    The replay was then refused; since the kept replies (stop 54) it gets the reply it got, the
    same release, whatever the site changed (a refusal there told the coordinator it had)."""
    listed = tmp_path / "causal.txt"
    ids = VariantPanel.load(federation / "panel.tsv").variant_ids
    listed.write_text("\n".join(ids[:200]) + "\n")
    app = make_client_app()
    context = _context(federation, tmp_path / "s", **{"epsilon-budget": 8.0, "known-causal": str(listed)})
    message = _message(federation, 8.0, "mutate=0.5")
    first, same = (_reply(app, message, context).content["arrays"].to_torch_state_dict() for _ in range(2))
    assert all(np.array_equal(first[k], same[k]) for k in first)  # the same inputs: the same release
    listed.write_text("\n".join(ids[:5]) + "\n")
    replay = _reply(app, message, context).content["arrays"].to_torch_state_dict()
    assert all(np.array_equal(first[k], replay[k]) for k in first)
