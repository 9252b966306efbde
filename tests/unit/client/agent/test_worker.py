"""The hospital's warm ClientApp worker: only the approved bundle is loaded, a refusal goes back as
an error reply and into the audit log, the SuperNode's Runtime API hands tasks to the holder of
the SuperExec secret only (a real `flower-supernode`), a worker it refuses says so and is not
restarted, and the agent restarts a worker that dies."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp.client_app import LoadClientAppError
from flwr.supercore.task_identity import TaskIdentity

from genofed.client.agent import worker as worker_module
from genofed.client.agent.audit import read_audit
from genofed.client.agent.pinning import UnapprovedApp
from genofed.client.agent.supernode import Launch, supervise_worker
from genofed.client.agent.worker import CODE_CHANGED_EXIT, SECRET_REFUSED_EXIT, Worker, load_client_app
from genofed.common.deployment.app_bundle import approved_app_hash, build_app_fab
from genofed.common.deployment.flower_env import flower_command, service_env, write_superexec_secret
from genofed.simulations.local.loopback import free_port


def _fab(clientapp: str) -> bytes:
    """A bundle whose pyproject names `clientapp`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as fab:
        fab.writestr("pyproject.toml", f'[tool.flwr.app.components]\nclientapp = "{clientapp}"\n')
    return buffer.getvalue()


def test_the_approved_bundle_loads_genofeds_clientapp_once():
    from genofed.client.app import app

    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    worker.warm(build_app_fab())
    assert worker.apps == {approved_app_hash(): app}
    assert load_client_app(build_app_fab()) is app
    with pytest.raises(LoadClientAppError, match="this worker runs genofed.client.app:app only"):
        load_client_app(_fab("genofed.client.other:app"))


def test_another_bundle_is_refused_before_anything_it_names_is_imported():
    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    evil = _fab("genofed_test_never_imported:app")
    with pytest.raises(UnapprovedApp, match="refused the app bundle"):
        worker._app(evil, "labelled as genofed")
    assert "genofed_test_never_imported" not in sys.modules and worker.apps == {}
    with pytest.raises(UnapprovedApp, match="no approved app hash"):
        Worker("127.0.0.1:1", b"s", "")._app(build_app_fab(), "x")


def test_a_refused_bundle_names_both_sides_code(monkeypatch):
    """Every release is version 0.1.0: the refusal of another release's bundle names the code
    digest each bundle records, the coordinator's and this hospital's (a review)."""
    from genofed.common.deployment import app_bundle
    from genofed.common.deployment.app_bundle import code_digest

    ours = code_digest()
    other_release, _ = _bundle_with(monkeypatch, app_bundle, "code_digest", "c0de" * 16)
    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    with pytest.raises(UnapprovedApp, match=f"runs genofed code c0dec0dec0de, this hospital {ours[:12]}"):
        worker._app(other_release, "labelled as genofed")
    with pytest.raises(UnapprovedApp, match="not the bundle `genofed coordinator start` builds"):
        worker._app(_fab("genofed.client.app:app"), "x")


def test_a_foreign_bundle_of_the_same_code_is_called_another_app_not_another_release():
    """A `flwr run` of the same installation, submitted to the coordinator's SuperLink, is not "the
    coordinator must run the same release": it is another app, maybe not the coordinator's; and the
    bundle's hash is not printed twice when its label is the same (an ML engineer's walkthrough)."""
    from genofed.common.deployment.app_bundle import code_digest

    fab = _fab("genofed.client.app:app")  # no [tool.genofed]: as `flwr run .` of the project builds
    own = hashlib.sha256(fab).hexdigest()
    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    with pytest.raises(UnapprovedApp) as refused:
        worker._app(fab, own)
    said = str(refused.value)
    assert said.count(own) == 1 and "labelled" not in said
    assert "`flwr run`" in said and "tell the coordinator's operator" in said
    assert "must run the same" not in said
    same_code = _with_pyproject(build_app_fab(), extra="\n# another build\n")
    with pytest.raises(
        UnapprovedApp, match=f"its genofed code is this hospital's \\({code_digest()[:12]}\\), but it is not"
    ):
        worker._app(same_code, "x")
    with pytest.raises(UnapprovedApp, match=f"sha256 {hashlib.sha256(same_code).hexdigest()}, labelled x\\)"):
        worker._app(same_code, "x")


