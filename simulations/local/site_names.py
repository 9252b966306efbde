"""The virtual hospitals of a simulation named in everything the coordinator says about them.

Why: the coordinator knows a hospital by the name it gives when asked at the start of a run. One
whose data fail their checks never gives it, so the coordinator could only say "node
8676823047852620954" (a random id Flower draws in every launch) in its warning, in the error when
too few hospitals can take part, in results.json's `refusals` and in the report; and its reason
was "details are in the site's own log". In a deployed federation that is all the coordinator
may learn. In the simulation every hospital is a folder of the user's own `--data`, on the same
machine, and its log lines are the ones on the user's screen, so nothing is hidden by naming it:

- `NamedRefusals` wraps the ClientApp of every virtual hospital: a refusal it sends carries the
  hospital's folder name and, for data that failed their checks, the file that failed and where
  the reason is (the hospital's "refusing:" line of the simulation's log). The check's own words
  stay in that log: they may name a patient's sample id, and a refusal's reason is written into
  results.json and the report.
- `SiteNames` (coordinator side, in the same process as the ServerApp) reads that tag off each
  reply the grid brings back (`NamingGrid`), strips it, and rewrites "node N" / "node-N" into the
  hospital's name in the progress lines, the coordinator's log lines, its errors and the results.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flwr.app import Context, Error, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid

from genofed.common.errors import DataError
from genofed.common.util.atomic import write_text_atomic
from genofed.server.app import ForwardingGrid

#: A tagged refusal: "[hospital NAME] REASON".
_TAG = re.compile(r"\[hospital (?P<name>[^\]]+)\] (?P<reason>.*)", re.DOTALL)
#: How the coordinator's texts name a node: "node 123" (sites, errors) or "node-123" (round log).
_NODE = re.compile(r"\bnode[- ](?P<id>\d+)\b")
#: The file, in the run's checkpoint folder, that keeps which node was which hospital across a restart.
NODE_NAMES = "node-names.json"
#: The client's logger: its "refusing: %s" record carries the site's own error.
CLIENT_LOGGER = "genofed.client.app"
#: The coordinator's loggers that name nodes (who cannot take part, refused or capped updates).
SERVER_LOGGERS = ("genofed.server.sites", "genofed.server.tracking", "genofed.server.secagg")


def tagged(name: str, reason: str) -> str:
    """A refusal's reason with the hospital's name in front, as `SiteNames.learn` reads it."""
    return f"[hospital {name}] {reason}"


class NamedRefusals(ClientApp):
    """A virtual hospital's ClientApp whose refusals say which hospital refused, and where to look.

    `hospitals`: the hospital folder names of `data_dir` in partition order (the order
    `genofed.client.site` maps a partition id to its folder). `flower_level`: the level of
    Flower's logger in the worker process that runs the app, as the simulation sets it in its own
    (None: Flower's default); the workers' lines reach the user's screen through Ray, and without
    it every run ends with one "Manually terminating ClientAppActor" warning per worker.
    """

    def __init__(
        self,
        inner: ClientApp,
        hospitals: Sequence[str],
        data_dir: str | Path,
        flower_level: int | None = None,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._hospitals = tuple(hospitals)
        self._data_dir = Path(data_dir)
        self._flower_level = flower_level

    def __call__(self, message: Message, context: Context) -> Message:
        if self._flower_level is not None:
            logging.getLogger("flwr").setLevel(self._flower_level)
        captured = _Captured()
        client_logger = logging.getLogger(CLIENT_LOGGER)
        client_logger.addFilter(captured)
        try:
            reply = self._inner(message, context)
        finally:
            client_logger.removeFilter(captured)
        name = self._name(context)
        if reply.has_error() and name is not None:
            reason = captured.reason(self._data_dir) or reply.error.reason
            reply.error = Error(code=reply.error.code, reason=tagged(name, reason))
        return reply

    def _name(self, context: Context) -> str | None:
        try:
            return self._hospitals[int(context.node_config["partition-id"])]
        except (KeyError, ValueError, IndexError, TypeError):  # not a simulated node
            return None


class _Captured(logging.Filter):
    """The site's own error while it handles one message: a data check's error (its "refusing: %s"
    record) or an unexpected failure (logged with its traceback).

    A filter, not a handler: it sees every record the client's logger emits and lets each pass. A
    handler would also stop the record from reaching Python's last-resort stderr output, which is
    how a Ray actor without logging configuration prints the site's "refusing:" line, the line the
    reason points the user to."""

    def __init__(self) -> None:
        super().__init__()
        self.data_errors: list[DataError] = []
        self.failures: list[BaseException] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            self.failures.append(record.exc_info[1])
        elif isinstance(record.args, tuple) and record.args and isinstance(record.args[0], DataError):
            self.data_errors.append(record.args[0])
        return True

    def reason(self, data_dir: Path) -> str | None:
        """Which file failed its checks (or which kind of internal error), and where the reason is:
        the simulation's own log. Not the check's words: they may name a sample, and the reason
        goes into results.json and the report (tests/e2e/test_federation.py). None for a refusal
        in genofed's own words (an exhausted budget, ...): it already says why."""
        if self.data_errors:
            return (
                f"the site's data failed validation ({_shown(self.data_errors[0].file, data_dir)}); the "
                "reason is in the simulation's log, on the hospital's 'refusing:' line (or run "
                "`genofed data check` on its files)"
            )
        if self.failures:
            return (
                f"the site hit an internal error ({type(self.failures[0]).__name__}); its traceback is in "
                "the simulation's log"
            )
        return None


def _shown(file: str, data_dir: Path) -> str:
    """A file the check names, relative to the federation folder when it lies in it."""
    try:
        return str(Path(file).resolve().relative_to(data_dir.resolve()))
    except (ValueError, OSError):
        return file


class SiteNames:
    """Which hospital each node of this simulation is, as the tags of its replies said.

    `store`: a JSON file that keeps what was learned across a restart (`--resume`): Flower draws
    new node ids in every launch, and the refusals the checkpoint carries from before it name the
    old ones. Read when it exists, rewritten whenever a node is learned.
    """

    def __init__(self, hospitals: Iterable[str], store: Path | None = None) -> None:
        self.hospitals = frozenset(hospitals)
        self.store = store
        self.by_node: dict[int, str] = _read_store(store, self.hospitals)

    def learn(self, reply: Message) -> Message:
        """Note the hospital a tagged refusal names and strip the tag; other replies pass as they are."""
        if not reply.has_error():
            return reply
        found = _TAG.fullmatch(reply.error.reason or "")
        if found and found["name"] in self.hospitals:
            node = int(reply.metadata.src_node_id)
            if self.by_node.get(node) != found["name"]:
                self.by_node[node] = found["name"]
                self._save()
            reply.error = Error(code=reply.error.code, reason=found["reason"])
        return reply

    def _save(self) -> None:
        if self.store is not None:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.store, json.dumps({str(k): v for k, v in sorted(self.by_node.items())}))

    def text(self, text: str) -> str:
        """`text` with every "node N" / "node-N" of a known node replaced by its hospital's name."""

        def name(found: re.Match[str]) -> str:
            return self.by_node.get(int(found["id"]), found[0])

        return _NODE.sub(name, text) if self.by_node else text

    def renamed(self, value: Any) -> Any:
        """A copy of results (any JSON value) with known nodes named in every key and string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.renamed(k): self.renamed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.renamed(v) for v in value]
        return value

    def progress(self, say: Callable[[str], None]) -> Callable[[str], None]:
        """`say`, with known nodes named in every line."""
        return lambda message: say(self.text(message))

    @contextmanager
    def naming_logs(self, loggers: Sequence[str] = SERVER_LOGGERS) -> Iterator[None]:
        """While the body runs, the coordinator's log lines name known nodes."""
        names = self

        class _Naming(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                message = record.getMessage()
                named = names.text(message)
                if named != message:
                    record.msg, record.args = named, None
                return True

        naming = _Naming()
        targets = [logging.getLogger(name) for name in loggers]
        for target in targets:
            target.addFilter(naming)
        try:
            yield
        finally:
            for target in targets:
                target.removeFilter(naming)

    def named_error(self, error: BaseException) -> BaseException:
        """`error` with known nodes named in its message (the same exception, for the same exit)."""
        message = str(error)
        named = self.text(message)
        if named != message:
            error.args = (named, *error.args[1:])
        return error


def _read_store(store: Path | None, hospitals: frozenset[str]) -> dict[int, str]:
    """The node -> hospital map a previous launch of this run saved; {} when there is none or it
    cannot be read (the names are a convenience: a run never fails for them)."""
    if store is None or not store.is_file():
        return {}
    try:
        saved = json.loads(store.read_text())
        return {int(node): name for node, name in saved.items() if name in hospitals}
    except (OSError, ValueError, AttributeError, TypeError):
        logging.getLogger(__name__).warning(
            "%s unreadable: hospitals refused before a restart keep node ids", store
        )
        return {}


class NamingGrid(ForwardingGrid):
    """The ServerApp's grid in the simulation: each reply passes `SiteNames.learn` on its way in.

    Why the grid: every exchange (the first query, each round's train and evaluate, SecAgg+'s
    stages) comes back through it, so one place reads every refusal's tag.
    """

    def __init__(self, grid: Grid, names: SiteNames) -> None:
        super().__init__(grid)
        self._names = names

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._names.learn(reply) for reply in self._grid.pull_messages(message_ids)]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return [self._names.learn(reply) for reply in self._grid.send_and_receive(messages, timeout=timeout)]
