"""`genofed coordinator init`: the federation's folder, made once, complete or not at all.

Why (what the data-protection officer asks): "what exactly was agreed for this federation, and can
it be changed quietly afterwards?" The folder holds the federation's CA and TLS server certificate
(server/service/pki.py), the enrolled-hospitals list (server/service/enrollment.py) and
`federation.json`: the variant panel (a copy, with its SHA-256 so every hospital can check it has
the same one), the training settings (strategy, rounds, the per-site epsilon budget each hospital's
ledger enforces, minimum hospitals per round, the disease's prevalence the report gives PPV at;
validated by `RunSettings`, the same checks a run applies) and when and for which hosts it was
made. It is built in a hidden staging folder and renamed into place, so a failure leaves nothing
behind; an existing non-empty folder is refused, never overwritten (it would replace the CA every
hospital trusts). The folder is made 0700: it holds the CA's private key. The model the federation
trains is fixed here too: the public priors copied with their SHA-256, and `model.json`, what
hospitals pin (server/service/federation_model.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.common.errors import DataError, GenofedError
from genofed.common.util.atomic import atomic_dir, write_text_atomic
from genofed.server.service.enrollment import (
    empty_registry,
    hospitals,
    load_registry,
    write_registry,
)
from genofed.server.service.federation_model import MODEL_FILE, Digest, check_prior_files, plan_model
from genofed.server.service.folder_files import (
    FEDERATION_FILE,
    NODES_FILE,
    PANEL_FILE,
    require_complete,
)
from genofed.server.service.handover import PREDECESSOR_KEY
from genofed.server.service.pki import (
    CA_CERT,
    SERVER_DAYS,
    Issued,
    load_cert,
    renew_server_cert,
    subject_alt_names,
    tls_record,
    write_pki,
)
from genofed.server.settings import DEPLOYED_ROUND_TIMEOUT, RunSettings

FORMAT = "genofed-federation/1"
#: The run settings a federation fixes at init (RunSettings names, kebab-case in the file).
FEDERATION_SETTINGS = (
    "rounds",
    "strategy",
    "epsilon",
    "delta",
    "min_nodes",
    "wait_seconds",
    "round_timeout",
    "local_epochs",
    "batch_size",
    "lr",
    "clip",
    "momentum",
    "model",
    "privacy",
    "secagg",
    "trim_beta",
    "proximal_mu",
    "server_lr",
    "malicious_nodes",
    "site_evaluations",
    "label_column",
    "prevalence",
)
#: Settings a federation folder made before they existed may lack: a run takes their deployed
#: default (`_with_deployed_defaults`; RunSettings' own for `prevalence`: 0, unknown; for
#: `proximal_mu` 0.01 and `server_lr` 0.05, the values every deployed run used before init took them).
OPTIONAL_SETTINGS = frozenset({"round_timeout", "label_column", "prevalence", "proximal_mu", "server_lr"})


@dataclass(frozen=True)
class CarriedTrust:
    """What a second study takes over from the folder of the federation it continues
    (`coordinator init NEW_DIR --same-federation-as OLD_DIR`, server/service/same_federation.py):
    the CA that signs its server certificate (hospitals keep their ca.pem), the enrolment list as
    it stands (keys, names, declared sizes with their history, revocations), what federation.json
    records about the predecessor, and the mark the predecessor gets, written into the staging
    folder's predecessor once the new folder is complete and before it is renamed into place."""

    ca: Issued
    write_ca_key: bool  # False: the CA key was given with --ca-key (kept offline), not copied
    registry: dict[str, Any]
    record: dict[str, Any]
    mark_predecessor: Callable[[Path], None]