def _with_pyproject(fab: bytes, extra: str) -> bytes:
    """`fab` with `extra` appended to its pyproject: the same code, another bundle."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(fab)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data + extra.encode() if item.filename == "pyproject.toml" else data)
    return out.getvalue()


class _FakeRuntime:
    """Flower's run_clientapp calls, recording what the worker pushes back."""

    def __init__(self, fab: bytes):
        TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 7, 1, 3
        self.message = Message(RecordDict({"c": ConfigRecord({"x": 1})}), dst_node_id=3, message_type="query")
        self.context = Context(run_id=7, node_id=3, node_config={}, state=RecordDict(), run_config={})
        self.fab = type("Fab", (), {"content": fab, "hash_str": approved_app_hash()})()
        self.pushed, self.outputs = [], []

    def pull_task_input(self, client):
        return self.message, self.context, self.fab

    def push_message(self, client, message, context):
        self.pushed.append(message)

    def push_task_output(self, client, context, sub_status, details):
        self.outputs.append((sub_status, details))

    def install(self, monkeypatch) -> None:
        """Stand in for Flower's task calls, the task client and the heartbeat."""
        import flwr.supernode.runtime.run_clientapp as runtime

        for name in ("push_message", "push_task_output"):
            monkeypatch.setattr(runtime, name, getattr(self, name))
        monkeypatch.setattr(worker_module, "pull_task_input", self.pull_task_input)
        monkeypatch.setattr(worker_module, "_task_client", lambda address, token: _NoClient())
        monkeypatch.setattr("flwr.supercore.heartbeat.HeartbeatSender.start", lambda self: None)
        monkeypatch.setattr("flwr.supercore.heartbeat.HeartbeatSender.stop", lambda self: None)


def test_a_refused_bundle_is_answered_with_an_error_and_audited(tmp_path, monkeypatch):
    fake = _FakeRuntime(_fab("genofed_test_never_imported:app"))  # labelled with the approved hash
    fake.install(monkeypatch)
    audit = tmp_path / "audit.jsonl"
    Worker("127.0.0.1:1", b"s", approved_app_hash(), audit).run_task("token")
    (reply,) = fake.pushed
    assert reply.has_error() and "refused the app bundle" in reply.error.reason
    assert reply.metadata.reply_to_message_id == fake.message.metadata.message_id
    assert fake.outputs[0][0] == "failed" and "refused the app bundle" in fake.outputs[0][1]
    (entry,) = read_audit(audit)
    assert entry["status"] == "error" and "refused the app bundle" in entry["error"]
    assert "genofed_test_never_imported" not in sys.modules


def test_a_refusal_reads_as_a_sentence_and_reaches_the_agents_own_output(tmp_path, monkeypatch):
    """The reason is a sentence (not Flower's `<class '...UnapprovedApp'>:<'...'>`), the audit line
    names no `round None`, and the refusal is a WARNING line on the agent's stderr (journald), not
    only in audit.jsonl (an ML engineer's walkthrough)."""
    from genofed.client.agent.audit import audit_line

    fake = _FakeRuntime(_fab("genofed_test_never_imported:app"))
    fake.install(monkeypatch)
    audit = tmp_path / "audit.jsonl"
    read_end, write_end = os.pipe()
    handler = worker_module.notice_handler(write_end)
    worker_module.log.addHandler(handler)
    try:
        Worker("127.0.0.1:1", b"s", approved_app_hash(), audit).run_task("token")
    finally:
        worker_module.log.removeHandler(handler)
        handler.stream.close()  # the pipe's write end: the read below then ends
    with os.fdopen(read_end) as notices:
        (notice,) = notices.read().splitlines()
    assert notice.startswith("genofed: WARNING: run 7: refused the app bundle")
    (reply,) = fake.pushed
    assert reply.error.reason.startswith("refused the app bundle") and "<class" not in reply.error.reason
    (entry,) = read_audit(audit)
    line = audit_line(entry)
    assert " run 7 query: ERROR " in line and "round None" not in line and "<class" not in line
    older = dict(entry, error="<class 'genofed.client.agent.pinning.UnapprovedApp'>:<'refused it'>")
    assert audit_line(older).endswith(f"query: ERROR {entry['error_code']}: refused it")


