"""A site's validated synthetic records in its own training: only passing batches are used, and
under DP only a generator charged to this site's ledger, so the reported epsilon is end to end
with respect to the real patients. The whole path on Flower's simulation engine is in
tests/e2e/test_synthetic_federation.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from helpers.synthetic import PERMISSIVE

from genofed.client.app import make_client_app
from genofed.client.site import SiteConfigError, SiteTensors, resolve_site
from genofed.client.synth import SynthOptions, synthesize
from genofed.client.synthetic_use import UNUSABLE_BATCH, SyntheticCohort, declare_verdict, synthetic_count
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.accountant import calibrate_noise
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.synthetic.checks import Thresholds
from genofed.server.settings import RunSettings, SettingsError


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 21 (read only: ledgers and synthetic cohorts are written
    to each test's own folders)."""
    return simulated_cohorts(21)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _synth(
    federation: Path,
    out: Path,
    *,
    epsilon: float = math.inf,
    state: Path | None = None,
    thresholds: Thresholds = PERMISSIVE,
) -> dict:
    site = hospital_folders(federation)[0]
    options = SynthOptions(
        n=120, epsilon=epsilon, state_dir=str(state or ""), epochs=3, seed=1, thresholds=thresholds
    )
    return synthesize(site.genotypes, site.phenotypes, out, options)


def _context(federation: Path, state: Path, synthetic: Path, budget: float) -> Context:
    """A deployed site's context, its batch's verdict declared in its ledger as `hospital check
    --synthetic` declares it (a batch nobody declared is refused: test_synthetic_batch_binding.py)."""
    declare_verdict(synthetic, state / LEDGER_FILE, delta=1e-5, by="the test's configuration")
    site = hospital_folders(federation)[0]
    node_config = {
        "genotypes": str(site.genotypes),
        "phenotypes": str(site.phenotypes),
        "panel": str(federation / "panel.tsv"),
        "state-dir": str(state),
        "epsilon-budget": budget,
        "synthetic": str(synthetic),
        "synthetic-ratio": 1.0,
    }
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def _train_message(federation: Path, server_round: int, epsilon: float) -> Message:
    config = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")))
    settings = ConfigRecord(
        {
            "server-round": server_round,
            "num-rounds": 2,
            "plan-id": "fed-1",
            "local-epochs": 1,
            "batch-size": 16,
            "lr": 0.03,
            "clip": 1.0,
            "epsilon": epsilon,
            "delta": 1e-5,
            "model": json.dumps(config.to_dict()),
        }
    )
    content = RecordDict(
        {"arrays": ArrayRecord(build_model(config, seed=0).state_dict()), "config": settings}
    )
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=7)


def _metrics(reply: Message) -> dict:
    assert not reply.has_error(), reply.error.reason
    return dict(next(iter(reply.content.metric_records.values())))


def test_dp_training_with_a_charged_generator_stays_within_the_sites_total_budget(federation, tmp_path):
    state = tmp_path / "state"
    summary = _synth(federation, tmp_path / "syn", epsilon=2.0, state=state)
    assert summary["passed"] and summary["records_written"] > 0
    app = make_client_app()
    context = _context(federation, state, tmp_path / "syn", budget=6.0)
    first = _metrics(app(_train_message(federation, 1, 6.0), context))
    real = first["num-examples"]
    # ratio x the public training size, not the records that passed (finding 3 of the second audit)
    assert first["synthetic-examples"] == synthetic_count(1.0, real) > 0
    second = _metrics(app(_train_message(federation, 2, 6.0), context))
    ledger = PrivacyLedger(state / LEDGER_FILE)
    kinds = {c.plan_id.split("-")[0] for c in ledger.charges}
    assert kinds == {"synth", "synthetic", "fed"}  # the generator, its verdict, both rounds in one ledger
    assert 5.5 < ledger.epsilon(1e-5) <= 6.0 + 1e-6 and second["epsilon"] == pytest.approx(
        ledger.epsilon(1e-5)
    )
    # the training paid for the generator: more noise than the same plan on a fresh ledger
    rows = real + first["synthetic-examples"]
    alone = calibrate_noise(
        [],
        sample_rate=1 / math.ceil(rows / 16),
        steps=2 * math.ceil(rows / 16),
        target_epsilon=6.0,
        delta=1e-5,
    )
    assert first["noise-multiplier"] > alone * 1.01  # equal if the generator were ignored


