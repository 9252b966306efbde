"""`genofed hospital start / audit`: the hospital's side of a deployed federation, once checked.

`start` runs on the binding `hospital check` recorded in DIR/hospital.json
(genofed.client.agent.check): it refuses to run on files that changed since (re-check them), then
runs Flower's `flower-supernode` (as genofed.client.agent.flower_supernode: it exits once its
connection to the coordinator is lost for good, and the agent says why: `supernode.serve`):
- TLS to the coordinator, verified with the federation's CA (ca.pem, received out of band), which
  must sign the coordinator's certificate (`require_ca_signs_coordinator`);
- the site's key for SuperNode authentication (`genofed hospital init`; the coordinator enrols
  its public key);
- the node config binding the ClientApp to the checked files, the privacy ledger in DIR/state,
  and the audit log DIR/audit.jsonl (genofed.client.agent.audit; `node_config`);
- the ledger bound to the data (genofed.client.agent.ledger_binding): `check` and `start` refuse a
  fresh or foreign ledger for data that has one elsewhere, a lost ledger, and one below the
  high-water mark recorded at the last check, start or stop, unless told `--new-ledger REASON`;
- only the approved app bundle runs (genofed.client.agent.pinning);
- the ClientApp stays warm: in process isolation, one long-running ClientApp worker
  (genofed.client.agent.worker) takes every task, supervised by the agent (restarted if it dies);
  running and stopping the SuperNode and its worker is genofed.client.agent.supernode's job;
- outbound only: the SuperNode's own (Runtime) API listens on 127.0.0.1, with a SuperExec
  secret fresh at every start (DIR/superexec.secret, 0600): only the agent's own worker can take
  a task from it (read the coordinator's message, answer as this hospital), not any other local
  user; no telemetry, no update check, no dependency installation;
- one agent per site folder (genofed.client.agent.site_lock): a second `start` is refused before
  it writes anything, and every option is checked before anything starts (`check_start_options`).

`audit` reads the site's audit log, one line per entry (`site_audit_log`, `read_site_audit`, `audit_lines`).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

from genofed.client.agent.audit import AUDIT_KEY, append_entry, audit_line, read_audit, warning_entry
from genofed.client.agent.check import require_usable_synthetic
from genofed.client.agent.keys import PRIVATE_KEY, load_site_file, require_site_key
from genofed.client.agent.ledger_binding import DataHashes, bind_ledger, record_spent
from genofed.client.agent.ledger_report import site_folder
from genofed.client.agent.pinning import approved_elsewhere_warning
from genofed.client.agent.site_layout import AUDIT_FILE, STATE_DIR
from genofed.client.agent.site_lock import hold_site
from genofed.client.agent.site_settings_record import record_site_settings, require_settings_as_recorded
from genofed.client.agent.supernode import (
    AgentOptions,
    Launch,
    StopNow,
    require_free_port,
    say_on_stderr,
    serve,
    stop_now_on_a_signal,
)
from genofed.common.deployment.app_bundle import approved_app_hash
from genofed.common.deployment.flower_env import service_env, write_superexec_secret
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.common.util.checks import require_at_least, require_in_range
from genofed.common.util.hashing import file_sha256


def node_config(folder: Path, site: dict[str, Any]) -> dict[str, str | float]:
    """What the SuperNode tells the ClientApp: the checked files, its state and audit log, its budget."""
    files = site["data"]["files"]
    return {
        "genotypes": files["genotypes"]["path"],
        "phenotypes": files["phenotypes"]["path"],
        "panel": files["panel"]["path"],
        "state-dir": str(folder / STATE_DIR),
        "site-name": site["name"],
        "epsilon-budget": float(site["data"]["epsilon_budget"]),
        "delta": float(site["data"]["delta"]),
        AUDIT_KEY: str(folder / AUDIT_FILE),
        "require-secagg": "true" if site["data"].get("require_secagg") else "false",
        **_pinned(site["data"]),
        **_synthetic_config(site["data"].get("synthetic")),
    }


def _synthetic_config(synthetic: dict[str, Any] | None) -> dict[str, str | float]:
    """The node config's `synthetic=DIR synthetic-ratio=R` when `check` recorded synthetic data."""
    if not synthetic:
        return {}
    return {"synthetic": str(synthetic["path"]), "synthetic-ratio": float(synthetic["ratio"])}


