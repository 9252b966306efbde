"""`genofed hospital check`: the site's files, budget and declarations, checked and bound.

`check` validates the site's files against the federation's panel (the data layer's checks:
`genofed data check`) before anything connects, and records the binding in DIR/hospital.json:
which files, their SHA-256, the panel's SHA-256, and the site's own privacy budget (`check_site`);
also what the hospital declares and agrees to: the cohort size it declares public
(`declared_size_warnings`), the model it trains (genofed.client.agent.model_pin), the most
evaluations it answers, its cap under distributed DP and its synthetic training data:
- the ledger (DIR/state) bound to the files (genofed.client.agent.ledger_binding): a fresh or
  foreign ledger for data that has one elsewhere, or a lost ledger, is refused unless told
  `--new-ledger REASON`;
- a change of the recorded budget, delta or coalition cap that weakens it needs the DPO's reason,
  a budget or cap below what was spent is refused, and every change is audited (`budget_change`);
- a running agent keeps the binding it started with: `check` is refused while one runs
  (genofed.client.agent.site_lock).

`hospital start` (genofed.client.agent.launch, which imports this module, never the reverse) runs
on this binding, and checks again the synthetic batch it names (`require_usable_synthetic`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genofed.client.agent.audit import require_appendable
from genofed.client.agent.keys import SITE_FILE, SITE_FILE_MODE, load_site_file, require_site_key
from genofed.client.agent.ledger_binding import DataHashes, Decision, bind_ledger, cohort_sha256
from genofed.client.agent.model_pin import PinnedModel, from_model_file, whole_panel
from genofed.client.agent.site_layout import AUDIT_FILE, STATE_DIR
from genofed.client.agent.site_lock import CHECK_WHILE_RUNNING, hold_site
from genofed.client.agent.site_settings_record import bound_budget, record_site_settings
from genofed.client.declared_size import declared_cohort_size
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.checks import require_at_least, require_in_range, require_positive
from genofed.common.util.hashing import file_sha256


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
    ledger has already spent more than the budget is refused, so is a coalition cap below what the
    ledger has already spent against a coalition, and a change of the recorded budget, delta or
    coalition cap that weakens it needs `change_budget` (the DPO's reason, audited; `budget_change`)."""
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
        change = budget_change(folder, site, epsilon_budget, delta, change_budget, max_coalition_epsilon)
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
    (`_require_trainable_synthetic`). `start` checks again (`require_usable_synthetic`), so the
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
    checked = _require_trainable_synthetic(folder, batch, panel, epsilon_budget)
    # the digest of the validation.json checked: the verdict declared is that batch's, and no other's
    return {"path": str(batch), "ratio": float(ratio), "validation_sha256": checked}


def _require_trainable_synthetic(
    folder: Path, batch: Path, panel: Path, epsilon_budget: float, *, declared: bool = False
) -> str:
    """`synthetic_use.require_trainable_batch` for the site in `folder`: the same calls its training
    makes on `batch`, with its panel, its ledger (DIR/state) and DP whenever its budget is finite (a
    deployed site with a finite budget trains under DP only: `coordinator_request.spend_limit`).
    Reads, never writes. A site whose budget is inf trains without DP and may use a batch made
    without DP (a round the coordinator asks under DP is then refused by that same check).
    `declared`: the batch's verdict must be declared in the site's ledger first (`start`). Returns
    the digest of the validation.json the checks read (`require_trainable_batch`)."""
    from genofed.client.synthetic_use import require_trainable_batch  # torch: only with synthetic data
    from genofed.common.data.panel import VariantPanel
    from genofed.common.privacy.ledger import LEDGER_FILE

    private = not math.isinf(epsilon_budget)
    return require_trainable_batch(
        batch,
        VariantPanel.load(panel),
        private=private,
        ledger_path=folder.resolve() / STATE_DIR / LEDGER_FILE,
        no_new_batch=_no_new_batch(folder) if private else "",
        declared=declared,
    )


def _no_new_batch(folder: Path) -> str:
    """Why the site in `folder` cannot pay for another DP synthetic batch worth making
    (`synth_advice.SiteBudget.can_pay_a_batch`), or "" when it can or its budget is not known."""
    from genofed.client.synth_advice import budget_left

    site = budget_left(folder / STATE_DIR)
    if site is None or site.can_pay_a_batch():
        return ""
    return f"this site's budget cannot pay for another DP batch worth making ({site.words()})"


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
            checked=synthetic.get("validation_sha256"),
        )


