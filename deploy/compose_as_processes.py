"""Run the services of deploy/compose.yaml as plain processes on this machine, no container runtime.

Where no container can start (deploy/container_runtime_check.sh says why), this runs the SAME
processes the compose file defines, through the images' own entrypoint (`genofed`, ENTRYPOINT in
deploy/Dockerfile.*), with each container's file system view rebuilt from symbolic links:

- every service gets a root, WORK/root/SERVICE, holding a link at each of its mount targets:
  a named volume -> WORK/volumes/NAME (shared by the services that mount it, as in compose); the
  bind mount of ../demo/cohorts -> the cohorts folder given here (its subfolders likewise); an
  image VOLUME no service volume covers (the hospitals' /var/lib/genofed) -> an anonymous
  WORK/volumes/anonymous-SERVICE-N; a tmpfs -> WORK/tmpfs/SERVICE; the image's source tree
  (COPY . . into /opt/genofed) -> this repository;
- every absolute container path in a service's entrypoint, command, environment and the image's
  ENV and WORKDIR that lies under (or next to) a mount target is prefixed with that root; genofed
  resolves paths, so the files `genofed hospital check` records in `setup` are the same real files
  the hospital sees, as the compose file requires;
- `SERVICE:PORT` (another service's address) becomes `localhost:PORT` and a service's own
  `0.0.0.0:PORT` becomes `127.0.0.1:PORT`. A container has its own loopback; here all share one,
  so the ports each service listens on (published ones and genofed's defaults: the coordinator's
  SuperLink on 9091, each hospital's SuperNode API on 9094) are kept when free and otherwise
  replaced by free ones, passed with --internal-address / --local-port;
- processes run as the current user, not as the images' USER (uid 10001). `setup` runs as root
  in its container only to `chown` the fresh volumes to that user; here the first `chown` on the
  PATH of a service that compose runs as root is a stand-in that prints what it skips, so every
  file stays owned by the current user, who runs every service (even when that user is root,
  handing the files to a uid that runs nothing here would only differ from the containers).
  read_only, cap_drop, no-new-privileges, init and the internal network have no plain-process
  equivalent and are not reproduced.

Services start in depends_on order (service_completed_successfully: waited for exit 0), restart
on failure as compose would (at most MAX_RESTARTS times), and the run is over when the coordinator
exits; then `genofed coordinator status` and `genofed hospital audit` run in their services' views
(the compose header's `exec` commands), and every process is stopped, also on Ctrl-C or a failure.

    .venv/bin/python deploy/compose_as_processes.py [--cohorts demo/cohorts] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
#: a restart policy of `on-failure` restarts a failed service at most this many times here
MAX_RESTARTS = 3
#: ports genofed listens on by default inside a container, not written in compose.yaml:
#: (the service's first two arguments) -> (the option that moves it, its value, the default port)
IMPLICIT_PORTS = {
    ("coordinator", "start"): ("--internal-address", "127.0.0.1:{}", 9091),
    ("hospital", "start"): ("--local-port", "{}", 9094),
}
#: the compose header's `exec` commands, run after the run in their services' views
EXEC_AFTER = (
    ("coordinator", ["coordinator", "status", "/var/lib/genofed/federation"]),
    ("hospital-rostov", ["hospital", "audit", "/sites/rostov"]),
)
#: what python:3.11-slim's own ENV sets that matters to the processes (PATH comes from this host)
BASE_IMAGE_ENV = {"LANG": "C.UTF-8"}
_PATH_TOKEN = re.compile(r"(?<![\w.$/-])/[^\s\"'`:;,=()]*")


class ComposeError(Exception):
    """Something in compose.yaml or a Dockerfile this runner cannot reproduce, or a service that failed."""


@dataclass(frozen=True)
class Image:
    """What a Dockerfile gives its containers: ENTRYPOINT, ENV (in order), WORKDIR, USER, VOLUMEs
    and where COPY . . put the source tree."""

    entrypoint: list[str]
    env: dict[str, str]
    workdir: str
    user: str
    volumes: list[str]
    code_dir: str | None


@dataclass(frozen=True)
class Mount:
    target: str  # the path inside the container
    source: Path  # the folder on this machine
    kind: str  # volume, bind, anonymous, tmpfs or image


@dataclass
class Service:
    """One compose service as a process: argv, environment and working directory on this machine."""

    name: str
    root: Path
    mounts: list[Mount]
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    entrypoint: list[str]  # as written (container paths): `exec` runs it with other arguments
    depends_on: dict[str, str]
    restart: str
    ports: dict[int, int] = field(default_factory=dict)  # container port -> port on this machine
    rewrite: Callable[[str], str] = str


def read_dockerfile(path: Path) -> Image:
    """The parts of a (single-stage) Dockerfile that shape a running container."""
    lines = re.sub(r"\\\n", " ", path.read_text()).splitlines()
    entrypoint: list[str] = []
    env: dict[str, str] = {}
    workdir, user, volumes, code_dir = "/", "root", [], None
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif instruction == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
        elif instruction == "WORKDIR":
            workdir = rest
        elif instruction == "USER":
            user = rest
        elif instruction == "VOLUME":
            volumes += json.loads(rest)
        elif instruction == "COPY" and shlex.split(rest) == [".", "."]:
            code_dir = workdir
    return Image(entrypoint, env, workdir, user, volumes, code_dir)


def unescape(text: str, where: str) -> str:
    """Compose's interpolation: `$$` is a literal `$`; variables from the host are not supported."""
    if re.search(r"(?<!\$)\$(\{|[A-Za-z_])", text.replace("$$", "")):
        raise ComposeError(f"{where}: host variable interpolation (${{...}}) is not supported here")
    return text.replace("$$", "$")