def _pinned(data: dict[str, Any]) -> dict[str, str | float]:
    """What `check` fixed for the ClientApp (absent from site folders checked by older versions)."""
    keys = {
        "declared_size": "declared-size",
        "model_digest": "model-digest",
        "max_evaluations": "max-evaluations",
        "label_column": "label-column",
        "max_coalition_epsilon": "max-coalition-epsilon",  # absent: the site refuses distributed DP
    }
    return {
        key: (value if isinstance(value, str) else float(value))
        for name, key in keys.items()
        if (value := data.get(name)) is not None
    }


def format_node_config(config: dict[str, str | float]) -> str:
    """Flower's --node-config syntax: space-separated key=value, strings quoted (TOML)."""
    return " ".join(
        f"{k}={json.dumps(v) if isinstance(v, str) else _toml_float(v)}" for k, v in config.items()
    )


def prepare_start(folder: Path, options: AgentOptions) -> Launch:
    """Check everything `start` relies on (options, files unchanged, ledger bound to them, key, CA,
    the local port free), then write a fresh SuperExec secret; returns what to run.

    Call it holding the site's lock (`start_site` does): the secret it writes is the running
    agent's, whose SuperNode would refuse its own worker once it is replaced."""
    check_start_options(options)
    folder = folder.resolve()
    site = load_site_file(folder)
    _require_checked_files(folder, site)
    require_usable_synthetic(folder, site)
    bind_ledger(
        folder / STATE_DIR,
        DataHashes.from_files(site["data"]["files"]),
        site=site["name"],
        command="start",
        new_ledger=options.new_ledger,
        index_file=options.ledger_index,
        audit_log=folder / AUDIT_FILE,
        delta=site["data"].get("delta"),
    )
    # after the binding: a state folder of another site is refused as that, not as an edit
    require_settings_as_recorded(folder, site)
    _adopt_budget(folder, site, options)
    require_site_key(folder, site)  # another site's key would run this site's patients as that site
    require_free_port(options.local_port)
    approved = options.approved_app or approved_app_hash()
    env = service_env(folder / "flwr")
    secret = write_superexec_secret(folder)
    command = _supernode_command(folder, site, options, secret)
    own_installation = not options.approved_app
    return Launch(
        command,
        env,
        f"127.0.0.1:{options.local_port}",
        secret,
        approved,
        folder / AUDIT_FILE,
        own_installation,
    )


def _adopt_budget(folder: Path, site: dict[str, Any], options: AgentOptions) -> None:
    """Record hospital.json's budget in the ledger's binding when it records none yet (a site checked
    by a genofed that did not record it there): from then on an edit of the file is refused."""
    data = site["data"]
    if "epsilon_budget" in data and "delta" in data:
        record_site_settings(folder / STATE_DIR, data, index_file=options.ledger_index, replace=False)


def check_start_options(options: AgentOptions) -> None:
    """Refuse, before anything starts, what Flower would only refuse later with its own usage text
    or exit code: the coordinator not HOST:PORT, a port outside 1-65535, a CA that is not a PEM
    certificate file, a negative --max-retries."""
    _check_coordinator(options.coordinator)
    require_in_range(
        "--local-port",
        options.local_port,
        1,
        65535,
        hint="it is the port of the SuperNode's own API on 127.0.0.1 (default 9094; one per agent on a host)",
    )
    if options.max_retries is not None:
        require_at_least("--max-retries", options.max_retries, 0, hint="leave it out to retry for ever")
    _check_ca(options.ca)