def test_synthetic_records_from_a_non_private_generator_are_refused_under_dp(federation, tmp_path):
    _synth(federation, tmp_path / "syn")
    app = make_client_app()
    reply = app(
        _train_message(federation, 1, 3.0),
        _context(federation, tmp_path / "state", tmp_path / "syn", budget=3.0),
    )
    assert reply.has_error() and "WITHOUT differential privacy" in reply.error.reason
    charged = PrivacyLedger(tmp_path / "state" / LEDGER_FILE).charges
    assert [c.epsilon_after for c in charged] == [0.0]  # the verdict's declaration only: nothing trained
    # without DP the same validated records may be used
    reply = app(
        _train_message(federation, 1, math.inf),
        _context(federation, tmp_path / "s2", tmp_path / "syn", budget=math.inf),
    )
    assert _metrics(reply)["synthetic-examples"] > 0


def test_a_generator_charged_to_another_ledger_is_refused(federation, tmp_path):
    _synth(federation, tmp_path / "syn", epsilon=2.0, state=tmp_path / "elsewhere")
    reply = make_client_app()(
        _train_message(federation, 1, 6.0), _context(federation, tmp_path / "state", tmp_path / "syn", 6.0)
    )
    assert reply.has_error() and "not in this site's ledger" in reply.error.reason


def test_a_batch_that_failed_validation_is_refused_by_a_deployed_site_in_fixed_words(federation, tmp_path):
    """A deployed site refuses it (its start already does), with words that do not say which checks
    failed; a simulated site trains on its real patients (test_synthetic_public_count.py)."""
    summary = _synth(
        federation, tmp_path / "syn", thresholds=Thresholds()
    )  # 3 epochs on 80 patients cannot pass
    assert not summary["passed"]
    reply = make_client_app()(
        _train_message(federation, 1, math.inf),
        _context(federation, tmp_path / "state", tmp_path / "syn", budget=math.inf),
    )
    assert reply.has_error() and reply.error.reason == UNUSABLE_BATCH


def test_training_rows_append_synthetic_after_real_and_validation_stays_real():
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1], np.float32)
    synthetic = SyntheticCohort(
        Path("."), np.zeros((2, 3), np.float32), np.array([1, 1], np.float32), 2.0, "p", "vae"
    )
    data = SiteTensors(x, y, x[:1], y[:1], 3, "", synthetic)
    rows_x, rows_y = data.training_rows()
    assert rows_x.shape == (6, 3) and list(rows_y) == [0, 1, 0, 1, 1, 1] and data.n_synthetic == 2
    assert synthetic_count(0.4, 100) == 40 and synthetic_count(2.0, 100) == 200


def test_synthetic_settings_are_checked_and_leave_plain_runs_unchanged(tmp_path):
    with pytest.raises(SettingsError, match="synthetic-epsilon"):
        RunSettings(epsilon=2.0, synthetic_ratio=1.0, synthetic_epsilon=2.0)
    with pytest.raises(SettingsError, match="synthetic-generator"):
        RunSettings(synthetic_generator="diffusion")
    # unused synthetic settings do not change the experiment id (and so the noise draws) of a plain run
    assert RunSettings(synthetic_generator="gan").experiment_id() == RunSettings().experiment_id()
    assert RunSettings(synthetic_ratio=0.5).experiment_id() != RunSettings().experiment_id()
    with pytest.raises(SiteConfigError, match="synthetic-ratio"):
        resolve_site(
            {
                "genotypes": "g.vcf",
                "phenotypes": "p.csv",
                "panel": "panel.tsv",
                "state-dir": str(tmp_path),
                "synthetic": str(tmp_path),
                "synthetic-ratio": "lots",
            },
            {},
        )
