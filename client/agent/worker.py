"""The hospital's warm ClientApp: one long-running process that takes every task of its SuperNode.

Why: Flower 1.42's SuperExec starts a fresh `flwr-clientapp` process for every message (one
task token each, then `flwr_exit`), and each one imports Flower, torch, Opacus and genofed
again (about 7 s on this 2-core machine) and parses the site's data again. SecAgg+ needs four
messages per hospital and round. This worker replaces `flower-superexec` + `flwr-clientapp` at
the hospital: it imports the ClientApp once and keeps it, and the site's data stays cached
between messages (`genofed.client.site.load_site_tensors`), as in the simulation, where each
Ray worker also serves many messages.

Each task is handled as Flower's own `flwr-clientapp` handles it (`run_task`, the same Runtime
API calls in the same order: pull the task input, run the ClientApp, push the reply, push the
task output, a heartbeat while it runs), with the approved-bundle check between pulling the
task and loading anything the bundle names (genofed.client.agent.pinning). Guarantees:

- only the approved bundle runs: its SHA-256 is recomputed from the bytes the SuperNode hands
  over; any other is refused with an error reply, written to the audit log; its ClientApp is
  never imported. No Flower function is patched;
- only this worker can take a task: `AcquireTask` is signed with the SuperExec secret
  (`--superexec-auth-secret-file`), which the SuperNode demands; any other local process gets 401;
- the audit log, the outbound guard and the ledger are the ClientApp's own mods and files,
  unchanged: they run in this process exactly as they ran in a fresh one;
- it fails closed: if this Flower version lacks any Runtime API call it uses, it exits before
  taking a task; it exits when the SuperNode does (`--parent-pid`), and the agent restarts it if
  it dies on its own (genofed.client.agent.supernode); refused by the SuperNode (its secret file was
  replaced after the SuperNode started), it says so and exits with `SECRET_REFUSED_EXIT`, which
  the agent does not restart; started to run this installation's app (`--own-installation`) after
  the installed genofed changed (an upgrade on disk while the agent ran), it exits with
  `CODE_CHANGED_EXIT` before taking a task, so that new code never runs under the approval of the
  old, and the agent stops to be started afresh.

    python -m genofed.client.agent.worker --runtime-api-address 127.0.0.1:9094 \
        --superexec-auth-secret-file SITE/superexec.secret --approved-app SHA256 \
        --audit-log SITE/audit.jsonl --parent-pid PID
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genofed.client.agent.pinning import UnapprovedApp, audit_refusal, check_fab, other_code_warning
from genofed.common.errors import DATA_REFUSAL, DataError, GenofedError

#: How often the worker asks the SuperNode for a task (Flower's SuperExec: 1 s).
POLL_SECONDS = 0.05
#: The Runtime API call the SuperExec secret protects.
ACQUIRE_TASK = "/flwr.proto.Runtime/AcquireTask"
#: The ClientApp genofed's bundle names (common/deployment/deployed_app.toml).
CLIENT_APP = "genofed.client.app:app"
#: How often the worker asks again for an object the SuperNode does not hold yet (Flower: after 1 s,
#: doubling up to 10 s; see pull_task_input).
PULL_RETRY_SECONDS = 0.05
#: How long the worker waits for a task's objects (its message, the model arrays) before it gives
#: the task up and takes the next (`TaskInputUnavailable`). Flower's default allows 500 tries per
#: object (`PULL_MAX_TRIES_PER_OBJECT`) within 2 h (`PULL_MAX_TIME`): with a 1 s backoff cap,
#: over 8 minutes for a task of a SuperLink that crashed, while the task's heartbeat kept it
#: alive and the restarted coordinator's first query went unanswered within its round timeout (an
#: audit: 45 s). The objects normally arrive within a second or two on loopback, but a hospital's slow
#: link must still bring a large model (a network on 100,000 variants: a few MB) within the bound,
#: or every round of a healthy run would be given up; 120 s keeps both. A coordinator restarted
#: mid-run then needs a round timeout above it (`coordinator init --round-timeout`, deployed
#: default 600 s).
TASK_INPUT_MAX_SECONDS = 120.0
#: What this worker needs from Flower's `flwr-clientapp` module (fail closed when it moved).
RUNTIME_CALLS = ("push_message", "push_task_output")
#: The worker's exit code when the SuperNode refused its SuperExec secret (401): restarting it
#: with the same secret file is futile (EX_NOPERM).
SECRET_REFUSED_EXIT = 77
#: The worker's exit code when the installed genofed is not the one the agent approved at its
#: start (`--own-installation`): restarting it is futile until the agent computes the approval
#: again (EX_CONFIG).
CODE_CHANGED_EXIT = 78

log = logging.getLogger("genofed.worker")


class TaskInputUnavailable(RuntimeError):
    """A task's objects did not arrive within `TASK_INPUT_MAX_SECONDS` (or cannot be found): the
    task is given up (failed, as Flower reports a ClientApp that raised) and the worker goes on."""


def sent_reason(ex: Exception) -> str:
    """What the coordinator is told of an exception that escaped the ClientApp (its mods: the
    audit log, SecAgg+) or the task's input. genofed's own errors are worded to be sent, except a
    data error, which names files and samples and goes out in fixed words (as `client.app` sends
    it); any other exception's text is the library's and could quote anything it was handed, so
    only its type goes out, and the text stays in the agent's log (a privacy review: Flower sends
    `str(type(ex)) + str(ex)` for every exception)."""
    if isinstance(ex, DataError):  # names files, lines and samples: as `client.app` words it
        return DATA_REFUSAL
    if isinstance(ex, (GenofedError, TaskInputUnavailable)):  # a sentence, not Flower's class repr
        return str(ex)
    return f"the hospital's ClientApp failed ({type(ex).__name__}); the details stay in its agent log"


@dataclass
class Worker:
    """Takes the SuperNode's ClientApp tasks one at a time and runs them in this process.

    `runtime_address`: the SuperNode's Runtime API (127.0.0.1:PORT); `secret`: the SuperExec
    secret's bytes; `approved`: the SHA-256 of the one app bundle this site runs; `audit_log`:
    where a refused bundle is recorded."""

    runtime_address: str
    secret: bytes
    approved: str
    audit_log: Path | None = None
    apps: dict[str, Any] = field(default_factory=dict)  # bundle hash -> its loaded ClientApp
    warned_runs: set[Any] = field(default_factory=set)  # runs told of an approved bundle of other code
    refused: bool = False  # the SuperNode answered 401 to this worker's signed call

    def acquire_client(self, retry: bool = True):
        """The Runtime API client that signs `AcquireTask` with the SuperExec secret. With `retry`
        (Flower's invoker), a refusal (401) makes this process interrupt itself, as Flower's
        SuperExec does: the agent then starts a worker with the current secret."""
        from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor, SuperExecAuthHttpInterceptor
        from flwr.supercore.retry import make_simple_http_retry_invoker
        from flwr.supercore.runtime import RuntimeHttpClient

        return RuntimeHttpClient.from_server_address(
            server_address=self.runtime_address,
            insecure=True,  # 127.0.0.1 only: the SuperNode's Runtime API has no TLS
            root_certificates=None,
            interceptors=[
                RuntimeVersionHttpInterceptor(component_name="SuperExec"),
                SuperExecAuthHttpInterceptor(master_secret=self.secret, protected_methods={ACQUIRE_TASK}),
            ],
            retry_invoker=self._noting_refusal(make_simple_http_retry_invoker()) if retry else None,
        )

    def _noting_refusal(self, invoker):
        """Flower's invoker, noting a 401 in `refused` before it interrupts this process: the
        interrupt alone reads as "the SuperNode is gone", the other reason it is sent."""
        import httpx

        giveup = invoker.should_giveup

        def should_giveup(exc: Exception) -> bool:
            if (
                isinstance(exc, httpx.HTTPStatusError)
                and exc.response.status_code == httpx.codes.UNAUTHORIZED
            ):
                self.refused = True
            return giveup(exc)

        invoker.should_giveup = should_giveup
        return invoker

    def serve(self, poll: float = POLL_SECONDS, tasks: int | None = None) -> None:
        """Take and run ClientApp tasks until stopped (or `tasks` of them, for tests)."""
        from flwr.proto.runtime_pb2 import AcquireTaskRequest
        from flwr.supercore.constant import TaskType

        client = self.acquire_client()
        done = 0
        try:
            while tasks is None or done < tasks:
                res = client.AcquireTask(
                    AcquireTaskRequest(
                        supported_task_types=[TaskType.CLIENT_APP.value], agentapp_fab_hashes=[]
                    )
                )
                if res.HasField("task") and res.token:
                    self.run_task(res.token)
                    done += 1
                else:
                    time.sleep(poll)
        finally:
            client.close()

    def run_task(self, token: str) -> None:
        """One message, as Flower's `run_clientapp` handles it, without its process exit: pull the
        task input, check the bundle, run the ClientApp, push the reply and the task's status."""
        from flwr.app import Message
        from flwr.app.error import Error
        from flwr.clientapp.client_app import LoadClientAppError
        from flwr.common.constant import ErrorCode, SubStatus
        from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
        from flwr.supernode.runtime import run_clientapp as runtime

        from genofed.client.outward_words import outward_reason

        client = _task_client(self.runtime_address, token)
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        heartbeat.start()
        message = context = reply = None
        status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
        clock = [time.perf_counter()]
        try:
            message, context, fab = pull_task_input(client)
            clock.append(time.perf_counter())
            app = self._app(fab.content, fab.hash_str)
            self._warn_of_other_code(fab.content, message)
            reply = app(message=message, context=context)
            clock.append(time.perf_counter())
            status, details = SubStatus.COMPLETED, ""
        except Exception as ex:  # noqa: BLE001 - every failure goes back to the coordinator, as in Flower
            code, reason = ErrorCode.CLIENT_APP_RAISED_EXCEPTION, sent_reason(ex)
            if isinstance(ex, LoadClientAppError):
                code, reason = (
                    ErrorCode.LOAD_CLIENT_APP_EXCEPTION,
                    "An exception was raised when attempting to load `ClientApp`",
                )
            if isinstance(ex, UnapprovedApp):  # no traceback; the site's IT sees it (notice_handler)
                run = getattr(getattr(message, "metadata", None), "run_id", "?")
                log.warning("run %s: %s", run, ex, extra={NOTICE: True})
            elif isinstance(ex, TaskInputUnavailable):  # no traceback: the reason is the whole story
                log.warning("%s", ex, extra={NOTICE: True})
            else:
                log.error("ClientApp raised an exception", exc_info=ex)
            # what leaves the site names no local path (`outward_reason`); its audit log keeps the full text
            sent = outward_reason(reason, context.node_config if context is not None else {}, deployed=True)
            details = sent
            if message is not None:
                reply = Message(Error(code=code, reason=sent), reply_to=message)
                if isinstance(ex, UnapprovedApp) and self.audit_log is not None:
                    audit_refusal(
                        self.audit_log, message, Message(Error(code=code, reason=reason), reply_to=message)
                    )
        finally:
            try:
                if reply is not None and context is not None:
                    runtime.push_message(client, reply, context)
            except Exception as ex:  # noqa: BLE001
                log.error("failed to push the reply", exc_info=ex)
            runtime.push_task_output(client=client, context=context, sub_status=status, details=details)
            heartbeat.stop()
            client.close()
            clock.append(time.perf_counter())
            steps = ", ".join(f"{b - a:.2f}" for a, b in zip(clock, clock[1:], strict=False))
            log.info("%s task %s: %s s (pull, ClientApp, push)", _kind(message), status, steps)

    def _app(self, content: bytes, label: str) -> Any:
        """The bundle's ClientApp, after its bytes are checked against the approved hash."""
        check_fab(content, label, self.approved)
        if self.approved not in self.apps:
            self.apps[self.approved] = load_client_app(content)
        return self.apps[self.approved]

    def _warn_of_other_code(self, content: bytes, message) -> None:
        """Once per run: a WARNING on the agent's output and in the audit log when the approved
        bundle records other code (or another Flower) than this site's, which answers all the same
        with its own installed ClientApp (`pinning.other_code_warning`). Why: the bundle carries no
        code, and a hospital on old code that approved an upgraded coordinator's bundle by its hash
        (`--approved-app`) served its runs with no word (an ML engineer's walkthrough)."""
        run = getattr(getattr(message, "metadata", None), "run_id", None)
        if run in self.warned_runs:
            return
        self.warned_runs.add(run)
        warning = other_code_warning(content)
        if warning is None:
            return
        log.warning("run %s: %s", run, warning, extra={NOTICE: True})
        if self.audit_log is not None:
            from genofed.client.agent.audit import append_entry, warning_entry

            append_entry(Path(self.audit_log), warning_entry(run, warning))

    def warm(self, content: bytes) -> None:
        """Import the approved bundle's ClientApp now (torch, Opacus, genofed), before any task."""
        self._app(content, "this site's own build")


def pull_task_input(client, max_seconds: float = TASK_INPUT_MAX_SECONDS) -> tuple[Any, Any, Any]:
    """The task's message, context and bundle from the SuperNode: Flower's
    `run_clientapp.pull_task_input` asking again every `PULL_RETRY_SECONDS` for the message's
    objects, and a bound on how long they may take (`max_seconds`; then TaskInputUnavailable).

    Why: the SuperNode lists a message before it has pulled the message's objects (the model
    arrays) from the SuperLink, and it pulls them in turn with a backoff of 1 s when the
    coordinator has not finished pushing them (Flower registers a message before its objects).
    A ClientApp that asks at once is told "unavailable" and Flower retries after 1 s
    (`PULL_INITIAL_BACKOFF`), doubling. A fresh `flwr-clientapp` never asked that early; this
    worker, ready within `POLL_SECONDS`, does. A backoff doubling from 0.05 s asked at 0.35, 0.75
    and 1.55 s, so objects that reached the SuperNode at 1.05 s were taken at 1.55 s; a steady
    retry takes them within `PULL_RETRY_SECONDS` (docs/benchmarks.md, "Where an exchange's time
    goes"). The calls go to the hospital's own SuperNode on loopback. The objects
    of a SuperLink that crashed never arrive: the worker must not wait for them for long
    (`TASK_INPUT_MAX_SECONDS`), or it misses the restarted coordinator's tasks."""
    from flwr.app import Message
    from flwr.common.serde import context_from_proto, fab_from_proto
    from flwr.proto.node_pb2 import Node
    from flwr.proto.runtime_pb2 import PullAppMessagesRequest, PullTaskInputRequest
    from flwr.supercore.inflatable.inflatable_protobuf_utils import (
        make_confirm_message_received_fn_protobuf,
        make_pull_object_fn_protobuf,
    )
    from flwr.supercore.inflatable.inflatable_utils import ObjectPullError, pull_and_inflate_object_from_tree
    from flwr.supercore.task_identity import TaskIdentity

    res = client.PullTaskInput(PullTaskInputRequest())
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = (
        res.task_id,
        res.run.run_id,
        res.context.node_id,
    )
    context, fab = context_from_proto(res.context), fab_from_proto(res.fab)
    pulled = client.PullMessages(PullAppMessagesRequest())
    if not pulled.messages_list:
        raise RuntimeError("No messages received from Runtime API")
    node, tree = Node(node_id=context.node_id), pulled.message_object_trees[0]
    try:
        message = pull_and_inflate_object_from_tree(
            tree,
            make_pull_object_fn_protobuf(client.PullObject, node, context.run_id),
            make_confirm_message_received_fn_protobuf(client.ConfirmMessageReceived, node, context.run_id),
            return_type=Message,
            max_time=max_seconds,
            max_tries_per_object=None,  # bounded by max_time (Flower's 500 tries: 25 s at this retry)
            initial_backoff=PULL_RETRY_SECONDS,
            backoff_cap=PULL_RETRY_SECONDS,
        )
    except ObjectPullError as exc:
        raise TaskInputUnavailable(
            f"task {res.task_id} of run {context.run_id}: its message did not arrive from the SuperNode "
            f"within {max_seconds:g} s ({exc}); the coordinator that sent it is gone (crashed, restarted?): "
            "giving the task up and taking the next one"
        ) from None
    message.metadata.__dict__["_message_id"] = tree.object_id  # as Flower: not part of the deflated message
    return message, context, fab


def _kind(message) -> str:
    return "" if message is None else message.metadata.message_type


def load_client_app(content: bytes) -> Any:
    """The ClientApp an (approved) bundle names in its pyproject.toml, from the site's own
    installation: genofed's bundle holds only that file (genofed.common.deployment.app_bundle),
    and it must name genofed's ClientApp (`CLIENT_APP`); the worker loads no other."""
    from flwr.clientapp.client_app import LoadClientAppError

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as fab:
            config = tomllib.loads(fab.read("pyproject.toml").decode())
        named = config["tool"]["flwr"]["app"]["components"]["clientapp"]
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise LoadClientAppError(f"the approved bundle names no ClientApp: {exc}") from exc
    if named != CLIENT_APP:
        raise LoadClientAppError(f"the approved bundle names {named!r}; this worker runs {CLIENT_APP} only")
    from genofed.client.app import app

    return app


def _task_client(address: str, token: str):
    """The Runtime API client of one task, authenticated with its token (as `flwr-clientapp`)."""
    from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
    from flwr.supercore.retry import make_simple_http_retry_invoker
    from flwr.supercore.runtime import RuntimeHttpClient

    return RuntimeHttpClient.from_server_address(
        server_address=address,
        insecure=True,
        root_certificates=None,
        interceptors=[
            RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
            RuntimeTokenHttpInterceptor(token),
        ],
        retry_invoker=make_simple_http_retry_invoker(),
    )


def require_runtime_calls() -> None:
    """Fail closed: exit before taking any task if this Flower version moved what the worker uses."""
    import inspect

    from flwr.supernode.runtime import run_clientapp as runtime

    missing = [name for name in RUNTIME_CALLS if not callable(getattr(runtime, name, None))]
    try:
        from flwr.supercore.inflatable.inflatable_utils import pull_and_inflate_object_from_tree
        from flwr.supercore.task_identity import TaskIdentity  # noqa: F401 - pull_task_input sets it

        parameters = inspect.signature(pull_and_inflate_object_from_tree).parameters
        missing += [
            f"pull_and_inflate_object_from_tree({name}=)"
            for name in ("initial_backoff", "backoff_cap", "max_time", "max_tries_per_object")
            if name not in parameters
        ]
    except ImportError as exc:
        missing.append(str(exc))
    if missing:
        raise SystemExit(
            f"genofed: this Flower version's run_clientapp has no {', '.join(missing)}: "
            "refusing to take tasks"
        )


#: The loggers of the ClientApp's own lines (every `genofed.client.*` and `genofed.common.*` module).
SITE_LOGGERS = ("genofed.client", "genofed.common")


def add_site_log(handler: logging.Handler) -> None:
    """The ClientApp's own lines into the worker's log, clientapp.log, beside `train task completed`,
    at INFO, with their warnings: the line after each privacy charge (what it spent, the ledger's
    total, what is left of the hospital's budget; `genofed.client.spend_log`), 'round N trained',
    a request answered again with its kept reply, and each refusal with what to do. Without a
    handler only warnings reached it, through Python's last-resort handler (no time, no logger),
    and the INFO lines, the spend line aside, never did."""
    for name in SITE_LOGGERS:
        site = logging.getLogger(name)
        site.addHandler(handler)
        site.setLevel(logging.INFO)
        site.propagate = False  # once, not again by a handler above it


#: The attribute of a log record the agent's own output gets too (`notice_handler`).
NOTICE = "notice"


def notice_handler(fd: int) -> logging.Handler:
    """The worker's notices (a refused app bundle, a task given up) on `fd`, the agent's own stderr
    (journald, docker logs), one line each, besides clientapp.log. Why: a hospital's IT team reads
    the service's journal, where a refused run showed only as Flower's "Received / Sent
    successfully" (an ML engineer's walkthrough); the refusal was in audit.jsonl alone."""
    handler = logging.StreamHandler(os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace"))
    handler.setFormatter(logging.Formatter("genofed: %(levelname)s: %(message)s"))
    handler.addFilter(lambda record: bool(getattr(record, NOTICE, False)))
    return handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genofed-clientapp-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--runtime-api-address", required=True)
    parser.add_argument("--superexec-auth-secret-file", required=True, type=Path)
    parser.add_argument("--approved-app", required=True)
    parser.add_argument("--audit-log", type=Path)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--notice-fd", type=int, help="the agent's stderr, for the worker's notices")
    # the approved app is this installation's, computed when the agent started: refuse to serve it
    # with other code (a review: `git checkout <tag>` with the agent running, then a worker restart)
    parser.add_argument("--own-installation", action="store_true")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)  # its own lines only: Flower logs for itself
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    if args.notice_fd is not None:
        log.addHandler(notice_handler(args.notice_fd))
    add_site_log(handler)
    from flwr.supercore.app_utils import start_parent_process_monitor

    from genofed.common.deployment.app_bundle import approved_app_hash, build_app_fab

    require_runtime_calls()
    if args.parent_pid is not None:
        start_parent_process_monitor(args.parent_pid)  # SIGINT to itself when the SuperNode is gone
    secret = args.superexec_auth_secret_file.read_bytes()
    if not secret:
        raise SystemExit(f"genofed: {args.superexec_auth_secret_file} is empty; refusing to take tasks")
    if args.own_installation and args.approved_app != approved_app_hash():
        log.error(
            "the installed genofed changed since this hospital agent started (its app bundle was %s, the "
            "installed code's is now %s): refusing to take tasks; restart the agent (`genofed hospital "
            "start`), after every site and the coordinator run the same release",
            args.approved_app[:12],
            approved_app_hash()[:12],
        )
        raise SystemExit(CODE_CHANGED_EXIT)
    worker = Worker(args.runtime_api_address, secret, args.approved_app, args.audit_log)
    if args.approved_app == approved_app_hash():
        worker.warm(build_app_fab())
    log.info("ClientApp worker ready: taking tasks from %s", args.runtime_api_address)
    try:
        worker.serve()
    except KeyboardInterrupt:
        if not worker.refused:
            log.info("the SuperNode is gone: stopping")
            return
        log.error(
            "the SuperNode refused this worker's SuperExec secret (%s was replaced after the SuperNode "
            "started): stopping",
            args.superexec_auth_secret_file,
        )
        raise SystemExit(SECRET_REFUSED_EXIT) from None


if __name__ == "__main__":
    main()