def test_the_agent_hands_the_worker_its_stderr_for_notices():
    launch = Launch(["true"], {}, "127.0.0.1:1", Path("s"), "abc", Path("a"))
    assert launch.worker(1, 9)[-2:] == ["--notice-fd", "9"]
    assert "--notice-fd" not in launch.worker(1)


def test_a_library_exception_goes_back_as_its_type_only(tmp_path, monkeypatch):
    """An exception from a mod (an OSError writing the audit log, SecAgg+'s ValueError) could quote
    whatever it was handed: the coordinator gets its type, the agent's log its text."""
    fake = _FakeRuntime(build_app_fab())
    fake.install(monkeypatch)

    def failing_app(message, context):
        raise ValueError("patient NA19307 has label 1")

    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    monkeypatch.setattr(worker, "_app", lambda content, label: failing_app)
    worker.run_task("token")
    (reply,) = fake.pushed
    assert reply.has_error() and "ValueError" in reply.error.reason
    assert "NA19307" not in reply.error.reason and "NA19307" not in fake.outputs[0][1]


def test_a_data_error_escaping_the_clientapp_goes_back_in_fixed_words():
    from genofed.client.agent.worker import sent_reason
    from genofed.common.errors import DataError, GenofedError

    said = sent_reason(DataError("phenotypes.csv", "sex 'x'", location="sample NA19307"))
    assert "NA19307" not in said and "failed validation" in said
    assert "the coordinator sent" in sent_reason(GenofedError("the coordinator sent round 0 of 3"))


class _NoClient:
    def close(self) -> None:
        pass


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/")
            connection.getresponse()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port}")


