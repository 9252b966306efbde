"""genofed's ClientApp driven by a ServerApp of one's own (a Flower user's walkthrough, on the real
message path, `make_client_app`): a message that leaves out what genofed's ServerApp always sends
is refused in one line that names what is missing, never answered on a guess.

- No epsilon in the message's config nor in the run config: every simulated hospital trained
  without differential privacy and said nothing (`{'epsilon': inf}` in its reply).
- No model architecture (`model`): a KeyError, answered as "the site hit an internal error".

And a `flwr run` that sets only its `out-dir` keeps its simulated hospitals' ledgers there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flwr.app import Context, MessageType, RecordDict
from helpers.round_message import round_message

from genofed.client.app import FAILED, REFUSED, make_client_app
from genofed.client.site import load_site_tensors, resolve_site, split_seed
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _reply(federation: Path, ledgers: Path, **overrides):
    """Hospital 0's reply to a train message of round 1 with `overrides` (None drops an entry),
    in a simulation whose run config names the data and ledgers only."""
    run_config = {"data-dir": str(federation), "ledger-dir": str(ledgers)}
    site = resolve_site({"partition-id": 0}, run_config)
    n_variants = load_site_tensors(site, split_seed(site, 0)).n_variants
    config = ModelConfig(n_variants=n_variants, architecture="logistic")
    message = round_message(
        MessageType.TRAIN, build_model(config, seed=0).state_dict(), config, 3.0, overrides
    )
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    return make_client_app(run_config)(message, context), site


def test_a_message_naming_no_epsilon_is_refused_not_trained_without_privacy(simulated_cohorts, tmp_path):
    reply, site = _reply(simulated_cohorts(11), tmp_path / "ledgers", epsilon=None)
    assert reply.has_error() and reply.error.code == REFUSED
    assert "names no epsilon, and neither does the run config" in reply.error.reason
    assert not (site.state_dir / LEDGER_FILE).exists()  # nothing trained, nothing charged
    no_privacy, _ = _reply(simulated_cohorts(11), tmp_path / "asked", epsilon=float("inf"))
    assert not no_privacy.has_error(), no_privacy.error  # asked for in so many words: trained
    assert no_privacy.content["metrics"]["epsilon"] == float("inf")


def test_a_message_without_its_model_architecture_is_refused_in_one_line(simulated_cohorts, tmp_path):
    reply, _ = _reply(simulated_cohorts(11), tmp_path / "ledgers", model=None)
    assert reply.has_error() and reply.error.code == REFUSED != FAILED
    assert "has no model architecture (its config's `model`" in reply.error.reason
    reply, _ = _reply(simulated_cohorts(11), tmp_path / "other", model="[1, 2]")
    assert reply.error.code == REFUSED and "no JSON object" in reply.error.reason


def test_runs_that_set_only_their_out_dir_keep_ledgers_of_their_own(simulated_cohorts, tmp_path):
    """pyproject.toml declared ledger-dir = "runs/flwr/privacy-ledgers": two `flwr run`s that set
    only `out-dir` charged one ledger, and the second was refused for the first one's spending. An
    empty ledger-dir (pyproject's default now) means OUT-DIR/privacy-ledgers, as `genofed simulate`."""
    federation = simulated_cohorts(11)
    runs = [{"data-dir": str(federation), "out-dir": str(tmp_path / run), "ledger-dir": ""} for run in "ab"]
    first, second = (resolve_site({"partition-id": 0}, run) for run in runs)
    assert first.state_dir == tmp_path / "a" / "privacy-ledgers" / first.name
    assert second.state_dir == tmp_path / "b" / "privacy-ledgers" / first.name
    shared = resolve_site({"partition-id": 0}, dict(runs[0], **{"ledger-dir": str(tmp_path / "shared")}))
    assert shared.state_dir == tmp_path / "shared" / first.name  # named: as given
    beside_the_data = resolve_site({"partition-id": 0}, {"data-dir": str(federation)})
    assert beside_the_data.state_dir == federation / ".ledgers" / first.name