def service_mounts(
    name: str, service: Mapping[str, Any], image: Image, work: Path, compose_dir: Path, cohorts: Path
) -> list[Mount]:
    """Where each of a service's mount targets lives on this machine.

    Named volumes -> WORK/volumes/NAME; binds relative to the compose file, with the default cohorts
    folder (../demo/cohorts, or a folder inside it) moved to `cohorts`; image VOLUMEs left uncovered
    -> WORK/volumes/anonymous-NAME-N; tmpfs -> WORK/tmpfs/NAME[-N]; the image's source tree -> REPO.
    """
    default_cohorts = (REPO / "demo" / "cohorts").resolve()
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            kind = "bind" if source.startswith((".", "/")) else "volume"
        else:
            source, target, kind = volume["source"], volume["target"], volume.get("type", "volume")
        if kind == "volume":
            host = work / "volumes" / source
        elif kind == "bind":
            host = (compose_dir / source).resolve()
            if host.is_relative_to(default_cohorts):
                host = cohorts / host.relative_to(default_cohorts)
        else:
            raise ComposeError(f"service {name}: volume type {kind!r} is not supported here")
        mounts.append(Mount(target, host, kind))
    covered = {m.target for m in mounts}
    for i, target in enumerate(v for v in image.volumes if v not in covered):
        mounts.append(Mount(target, work / "volumes" / f"anonymous-{name}-{i}", "anonymous"))
    tmpfs = service.get("tmpfs", [])
    for i, entry in enumerate([tmpfs] if isinstance(tmpfs, str) else tmpfs):
        mounts.append(Mount(entry.split(":")[0], work / "tmpfs" / (f"{name}-{i}" if i else name), "tmpfs"))
    if image.code_dir:
        mounts.append(Mount(image.code_dir, REPO, "image"))
    return mounts


def path_rewriter(mounts: list[Mount], root: Path) -> Callable[[str], str]:
    """A function that prefixes with `root` every absolute path in a text that lies under a mount
    target or in the folder holding one (`/sites/$h` next to /sites/rostov), leaving others (/bin/sh)."""
    prefixes = {m.target for m in mounts} | {str(Path(m.target).parent) for m in mounts}
    prefixes.discard("/")

    def inside(token: str) -> bool:
        return any(token == p or token.startswith(p + "/") for p in prefixes)

    return lambda text: _PATH_TOKEN.sub(lambda m: f"{root}{m[0]}" if inside(m[0]) else m[0], text)


def host_rewriter(
    name: str, ports: Mapping[tuple[str, int], int], services: set[str]
) -> Callable[[str], str]:
    """`SERVICE:PORT` -> `localhost:P` and this service's own `0.0.0.0:PORT` -> `127.0.0.1:P`, P the
    port the listening service got on this machine."""
    pattern = re.compile(r"\b([A-Za-z0-9_.-]+):(\d+)\b")

    def one(match: re.Match) -> str:
        host, port = match[1], int(match[2])
        if host in services:
            if (host, port) not in ports:
                raise ComposeError(
                    f"service {name} connects to {host}:{port}, which {host} does not listen on"
                )
            return f"localhost:{ports[host, port]}"
        if host == "0.0.0.0" and (name, port) in ports:
            return f"127.0.0.1:{ports[name, port]}"
        return match[0]

    return lambda text: pattern.sub(one, text)


