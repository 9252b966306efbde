"""After each charge to its privacy ledger the hospital's log gets one line: what the release
spent, the ledger's total and what is left of the hospital's budget, with a warning once less
than one more such charge is left. A new-user walkthrough's hospital (budget 4, in a run asking
for epsilon 8) spent its budget to within 0.013 in one 5-round run while its clientapp.log
showed only `train task completed`."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from flwr.app import Context, RecordDict
from helpers.round_message import deployed_node_config, round_message

from genofed.client.agent.worker import SITE_LOGGERS, add_site_log
from genofed.client.app import make_client_app
from genofed.client.spend_log import SPEND_LOGGER, spend_line
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _site(budget: float | None, *, simulated: bool = False) -> SimpleNamespace:
    return SimpleNamespace(epsilon_budget=budget, simulated=simulated)


def test_the_line_says_what_was_spent_the_total_and_what_is_left(caplog):
    caplog.set_level(logging.INFO, logger=SPEND_LOGGER)
    # the next charge like it would spend 0.35: 0.38 left covers it
    line = spend_line("round 3", before=3.21, after=3.62, again=3.97, site=_site(4.0), limit=4.0)
    assert line == "round 3: spent 0.41 (ledger 3.62 of budget 4.00; 0.38 left)"
    assert [r.levelname for r in caplog.records] == ["INFO"]
    # a run's epsilon below the hospital's own budget: how far this run may take the ledger
    line = spend_line("round 1", before=0.0, after=1.5, again=2.1, site=_site(16.0), limit=8.0)
    assert line.endswith(
        "(ledger 1.50 of budget 16.00; 14.50 left); this run's epsilon takes the ledger to 8.00 at most"
    )


def test_less_than_one_more_charge_left_is_a_warning(caplog):
    caplog.set_level(logging.INFO, logger=SPEND_LOGGER)
    line = spend_line("round 5", before=3.58, after=3.987, again=4.3, site=_site(4.0), limit=4.0)
    assert line == "round 5: spent 0.41 (ledger 3.99 of budget 4.00; 0.013 left)"
    warning = caplog.records[-1]
    assert warning.levelname == "WARNING"
    assert warning.getMessage().startswith(
        "round 5: less than one more round's charge is left of this hospital's privacy budget: 0.013 of 4.00"
    )
    assert "(one more like this one would spend 0.31)" in warning.getMessage()
    assert "--change-budget REASON" in warning.getMessage()
    caplog.clear()
    # a simulated hospital's ledger is its run's own, spent to the end by plan: no warning
    spend_line("round 5", before=3.58, after=3.987, again=4.3, site=_site(None, simulated=True), limit=4.0)
    assert [r.levelname for r in caplog.records] == ["INFO"]


@pytest.fixture(scope="module")
def hospital(simulated_cohorts) -> Path:
    federation = simulated_cohorts(11)
    return sorted(p for p in federation.iterdir() if (p / "phenotypes.csv").exists())[0]


def test_each_round_a_deployed_hospital_trains_logs_its_charge(hospital, tmp_path, caplog):
    """A hospital with its own budget 4 in a run asking for epsilon 8: the plan spreads its 4 over
    the run's 3 rounds; each round logs its line from the ledger, the last one the warning."""
    caplog.set_level(logging.INFO, logger=SPEND_LOGGER)
    state = tmp_path / "state"
    node = deployed_node_config(hospital, state, 4.0)
    context = Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={})
    n_variants = sum(1 for _ in (hospital.parent / "panel.tsv").open()) - 1
    config = ModelConfig(n_variants=n_variants, architecture="logistic")
    weights = {k: v.detach().clone() for k, v in build_model(config, seed=0).state_dict().items()}
    app = make_client_app({})
    totals = []
    for server_round in (1, 2, 3):
        overrides = {"server-round": server_round, "site-evaluations": 0}
        reply = app(round_message("train", weights, config, 8.0, overrides), context)
        assert not reply.has_error(), reply.error.reason if reply.has_error() else ""
        totals.append(PrivacyLedger(state / LEDGER_FILE).epsilon(1e-5))
    spent = [r for r in caplog.records if r.name == SPEND_LOGGER]
    lines = [r.getMessage() for r in spent if r.levelname == "INFO"]
    assert [line.split(":")[0] for line in lines] == ["round 1", "round 2", "round 3"]
    for line, total in zip(lines, totals, strict=True):
        assert f"(ledger {total:.2f} of budget 4.00; " in line
    first = re.match(r"round 1: spent (\d+\.\d\d) \(ledger (\d+\.\d\d) ", lines[0])
    assert first is not None and first.group(1) == first.group(2)  # a fresh ledger: all of it this round
    warnings = [r.getMessage() for r in spent if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("round 3: less than one more round's charge")


def test_the_worker_writes_the_lines_to_its_log():
    """clientapp.log is the ClientApp worker's stderr: the ClientApp's loggers get its handler, so
    the spend line and the other INFO lines ('round N trained', a kept reply sent again) reach it,
    each once, and a refusal with its time and logger."""
    loggers = [logging.getLogger(name) for name in SITE_LOGGERS]
    saved = [(list(x.handlers), x.level, x.propagate) for x in loggers]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    try:
        add_site_log(handler)
        spend_line("round 2", before=1.0, after=1.4, again=1.7, site=_site(4.0), limit=4.0)
        logging.getLogger("genofed.client.train_handler").info("round %d trained: mean loss %.4f", 2, 0.61)
        logging.getLogger("genofed.client.kept_replies").info("round 2 (train): the same request again")
        logging.getLogger("genofed.client.app").error("refusing: %s", "phenotypes.csv: no 'label' column")
        logging.getLogger("genofed.common.data.panel").warning("a panel note")
    finally:
        for x, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            x.handlers[:], x.level, x.propagate = handlers, level, propagate
    log = stream.getvalue()
    assert log.count("round 2: spent 0.40 (ledger 1.40 of budget 4.00; 2.60 left)") == 1
    assert "genofed.client.train_handler round 2 trained: mean loss 0.6100" in log
    assert "genofed.client.kept_replies round 2 (train): the same request again" in log
    assert "genofed.client.app refusing: phenotypes.csv: no 'label' column" in log
    assert "genofed.common.data.panel a panel note" in log