def require_usable_synthetic(folder: Path, site: dict[str, Any]) -> None:
    """`start` refuses, before it runs, a synthetic folder the site's training would (now) refuse:
    first a batch whose verdict `check` did not declare (`synthetic_use.require_declared`: a batch
    put in the folder since, failed or passing, is refused in the same words before its verdict is
    read, or the site's absence would show it), then the checks of `check`
    (`_require_trainable_synthetic`), on the checked panel and budget."""
    synthetic = site["data"].get("synthetic")
    if synthetic:
        data = site["data"]
        _require_trainable_synthetic(  # the declaration first, on the one reading every check uses
            folder,
            Path(synthetic["path"]),
            Path(data["files"]["panel"]["path"]),
            float(data["epsilon_budget"]),
            declared=True,
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
    """A change of the site's recorded budget, delta or coalition cap by `hospital check`
    (`budget_change`). A cap of None: distributed DP refused; inf: no cap."""

    old_budget: float
    old_delta: float
    new_budget: float
    new_delta: float
    since: str  # when the old setting was recorded
    reason: str  # the DPO's reason (--change-budget); "" for a stricter setting
    old_cap: float | None = None
    new_cap: float | None = None


def _recorded_budget(folder: Path, site: dict[str, Any]) -> tuple[float, float, float | None] | None:
    """The budget, delta and coalition cap genofed last set (None: never checked): the ledger
    binding's record (`site_settings_record.record_site_settings`), else hospital.json's;
    unreadable: refused. The binding's comes first: a budget typed into hospital.json by hand is no
    recorded budget, and re-checking at that budget must be a change (audited), not a no-op. A
    binding written before the cap was recorded there leaves the cap to hospital.json."""
    data = site.get("data") or {}
    bound = bound_budget(folder / STATE_DIR)
    if bound is not None:
        cap = (
            bound["max_coalition_epsilon"]
            if "max_coalition_epsilon" in bound
            else data.get("max_coalition_epsilon")
        )
        return float(bound["epsilon_budget"]), float(bound["delta"]), _recorded_cap(folder, cap)
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
    return budget, delta, _recorded_cap(folder, data.get("max_coalition_epsilon"))


def _recorded_cap(folder: Path, raw: Any) -> float | None:
    """A recorded coalition cap as a number (None: distributed DP refused); not a positive number:
    refused, as an unreadable budget is."""
    if raw is None:
        return None
    try:
        cap = float(raw)
    except (TypeError, ValueError):
        cap = math.nan
    if not cap > 0:
        raise ConfigError(
            f"{folder / SITE_FILE}: its recorded max_coalition_epsilon {raw!r} is not a positive number: the "
            "file was edited or damaged; restore it from a backup (a cap is never reset silently)"
        )
    return cap


def _last_cap(site: dict[str, Any], recorded: float | None) -> float | None:
    """The coalition cap a new one is compared with: the recorded one, else (distributed DP refused
    now) the latest earlier one (`earlier_budgets`), so that lowering a cap to "refused" and opting
    in again is no way round `--change-budget`; None: no cap was ever set (a first opt-in)."""
    if recorded is not None:
        return recorded
    for earlier in reversed((site.get("data") or {}).get("earlier_budgets") or []):
        if isinstance(earlier, dict) and earlier.get("max_coalition_epsilon") is not None:
            try:
                return float(earlier["max_coalition_epsilon"])
            except (TypeError, ValueError):
                continue
    return None


def budget_change(
    folder: Path,
    site: dict[str, Any],
    epsilon_budget: float,
    delta: float,
    reason: str,
    max_coalition_epsilon: float | None = None,
) -> BudgetChange | None:
    """The change `hospital check` makes to the site's recorded budget, delta or coalition cap
    (`max_coalition_epsilon`, None: distributed DP refused, inf: no cap); None: no change.

    Why: re-running `check` used to replace the lifetime budget silently, even below what the
    ledger had spent (an audit: budget 3, 2.99 spent, re-checked at 10 and at 1, no trace), and the
    coalition cap, the guarantee against a malicious coordinator, the same way (5 raised to 20, then
    to inf, or set to 5 after 10.1 was spent against a coalition). So: a budget and delta under which
    the ledger's spending already exceeds the budget are refused, and so is a cap under which its
    spending against a coalition already exceeds the cap; a weaker setting (a larger budget, delta or
    cap, inf above any number) needs `reason` (`--change-budget REASON`, the data-protection
    officer's decision); every change is audited and the earlier setting kept. Setting a cap where
    none was ever set is the site's opt-in to distributed DP, as a first budget is, and needs none."""
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
    cap = max_coalition_epsilon
    coalition = ledger.coalition_epsilon(delta) if cap is not None and ledger.charges else 0.0
    if cap is not None and coalition > cap:
        raise ConfigError(
            f"--max-coalition-epsilon {cap:g}: this site's ledger {path} has already spent epsilon "
            f"{coalition:.4g} at delta {delta:g} against the coordinator and all other hospitals colluding, "
            "more than that cap; a cap is never set below what was spent. Give a cap of at least what was "
            "spent"
        )
    recorded = _recorded_budget(folder, site)
    if recorded is None or recorded == (epsilon_budget, delta, cap):
        return None
    old_budget, old_delta, old_cap = recorded
    last_cap = _last_cap(site, old_cap)
    raised_cap = cap is not None and last_cap is not None and cap > last_cap
    weaker = epsilon_budget > old_budget or delta > old_delta or raised_cap
    if reason and not reason.strip():
        raise ConfigError(
            '--change-budget needs a reason (it goes to the audit log), e.g. --change-budget "DPO decision '
            'of 2024-05-02"'
        )
    if raised_cap and not reason.strip():
        raise ConfigError(
            f"--max-coalition-epsilon {cap:g} would raise this site's coalition cap (on its epsilon against "
            f"the coordinator and all other hospitals colluding: {last_cap:g}, in {folder / SITE_FILE}): "
            "that is the data-protection officer's decision; give --change-budget REASON (written to the "
            f"audit log with the old and new values), or check again with a cap of at most {last_cap:g}"
        )
    if weaker and not reason.strip():
        raise ConfigError(
            f"--epsilon-budget {epsilon_budget:g} --delta {delta:g} would raise this site's recorded "
            f"lifetime budget (epsilon {old_budget:g} at delta {old_delta:g}, in {folder / SITE_FILE}): that "
            "is the data-protection officer's decision; give --change-budget REASON (written to the audit "
            "log with the old and new values), or check again with the recorded budget"
        )
    # before anything is bound or written: a change is never unlogged
    require_appendable(folder, "a budget change")
    data = site.get("data") or {}
    since = str(data.get("budget_set_at") or data.get("checked_at", ""))
    return BudgetChange(old_budget, old_delta, epsilon_budget, delta, since, reason.strip(), old_cap, cap)


def _earlier_budgets(site: dict[str, Any], change: BudgetChange | None) -> list[dict[str, Any]]:
    """hospital.json's `earlier_budgets`: every setting a change replaced (budget, delta and coalition
    cap), oldest first, with when it was recorded (`from`), when it was replaced (`until`) and the
    reason given."""
    earlier = list((site.get("data") or {}).get("earlier_budgets") or [])
    if change is not None:
        earlier.append(
            {
                "epsilon_budget": change.old_budget,
                "delta": change.old_delta,
                "max_coalition_epsilon": change.old_cap,
                "from": change.since,
                "until": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "reason": change.reason,
            }
        )
    return earlier


def _audit_budget_change(folder: Path, change: BudgetChange) -> None:
    """The change in the site's audit log, with the old and new budget, delta and coalition cap
    (None: distributed DP refused; "inf": no cap, a string, as JSON has no infinity) and the reason."""
    from genofed.client.agent.audit import BUDGET_CHANGE_EVENT, LEDGER_TYPE, append_entry, entry_time

    append_entry(
        folder / AUDIT_FILE,
        {
            "time": entry_time(),
            "type": LEDGER_TYPE,
            "status": "ok",
            "event": BUDGET_CHANGE_EVENT,
            "reason": change.reason,
            "command": "hospital check",
            "old": {
                "epsilon_budget": change.old_budget,
                "delta": change.old_delta,
                "max_coalition_epsilon": _audited_cap(change.old_cap),
                "since": change.since,
            },
            "new": {
                "epsilon_budget": change.new_budget,
                "delta": change.new_delta,
                "max_coalition_epsilon": _audited_cap(change.new_cap),
            },
            "run": None,
            "round": None,
            "records": [],
            "bytes": 0,
            "epsilon": None,
        },
    )


def _audited_cap(cap: float | None) -> float | str | None:
    return "inf" if cap is not None and math.isinf(cap) else cap


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
            f"step), the coordinator weighs this hospital's updates as if it had only {declared_size}, and "
            "from about twice its declared size it refuses distributed-DP rounds (their public bound "
            "counts at most twice the declared training size plus 10 patients)"
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