def refuse_existing(folder: Path) -> None:
    """Refuse a folder that exists and is not empty: init never writes into one (it would replace
    the CA every hospital trusts, or mix two studies' outputs)."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise GenofedError(
            f"{folder} exists and is not empty: refusing to overwrite a federation (its CA is what hospitals "
            "trust); give a new folder"
        )


def init_federation(
    folder: str | Path,
    hosts: list[str],
    *,
    panel: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    test_dir: str | Path | None = None,
    digest: Digest | None = None,
    carried: CarriedTrust | None = None,
) -> dict[str, Any]:
    """Create the federation folder; returns the federation config written.

    settings: RunSettings names; `prior`, `prior_variants` and `gene_prior` (the operator's
        files, as `genofed simulate` takes them) choose the sub-panel the model reads.
        `round_timeout` defaults to a deployment's (`DEPLOYED_ROUND_TIMEOUT`), not a simulation's.
    digest: the hospitals' `architecture_digest`, so model.json shows the digest they pin (the
        CLI passes it; server code never imports the hospital's).
    carried: the CA and enrolments of the federation this folder continues (a second study; built
        by `same_federation.init_same_federation`); None: a new CA and an empty hospital list.
        Either way the folder gets a new plan id: a study is never a continuation of another's
        privacy plan, and each hospital's ledger counts both.
    """
    folder = Path(folder)
    refuse_existing(folder)
    subject_alt_names(hosts)  # bad host names fail before anything is made
    hosts = certificate_hosts(hosts)
    # the same validation every run applies
    run = RunSettings(**{"round_timeout": DEPLOYED_ROUND_TIMEOUT, **(settings or {})})
    if not panel:
        raise GenofedError(
            "give the federation's variant panel (--panel panel.tsv): hospitals check their data against it"
        )
    panel_info = _check_panel(panel)
    if test_dir:
        _check_test_dir(Path(test_dir), panel, run)
    model = plan_model(run, panel, panel_info["sha256"], digest)  # priors checked as a run checks them
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with atomic_dir(folder) as staging:
        staging.chmod(0o700)
        if carried is None:
            tls = write_pki(staging, hosts)
        else:
            tls = write_pki(staging, hosts, ca=carried.ca, write_ca_key=carried.write_ca_key)
        shutil.copyfile(panel, staging / PANEL_FILE)
        model.write(staging)
        config = {
            "format": FORMAT,
            "created": created,
            "tls": tls,
            "panel": panel_info,
            "settings": {
                name.replace("_", "-"): run.to_config()[name.replace("_", "-")]
                for name in FEDERATION_SETTINGS
            },
            # the public priors' copies (DIR-relative), their SHA-256 and settings; {} = none
            "priors": model.priors,
            "model": {
                "file": MODEL_FILE,
                "architecture": model.document["architecture"],
                "reads": model.document["reads"],
                "digest": model.digest,
            },
            "hospitals_file": "hospitals.json",
            # the coordinator's own held-out cohort for central evaluation after every round (optional)
            "test_dir": str(Path(test_dir).resolve()) if test_dir else None,
            # names the run's privacy plan at every hospital; a restarted coordinator keeps it
            "plan_id": uuid.uuid4().hex,
        }
        if carried is not None:
            # where the CA and enrolments came from; a fresh plan id all the same (above)
            config[PREDECESSOR_KEY] = carried.record
        write_text_atomic(staging / FEDERATION_FILE, json.dumps(config, indent=2) + "\n")
        write_registry(staging, empty_registry() if carried is None else carried.registry)
        if carried is not None:
            carried.mark_predecessor(folder)  # counts only once this folder exists and names it
    return config


def _check_panel(panel: str | Path) -> dict[str, Any]:
    from genofed.common.data.panel import VariantPanel  # pandas; only when a panel is given

    loaded = VariantPanel.load(panel)  # raises DataError naming the file
    digest = hashlib.sha256(Path(panel).read_bytes()).hexdigest()
    return {
        "file": PANEL_FILE,
        "source": str(Path(panel).resolve()),
        "sha256": digest,
        "variants": len(loaded),
    }


def _check_test_dir(test_dir: Path, panel: str | Path, run: RunSettings) -> None:
    """Read the held-out cohort as the run will (`TestCohort.load`: its genotype and phenotype
    files, their samples, its coverage of the panel), so an empty folder, a hospital's summary
    folder or a cohort on another panel is refused now, not when the run starts."""
    if not test_dir.is_dir():
        raise GenofedError(
            f"--test-dir {test_dir}: not a folder (a held-out cohort: genotypes and phenotypes.csv)"
        )
    from genofed.common.data.panel import VariantPanel  # pandas, torch: only with a test cohort
    from genofed.server.evaluation import TestCohort

    try:
        TestCohort.load(test_dir, VariantPanel.load(panel), label_column=run.label_column)
    except GenofedError as exc:
        # the reader's hint names a hospital's node config too; here the option is init's own
        said = str(exc).replace(
            f" (node config: label-column={_suggested(str(exc))})", " to coordinator init"
        )
        raise GenofedError(f"--test-dir {test_dir}: the run could not evaluate on it: {said}") from None


def _suggested(message: str) -> str:
    """The column a reader's "pass --label-column NAME" hint suggests, or "" when it names none."""
    marker = "pass --label-column "
    return message.split(marker, 1)[1].split(" ", 1)[0] if marker in message else ""


