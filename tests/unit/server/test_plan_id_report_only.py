"""Settings only the report reads (`REPORT_ONLY`: prevalence, for PPV and NPV) are no part of the
simulation's plan id, which keys every noise draw: the same training at another prevalence is the
same run. Ids of runs made before (hashed with prevalence 0) stay as they were, and a resumed run
may change the prevalence (an old run made at another prevalence resumes under its recorded plan)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.server.checkpoint import Checkpoint
from genofed.server.resume import check_resumable
from genofed.server.settings import RunSettings

#: RunSettings(data_dir="fed").experiment_id() as every genofed before this change computed it.
EARLIER_ID = "367018abd924d460d9925e81c4507722"


def test_prevalence_leaves_the_plan_id_and_epsilon_does_not():
    base = RunSettings(data_dir="fed")
    assert base.experiment_id() == EARLIER_ID
    assert replace(base, prevalence=0.001).experiment_id() == EARLIER_ID
    assert replace(base, prevalence=0.2).experiment_id() == replace(base, prevalence=0.001).experiment_id()
    assert replace(base, epsilon=2.0).experiment_id() != EARLIER_ID
    assert (
        replace(base, epsilon=2.0, prevalence=0.01).experiment_id()
        == replace(base, epsilon=2.0).experiment_id()
    )


def test_a_resumed_run_may_change_the_prevalence_and_nothing_that_trains(tmp_path):
    config = ModelConfig(n_variants=100)
    recorded = RunSettings(prevalence=0.001).to_config()
    checkpoint = Checkpoint(2, {}, config.to_dict(), "the recorded plan", settings=recorded)
    check_resumable(checkpoint, config, RunSettings(prevalence=0.01, resume=True), tmp_path)
    with pytest.raises(GenofedError, match="epsilon: 8.0 -> 2.0"):
        check_resumable(checkpoint, config, RunSettings(prevalence=0.001, epsilon=2.0, resume=True), tmp_path)
