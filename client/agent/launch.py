"""`genofed hospital check / start / audit`: the hospital's side of a deployed federation.

`check` validates the site's files against the federation's panel (the data layer's checks:
`genofed data check`) before anything connects, and records the binding in DIR/hospital.json:
which files, their SHA-256, the panel's SHA-256, and the site's own privacy budget. `start`
refuses to run on files that changed since (re-check them), then runs Flower's `flower-supernode`:
- TLS to the coordinator, verified with the federation's CA (ca.pem, received out of band);
- the site's key for SuperNode authentication (`genofed hospital init`; the coordinator enrols
  its public key);
- the node config binding the ClientApp to the checked files, the privacy ledger in DIR/state,
  and the audit log DIR/audit.jsonl (genofed.client.agent.audit);
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
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genofed.client.agent.audit import AUDIT_FILE, AUDIT_KEY, audit_line, read_audit
from genofed.client.agent.keys import PRIVATE_KEY, SITE_FILE, SITE_FILE_MODE, load_site_file, require_site_key
from genofed.client.agent.ledger_binding import (
    DataHashes,
    Decision,
    bind_ledger,
    bound_budget,
    cohort_sha256,
    record_site_settings,
    record_spent,
    require_settings_as_recorded,
)
from genofed.client.agent.ledger_report import site_folder
from genofed.client.agent.model_pin import PinnedModel, from_model_file, whole_panel
from genofed.client.agent.site_lock import CHECK_WHILE_RUNNING, hold_site
from genofed.client.agent.supernode import AgentOptions, Launch, say_on_stderr, serve
from genofed.common.deployment.app_bundle import approved_app_hash
from genofed.common.deployment.flower_env import flower_command, service_env, write_superexec_secret
from genofed.common.deployment.processes import bind_problem
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.checks import require_at_least, require_in_range, require_positive
from genofed.common.util.hashing import file_sha256

STATE_DIR = "state"


def check_site(
    folder: str | Path,
    genotypes: str | Path,
    phenotypes: str | Path,
    panel: str | Path | None = None,
    epsilon_budget: float = 8.0,
    delta: float = 1e-5,
    require_secagg: bool = False,
    *,
    new_ledger: str = "",
    data_update: str = "",
    ledger_index: Path | None = None,
    declared_size: int | None = None,
    max_evaluations: int = 20,
    model: str = "",
    label_column: str = "label",
    model_config: str | Path | None = None,
    max_coalition_epsilon: float | None = None,
    synthetic: str | Path | None = None,
    synthetic_ratio: float | None = None,
    change_budget: str = "",
) -> dict[str, Any]:
    """Validate the site's data against the federation panel and record the binding; returns it.

    Also fixed here, in the hospital's own configuration: the cohort size it declares public
    (`declared_size`, default its size rounded to 10), the model architecture it agrees to train
    and evaluate, by digest (`model`, "logistic" or "network" over this panel, "" = the federation
    default; or `model_config`, the federation's model.json, e.g. a sub-panel chosen by a public
    prior: genofed.client.agent.model_pin) and the most evaluations it answers per run
    (`max_evaluations`): the ClientApp refuses anything else. `max_coalition_epsilon` opts the site
    in to distributed DP with that cap on its epsilon against the coordinator and all other sites
    colluding (inf: no cap, as an explicit choice); None: the ClientApp refuses distributed DP.
    `synthetic` (a `genofed synth` output folder) adds `synthetic_ratio` of its records per public
    training patient to the site's training; a batch its training would refuse (failed validation,
    no records, not on this panel, made without DP or charged to another ledger when the budget is
    finite) is refused here, before anything is written, and at every `start` (`_checked_synthetic`).

    The site's ledger (DIR/state) is bound to these files first: refused if they already have a
    ledger elsewhere, or if this folder's ledger was spent on other files
    (genofed.client.agent.ledger_binding).

    The site key must be the one `hospital init` recorded (`require_site_key`); the delta must be
    below 1 / the site's patients (`_require_delta_below_cohort`); a budget or delta under which the
    ledger has already spent more than the budget is refused, and a change of the recorded budget or
    delta that weakens it needs `change_budget` (the DPO's reason, audited; `budget_change`)."""
    from genofed.common.data.loading import load_site  # pandas, readers: only for this command

    folder = Path(folder)
    load_site_file(folder)  # a site folder, before its lock is made in it
    # the site to itself: a running agent keeps the binding it started with (AgentRunning, its pid)
    with hold_site(folder.resolve(), why=CHECK_WHILE_RUNNING):
        site = load_site_file(folder)
        require_site_key(folder, site)
        panel = _checked_panel_and_budget(folder, panel, epsilon_budget, delta)
        _check_coalition_cap(max_coalition_epsilon)
        synthetic_use = _checked_synthetic(folder, synthetic, synthetic_ratio, panel, epsilon_budget)
        pinned = _pinned_model(panel, model, model_config)
        # DataError names file, line, sample (and, for a missing label column, the likely ones)
        data = load_site(genotypes, phenotypes, panel=panel, label_column=label_column)
        summary = data.summary()
        _require_delta_below_cohort(delta, int(summary["samples"]))
        change = budget_change(folder, site, epsilon_budget, delta, change_budget)
        files = _hashed_files(genotypes, phenotypes, panel)
        cohort = cohort_sha256(data.cohort.sample_ids)  # the patients, whatever the files' bytes
        ledger = _bind_checked_files(
            folder, files, cohort, site["name"], new_ledger, data_update, ledger_index, delta
        )
        _declare_synthetic_verdict(folder, synthetic_use, delta)
        _check_declarations(declared_size, max_evaluations)
        binding = _site_binding(
            files, summary, epsilon_budget, delta, require_secagg, declared_size, max_evaluations, pinned
        )
        binding["label_column"] = label_column  # the node config's label-column (`_pinned`)
        binding["max_coalition_epsilon"] = max_coalition_epsilon  # None: no distributed DP (`_pinned`)
        binding["synthetic"] = synthetic_use  # None: trains on its patients only (`node_config`)
        binding["earlier_budgets"] = _earlier_budgets(site, change)
        kept = (site.get("data") or {}).get("budget_set_at")
        binding["budget_set_at"] = kept if change is None and kept else binding["checked_at"]
        if change is not None:
            _audit_budget_change(folder, change)
        record_site_settings(folder / STATE_DIR, binding, index_file=ledger_index)
        site["data"] = binding
        # 0600: it now holds the exact patient and case counts, which never leave the site
        write_text_atomic(folder / SITE_FILE, json.dumps(site, indent=2) + "\n", mode=SITE_FILE_MODE)
    warnings = [*summary.get("warnings", []), *declared_size_warnings(declared_size, int(summary["samples"]))]
    changed = change is not None
    return dict(binding, warnings=warnings, name=site["name"], ledger=ledger.action, budget_changed=changed)


def _checked_panel_and_budget(
    folder: Path, panel: str | Path | None, epsilon_budget: float, delta: float
) -> Path:
    """The federation panel (`panel`, else DIR/panel.tsv), refused when missing, and the site's
    budget checked: epsilon positive (inf: no DP), delta strictly between 0 and 1."""
    panel = Path(panel) if panel else folder / "panel.tsv"
    if not panel.is_file():
        raise GenofedError(
            f"{panel}: no federation panel; give --panel (the panel.tsv the coordinator sent with ca.pem)"
        )
    require_positive(
        "--epsilon-budget", epsilon_budget, hint="inf: this hospital trains without differential privacy"
    )
    require_in_range("--delta", delta, 0, 1, low_open=True, high_open=True, hint="1e-5 is usual")
    return panel


def _check_coalition_cap(max_coalition_epsilon: float | None) -> None:
    """Refuse a coalition cap that is not a positive number (inf, written explicitly, is no cap)."""
    if max_coalition_epsilon is not None:
        require_positive(
            "--max-coalition-epsilon",
            max_coalition_epsilon,
            hint="the cap on this hospital's epsilon against the coordinator and all other sites colluding "
            "under distributed DP; inf: no cap",
        )


def _checked_synthetic(
    folder: Path, synthetic: str | Path | None, ratio: float | None, panel: Path, epsilon_budget: float
) -> dict[str, Any] | None:
    """The site's synthetic training data, as `check` records it ({"path", "ratio"}; None: none).

    Refused, with the reason and what to do, before `check` declares the batch's verdict public,
    binds the ledger or writes hospital.json: whatever the running site's training would refuse
    (`_require_trainable_synthetic`). `start` checks again (`_require_usable_synthetic`), so the
    coordinator never sees a verdict on the patients."""
    if not synthetic:
        if ratio is not None:
            raise ConfigError(
                f"--synthetic-ratio {ratio:g} needs --synthetic DIR (the validated `genofed synth` folder "
                "whose records it adds): without it there is nothing to add and the ratio would have no "
                "effect; give --synthetic DIR, or leave --synthetic-ratio out"
            )
        return None
    ratio = 1.0 if ratio is None else ratio
    require_in_range(
        "--synthetic-ratio",
        ratio,
        0,
        100,
        low_open=True,
        hint="synthetic records per real training patient, e.g. 0.5",
    )
    batch = Path(synthetic).resolve()
    _require_trainable_synthetic(folder, batch, panel, epsilon_budget)
    return {"path": str(batch), "ratio": float(ratio)}


def _require_trainable_synthetic(folder: Path, batch: Path, panel: Path, epsilon_budget: float) -> None:
    """`synthetic_use.require_trainable_batch` for the site in `folder`: the same calls its training
    makes on `batch`, with its panel, its ledger (DIR/state) and DP whenever its budget is finite (a
    deployed site with a finite budget trains under DP only: `coordinator_request.site_budget`).
    Reads, never writes. A site whose budget is inf trains without DP and may use a batch made
    without DP (a round the coordinator asks under DP is then refused by that same check)."""
    from genofed.client.synthetic_use import require_trainable_batch  # torch: only with synthetic data
    from genofed.common.data.panel import VariantPanel
    from genofed.common.privacy.ledger import LEDGER_FILE

    require_trainable_batch(
        batch,
        VariantPanel.load(panel),
        private=not math.isinf(epsilon_budget),
        ledger_path=folder.resolve() / STATE_DIR / LEDGER_FILE,
    )


def _declare_synthetic_verdict(folder: Path, synthetic: dict[str, Any] | None, delta: float) -> None:
    """The site's ledger lists the synthetic batch's verdict as declared public by this check: a site
    that trains with the batch tells the coordinator, by its synthetic count, that the batch passed
    validation, an exact bit read from its patients (`synthetic_use.declare_verdict`)."""
    if synthetic:
        from genofed.client.synthetic_use import declare_verdict
        from genofed.common.privacy.ledger import LEDGER_FILE

        declare_verdict(
            Path(synthetic["path"]),
            folder / STATE_DIR / LEDGER_FILE,
            delta=delta,
            by="this hospital's configuration (genofed hospital check --synthetic)",
        )


def _require_usable_synthetic(folder: Path, site: dict[str, Any]) -> None:
    """`start` refuses, before it runs, a synthetic folder the site's training would (now) refuse:
    the checks of `check` (`_require_trainable_synthetic`), on the checked panel and budget."""
    synthetic = site["data"].get("synthetic")
    if synthetic:
        data = site["data"]
        _require_trainable_synthetic(
            folder,
            Path(synthetic["path"]),
            Path(data["files"]["panel"]["path"]),
            float(data["epsilon_budget"]),
        )


def _require_delta_below_cohort(delta: float, patients: int) -> None:
    """Refuse a delta of 1 / (the site's patients) or more: (epsilon, delta)-DP with such a delta is
    met by a mechanism that releases one patient's record outright, so it protects nobody (the
    same rule `coordinator init` states: "below 1 / (patients per site)")."""
    if patients > 0 and delta >= 1 / patients:
        raise ConfigError(
            f"--delta {delta:g} is not below 1 / {patients} (this site's patients, {1 / patients:.3g}): a "
            "delta that large allows releasing a patient's record outright, so the budget would protect "
            f"no one; give a delta well below it, e.g. 1e-5 (the usual; below 1 / (patients per site))"
        )


@dataclass(frozen=True)
class BudgetChange:
    """A change of the site's recorded budget or delta by `hospital check` (`budget_change`)."""

    old_budget: float
    old_delta: float
    new_budget: float
    new_delta: float
    since: str  # when the old setting was recorded
    reason: str  # the DPO's reason (--change-budget); "" for a stricter setting


def _recorded_budget(folder: Path, site: dict[str, Any]) -> tuple[float, float] | None:
    """The budget and delta genofed last set (None: never checked): the ledger binding's record
    (`ledger_binding.record_site_settings`), else hospital.json's; unreadable: refused. The binding's comes
    first: a budget typed into hospital.json by hand is no recorded budget, and re-checking at that
    budget must be a change (audited), not a no-op."""
    bound = bound_budget(folder / STATE_DIR)
    if bound is not None:
        return float(bound["epsilon_budget"]), float(bound["delta"])
    data = site.get("data") or {}
    if "epsilon_budget" not in data and "delta" not in data:
        return None
    try:
        budget, delta = float(data["epsilon_budget"]), float(data["delta"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"{folder / SITE_FILE}: its recorded epsilon_budget {data.get('epsilon_budget')!r} or delta "
            f"{data.get('delta')!r} is not a number: the file was edited or damaged; restore it from a "
            "backup (a budget is never reset silently)"
        ) from None
    return budget, delta


def budget_change(
    folder: Path, site: dict[str, Any], epsilon_budget: float, delta: float, reason: str
) -> BudgetChange | None:
    """The change `hospital check` makes to the site's recorded budget or delta; None: none.

    Why: re-running `check` used to replace the lifetime budget silently, even below what the
    ledger had spent (an audit: budget 3, 2.99 spent, re-checked at 10 and at 1, no trace). So:
    a budget and delta under which the ledger's spending already exceeds the budget are refused;
    a weaker setting (a larger budget or delta) needs `reason` (`--change-budget REASON`, the
    data-protection officer's decision); every change is audited and the earlier setting kept."""
    from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

    path = folder / STATE_DIR / LEDGER_FILE
    ledger = PrivacyLedger(path)  # an edited or damaged ledger is refused (DataError)
    spent = ledger.epsilon(delta) if ledger.charges else 0.0
    if spent > epsilon_budget:
        raise ConfigError(
            f"--epsilon-budget {epsilon_budget:g} --delta {delta:g}: this site's ledger {path} has already "
            f"spent epsilon {spent:.4g} at delta {delta:g}, more than that budget; a budget is never set "
            "below what was spent. Give a budget of at least what was spent (and the delta it was "
            "recorded at)"
        )
    recorded = _recorded_budget(folder, site)
    if recorded is None or recorded == (epsilon_budget, delta):
        return None
    old_budget, old_delta = recorded
    weaker = epsilon_budget > old_budget or delta > old_delta
    if reason and not reason.strip():
        raise ConfigError(
            '--change-budget needs a reason (it goes to the audit log), e.g. --change-budget "DPO decision '
            'of 2024-05-02"'
        )
    if weaker and not reason.strip():
        raise ConfigError(
            f"--epsilon-budget {epsilon_budget:g} --delta {delta:g} would raise this site's recorded "
            f"lifetime budget (epsilon {old_budget:g} at delta {old_delta:g}, in {folder / SITE_FILE}): that "
            "is the data-protection officer's decision; give --change-budget REASON (written to the audit "
            "log with the old and new values), or check again with the recorded budget"
        )
    _require_audit_appendable(folder)  # before anything is bound or written: a change is never unlogged
    data = site.get("data") or {}
    since = str(data.get("budget_set_at") or data.get("checked_at", ""))
    return BudgetChange(old_budget, old_delta, epsilon_budget, delta, since, reason.strip())


def _require_audit_appendable(folder: Path) -> None:
    """Refuse a budget change that could not be written to the site's audit log."""
    from genofed.client.agent.audit import appendable_problem

    log = folder / AUDIT_FILE
    problem = appendable_problem(log)
    if problem is not None:
        raise GenofedError(
            f"{log}: the site's audit log cannot be appended to ({problem}), and a budget change must be "
            "written to it: run the command as the site's user, or repair the log. Nothing was changed."
        )


def _earlier_budgets(site: dict[str, Any], change: BudgetChange | None) -> list[dict[str, Any]]:
    """hospital.json's `earlier_budgets`: every setting a change replaced, oldest first, with when it
    was recorded (`from`), when it was replaced (`until`) and the reason given."""
    earlier = list((site.get("data") or {}).get("earlier_budgets") or [])
    if change is not None:
        earlier.append(
            {
                "epsilon_budget": change.old_budget,
                "delta": change.old_delta,
                "from": change.since,
                "until": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "reason": change.reason,
            }
        )
    return earlier


def _audit_budget_change(folder: Path, change: BudgetChange) -> None:
    """The change in the site's audit log, with the old and new budget and delta and the reason."""
    from genofed.client.agent.audit import BUDGET_CHANGE_EVENT, LEDGER_TYPE, append_entry

    append_entry(
        folder / AUDIT_FILE,
        {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "type": LEDGER_TYPE,
            "status": "ok",
            "event": BUDGET_CHANGE_EVENT,
            "reason": change.reason,
            "command": "hospital check",
            "old": {"epsilon_budget": change.old_budget, "delta": change.old_delta, "since": change.since},
            "new": {"epsilon_budget": change.new_budget, "delta": change.new_delta},
            "run": None,
            "round": None,
            "records": [],
            "bytes": 0,
            "epsilon": None,
        },
    )


def _pinned_model(panel: Path, model: str, model_config: str | Path | None) -> PinnedModel:
    """The architecture `check` pins: `model` over the whole panel, or the federation's model.json."""
    if not model_config:
        return whole_panel(panel, model)
    if model:
        raise ConfigError(
            "--model and --model-config both name the model to pin: give the federation's model.json alone"
        )
    return from_model_file(model_config, panel)


def _hashed_files(genotypes: str | Path, phenotypes: str | Path, panel: Path) -> dict[str, dict[str, str]]:
    """Each checked file's absolute path and SHA-256, by role: what the ledger and node config pin."""
    return {
        role: {"path": str(Path(p).resolve()), "sha256": file_sha256(Path(p))}
        for role, p in (("genotypes", genotypes), ("phenotypes", phenotypes), ("panel", panel))
    }


def _bind_checked_files(
    folder: Path,
    files: dict[str, dict[str, str]],
    cohort: str,
    name: str,
    new_ledger: str,
    data_update: str,
    ledger_index: Path | None,
    delta: float,
) -> Decision:
    """`bind_ledger` of the site's ledger (DIR/state) to these files and their patients (`cohort`,
    `cohort_sha256`: a re-exported file of the same patients is no fresh budget), for `hospital
    check`; the ledger's high-water mark is recorded at the site's `delta`."""
    return bind_ledger(
        folder / STATE_DIR,
        replace(DataHashes.from_files(files), cohort=cohort),
        site=name,
        command="check",
        new_ledger=new_ledger,
        data_update=data_update,
        index_file=ledger_index,
        audit_log=folder / AUDIT_FILE,
        delta=delta,
    )


def _check_declarations(declared_size: int | None, max_evaluations: int) -> None:
    """Refuse a declared cohort size under 2 and a negative evaluation cap."""
    if declared_size is not None:
        require_at_least(
            "--declared-size",
            declared_size,
            2,
            message="--declared-size is the number of patients this hospital declares public; give 2 or more",
        )
    require_at_least("--max-evaluations", max_evaluations, 0, message="--max-evaluations must be 0 or more")


#: How far a declared cohort size may be from the real count, as a factor, before `check` warns.
DECLARED_SIZE_FACTOR = 2.0


def declared_size_warnings(declared_size: int | None, patients: int) -> list[dict[str, str]]:
    """A warning (for `check` to print on the hospital's own screen: nothing is sent) when the size
    the hospital declares public is more than DECLARED_SIZE_FACTOR times off its real count.

    Not an error: the declared size is the hospital's public statement, and the privacy accounting
    stays correct either way (Poisson sampling picks each patient at rate batch / declared size).
    But training suffers: batches hold real/declared times the intended patients, each round runs
    declared/real times the steps, and the coordinator weighs this hospital as if it had the
    declared number of patients."""
    if declared_size is None or patients <= 0:
        return []
    ratio = declared_size / patients
    if 1 / DECLARED_SIZE_FACTOR <= ratio <= DECLARED_SIZE_FACTOR:
        return []
    if ratio > 1:
        effect = (
            f"batches hold about {1 / ratio:.1%} of the intended number of patients (almost only DP noise), "
            f"each round runs {ratio:.0f}x the steps, and the coordinator weighs this hospital's updates "
            f"as if it had {declared_size} patients"
        )
    else:
        effect = (
            f"batches hold about {1 / ratio:.1f}x the intended number of patients (more memory and time per "
            f"step), and the coordinator weighs this hospital's updates as if it had only {declared_size}"
        )
    return [
        {
            "code": "declared-size",
            "message": (
                f"--declared-size {declared_size} is far from the {patients} patients checked here: "
                f"{effect}. The privacy accounting stays correct. Declare a size near the real count (leave "
                "--declared-size out: the count rounded to 10) unless this is deliberate; this warning is "
                "shown here only, the exact count is not sent"
            ),
        }
    ]


def _site_binding(
    files: dict[str, dict[str, str]],
    summary: dict[str, Any],
    epsilon_budget: float,
    delta: float,
    require_secagg: bool,
    declared_size: int | None,
    max_evaluations: int,
    pinned: PinnedModel,
) -> dict[str, Any]:
    """What DIR/site.json records under "data": the checked files, the site's budget and
    declarations, the model it agrees to (its digest and what it is), when it was checked and the
    data's summary."""
    from genofed.client.site import declared_cohort_size

    return {
        "files": files,
        "epsilon_budget": epsilon_budget,
        "delta": delta,
        "require_secagg": require_secagg,
        "declared_size": declared_size or declared_cohort_size(int(summary["samples"])),
        "model_digest": pinned.digest,
        "model": pinned.to_dict(),
        "max_evaluations": max_evaluations,
        "checked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "summary": {
            k: summary[k]
            for k in ("samples", "cases", "controls", "variants", "missing_rate")
            if k in summary
        },
        "alignment": summary.get("alignment"),
    }


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
    _require_usable_synthetic(folder, site)
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
    _require_free_port(options.local_port)
    approved = options.approved_app or approved_app_hash()
    env = service_env(folder / "flwr")
    secret = write_superexec_secret(folder)
    command = _supernode_command(folder, site, options, secret)
    return Launch(command, env, f"127.0.0.1:{options.local_port}", secret, approved, folder / AUDIT_FILE)


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


def _require_free_port(port: int) -> None:
    """Refuse a local port something already listens on: Flower would fail later, with a traceback
    ("SuperNode Runtime HTTP API failed to start"). A bind test, as the SuperNode will bind."""
    problem = bind_problem("127.0.0.1", port)
    if problem is not None:
        what = "is in use" if problem.errno == errno.EADDRINUSE else f"cannot be bound ({problem.strerror})"
        raise ConfigError(
            f"--local-port {port}: 127.0.0.1:{port} {what}; stop what listens there or give this agent "
            "another --local-port (each agent on a host needs its own)"
        )


def _require_checked_files(folder: Path, site: dict[str, Any]) -> None:
    """Refuse to start unless `hospital check` ran and every file it checked is there, unchanged."""
    if "data" not in site:
        raise GenofedError(
            f"{folder}: the site's data was never checked; run `genofed hospital check {folder} "
            "--genotypes F --phenotypes F --panel panel.tsv --epsilon-budget E` first (E: this hospital's "
            "lifetime privacy budget, e.g. 1-3; see `genofed hospital check --help`)"
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
    config from the checked binding, the SuperExec secret, on 127.0.0.1:`options.local_port`."""
    return [
        flower_command("flower-supernode"),
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
    require_ca_signs_coordinator(options)
    load_site_file(folder)  # a site folder, before its lock is made in it
    with hold_site(folder.resolve()) as lock:
        launch = prepare_start(folder, options)
        try:
            (folder / STATE_DIR).mkdir(mode=0o700, exist_ok=True)
            return serve(folder, launch, options, lock, say)
        finally:
            _record_spent(folder, options, say)


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


def read_site_audit(folder: str | Path) -> list[dict[str, Any]]:
    """The site's audit log entries; a path that is not a site folder is named as such, not
    mistaken for a site that has sent nothing yet. A site's state folder (SITE/state) reads its
    site's log (`ledger_report.site_folder`)."""
    folder = site_folder(folder)
    load_site_file(folder)
    return read_audit(folder / AUDIT_FILE)


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
    import socket
    import ssl

    host, _, port = options.coordinator.rpartition(":")
    host = host.strip("[]")
    context = ssl.create_default_context(cafile=str(options.ca))
    context.set_alpn_protocols(["h2"])  # as gRPC asks
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return
    except ssl.SSLCertVerificationError as exc:
        raise ConfigError(_ca_refusal(options, host, exc)) from None
    except (OSError, ValueError):  # unreachable, refused, no TLS there: Flower's retries say so
        return


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