def read_federation_file(folder: str | Path) -> dict[str, Any]:
    """DIR/federation.json, checked before any command acts on it: readable JSON, with every
    setting init wrote (`round-timeout` and `prevalence` may be missing: folders made before them
    get the default)
    and values a run accepts (`RunSettings`), so that a hand edit gone wrong is one error naming
    the file, before `coordinator start` launches anything or `enroll` writes into the folder."""
    path = Path(folder) / FEDERATION_FILE
    if not path.is_file():
        require_complete(folder)  # says whether the folder is none or one with files missing
    fix = "undo the edit (or restore the file from a backup), or make a new federation folder"
    try:
        federation = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenofedError(f"{path}: cannot read it ({exc}); {fix}") from None
    settings = federation.get("settings") if isinstance(federation, dict) else None
    if not isinstance(settings, dict):
        raise GenofedError(f"{path}: not a federation file (it holds no 'settings' object); {fix}")
    missing = [
        name.replace("_", "-")
        for name in FEDERATION_SETTINGS
        if name not in OPTIONAL_SETTINGS and name.replace("_", "-") not in settings
    ]
    if missing:
        raise GenofedError(f"{path}: the setting(s) {', '.join(missing)} are missing; {fix}")
    try:
        RunSettings.from_config(_with_deployed_defaults(settings))
    except GenofedError as exc:
        raise GenofedError(
            f"{path}: {exc}; correct the value in the file, or make a new federation folder"
        ) from None
    return federation


def _with_deployed_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """federation.json's settings as a run config: a folder made before `round-timeout` or
    `label-column` existed gets a deployment's default for it (the test cohort's column `label`)."""
    return {"round-timeout": DEPLOYED_ROUND_TIMEOUT, "label-column": "label", **settings}


def certificate_hosts(hosts: list[str]) -> list[str]:
    """The hosts a server certificate names: the operator's `--host` values, and loopback, over
    which the coordinator's own `flwr` commands (register hospitals, submit the run) connect."""
    return list(dict.fromkeys([h.strip().lower() for h in hosts] + ["localhost", "127.0.0.1"]))


def renew_certificate(
    folder: str | Path,
    *,
    hosts: list[str] | None = None,
    ca_key: str | Path | None = None,
    days: int = SERVER_DAYS,
) -> dict[str, Any]:
    """`genofed coordinator renew-cert`: a new TLS server certificate, signed by the same CA, so
    hospitals keep their ca.pem; federation.json records its new end of validity. For the hosts
    init recorded, or for `hosts` (`--host`, checked as init checks them), which replace them.
    Returns the federation's `tls` entry.

    A recorded host that `--host` now refuses (a folder made before the checks, e.g. with
    '999.1.1.1', which no TLS client can match) is named, with the way to give replacements."""
    folder = Path(folder)
    federation = read_federation_file(folder)
    if hosts:
        subject_alt_names(hosts)  # refused as at init, before anything is written
        hosts = certificate_hosts(hosts)
    else:
        hosts = recorded_hosts(folder, federation)
    tls = federation.setdefault("tls", {})
    if not isinstance(tls, dict):  # checked before the certificate is replaced
        raise GenofedError(
            f"{folder / FEDERATION_FILE}: its 'tls' entry is {type(tls).__name__}, not an object; "
            'restore the file from a backup, or set "tls": {} and run renew-cert again with --host'
        )
    cert = renew_server_cert(folder, hosts, ca_key=ca_key, days=days)
    tls.update(
        tls_record(load_cert(folder / CA_CERT), cert, hosts)
    )  # all of it: a lost entry comes back whole
    write_text_atomic(folder / FEDERATION_FILE, json.dumps(federation, indent=2) + "\n")
    return tls