def test_only_the_holder_of_the_superexec_secret_can_take_a_task(tmp_path):
    """A real `flower-supernode` in process isolation with genofed's secret: a local process
    without it, or with another secret, is refused (401); the worker's signed call is answered."""
    secret = write_superexec_secret(tmp_path)
    port = free_port()
    supernode = subprocess.Popen(
        [
            flower_command("flower-supernode"),
            "--insecure",
            "--superlink",
            f"127.0.0.1:{free_port()}",  # nothing there: the Runtime API serves anyway
            "--isolation",
            "process",
            "--superexec-auth-secret-file",
            str(secret),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=service_env(tmp_path / "flwr"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        process_group=0,
    )
    try:
        _wait_port(port)
        address = f"127.0.0.1:{port}"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST", "/v1/runtime/acquire-task", body=b"", headers={"Content-Type": "application/protobuf"}
        )
        assert connection.getresponse().status == 401
        stranger = Worker(address, b"not the secret", approved_app_hash()).acquire_client(retry=False)
        with pytest.raises(httpx.HTTPStatusError, match="401"):
            _acquire(stranger)
        answer = _acquire(Worker(address, secret.read_bytes(), approved_app_hash()).acquire_client())
        assert not answer.HasField("task")  # accepted: no task is pending
        _assert_a_refused_worker_says_so(address, tmp_path)
    finally:
        supernode.terminate()
        supernode.wait(timeout=20)


def _run_worker(address: str, secret: Path, tmp_path: Path, *more: str) -> subprocess.CompletedProcess:
    """The ClientApp worker as the agent starts it, approving a bundle that is not this
    installation's (no ClientApp import: fast), run to its end."""
    command = [sys.executable, "-m", "genofed.client.agent.worker", "--runtime-api-address", address]
    command += ["--superexec-auth-secret-file", str(secret), "--approved-app", "0" * 64, *more]
    return subprocess.run(
        command, env=service_env(tmp_path / "flwr"), capture_output=True, text=True, timeout=120
    )


def _assert_a_refused_worker_says_so(address: str, tmp_path: Path) -> None:
    """A worker whose secret file no longer holds the SuperNode's secret (what a second `hospital
    start` for the site did) says it was refused, not "the SuperNode is gone", and exits with
    SECRET_REFUSED_EXIT, which the agent does not restart."""
    replaced = write_superexec_secret(tmp_path / "replaced")
    worker = _run_worker(address, replaced, tmp_path)
    assert worker.returncode == SECRET_REFUSED_EXIT, worker.stderr
    assert f"the SuperNode refused this worker's SuperExec secret ({replaced} was replaced" in worker.stderr
    assert "the SuperNode is gone" not in worker.stderr


def _acquire(client):
    from flwr.proto.runtime_pb2 import AcquireTaskRequest

    try:
        return client.AcquireTask(AcquireTaskRequest(supported_task_types=["flwr-clientapp"]))
    finally:
        client.close()


def _dying_launch(tmp_path: Path, code: int) -> tuple[Launch, Path]:
    """A launch whose worker notes each start in a file and exits with `code` at once."""
    starts = tmp_path / "starts"

    class Dying(Launch):
        def worker(self, supernode_pid: int, notice_fd: int | None = None) -> list[str]:
            return ["sh", "-c", f"echo started >> {starts}; exit {code}"]

    return Dying([], {}, "127.0.0.1:1", tmp_path / "s", "h", tmp_path / "audit.jsonl"), starts


def test_the_agent_restarts_a_worker_that_dies(tmp_path):
    launch, starts = _dying_launch(tmp_path, 3)
    supernode = subprocess.Popen(["sleep", "30"], process_group=0)
    ended = threading.Event()
    said: list[str] = []
    try:
        threading.Timer(2.5, ended.set).start()
        restarts = supervise_worker(launch, supernode, tmp_path / "clientapp.log", ended, said.append)
    finally:
        supernode.kill()
        supernode.wait()
    assert restarts >= 1 and len(starts.read_text().splitlines()) == restarts + 1
    assert "exited with code 3; restarting it" in said[0]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (
            SECRET_REFUSED_EXIT,
            "the SuperNode refused the ClientApp worker's SuperExec secret: {secret} was replaced",
        ),
        (CODE_CHANGED_EXIT, "the installed genofed changed since this agent started"),
    ],
)
def test_a_worker_that_cannot_serve_stops_the_agent_instead_of_restarting(tmp_path, code, words):
    """Restarting a worker the SuperNode refused (it kept the old secret), or one that found the
    installed code changed since the agent approved it, is futile and left a site online at the
    coordinator that could take no task: the SuperNode is stopped and the agent told, so it exits
    non-zero (the worker's code) and starts afresh."""
    launch, starts = _dying_launch(tmp_path, code)
    supernode = subprocess.Popen(["sleep", "30"], process_group=0)
    said: list[str] = []
    stop: dict = {"signal": None, "restart_agent": 0}
    try:
        restarts = supervise_worker(
            launch, supernode, tmp_path / "clientapp.log", threading.Event(), said.append, stop
        )
        assert supernode.wait(timeout=10) == -15  # stopped by the agent (SIGTERM to its group)
    finally:
        supernode.kill()
        supernode.wait()
    assert restarts == 0 and len(starts.read_text().splitlines()) == 1
    assert stop["restart_agent"] == code
    (message,) = said
    assert words.format(secret=launch.secret) in message