def as_list(value: Any) -> list[str]:
    return [] if value is None else list(value) if isinstance(value, list) else shlex.split(str(value))


def start_order(services: Mapping[str, Any]) -> list[str]:
    """Service names, every one after those it depends on (compose's depends_on)."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ComposeError(f"depends_on cycle: {' -> '.join((*path, name))}")
        if name not in order:
            for dependency in services[name].get("depends_on", {}):
                visit(dependency, (*path, name))
            order.append(name)

    for name in services:
        visit(name, ())
    return order


def claim_port(wanted: int, taken: set[int]) -> int:
    """`wanted` if nothing listens there and no service here has it, else a free port."""
    port = wanted
    while port in taken or not _port_free(port):
        port = _loopback().free_port()
    taken.add(port)
    return port


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _claim_ports(services: Mapping[str, Any], claim: Callable[[int], int]) -> dict[tuple[str, int], int]:
    """(service, container port) -> port on this machine, for the published ports and genofed's
    implicit ones (IMPLICIT_PORTS), claimed in start order so that the result is deterministic."""
    ports: dict[tuple[str, int], int] = {}
    for name in start_order(services):
        for published in services[name].get("ports", []):
            container_port = int(str(published).split(":")[-1].split("/")[0])
            ports[name, container_port] = claim(container_port)
        key = tuple(as_list(services[name].get("command"))[:2])
        if key in IMPLICIT_PORTS:
            ports[name, IMPLICIT_PORTS[key][2]] = claim(IMPLICIT_PORTS[key][2])
    return ports


def plan_services(
    compose_file: Path,
    work: Path,
    cohorts: Path,
    *,
    claim: Callable[[int], int],
    base_env: Mapping[str, str],
) -> dict[str, Service]:
    """Every compose service as a process on this machine (nothing is created or started).

    `claim(port)` gives the port on this machine for a port a service listens on; `base_env` is
    what the image's ENV builds on (PATH).
    """
    services = yaml.safe_load(compose_file.read_text())["services"]
    images: dict[str, Image] = {}
    ports = _claim_ports(services, claim)
    planned = {}
    for name in start_order(services):
        service = services[name]
        build = service["build"]
        dockerfile = (compose_file.parent / build["context"] / build["dockerfile"]).resolve()
        image = images.setdefault(str(dockerfile), read_dockerfile(dockerfile))
        root = work / "root" / name
        mounts = service_mounts(name, service, image, work, compose_file.parent, cohorts)
        paths = path_rewriter(mounts, root)
        hosts = host_rewriter(name, ports, set(services))

        def rewrite(text: str, where: str, paths=paths, hosts=hosts) -> str:
            return hosts(paths(unescape(text, where)))

        entrypoint = as_list(service.get("entrypoint", image.entrypoint))
        command = as_list(service.get("command"))
        key = tuple(command[:2])
        if key in IMPLICIT_PORTS and IMPLICIT_PORTS[key][0] not in command:
            option, value, port = IMPLICIT_PORTS[key]
            command += [option, value.format(ports[name, port])]
        env = dict(BASE_IMAGE_ENV, PATH=base_env.get("PATH", os.defpath))
        for var, value in image.env.items():  # Dockerfile ENV: no compose escapes; $PATH is the base's
            env[var] = re.sub(r"\$\{?PATH\}?", lambda _, base=env["PATH"]: base, hosts(paths(value)))
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        env.update({var: rewrite(str(value), f"{name}.environment") for var, value in environment.items()})
        cwd = Path(rewrite(service.get("working_dir", image.workdir), f"{name}.working_dir"))
        env["HOME"] = str(cwd)
        if str(service.get("user", image.user)).split(":")[0] in ("0", "root"):
            env["PATH"] = f"{work / 'bin'}:{env['PATH']}"  # the chown stand-in (see the module docstring)
        planned[name] = Service(
            name=name,
            root=root,
            mounts=mounts,
            argv=[rewrite(arg, f"{name}.entrypoint/command") for arg in [*entrypoint, *command]],
            env=env,
            cwd=cwd,
            entrypoint=entrypoint,
            depends_on={d: c["condition"] for d, c in service.get("depends_on", {}).items()},
            restart=str(service.get("restart", "no")),
            ports={port: host for (owner, port), host in ports.items() if owner == name},
            rewrite=lambda text, rewrite=rewrite, name=name: rewrite(text, name),
        )
    return planned


def materialize(services: Mapping[str, Service], work: Path) -> None:
    """Create the volumes and each service's root of links (a target inside another target of
    the same service must be that target's own subfolder: no link is made inside a mounted folder)."""
    for service in services.values():
        for mount in sorted(service.mounts, key=lambda m: m.target):
            outer = [m for m in service.mounts if mount.target.startswith(m.target + "/")]
            if outer:
                expected = outer[-1].source / Path(mount.target).relative_to(outer[-1].target)
                if expected.resolve() != mount.source.resolve():
                    raise ComposeError(f"service {service.name}: {mount.target} is not {expected}")
                continue
            if mount.kind in ("volume", "anonymous", "tmpfs"):
                mount.source.mkdir(parents=True, exist_ok=True)
            elif not mount.source.is_dir():
                raise ComposeError(f"service {service.name}: bind source {mount.source} is not a folder")
            link = service.root / mount.target.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(mount.source, target_is_directory=True)
        service.cwd.mkdir(parents=True, exist_ok=True)
    stand_in = work / "bin" / "chown"
    stand_in.parent.mkdir(parents=True, exist_ok=True)
    stand_in.write_text(
        '#!/bin/sh\necho "compose_as_processes: skipped chown $* '
        '(every service runs as uid $(id -u) here)" >&2\n'
    )
    stand_in.chmod(0o755)