def recorded_hosts(folder: Path, federation: dict[str, Any]) -> list[str]:
    """The hosts federation.json records for the server certificate, each checked as `--host` is
    now; refused, naming each host refused and why, with the way to give replacements."""
    tls = federation.get("tls")
    hosts = tls.get("hosts") if isinstance(tls, dict) else None
    give = f"give the hosts hospitals connect to: `genofed coordinator renew-cert {folder} --host NAME_OR_IP`"
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
        raise GenofedError(f"{folder / FEDERATION_FILE} records no host names for the certificate; {give}")
    refused = []
    for host in hosts:
        try:
            subject_alt_names([host])
        except GenofedError as reason:
            refused.append(str(reason).replace(f"--host {host.strip()!r}", repr(host.strip()), 1))
    if refused:
        raise GenofedError(
            f"{folder / FEDERATION_FILE} records host(s) for the certificate that are refused now: "
            f"{'; '.join(refused)}; to replace them, {give} (repeat --host for several; they replace "
            f"the recorded {', '.join(hosts)}; localhost and 127.0.0.1 are always added)"
        )
    return hosts


#: Where a deployed federation's run writes results, checkpoints, the final model and the report.
RUN_DIR = "run"


def deployed_run_config(folder: str | Path) -> dict[str, Any]:
    """The run config of a deployed federation's run: its agreed settings, its priors (the
    copies in DIR/priors, refused if changed since init), its panel, its outputs
    in DIR/run, its plan id, and resume on (a restarted coordinator continues from the last
    checkpoint; a finished run is not trained again). A folder made before `round-timeout`
    existed gets a deployment's default (a resumed run may take another: it says how long to
    wait, not what to compute)."""
    folder = Path(folder).resolve()
    federation = read_federation_file(folder)
    config = _with_deployed_defaults(federation["settings"])
    config.update(check_prior_files(folder, federation))  # the copies, unchanged since init
    config.update(
        {
            "out-dir": str(folder / RUN_DIR),
            "resume": True,
            "plan-id": federation.get("plan_id", ""),
            "expected-nodes": len(hospitals(folder)),
        }
    )
    if federation.get("panel"):
        config["panel"] = str(folder / federation["panel"]["file"])
    if federation.get("test_dir"):
        config["test-dir"] = federation["test_dir"]
    return config


def check_nodes(path: Path, registered: Any) -> None:
    """Refuse a damaged nodes.json ({name: {"node_id": ..., "fingerprint": "SHA256:..."}}) with one
    DataError naming the entry and field, before a command reads it (a KeyError otherwise).
    The fix is simple either way: the coordinator writes the map anew at its next start."""
    fix = (
        "delete it while the coordinator is stopped: `genofed coordinator start` registers the hospitals anew"
    )
    if not isinstance(registered, dict):
        raise DataError(path, "not an object of hospital name -> node", hint=fix)
    for name, entry in registered.items():
        if not isinstance(entry, dict):
            raise DataError(path, "the entry is not an object", location=f"entry {name!r}", hint=fix)
        for field in ("node_id", "fingerprint"):
            if not isinstance(entry.get(field), (str, int)) or isinstance(entry.get(field), bool):
                raise DataError(
                    path, f"field {field!r} is missing or not a text", location=f"entry {name!r}", hint=fix
                )


def admitted_nodes(folder: str | Path) -> dict[int, str]:
    """The node ids that may take part, with their hospital names: registered by this
    coordinator for a key that is enrolled now (not revoked, not replaced).

    Why both files: nodes.json says which node id the SuperLink gave which key; hospitals.json
    says which keys are enrolled now. A key registered behind the coordinator's back (through
    the Control API) has no entry in nodes.json; a hospital revoked during the run has none in
    hospitals.json. Read on every call, so the ServerApp applies a revocation from its next
    round on. A missing map admits nobody (fail closed).
    """
    folder = Path(folder)
    enrolled = {e["name"]: e["fingerprint"] for e in load_registry(folder)["hospitals"]}
    path = folder / NODES_FILE
    try:
        registered = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise GenofedError(f"{path}: cannot read the coordinator's node map ({exc})") from None
    check_nodes(path, registered)
    return {
        int(entry["node_id"]): name
        for name, entry in registered.items()
        if name in enrolled and enrolled[name] == entry.get("fingerprint")
    }