def _check_coordinator(address: str) -> None:
    """The coordinator's address as Flower parses it: HOST:PORT ([IPv6]:PORT), no URL scheme, port 1-65535."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(
            f"--coordinator {address!r}: expected HOST:PORT with a port in 1-65535 and no https://, "
            "e.g. fl.example.org:9092 (the address the coordinator gave you)"
        )


def _require_checked_files(folder: Path, site: dict[str, Any]) -> None:
    """Refuse to start unless `hospital check` ran and every file it checked is there, unchanged."""
    if "data" not in site:
        raise GenofedError(
            f"{folder}: the site's data was never checked; run `genofed hospital check {folder} "
            "--genotypes F --phenotypes F --panel panel.tsv --epsilon-budget E` first (E: this hospital's "
            "lifetime privacy budget, e.g. 1-2; see `genofed hospital check --help`)"
        )
    for role, entry in site["data"]["files"].items():
        path = Path(entry["path"])
        if not path.is_file():
            raise GenofedError(
                f"{path} ({role}) is gone since `genofed hospital check`; restore it or check the new files"
            )
        if file_sha256(path) != entry["sha256"]:
            raise GenofedError(
                f"{path} ({role}) changed since `genofed hospital check` on {site['data']['checked_at']}; "
                f"run genofed hospital check {folder} again before starting"
            )


def _supernode_command(folder: Path, site: dict[str, Any], options: AgentOptions, secret: Path) -> list[str]:
    """flower-supernode on the coordinator's CA and the site's key, process isolation, its node
    config from the checked binding, the SuperExec secret, on 127.0.0.1:`options.local_port`; run
    as genofed.client.agent.flower_supernode (Flower's entry point, exiting once its connection
    is lost for good: CONNECTION_LOST_EXIT, not running on for ever with nothing connected)."""
    return [
        sys.executable,
        "-m",
        "genofed.client.agent.flower_supernode",
        "--root-certificates",
        str(Path(options.ca).resolve()),
        "--superlink",
        options.coordinator,
        "--auth-supernode-private-key",
        str(folder / PRIVATE_KEY),
        "--node-config",
        format_node_config(node_config(folder, site)),
        "--isolation",
        "process",
        "--superexec-auth-secret-file",
        str(secret),
        "--host",
        "127.0.0.1",
        "--port",
        str(options.local_port),
    ]


def start_site(folder: str | Path, options: AgentOptions, say=None) -> int:
    """Run the SuperNode in the foreground until it ends or is stopped; returns its exit code.

    Flower's SuperNode gives up after a few failed attempts to activate (exit code 305), whether
    the coordinator is not up yet or does not know this site's key. A service must outlast a
    coordinator restart, so the agent starts it again after `supernode.RETRY_SECONDS`,
    `options.max_retries` times (None: for ever), saying each time what the two causes are. Its
    output goes to this process's stderr (journald, docker logs) and to DIR/supernode.log
    (genofed.client.agent.supernode runs and stops it).
    """
    folder = Path(folder)
    say = say or say_on_stderr
    check_start_options(options)
    # a site folder, before its lock is made in it, and before the network: "not a site folder" came
    # after "the coordinator does not answer" (an operator's walkthrough)
    load_site_file(folder)
    require_ca_signs_coordinator(options)  # a wrong ca.pem: refused before the lock is made
    with hold_site(folder.resolve()) as lock:
        launch = prepare_start(folder, options)
        _warn_of_approved_app(folder, options, say)
        try:
            (folder / STATE_DIR).mkdir(mode=0o700, exist_ok=True)
            return serve(folder, launch, options, lock, say, lambda: require_ca_signs_coordinator(options))
        finally:
            _record_spent_unless_stopped(folder, options, say)


def _warn_of_approved_app(folder: Path, options: AgentOptions, say) -> None:
    """A WARNING, said and written to the site's audit log, when `--approved-app` names a bundle
    other than this installation's (`pinning.approved_elsewhere_warning`). Why: the option approves
    a hash, not code; a hospital on old code that approved an upgraded coordinator's bundle served
    its runs with its own old ClientApp, and nothing said so (an ML engineer's walkthrough)."""
    warning = approved_elsewhere_warning(options.approved_app) if options.approved_app else None
    if warning is None:
        return
    say(f"WARNING: {warning}")
    append_entry(folder / AUDIT_FILE, warning_entry(None, warning))


def _record_spent_unless_stopped(folder: Path, options: AgentOptions, say) -> None:
    """`_record_spent`, which a SIGTERM or Ctrl-C ends at once (`stop_now_on_a_signal`), saying so
    first when there is a ledger (the step that can take seconds)."""
    if (folder / STATE_DIR / LEDGER_FILE).exists():
        say(
            "recording the privacy ledger's high-water mark before exiting (it loads the privacy "
            "accountant: seconds); a second SIGTERM or Ctrl-C skips it, and the next start records it"
        )
    try:
        with stop_now_on_a_signal():
            _record_spent(folder, options, say)
    except StopNow:
        say(
            "stopped before the privacy ledger's high-water mark was recorded: the next `genofed hospital "
            "start` or `check` records it; every charge is in the ledger"
        )


def _record_spent(folder: Path, options: AgentOptions, say) -> None:
    """When the agent stops: raise the ledger's high-water mark to what the agent charged while it
    ran (genofed.client.agent.ledger_binding.record_spent), so that a later `start` refuses a
    ledger restored from a copy older than this. A failure is said, not raised: the agent stops
    either way, and the next `start` records the mark again."""
    try:
        site = load_site_file(folder)
        record_spent(folder / STATE_DIR, delta=site["data"].get("delta"), index_file=options.ledger_index)
    except (GenofedError, OSError, KeyError) as exc:
        say(f"could not record the privacy ledger's high-water mark at stop ({exc}); `start` records it")


def site_audit_log(folder: str | Path) -> Path:
    """The site's audit log file; a path that is not a site folder is named as such, not mistaken
    for a site that has sent nothing yet. A site's state folder (SITE/state) names its site's log
    (`ledger_report.site_folder`)."""
    folder = site_folder(folder)
    load_site_file(folder)
    return folder / AUDIT_FILE


def read_site_audit(folder: str | Path) -> list[dict[str, Any]]:
    """The site's audit log entries, all at once (`site_audit_log`; `iter_audit` reads them one at
    a time)."""
    return read_audit(site_audit_log(folder))


def audit_lines(folder: str | Path) -> list[str]:
    """The audit log as one line per entry (an outbound message, an operator's ledger override, a
    local release), for people."""
    return [audit_line(e) for e in read_site_audit(folder)]


def _check_ca(path: Path) -> None:
    """The CA must be a readable PEM certificate file, valid now: Flower would only fail at its first
    connection, and say why in its own log only."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise GenofedError(
            f"--ca {path}: not found (the federation's ca.pem, sent by the coordinator)"
        ) from None
    except IsADirectoryError:
        raise GenofedError(
            f"--ca {path}: a folder; give the certificate file itself (the federation's ca.pem, sent by the "
            "coordinator)"
        ) from None
    except OSError as exc:
        raise GenofedError(f"--ca {path}: cannot read it ({exc.strerror})") from None
    except ValueError:
        raise GenofedError(f"--ca {path}: not a PEM certificate (expected the federation's ca.pem)") from None
    _require_valid_now(path, cert.not_valid_before_utc, cert.not_valid_after_utc)


def _require_valid_now(path: Path, valid_from: dt.datetime, valid_until: dt.datetime) -> None:
    """Refuse a CA certificate outside its validity period (no connection could be verified with it)."""
    now, day = dt.datetime.now(dt.timezone.utc), "%Y-%m-%d %H:%M UTC"
    if now > valid_until:
        raise ConfigError(
            f"--ca {path}: this CA certificate expired on {valid_until.strftime(day)}: ask the coordinator "
            "for the federation's current ca.pem (or, if it is not expired, set this machine's clock right)"
        )
    if now < valid_from:
        raise ConfigError(
            f"--ca {path}: this CA certificate is valid only from {valid_from.strftime(day)}: set this "
            "machine's clock right, or ask the coordinator for the federation's current ca.pem"
        )


#: How long `start` waits for the coordinator's TLS handshake when it checks the CA against it.
CA_PROBE_SECONDS = 5.0
#: OpenSSL's verify codes `_ca_refusal` names (the rest: not signed by this CA).
_EXPIRED, _NAME_MISMATCH = {10}, {62, 64}  # X509_V_ERR_CERT_HAS_EXPIRED; HOSTNAME / IP_ADDRESS_MISMATCH


def require_ca_signs_coordinator(options: AgentOptions, timeout: float = CA_PROBE_SECONDS) -> None:
    """Refuse to start when the coordinator's certificate does not verify with `options.ca`: one TLS
    handshake to the coordinator, as Flower's will be (the CA, the host name of --coordinator).

    Why: with another federation's ca.pem, the agent only said the coordinator "did not accept this
    site: it is unreachable, or it does not know this site's key", after Flower's retries; the real
    cause (CERTIFICATE_VERIFY_FAILED) was in Flower's log alone. A coordinator that does not answer
    (not up yet, no network, not TLS) is not refused here: the agent retries, as a service must."""
    host, _, port = options.coordinator.rpartition(":")
    host = host.strip("[]")
    context = ssl.create_default_context(cafile=str(options.ca))
    # what Flower's REST transport speaks through the coordinator's nginx (HTTP/1.1), and gRPC's h2:
    # offered h2 alone, nginx ended the handshake ("no application protocol") before its certificate
    # was checked, and another federation's ca.pem was never refused (an operator's walkthrough)
    context.set_alpn_protocols(["h2", "http/1.1"])
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return
    except ssl.SSLCertVerificationError as exc:
        raise ConfigError(_ca_refusal(options, host, exc)) from None
    except (OSError, ValueError) as exc:  # unreachable, refused, no TLS there: the agent retries
        say_on_stderr(_unreachable_words(options, host, exc))
        return


def _unreachable_words(options: AgentOptions, host: str, exc: Exception) -> str:
    """What the agent says when the coordinator does not answer its probe: Flower's own lines say
    only "Connection attempt failed, retrying" (an operator's walkthrough: a mistyped
    --coordinator looked the same as a coordinator not started yet)."""
    if isinstance(exc, socket.gaierror):
        why = f"the name {host} does not resolve: check --coordinator"
    elif isinstance(exc, ConnectionRefusedError):
        why = "nothing listens there yet: is the coordinator started (genofed coordinator start)?"
    elif isinstance(exc, ssl.SSLError):  # it answered, but the TLS handshake failed
        return (
            f"the coordinator at {options.coordinator} answered, but the TLS handshake failed ({exc}): is "
            "that the coordinator's hospital-facing address? This agent keeps trying, with Flower's "
            "retries below"
        )
    else:
        why = str(exc) or type(exc).__name__
    return (
        f"the coordinator at {options.coordinator} does not answer ({why}); this agent keeps trying, "
        "with Flower's retries below"
    )


def _ca_refusal(options: AgentOptions, host: str, exc: Any) -> str:
    """The one line `require_ca_signs_coordinator` refuses with, by OpenSSL's verify code."""
    seen = f"(TLS said: {exc.verify_message})"
    if exc.verify_code in _NAME_MISMATCH:
        return (
            f"--coordinator {options.coordinator}: the coordinator's certificate is not for {host} {seen}; "
            "give the address the coordinator gave you (the name its certificate was made for)"
        )
    if exc.verify_code in _EXPIRED:
        return (
            f"--coordinator {options.coordinator}: the coordinator's certificate has expired {seen}; ask the "
            "coordinator to renew it (`genofed coordinator renew-cert`; this ca.pem stays valid)"
        )
    return (
        f"--ca {options.ca}: the coordinator's certificate at {options.coordinator} is not signed by this CA "
        f"{seen}; use the federation's ca.pem, sent by this coordinator (this one is another federation's, "
        "or an old one)"
    )


def _toml_float(value: float) -> str:
    return "inf" if value == float("inf") else repr(float(value))