def describe(services: Mapping[str, Service], work: Path) -> str:
    """The plan as text: each service's mounts, ports and argv (the script shortened)."""
    lines = [f"work dir {work}"]
    for service in services.values():
        lines.append(f"[{service.name}] cwd {service.cwd.relative_to(work)}")
        for m in service.mounts:
            lines.append(f"  {m.kind:9} {m.target} -> {m.source}")
        for port, host in service.ports.items():
            lines.append(f"  port      {port} -> 127.0.0.1:{host}")
        shown = [a if len(a) < 200 else a[:120].replace("\n", " ") + " ..." for a in service.argv]
        lines.append(f"  argv      {shlex.join(shown)}")
    return "\n".join(lines)


def _loopback():
    """simulations/local/loopback.py: process groups, logs, the coordinator's status (imported
    late: the plan above needs no genofed import)."""
    from genofed.simulations.local import loopback

    return loopback


def _processes_class():
    class ComposeProcesses(_loopback().Loopback):
        """Loopback's process handling (one session and log per service, stop_all) with the
        service's own environment and working directory (Loopback.start would set GENOFED_HOME)."""

        def launch(self, service: Service) -> subprocess.Popen:
            with (self.root / f"{service.name}.log").open("ab") as log:
                process = subprocess.Popen(
                    service.argv,
                    cwd=service.cwd,
                    env=service.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.started[service.name] = process
            return process

    return ComposeProcesses


def up(
    services: Mapping[str, Service], work: Path, timeout: float, say: Callable[[str], None] = print
) -> int:
    """Start the services in depends_on order, wait for the coordinator's run to end, show its
    result and the `exec` commands' output, stop everything. Returns 0 when the run completed."""
    loopback = _loopback()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    processes = _processes_class()(work / "logs")
    restarts = dict.fromkeys(services, 0)
    exits: dict[str, str] = {}
    run_service = next(s for s in services.values() if s.argv[1:3] == ["coordinator", "start"])
    fed = Path(run_service.argv[3])
    deadline = time.monotonic() + timeout
    started = time.perf_counter()
    try:
        for service in services.values():
            for dependency, condition in service.depends_on.items():
                if condition == "service_completed_successfully":
                    code = _wait_exit(processes, services[dependency], restarts, deadline, say)
                    exits[dependency] = f"exit {code}"
                    if code != 0:
                        raise ComposeError(
                            f"{dependency} failed (exit {code}):\n{processes.log(dependency)[-3000:]}"
                        )
            say(f"{time.perf_counter() - started:6.0f} s  starting {service.name}")
            processes.launch(service)
        code = _wait_exit(processes, run_service, restarts, deadline, say, watch=services)
        exits[run_service.name] = f"exit {code}"
        say(f"{time.perf_counter() - started:6.0f} s  {run_service.name} exited {code}: the run is over")
        for name, args in EXEC_AFTER:
            say(_exec(services[name], args))
    finally:
        _stop_and_report(processes, services, restarts, exits, work, say)
    status = loopback.coordinator_status(fed)
    results_file = fed / loopback.RUN_DIR / "results.json"
    say(
        f"coordinator state: {status.get('state')} ({status.get('run_status')}); "
        f"wall {time.perf_counter() - started:.0f} s"
    )
    if not results_file.exists():
        say(f"no {results_file}")
        return 1
    say(summarize(json.loads(results_file.read_text())))
    return 0 if code == 0 and status.get("state") == "finished" else 1


def _stop_and_report(
    processes: Any,
    services: Mapping[str, Service],
    restarts: dict[str, int],
    exits: dict[str, str],
    work: Path,
    say: Callable[[str], None],
) -> None:
    """Stop every process still running (Loopback.stop_all: SIGTERM to its group, SIGKILL after
    20 s: exit -9), kill any left in the work dir (a service killed so leaves its own process
    groups behind), and say how each service ended."""
    running = [name for name, p in processes.started.items() if p.poll() is None]
    processes.stop_all()
    for name in running:
        exits[name] = f"still running at the end, stopped (exit {processes.started[name].returncode})"
    for name, process in processes.started.items():
        exits.setdefault(name, f"exit {process.returncode}")
    left = _leftovers(work)
    for name in services:
        restarted = f", restarted {restarts[name]}x" if restarts[name] else ""
        say(f"{name:20} {exits.get(name, 'not started')}{restarted}")
    say(f"processes left behind: {left or 'none'}  (logs in {work / 'logs'})")


def _wait_exit(
    processes: Any,
    service: Service,
    restarts: dict[str, int],
    deadline: float,
    say: Callable[[str], None],
    watch: Mapping[str, Service] = {},
) -> int:
    """Wait for `service` to exit for good, restarting it (and any service in `watch`) on failure
    when its policy says so; the exit code."""
    while True:
        for other in (service, *watch.values()):
            process = processes.started.get(other.name)
            code = process.poll() if process else None
            if (
                code is None
                or other.restart != "on-failure"
                or code == 0
                or restarts[other.name] >= MAX_RESTARTS
            ):
                if other is service and code is not None:
                    return code
                continue
            restarts[other.name] += 1
            say(
                f"{other.name} exited {code}: restarting "
                f"({restarts[other.name]}/{MAX_RESTARTS}, restart: on-failure)"
            )
            processes.launch(other)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{service.name} still running at the time limit:\n{processes.log(service.name)[-3000:]}"
            )
        time.sleep(1.0)