def test_only_an_agent_that_approved_its_own_installation_has_its_worker_check_the_code(tmp_path):
    launch, _starts = _dying_launch(tmp_path, 0)
    own = Launch([], {}, "127.0.0.1:1", tmp_path / "s", "h", tmp_path / "a", own_installation=True)
    assert "--own-installation" in own.worker(1) and "--own-installation" not in launch.worker(1)


def test_no_worker_is_restarted_once_its_supernode_ended(tmp_path):
    launch, starts = _dying_launch(tmp_path, 1)
    supernode = subprocess.Popen(["sleep", "30"], process_group=0)
    threading.Timer(0.5, supernode.kill).start()
    try:
        restarts = supervise_worker(launch, supernode, tmp_path / "clientapp.log", threading.Event(), print)
    finally:
        supernode.wait()
    assert restarts == 0 and len(starts.read_text().splitlines()) == 1


def test_the_worker_is_started_with_the_secret_the_approved_hash_and_its_supernode(tmp_path):
    launch = Launch(
        [], {}, "127.0.0.1:9094", tmp_path / "superexec.secret", "ab" * 32, tmp_path / "audit.jsonl"
    )
    command = launch.worker(4321)
    assert command[:3] == [sys.executable, "-m", "genofed.client.agent.worker"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options == {
        "--runtime-api-address": "127.0.0.1:9094",
        "--superexec-auth-secret-file": str(tmp_path / "superexec.secret"),
        "--approved-app": "ab" * 32,
        "--audit-log": str(tmp_path / "audit.jsonl"),
        "--parent-pid": "4321",
    }


def test_the_worker_fails_closed_when_flower_moved_what_it_uses(monkeypatch):
    import flwr.supernode.runtime.run_clientapp as runtime

    from genofed.client.agent.worker import require_runtime_calls

    require_runtime_calls()  # this Flower version has everything
    monkeypatch.delattr(runtime, "push_task_output")
    with pytest.raises(SystemExit, match="no push_task_output: refusing to take tasks"):
        require_runtime_calls()


def test_a_worker_started_after_the_installed_code_changed_takes_no_task(tmp_path):
    """The agent approves its own installation's bundle when it starts; a worker it restarts later
    imports whatever is installed then (an upgrade on disk while the agent ran: a review). Such a
    worker refuses to serve the old approval with new code, before it takes a task."""
    secret = write_superexec_secret(tmp_path / "site")
    # never reaches the address: it stops first; the approved bundle stands for the one the agent
    # approved at its start, another installation's
    worker = _run_worker("127.0.0.1:1", secret, tmp_path, "--own-installation")
    assert worker.returncode == CODE_CHANGED_EXIT, worker.stderr
    assert "the installed genofed changed since this hospital agent started" in worker.stderr


def test_a_bundle_built_on_another_flower_is_refused_and_says_so(monkeypatch):
    """The same genofed code on another Flower builds another bundle (genofed replaces Flower's
    SecAgg+ mask generator and pyproject allows a range of Flowers: a red team's finding), and the
    refusal names both Flowers."""
    from genofed.common.deployment import app_bundle

    ours, approved = app_bundle.flower_version(), approved_app_hash()
    other_flower, its_hash = _bundle_with(monkeypatch, app_bundle, "flower_version", "1.41.9")
    assert its_hash != approved
    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    with pytest.raises(UnapprovedApp, match=f"runs Flower 1.41.9 and this hospital Flower {ours}"):
        worker._app(other_flower, "labelled as genofed")


def test_an_approved_bundle_of_other_code_is_served_with_a_warning_per_run(tmp_path, monkeypatch, caplog):
    """`--approved-app` approves a bundle's hash; the worker then answers with the site's own installed
    ClientApp, whatever code the bundle records. A hospital on old code that approved an upgraded
    coordinator's bundle served its run with no word (an ML engineer's walkthrough): now each run's
    first task says so, on the agent's output and in the audit log; the site's own bundle says nothing."""
    from genofed.client.agent.audit import WARNING_TYPE, audit_line
    from genofed.common.deployment import app_bundle
    from genofed.common.deployment.app_bundle import code_digest

    upgraded, its_hash = _bundle_with(monkeypatch, app_bundle, "code_digest", "c0de" * 16)
    answered = []

    def own_app(message, context):
        answered.append(message)
        return Message(RecordDict(), reply_to=message)

    monkeypatch.setattr(worker_module, "load_client_app", lambda content: own_app)
    fake = _FakeRuntime(upgraded)
    fake.install(monkeypatch)
    audit = tmp_path / "audit.jsonl"
    worker = Worker("127.0.0.1:1", b"s", its_hash, audit)
    with caplog.at_level("WARNING", logger="genofed.worker"):
        worker.run_task("token")
        worker.run_task("token")  # the same run: said once
    assert len(answered) == 2 and not any(reply.has_error() for reply in fake.pushed)
    (notice,) = [r for r in caplog.records if getattr(r, worker_module.NOTICE, False)]
    said = notice.getMessage()
    assert said.startswith("run 7: the approved app bundle (--approved-app) records genofed code c0dec0de")
    assert f"this hospital runs its own installed genofed code {code_digest()[:12]}" in said
    assert "restart the agent without --approved-app" in said
    (entry,) = read_audit(audit)
    assert entry["type"] == WARNING_TYPE and entry["run"] == 7 and entry["epsilon"] is None
    assert " run 7 WARNING: the approved app bundle (--approved-app) records genofed" in audit_line(entry)
    own = tmp_path / "own.jsonl"
    _FakeRuntime(build_app_fab()).install(monkeypatch)
    Worker("127.0.0.1:1", b"s", approved_app_hash(), own).run_task("token")
    assert not own.exists()


def _bundle_with(monkeypatch, module, name: str, value: str) -> tuple[bytes, str]:
    """The app bundle and its approved hash as a site where `module.name()` returns `value` builds
    them (another release, another Flower); the site's own put back afterwards."""
    monkeypatch.setattr(module, name, lambda: value)
    build_app_fab.cache_clear()
    try:
        return build_app_fab(), approved_app_hash()
    finally:
        monkeypatch.undo()
        build_app_fab.cache_clear()


def test_the_worker_started_by_the_agent_writes_its_notices_to_the_agents_stderr(tmp_path, monkeypatch):
    """The whole path of a notice: the agent hands each worker a copy of its stderr, and the worker's
    `--notice-fd` handler writes there, while clientapp.log keeps the worker's own output."""
    from genofed.client.agent import supernode as supernode_module

    read_end, write_end = os.pipe()
    monkeypatch.setattr(supernode_module, "_stderr_copy", lambda: os.dup(write_end))
    script = (
        "import logging, sys; from genofed.client.agent import worker as w; "
        "w.log.addHandler(w.notice_handler(int(sys.argv[1]))); "
        "w.log.warning('run 7: refused', extra={w.NOTICE: True}); w.log.warning('not a notice')"
    )

    class Noting(Launch):
        def worker(self, supernode_pid: int, notice_fd: int | None = None) -> list[str]:
            return [sys.executable, "-c", script, str(notice_fd)]

    launch = Noting([], {}, "127.0.0.1:1", tmp_path / "s", "h", tmp_path / "audit.jsonl")
    supernode = subprocess.Popen(["sleep", "30"], process_group=0)
    ended = threading.Event()
    try:
        threading.Timer(4.0, ended.set).start()
        supervise_worker(launch, supernode, tmp_path / "clientapp.log", ended, lambda _line: None)
    finally:
        supernode.kill()
        supernode.wait()
    os.close(write_end)
    with os.fdopen(read_end) as notices:
        said = notices.read().splitlines()
    assert said and set(said) == {"genofed: WARNING: run 7: refused"}
