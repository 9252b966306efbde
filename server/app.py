"""The coordinator's Flower ServerApp: settings from the run config, one federation, its outputs
(RUN/model.pt, RUN/results.json, RUN/test_predictions.csv, RUN/report.md); and, for a deployed
coordinator, the grid restricted to its admitted hospitals and the end-of-run file it waits for
(genofed.server.service.run_end)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flwr.app import Context, Message
from flwr.common.logger import LOGGER_NAME
from flwr.serverapp import Grid, ServerApp

from genofed.common.errors import GenofedError
from genofed.common.util.progress import Progress
from genofed.server.federation import FederationResult, run_federation
from genofed.server.report import write_report
from genofed.server.results import (
    FEDERATION_RESULTS,
    MODEL,
    RESULTS,
    federation_results,
    write_model,
    write_results,
    write_test_predictions,
)
from genofed.server.resume import refuse_an_unfinished_run
from genofed.server.round_log import NothingTrained, refusals_by_reason
from genofed.server.service.enrollment import enrolled_sizes
from genofed.server.service.federation_folder import RUN_DIR, admitted_nodes, deployed_run_config
from genofed.server.service.reply_wait import ExchangeWait, record_reply_wait
from genofed.server.service.run_end import announcing_the_end
from genofed.server.service.run_wait import record_wait
from genofed.server.settings import RunSettings

logger = logging.getLogger(__name__)


def make_server_app(
    defaults: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    *,
    report: bool = True,
    wrap_grid: Callable[[Grid], Grid] | None = None,
    require_training: bool = True,
) -> ServerApp:
    """A ServerApp whose settings are `defaults` overridden by the run config.

    `flwr run` fills the run config from pyproject.toml; Flower's Python simulation entry point
    leaves it empty, so `genofed simulate` passes its settings (and a progress printer) here. A
    deployed coordinator's run config names only its federation folder (`federation=DIR`): the
    settings are the ones fixed in DIR/federation.json at `genofed coordinator init`.
    `report=False`: no report at the end, and the results go to RUN/federation-results.json, not
    results.json: `genofed simulate` adds its reference models, writes the report once (the
    network's attributions take tens of seconds), then results.json, which marks a finished run.
    `wrap_grid`: wraps the grid Flower gives the app; the simulation reads which hospital each
    node is off the replies that pass through it (`genofed.simulations.local.site_names`).
    `require_training=False`: a run in which no hospital trained still writes its outputs, for the
    untrained model (`genofed simulate` records such a run, e.g. every site's budget exhausted);
    otherwise it fails with the hospitals' refusals (`NothingTrained`).
    A `GenofedError` (a refusal: a finished out-dir, a missing panel, a bad setting) still ends
    the app with that error, so that Flower marks the run failed, but Flower logs it as one
    `genofed: error: ...` line instead of a traceback.
    """
    app = ServerApp()
    base = dict(defaults or {})

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            run_server(
                grid if wrap_grid is None else wrap_grid(grid),
                context,
                base,
                progress,
                report=report,
                require_training=require_training,
            )
        except GenofedError:
            # re-raised, so that Flower marks the run failed (`flwr ls`: finished:failed, with the
            # message); its log shows the refusal as one line, not as a traceback
            _ONE_LINE_REFUSALS.install()
            raise

    return app


def run_server(
    grid: Grid,
    context: Context,
    defaults: Mapping[str, Any],
    progress: Progress | None,
    *,
    report: bool = True,
    require_training: bool = True,
) -> None:
    """The ServerApp's main: one federation with `defaults` overridden by the run config, and its
    model, results and (when `report`) report written to the run's output folder."""
    run_config = dict(context.run_config)
    write = partial(_run_and_write, report=report, require_training=require_training)
    if not run_config.get("federation"):
        write(grid, {**defaults, **run_config}, progress)
        return
    # a deployed coordinator: the settings agreed in its folder; it waits for the end-of-run file
    folder = Path(str(run_config.pop("federation")))
    with announcing_the_end(folder / RUN_DIR, context.run_id):
        config = {**defaults, **deployed_run_config(folder)}
        grid = AdmittedGrid(
            grid,
            partial(admitted_nodes, folder),
            partial(enrolled_sizes, folder),
            partial(record_wait, folder / RUN_DIR, context.run_id),
            partial(record_reply_wait, folder / RUN_DIR, context.run_id),
        )
        write(grid, config, progress)


def _run_and_write(
    grid: Grid,
    config: Mapping[str, Any],
    progress: Progress | None,
    *,
    report: bool,
    require_training: bool = True,
) -> None:
    """One federation with run config `config`, then its outputs (refused before anything is
    written into an out-dir that holds another run, finished or not)."""
    settings = RunSettings.from_config(dict(config))
    # the files the settings name, as `genofed simulate` checks them: under `flwr run` a missing
    # data-dir was reported as a missing demo/cohorts/panel.tsv (an ML engineer's walkthrough)
    settings.check_inputs()
    out_dir = Path(settings.out_dir)
    _refuse_a_finished_run(out_dir)
    refuse_an_unfinished_run(settings)
    say = progress or (None if settings.quiet else _stderr)
    fed = run_federation(grid, settings, say, stop_when_every_hospital_refuses=require_training)
    if require_training:
        _refuse_an_untrained_model(fed)
    results = federation_results(fed, fed.settings)
    # the final model's risk of every test person, computed once: the model file records the
    # calibration verdict on them that the report reaches from test_predictions.csv
    risks = None if fed.test is None else fed.test.predict(fed.model_config, fed.state_dict)
    write_model(out_dir, fed, fed.panel, results, test_risks=risks)
    if fed.test is not None and risks is not None:
        write_test_predictions(out_dir, list(fed.test.sample_ids), fed.test.labels, risks)
    if not report:  # the caller (genofed simulate) finishes the run: references, report, results.json
        write_results(out_dir, results, FEDERATION_RESULTS)
        return
    write_results(out_dir, results)
    _write_report_or_log(out_dir, results)


#: How to render a finished run's report again (`genofed report`): with the run folder's path.
RERENDER = "genofed report {out_dir}"


def _write_report_or_log(out_dir: Path, results: Mapping[str, Any]) -> None:
    """The run's report, written after results.json and model.pt: a failure to render it (an extreme
    model, a missing file) is logged, not raised, so the run still ends cleanly with its record. A
    raise here would leave a finished run (results.json written) that `coordinator start` refuses to
    start again, and no report."""
    try:
        write_report(out_dir, dict(results))
    except Exception:
        logger.exception(
            "the run finished and %s and the model are written, but its report could not be rendered; "
            "render it again with: %s",
            RESULTS,
            RERENDER.format(out_dir=out_dir),
        )


def _refuse_a_finished_run(out_dir: Path) -> None:
    """A finished run's outputs are never rewritten: its model.pt is the file the hospitals
    received (by its hash) and its results the record. `genofed simulate` and `genofed coordinator
    start` refuse before they submit a run; this holds for a run submitted any other way
    (`flwr run`, a SuperLink's own CLI), resumed or not."""
    if (out_dir / RESULTS).exists():
        raise GenofedError(
            f"{out_dir} holds a finished run ({RESULTS}); its model and results are not rewritten: give the "
            f"run another out-dir (flwr run: --run-config 'out-dir=\"{out_dir.resolve().parent}/NAME\"', an "
            "absolute path: Flower's SuperLink runs the ServerApp in another folder) or move that folder away"
        )


def _refuse_an_untrained_model(fed: FederationResult) -> None:
    """A run whose every round every hospital refused (budget exhausted, a wrong setting, none
    answered) has no federated model: its model.pt, results.json and report would present the
    starting model as one (AUC 0.5 for a model from scratch), and the folder would count as a
    finished run. It fails instead, naming the refusals; its checkpoints stay (the record of
    the rounds the hospitals refused), so the folder is refused as unfinished, not as finished."""
    if any(fed.log.train.values()):  # a resumed run's earlier rounds are in the restored log
        return
    last: dict[str, str] = {}
    for _round, reasons in sorted(fed.log.refused.items()):
        last.update(reasons)
    refusals = refusals_by_reason(last)  # hospitals that refused for the same reason, named once
    rounds = fed.settings.rounds
    raise NothingTrained(
        f"no hospital trained in any of the run's {rounds} round{'s' if rounds != 1 else ''}, so there is "
        f"no federated model: {Path(fed.settings.out_dir)} gets no {MODEL}, {RESULTS} nor report. "
        + (f"The hospitals refused: {refusals}" if refusals else "No hospital gave a reason")
    )


class _OneLineRefusals(logging.Filter):
    """On Flower's logger: a `GenofedError` that ended the ServerApp, which Flower logs with its
    traceback ("Simulation raised an exception", "ServerApp raised an exception"), is logged as
    one `genofed: error: ...` line; it is a refusal whose message says what to do, not a bug.
    Any other exception keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, GenofedError):
            record.msg, record.args = "genofed: error: %s", (error,)
            record.exc_info, record.exc_text = None, None
        return True

    def install(self) -> None:
        logging.getLogger(LOGGER_NAME).addFilter(self)  # once: addFilter skips one already there


_ONE_LINE_REFUSALS = _OneLineRefusals()


#: How often the coordinator asks the SuperLink for the replies it waits for (seconds).
REPLY_POLL_SECONDS = 0.1


class ForwardingGrid(Grid):
    """A grid that passes every call on to the grid Flower gave the ServerApp: the base of the
    wrappers that change one thing about it (`AdmittedGrid`, the simulation's `NamingGrid`).
    Flower's `Grid` is abstract, so each of its methods is forwarded by name."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def set_run(self, run) -> None:
        self._grid.set_run(run)

    @property
    def run(self):
        return self._grid.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self._grid.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()

    def get_nodes(self) -> Iterable[Any]:
        return self._grid.get_nodes()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self._grid.send_and_receive(messages, timeout=timeout)


class AdmittedGrid(ForwardingGrid):
    """The ServerApp's grid, restricted to the nodes the coordinator admitted.

    Why here: every task a hospital gets (the first query, each round's train and evaluate, the
    SecAgg+ stages) goes through the grid, so one filter covers them all. `admitted` is asked on
    every call (the coordinator's admission map,
    `genofed.server.service.federation_folder.admitted_nodes`), so a
    node whose key was registered behind the coordinator's back is never listed nor sent a task,
    and a hospital revoked during the run drops out from the next exchange on. A message to a
    node that is not admitted is dropped, never sent.
    """

    def __init__(
        self,
        grid: Grid,
        admitted: Callable[[], Mapping[int, str]],
        sizes: Callable[[], Mapping[str, int]] = dict,
        waiting: Callable[[dict[str, Any] | None], None] | None = None,
        replies: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> None:
        super().__init__(grid)
        self._admitted = admitted
        self._sizes = sizes
        self._waiting = waiting
        self._replies = replies
        self._reported: set[int] = set()

    def enrolled_names(self) -> dict[int, str]:
        """Each admitted node's enrolled hospital name: `genofed.server.sites.describe_sites`
        names a site by it, never by the name the hospital claims."""
        return dict(self._admitted())

    def enrolled_sizes(self) -> dict[int, int]:
        """Each admitted node's enrolled cohort size, where it was enrolled with one
        (`coordinator enroll --declared-size`): `describe_sites` refuses another."""
        sizes = self._sizes()
        return {node: sizes[name] for node, name in self._admitted().items() if name in sizes}

    def waiting_for_hospitals(self, wait: dict[str, Any] | None) -> None:
        """The run waits for hospitals (`genofed.server.sites.wait_for_nodes`; None: no more): put on
        record for the coordinator, which says who it waits for and until when
        (`genofed.server.service.run_wait`)."""
        if self._waiting is not None:
            self._waiting(wait)

    def get_node_ids(self) -> list[int]:
        online = list(self._grid.get_node_ids())
        return self._only(online, lambda node: node)

    def get_nodes(self) -> list[Any]:
        return self._only(list(self._grid.get_nodes()), lambda info: info.node_id)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        messages = self._only(list(messages), _destination)
        return self._grid.push_messages(messages) if messages else []

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull the replies every `REPLY_POLL_SECONDS` until all are in or `timeout`
        passes: Flower's own grid sleeps 3 s between pulls, which cost a deployed round about
        1.5 s per exchange (SecAgg+ has five). Only the grid's public push and pull are used.
        A wait of more than a few seconds is put on record, with the enrolled names of the
        hospitals not yet answered, for the coordinator to say (`genofed.server.service.reply_wait`)."""
        messages = self._only(list(messages), _destination)
        if not messages:
            return []
        ids = list(self._grid.push_messages(messages))
        node_of = dict(zip(ids, map(_destination, messages), strict=False))  # a failed push: no id
        names = self._admitted()
        asked = {node: names.get(node, f"node {node}") for node in node_of.values()}
        wait = ExchangeWait(self._replies or _ignore, messages, asked, timeout)
        pending = set(ids)
        end = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        try:
            while True:
                pulled = list(self._grid.pull_messages(pending))
                replies.extend(pulled)
                pending.difference_update(m.metadata.reply_to_message_id for m in pulled)
                if not pending or (end is not None and time.monotonic() >= end):
                    return replies
                wait.update(node_of.get(mid, 0) for mid in pending)
                time.sleep(REPLY_POLL_SECONDS)
        finally:
            wait.close()

    def _only(self, items: list, node_of: Callable[[Any], int]) -> list:
        """The items for admitted nodes; each refused node is logged once."""
        admitted = self._admitted()
        for item in items:
            node = int(node_of(item))
            if node not in admitted and node not in self._reported:
                self._reported.add(node)
                logger.warning(
                    "node %s is not an enrolled hospital registered by this coordinator: it is sent no task",
                    node,
                )
        return [item for item in items if int(node_of(item)) in admitted]


def _destination(message: Message) -> int:
    return message.metadata.dst_node_id


def _ignore(_wait: dict[str, Any] | None) -> None:
    """A grid without a coordinator to tell (a test's): an exchange's wait goes on no record."""


def _stderr(message: str) -> None:
    print(f"genofed: {message}", file=sys.stderr, flush=True)


#: The ServerApp `flwr run` loads (pyproject.toml [tool.flwr.app.components]).
app = make_server_app()