def _exec(service: Service, args: list[str]) -> str:
    """`docker compose exec SERVICE genofed ARGS`: the entrypoint with rewritten arguments."""
    argv = [*service.argv[: len(service.entrypoint)], *(service.rewrite(a) for a in args)]
    done = subprocess.run(argv, cwd=service.cwd, env=service.env, capture_output=True, text=True, timeout=300)
    shown = shlex.join([*service.entrypoint, *args])
    return f"$ exec {service.name} {shown}   (exit {done.returncode})\n{done.stdout}{done.stderr}"


def _leftovers(work: Path) -> list[int]:
    """Processes of this user still running in or on the work dir (children inherit the working
    directory): killed by pid, and listed."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(work)) or str(work) in cmdline:
            found.append(int(entry.name))
    for pid in found:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
                time.sleep(2)
            except ProcessLookupError:
                break
    return found


def summarize(results: Mapping[str, Any]) -> str:
    """The run in a few lines: each round's test AUC and participants, epsilon per hospital."""
    lines = [
        f"round {r['round']}: test AUC {r.get('test_auc')}, participants {r.get('participants')}"
        for r in results["rounds"]
    ]
    lines.append(
        f"final test AUC {results.get('test_auc')}; seconds per round {results.get('seconds_per_round')}"
    )
    lines.append(f"epsilon spent (budget {results.get('epsilon_budget')}): {results.get('epsilon')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose", type=Path, default=DEPLOY / "compose.yaml")
    parser.add_argument(
        "--cohorts", type=Path, default=REPO / "demo" / "cohorts", help="stands for ../demo/cohorts"
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="volumes, roots and logs (default: a new folder in the temp dir); "
        "an existing one is reused, like a second `docker compose up`",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds for the whole run (default: 3600)"
    )
    parser.add_argument("--plan", action="store_true", help="print the plan and exit: nothing is started")
    options = parser.parse_args(argv)
    work = (options.work or Path(tempfile.mkdtemp(prefix="genofed-compose-"))).resolve()
    taken: set[int] = set()
    services = plan_services(
        options.compose.resolve(),
        work,
        options.cohorts.resolve(),
        claim=lambda port: claim_port(port, taken),
        base_env=os.environ,
    )
    print(describe(services, work), flush=True)
    if options.plan:
        return 0
    materialize(services, work)
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM as Ctrl-C; SIGINT also when started ignored
        signal.signal(sig, signal.default_int_handler)
    try:
        return up(services, work, options.timeout, say=lambda line: print(line, flush=True))
    except (ComposeError, TimeoutError) as failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the services were stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
