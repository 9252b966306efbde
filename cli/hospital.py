"""Hospital-side commands: the hospital agent and its site folder (`genofed hospital
init/rotate-key/check/start/audit/ledger/variants`). `genofed synth` is cli/synth.py."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from typing import TYPE_CHECKING, Any

from genofed.cli.data import add_label_column_argument
from genofed.cli.ledger_options import (
    LOCAL_DELTA_HELP,
    add_new_ledger_argument,
    add_raise_budget_argument,
    local_delta,
)
from genofed.cli.options import epsilon_number

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from genofed.client.agent.audit_filter import When

#: What `hospital check` says about the site's ledger (genofed.client.agent.ledger_binding actions).
LEDGER_ACTIONS = {
    "ok": "bound to these files",
    "bind": "new, bound to these files",
    "adopt": "existing ledger, now bound to these files",
    "new-ledger": "NEW ledger on request, recorded in the audit log",
    "data-update": "carried over to the updated files, recorded in the audit log",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    register_hospital(subparsers)


def register_hospital(subparsers: argparse._SubParsersAction) -> None:
    """`genofed hospital` and its subcommands, in the order `--help` lists them."""
    parser = subparsers.add_parser(
        "hospital",
        help=(
            "the hospital agent: the site's key pair, data check, the SuperNode service, the audit log, "
            "the privacy spent"
        ),
        description="Run a hospital's side of a deployed federation.",
    )
    commands = parser.add_subparsers(dest="hospital_command", metavar="COMMAND", required=True)
    _add_init(commands)
    _add_rotate_key(commands)
    _add_check(commands)
    _add_start(commands)
    _add_audit(commands)
    _add_ledger(commands)
    _add_indexes(commands)
    _add_variants(commands)


def _add_init(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser(
        "init",
        help="make this site's key pair and print the public key to send to the coordinator",
        description=(
            "Make the site's EC key pair in DIR: supernode.key (OpenSSH private key, readable by the owner "
            "only, for flower-supernode's --auth-supernode-private-key) and supernode.pub (the public key to "
            "send to the coordinator, who enrols it with `genofed coordinator enroll`). Refuses to overwrite "
            "an existing key."
        ),
    )
    init.add_argument("dir", metavar="DIR", help="the site folder (created 0700 if missing)")
    init.add_argument("--name", required=True, help="the hospital's name in the federation, e.g. rostov")
    init.set_defaults(handler=run_hospital_init)


def _add_rotate_key(commands: argparse._SubParsersAction) -> None:
    rotate = commands.add_parser(
        "rotate-key",
        help="replace this site's key pair in place (a leaked or lost key); the site keeps its ledger",
        description=(
            "Make a new key pair in the site folder DIR, in place of the old one: the site keeps its privacy "
            "ledger, budget, data binding and audit log (a new site folder would start the data's ledger "
            "anew). The old public key is kept as supernode.pub.retired-TIME, the old private key is "
            "overwritten, hospital.json records the old fingerprint under `rotated`, and the audit log says "
            "so. Then the coordinator revokes the old key by its fingerprint, whatever name it is enrolled "
            "under (`genofed coordinator revoke FED --fingerprint OLD`; nothing to do if it was revoked "
            "already) and enrols the new supernode.pub (`genofed coordinator enroll FED --name NAME "
            "--public-key supernode.pub --declared-size N`). Refused while the site's agent runs."
        ),
    )
    rotate.add_argument("dir", metavar="DIR", help="the site folder (made by `genofed hospital init`)")
    rotate.set_defaults(handler=run_hospital_rotate_key)


def _add_check(commands: argparse._SubParsersAction) -> None:
    """`hospital check`: the site's files, checked against the panel, and the site's own limits."""
    check = commands.add_parser(
        "check",
        help="validate the site's data against the federation panel and bind it to this site folder",
        description=(
            "Run the data layer's checks (as `genofed data check`) on the site's genotypes and phenotypes "
            "against the federation's panel, before anything connects. When they pass, DIR/hospital.json "
            "records the files, their SHA-256 and the site's own privacy budget; `genofed hospital start` "
            "trains on exactly these files."
        ),
    )
    check.add_argument("dir", metavar="DIR", help="the site folder (genofed hospital init)")
    check.add_argument("--genotypes", required=True, metavar="FILE", help="VCF, PLINK or table")
    check.add_argument(
        "--phenotypes", required=True, metavar="FILE", help="phenotypes.csv (sample_id, label, ...)"
    )
    add_label_column_argument(check, node_config=True)
    check.add_argument(
        "--panel",
        metavar="FILE",
        help="the federation's panel.tsv, sent by the coordinator (default: DIR/panel.tsv)",
    )
    _add_check_privacy_options(check)
    _add_check_release_options(check)
    check.add_argument(
        "--synthetic",
        metavar="DIR",
        default="",
        help="a validated `genofed synth` output folder whose records this hospital adds to its training "
        "(refused, before anything is declared or bound, if this site's training would refuse it: a "
        "failed batch, fewer than 20 records, records not on the panel, or at a finite budget a batch "
        "made without DP or charged to another ledger; default: none)",
    )
    check.add_argument(
        "--synthetic-ratio",
        type=float,
        default=None,
        metavar="R",
        help="with --synthetic (refused without it): synthetic records per declared training patient "
        "(default: 1)",
    )
    add_new_ledger_argument(check)
    check.set_defaults(handler=run_hospital_check)


def _add_check_privacy_options(check: argparse.ArgumentParser) -> None:
    """The site's lifetime privacy budget, the largest delta it accepts, and secure aggregation."""
    check.add_argument(
        "--epsilon-budget",
        type=epsilon_number,
        default=None,
        metavar="E",
        help=(
            "this hospital's lifetime privacy budget: it never spends more, whatever the coordinator asks; "
            "e.g. 1-2 for strong protection (above 2 the run report calls the guarantee weak; 8 is weak), "
            "inf = no differential privacy (required: no default, the budget is the hospital's own)"
        ),
    )
    check.add_argument(
        "--delta",
        type=float,
        default=1e-5,
        help="the largest DP delta this hospital accepts, below 1 / its patients (default: 1e-5)",
    )
    check.add_argument(
        "--change-budget",
        default="",
        metavar="REASON",
        help=(
            "raise the lifetime budget, delta or --max-coalition-epsilon a previous check recorded: the "
            "data-protection officer's decision, written with the old and new values to the audit log (the "
            "earlier setting stays in hospital.json); a budget or cap below what the ledger has spent is "
            "refused even so"
        ),
    )
    check.add_argument(
        "--require-secagg",
        action="store_true",
        help="send updates only under secure aggregation: refuse plain rounds (default: accept both)",
    )
    check.add_argument(
        "--max-coalition-epsilon",
        type=float,
        default=None,
        metavar="E",
        help=(
            "take part in distributed DP (coordinator init --privacy distributed), with this cap on the "
            "hospital's epsilon against the coordinator and all other hospitals colluding: the only "
            "guarantee that holds against a coordinator that lies about how many hospitals share the "
            "noise; inf = no cap (default: unset, distributed DP refused; docs/distributed-dp.md). Once "
            "set, raising it needs --change-budget REASON; lowering it needs none, but not below what "
            "was spent"
        ),
    )


def _add_check_release_options(check: argparse.ArgumentParser) -> None:
    """What the site's ledger carries over, the size it declares, the evaluations it answers."""
    check.add_argument(
        "--data-update",
        default="",
        metavar="REASON",
        help=(
            "these files update the cohort this site's ledger was spent on: the ledger carries over to them "
            "(the reason goes to the audit log)"
        ),
    )
    check.add_argument(
        "--declared-size",
        type=int,
        default=None,
        metavar="N",
        help=(
            "the number of patients this hospital declares public: the sizes it reports and its DP-SGD "
            "sampling rate follow from it, never from the exact count (default: its size rounded to 10)"
        ),
    )
    pin = check.add_mutually_exclusive_group()
    pin.add_argument(
        "--model",
        default="logistic",
        choices=("logistic", "network"),
        help="the model architecture this hospital agrees to train, over the whole panel: the one its "
        "federation's `coordinator init --model` names; any other is refused (default: logistic)",
    )
    pin.add_argument(
        "--model-config",
        metavar="FILE",
        default="",
        help="instead of --model: the federation's model.json (from the coordinator, with ca.pem); this "
        "hospital pins the model it describes, e.g. the sub-panel a public prior chose, after checking it "
        "against its panel; any other is refused (default: none, --model)",
    )
    check.add_argument(
        "--max-evaluations",
        type=int,
        default=20,
        metavar="N",
        help=(
            "the most evaluations of a coordinator's model this hospital answers per run; each is a privacy "
            "release from its budget (default: 20)"
        ),
    )


def _add_start(commands: argparse._SubParsersAction) -> None:
    """`hospital start`: the SuperNode, connected to the coordinator."""
    start = commands.add_parser(
        "start",
        help=(
            "run the hospital agent (flower-supernode with TLS, the site key, the audit log, the pinned app)"
        ),
        description=(
            "Run Flower's SuperNode for this site in the foreground: TLS to the coordinator verified with "
            "--ca, authenticated with DIR/supernode.key, bound to the files `genofed hospital check` "
            "recorded (refused if they changed), privacy ledger in DIR/state, every outbound message in "
            "DIR/audit.jsonl, and only the approved genofed app bundle is executed. Outbound connections "
            "only."
        ),
    )
    start.add_argument("dir", metavar="DIR", help="the site folder")
    _add_start_connection_options(start)
    add_new_ledger_argument(start)
    start.set_defaults(handler=run_hospital_start)


def _add_start_connection_options(start: argparse.ArgumentParser) -> None:
    """The coordinator's address and CA, the local API port, the approved app and the retries."""
    start.add_argument(
        "--coordinator",
        required=True,
        metavar="HOST:PORT",
        help="the coordinator's address, e.g. fed.example.org:9092",
    )
    start.add_argument(
        "--ca",
        required=True,
        metavar="FILE",
        help="the federation's CA certificate (ca.pem from the coordinator)",
    )
    start.add_argument(
        "--local-port",
        type=int,
        default=9094,
        help="port of the SuperNode's own API on 127.0.0.1 (default: 9094; one per agent on a host)",
    )
    start.add_argument(
        "--approved-app",
        default="",
        metavar="SHA256",
        help=(
            "SHA-256 of the one app bundle to accept (default: the bundle this installation builds). It "
            "approves the bundle's bytes, not code: the bundle holds none, and this site answers it with its "
            "own installed genofed, whatever code the bundle records (a WARNING at start and at each run "
            "when it records other code). It does not let a site on other code serve an upgraded "
            "coordinator: upgrade with every site instead (deploy/README.md, Updates)"
        ),
    )
    start.add_argument(
        "--max-retries",
        type=int,
        help=(
            "give up after this many refused or failed activations, 10 s apart (default: never, as a service "
            "should)"
        ),
    )


def _add_audit(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser(
        "audit",
        help="print the audit log: every message this site sent, and what it released by hand",
        description=(
            "Print DIR/audit.jsonl: time, run, round, records, sizes, hashes and epsilon of every message "
            "the agent handed to Flower to send; the operator's ledger overrides (--new-ledger, "
            "--data-update) with their reason, the ledger each replaces and what it had spent (an override "
            "that moves this site's data to a ledger elsewhere is written here too); and every local release "
            "charged to DIR/state (`genofed "
            "synth --epsilon`, `genofed hospital variants`, and the exact numbers declared public: a rounded "
            "variant summary, a synthetic batch's verdict) with the epsilon it spent, the site's epsilon "
            "after it, its ledger plan and input digest (a variant summary's: the genotypes file's "
            "SHA-256; a generator's: of the data in memory and its settings, shown with the genotypes "
            "file's SHA-256), where it was written and, for a synthetic batch, whether it passed "
            "validation (a failed batch is charged but writes no records); and every synthetic cohort "
            "made WITHOUT differential privacy (`genofed synth` without --epsilon) when the run was tied "
            "to this site (--state-dir DIR/state, or files bound to this site): nothing charged, its "
            "records carry the real patients. A ledger's folder outside any site (--state-dir with "
            "--budget) keeps no audit log: `genofed hospital ledger` lists its releases. --run, --since, "
            "--until and --last select entries (the log's times are UTC), with --json too, and end with a "
            "line on stderr saying how many of the log's entries were shown. The log is read a line at a "
            "time; a damaged line stops the listing with an error naming it."
        ),
    )
    audit.add_argument("dir", metavar="DIR", help="the site folder (or its state folder, DIR/state)")
    audit.add_argument("--json", action="store_true", help="print the entries as a JSON list")
    _add_audit_filters(audit)
    audit.set_defaults(handler=run_hospital_audit)


def _add_audit_filters(audit: argparse.ArgumentParser) -> None:
    """`hospital audit`'s selection (genofed.client.agent.audit_filter), combinable: a DPO asks of
    one run or one span, not of the months of a whole log. Given any, the listing (text or --json)
    ends with a line on stderr: how many of how many entries were shown."""
    audit.add_argument(
        "--run",
        metavar="ID",
        help=(
            "only the entries of this run: its Flower run id (every message sent in it) or its plan id, the "
            "name `hospital ledger` shows (its local releases, and every message of the Flower runs in which "
            "a request named the plan, a SecAgg+ round's stages included)"
        ),
    )
    audit.add_argument(
        "--since",
        type=_audit_time,
        metavar="WHEN",
        help=(
            "only entries at or after WHEN: an ISO date (from its 00:00) or date-time; the log's times are "
            "UTC, and so is a WHEN without an offset (2026-12-01, 2026-12-01T14:30, 2026-12-01T15:30+01:00)"
        ),
    )
    audit.add_argument(
        "--until",
        type=_audit_time,
        metavar="WHEN",
        help="only entries at or before WHEN, read as --since is (a date: up to the end of that day, UTC)",
    )
    audit.add_argument(
        "--last",
        type=_audit_count,
        metavar="N",
        help="only the latest N of the entries the other options select",
    )


def _audit_time(text: str) -> When:
    """A --since/--until value, for argparse: refused in words, with an example, when unreadable
    (the module is imported only when the option is given: `--help` stays light)."""
    from genofed.client.agent.audit_filter import parse_when

    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _audit_count(text: str) -> int:
    """A --last value, for argparse: a whole number of entries, at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of entries: give a whole number of at least 1, such as 20"
        )
    return count


def _add_ledger(commands: argparse._SubParsersAction) -> None:
    ledger = commands.add_parser(
        "ledger",
        help="print the privacy this site has spent: every release in its ledger, against its budget",
        description=(
            "Print DIR/state/privacy-ledger.json: one row per release the site paid for (time, kind, plan, "
            "round, noise multiplier, sample rate, steps, the delta it was calibrated at, the epsilon total "
            "after it, note), the exact "
            "releases it declared public (epsilon 0), and the totals at the site's delta against the budget "
            "and coalition cap `genofed hospital check` recorded in DIR/hospital.json: spent, against the "
            "coordinator and all other hospitals colluding, and left. DIR may also be a ledger's folder "
            "outside any site (`genofed synth` or `hospital variants --release dp` given --state-dir DIR "
            "--budget B): its releases, against the --budget they were given. Reads only."
        ),
    )
    ledger.add_argument(
        "dir",
        metavar="DIR",
        help="the site folder (or its state folder, DIR/state), or a ledger's folder outside any site",
    )
    ledger.add_argument("--json", action="store_true", help="print the releases and totals as JSON")
    ledger.add_argument(
        "--all",
        action="store_true",
        help="list every release (default: the latest 50; the totals are always of every release)",
    )
    ledger.set_defaults(handler=run_hospital_ledger)


def _add_indexes(commands: argparse._SubParsersAction) -> None:
    indexes = commands.add_parser(
        "indexes",
        help="list this user's privacy-ledger indexes (every one is read by every ledger command)",
        description=(
            "A ledger index ($GENOFED_HOME/ledgers.json, by default ~/.local/state/genofed/ledgers.json) "
            "records which state folder holds the ledger of which data. Every index this user bound a "
            "ledger in is listed in the user's registry (~/.local/state/genofed/indexes.json, or "
            "$GENOFED_INDEX_REGISTRY) and read by every `hospital check`, `hospital start`, `synth` and "
            "`hospital variants`, so that the same data is never given a fresh ledger under another "
            "GENOFED_HOME. A listed index that is gone is refused by them all: put its folder back, or take "
            "it off the list with --forget (recorded in the registry with your reason)."
        ),
    )
    indexes.add_argument("--forget", metavar="PATH", help="take this index (ledgers.json) off the list")
    indexes.add_argument("--reason", default="", help="why (required with --forget; kept in the list)")
    indexes.set_defaults(handler=run_hospital_indexes)


def run_hospital_indexes(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.client.agent.ledger_indexes import forget_index, is_gone, registered_indexes, registry_path
    from genofed.common.errors import ConfigError

    registry = registry_path()
    if args.forget:
        forget_index(Path(args.forget), args.reason, registry)
        print(
            f"{args.forget} taken off the list of ledger indexes in {registry} (the reason is kept there); "
            "the data it bound is no longer checked against it"
        )
        return 0
    if args.reason:
        raise ConfigError("--reason goes with --forget PATH")
    print(f"ledger indexes read by this user's ledger commands ({registry}):")
    for index in registered_indexes(registry):
        state = "present" if index.exists() else "absent (the default index, until first used)"
        if is_gone(index, registry):
            state = "GONE: ledger commands refuse until it is put back or forgotten (--forget)"
        print(f"  {index}  {state}")
    return 0


def run_hospital_ledger(args: argparse.Namespace) -> int:
    import json

    from genofed.client.agent.ledger_report import SHOWN_RELEASES, ledger_lines, site_ledger

    report = site_ledger(args.dir)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
        return 0
    for line in ledger_lines(report, shown=None if args.all else SHOWN_RELEASES):
        print(line)
    return 0


def run_hospital_check(args: argparse.Namespace) -> int:
    _require_epsilon_budget(args.epsilon_budget)  # the operator's choice first, as a missing option
    from genofed.client.agent.check import check_site

    bound = check_site(
        args.dir,
        args.genotypes,
        args.phenotypes,
        args.panel,
        epsilon_budget=args.epsilon_budget,
        delta=args.delta,
        require_secagg=args.require_secagg,
        new_ledger=args.new_ledger,
        data_update=args.data_update,
        declared_size=args.declared_size,
        max_evaluations=args.max_evaluations,
        model="" if args.model_config else args.model,
        label_column=args.label_column,
        model_config=args.model_config or None,
        max_coalition_epsilon=args.max_coalition_epsilon,
        synthetic=args.synthetic or None,
        synthetic_ratio=args.synthetic_ratio,
        change_budget=args.change_budget,
    )
    summary, alignment = bound["summary"], bound.get("alignment") or {}
    print(
        f"hospital {bound['name']}: data OK: {summary.get('samples')} patients ({summary.get('cases')} "
        f"cases), {alignment.get('coverage', 0):.1%} of {alignment.get('panel_variants', '?')} panel variants"
    )
    for warning in bound["warnings"]:
        print(f"  warning [{warning['code']}] {warning['message']}")
    print(
        f"  privacy budget: epsilon {bound['epsilon_budget']:g}, delta {bound['delta']:g} (this hospital's, "
        "for its lifetime)" + ("; updates only under secure aggregation" if bound["require_secagg"] else "")
    )
    spent = _spent_lines(args.dir)
    for line in spent:
        print(line)
    if bound.get("budget_changed"):
        old = bound["earlier_budgets"][-1]
        cap_change = ""
        if old.get("max_coalition_epsilon") != bound["max_coalition_epsilon"]:
            from genofed.client.agent.audit import coalition_cap_words

            cap_change = f", coalition cap {coalition_cap_words(old.get('max_coalition_epsilon'))}"
        print(
            f"  budget CHANGED from epsilon {old['epsilon_budget']:g} at delta {old['delta']:g}{cap_change}; "
            f"recorded in {args.dir}/audit.jsonl and hospital.json (earlier_budgets)"
        )
    weak = weak_budget_warning(float(bound["epsilon_budget"]), float(bound["delta"]))
    if weak:
        print(f"  warning: {weak}")
    cap, coalition = bound["max_coalition_epsilon"], "the coordinator and all other hospitals colluding"
    if cap is None:
        print("  distributed DP: refused (to take part, check again with --max-coalition-epsilon E)")
    elif math.isinf(cap):
        print(
            f"  distributed DP: accepted, no cap on the epsilon against {coalition} "
            "(--max-coalition-epsilon inf)"
        )
    else:
        print(f"  distributed DP: accepted, epsilon against {coalition} capped at {cap:g}")
    print(f"  privacy ledger: {args.dir}/state ({LEDGER_ACTIONS[bound['ledger']]})")
    model = bound["model"]
    print(
        f"  model pinned: {model['architecture']}, reads {model['reads']} of {model['n_variants']} panel "
        f"variants, digest {bound['model_digest'][:12]}"
        + (f" (from {model['source']})" if model["source"] else " (the whole panel)")
    )
    print(
        f"  declared public: {bound['declared_size']} patients; at most {bound['max_evaluations']} "
        "evaluations per run"
    )
    if bound.get("synthetic"):
        synthetic = bound["synthetic"]
        print(
            f"  synthetic records: {synthetic['ratio']:g} per declared training patient from "
            f"{synthetic['path']}; declared public: that this batch passed validation (one bit read "
            "from the patients outside the generator's DP release, listed in the ledger)"
        )
    if spent and _EXHAUSTED in spent[-1]:
        print(
            f"  bound in {args.dir}/hospital.json; nothing left to train with: `genofed hospital start` "
            "would refuse every round that needs more than what is left; a larger budget is the site's own "
            "decision (its data-protection officer's: check again with --epsilon-budget E --change-budget "
            "REASON)"
        )
        return 0
    print(
        f"  bound in {args.dir}/hospital.json; next: genofed hospital start {shlex.quote(str(args.dir))} "
        "--coordinator "
        "HOST:9092 --ca ca.pem"
    )
    return 0


#: The share of its budget a site must have spent for `check` to say it cannot train any more.
SPENT_SHARE = 0.99
_EXHAUSTED = "this site cannot train"


def _spent_lines(site: str) -> list[str]:
    """What the site's ledger has spent, what took it (by kind, `ledger_report.spent_on`) and what is
    left, for `hospital check`: a walkthrough's site whose budget of 3 had gone on synthetic batches
    was told "data OK ... next: genofed hospital start". With 99 % or more of the budget spent the
    last line says the site cannot train. [] when nothing was spent or the ledger cannot be read
    (the check validates the data; `hospital ledger` reports a ledger's problems)."""
    from genofed.client.agent.ledger_report import site_ledger, spent_on
    from genofed.common.errors import GenofedError

    try:
        report = site_ledger(site)
    except (GenofedError, OSError, ValueError):
        return []
    budget, left = report["budget"]["epsilon"], report["spent"]["left"]
    if report["nothing_spent"] or isinstance(budget, str) or budget is None or isinstance(left, str):
        return []  # nothing charged, or no DP ("inf"): nothing to say
    budget, left = float(budget), float(left)
    took = spent_on(report)
    lines = [
        f"  privacy spent: epsilon {report['spent']['epsilon']:.3g} of {budget:g}"
        + (f", by {took}" if took else "")
        + f"; left: {max(left, 0.0):.3g} (`genofed hospital ledger {site}` lists the releases)"
    ]
    if left <= (1 - SPENT_SHARE) * budget:
        lines.append(
            f"  {_EXHAUSTED}: {1 - max(left, 0.0) / budget:.0%} of its lifetime budget is spent, and a "
            "training run at what is left would be almost all noise, or refused"
        )
    return lines


def _require_epsilon_budget(budget: float | None) -> None:
    """`check` needs the hospital's own lifetime budget: a default of 8 chose for it, silently, one the
    run report calls weak (a DPO audit; client/coordinator_request.py: "a deployed site must state its
    own budget")."""
    if budget is None:
        from genofed.common.errors import GenofedError
        from genofed.server.report.privacy import WEAK_EPSILON

        raise GenofedError(
            "give --epsilon-budget E: this hospital's lifetime privacy budget, the most epsilon its patients "
            "ever spend in every run and local release together, whatever the coordinator asks; e.g. 1-2 for "
            f"strong protection (above {WEAK_EPSILON:g} the run report calls the guarantee weak: 8 is weak), "
            "or inf to train without differential privacy"
        )


def weak_budget_warning(budget: float, delta: float) -> str:
    """One line when the budget is above the report's WEAK_EPSILON (no DP at all when inf), else ""."""
    from genofed.server.report.privacy import AUDIT_DOC, WEAK_EPSILON, vacuous_above

    if math.isinf(budget):
        return (
            "epsilon budget inf: no differential privacy; what this hospital sends has no formal bound on "
            "what it reveals about its patients"
        )
    if budget <= WEAK_EPSILON:
        return ""
    return (
        f"epsilon budget {budget:g} is weak (the run report's word above {WEAK_EPSILON:g}): once spent, the "
        f"worst-case bound says nothing about a test that wrongly accuses more than "
        f"{100 * vacuous_above(budget, delta):.3g} % of non-participants, so it cannot by itself be read as "
        f"protection against membership inference; see {AUDIT_DOC}, and weigh a smaller budget"
    )


def run_hospital_start(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.client.agent.launch import AgentOptions, start_site

    options = AgentOptions(
        coordinator=args.coordinator,
        ca=Path(args.ca),
        local_port=args.local_port,
        approved_app=args.approved_app,
        max_retries=args.max_retries,
        new_ledger=args.new_ledger,
    )
    return start_site(args.dir, options)


def run_hospital_audit(args: argparse.Namespace) -> int:
    from genofed.client.agent.ledger_report import bare_ledger_folder

    if bare_ledger_folder(args.dir):  # `--state-dir DIR --budget B` outside a site: a ledger, no log
        from genofed.common.errors import GenofedError

        raise GenofedError(
            f"{args.dir} is a privacy ledger's folder outside any site (releases given --state-dir "
            f"{args.dir} --budget B): no audit log is kept there, only the ledger; list its releases with "
            f"`genofed hospital ledger {args.dir}`"
        )
    from genofed.client.agent.audit import HANDED_TO, audit_line, iter_audit
    from genofed.client.agent.audit_filter import AuditFilter, Tally, full_plan_id, plan_runs, selected
    from genofed.client.agent.launch import site_audit_log

    log = site_audit_log(args.dir)
    runs_of_the_plan: frozenset[str] = frozenset()
    if args.run is not None:
        # the plans' Flower runs, read first: their SecAgg+ stage messages name no plan
        plans = plan_runs(iter_audit(log))
        if (plan := full_plan_id(plans, args.run)) != args.run:
            print(f"--run {args.run}: plan {plan}", file=sys.stderr)
            args.run = plan
        runs_of_the_plan = plans.get(args.run, frozenset())
    selection = AuditFilter(
        run=args.run, since=args.since, until=args.until, last=args.last, plan_runs=runs_of_the_plan
    )
    tally = Tally()
    entries = selected(iter_audit(log), selection, str(log), tally)
    handed_over = False
    if args.json:
        _print_json_list(entries)
    else:
        for entry in entries:
            print(_printed_entry(entry, audit_line))
            handed_over = handed_over or entry.get("handed_to") == HANDED_TO
    if handed_over:
        print(HANDED_OVER_NOTE, file=sys.stderr)
    if selection.given():  # an empty selection is not an empty log
        print(tally.line(selection, str(log)), file=sys.stderr)
    return 0


#: What `hospital audit` says under a listing of messages (stderr): each is a reply handed to the
#: site's SuperNode, not one known to have arrived. Why: an agent stopped mid-round had its trained,
#: charged and audited round 6 never sent, and the log read as if it had left (a deployment
#: walkthrough).
HANDED_OVER_NOTE = (
    "each `run N` line is a reply this site handed its SuperNode to send to the coordinator; one handed "
    "over as the agent stopped may not have left (its privacy charge stands): whether a round's reply "
    "arrived is in the coordinator's record of that round (its report and results.json)"
)


def _printed_entry(entry: dict[str, Any], audit_line: Callable[[dict[str, Any]], str]) -> str:
    """`audit_line(entry)`, or an error quoting the entry when it lacks what its type's line needs:
    an edited log's entry was a KeyError traceback."""
    import json

    from genofed.common.errors import GenofedError

    try:
        return audit_line(entry)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        quoted = json.dumps(entry, sort_keys=True, default=str)
        raise GenofedError(
            f"an audit entry genofed cannot read ({type(exc).__name__}: {exc}); the log may have been "
            f"edited; the entry: {quoted[:300]}{'...' if len(quoted) > 300 else ''}"
        ) from None


def _print_json_list(items: Iterable[dict[str, Any]]) -> None:
    """Print `items` as `json.dumps(list(items), indent=2)` would, one item at a time: a log of
    months is not held in memory to be printed as one JSON list."""
    import json

    opening = "[\n  "
    for item in items:  # json.dumps escapes a newline inside a string: each one here opens a line
        sys.stdout.write(opening + json.dumps(item, indent=2).replace("\n", "\n  "))
        opening = ",\n  "
    print("[]" if opening == "[\n  " else "\n]")


def run_hospital_init(args: argparse.Namespace) -> int:

    from genofed.client.agent.keys import init_site

    info = init_site(args.dir, args.name)
    print(f"made the key pair of hospital {info['name']!r} in {args.dir}", file=sys.stderr)
    print(
        f"  private key: {args.dir}/{info['private_key']} (0600: it never leaves this machine)",
        file=sys.stderr,
    )
    print(
        f"  send {args.dir}/{info['public_key']} to the coordinator; confirm its fingerprint by phone:",
        file=sys.stderr,
    )
    print(f"  {info['fingerprint']}", file=sys.stderr)
    print(info["public_key_line"])
    return 0


def run_hospital_rotate_key(args: argparse.Namespace) -> int:

    from genofed.client.agent.keys import rotate_site_key

    info = rotate_site_key(args.dir)
    name = info["name"]
    print(
        f"made a new key pair for hospital {name!r} in {args.dir}; its ledger and audit log are kept",
        file=sys.stderr,
    )
    if info["retired"]:
        print(f"  the old public key is kept as {info['retired']}", file=sys.stderr)
    print(f"  {_revoke_old_key(info['old'], name)}", file=sys.stderr)
    print(
        f"  and enrols the new one: send {args.dir}/supernode.pub and confirm its fingerprint by phone "
        f"(`genofed coordinator enroll FED --name {name} --public-key supernode.pub --declared-size N`):",
        file=sys.stderr,
    )
    print(f"  {info['fingerprint']}", file=sys.stderr)
    print(info["public_key_line"])
    return 0


def _revoke_old_key(old: str, name: str) -> str:
    """rotate-key's advice for the old key, named by its fingerprint: the site knows its own name,
    not the one the coordinator enrolled the key under (an operator's walkthrough: the key was
    enrolled, then revoked, as `rostv`, and the advice `revoke --name rostov` named no enrolment).
    A site folder that recorded no fingerprint gets the name, all it has."""
    if not old:
        return (
            "the coordinator revokes the old key (fingerprint not recorded): "
            f"`genofed coordinator revoke FED --name {name}`"
        )
    return (
        f"the coordinator revokes the old key ({old}) unless it is revoked already, whatever name it is "
        f"enrolled under: `genofed coordinator revoke FED --fingerprint {old}`"
    )


def _add_variants(commands: argparse._SubParsersAction) -> None:
    """`hospital variants`: the site's variant summary, from which the federation builds its panel."""
    variants = commands.add_parser(
        "variants",
        help="write what this site shares about its variants, for the federation's panel (docs/panel.md)",
        description=(
            "Count, per variant, the called alleles and alt alleles of this hospital's patients and write "
            "them with the variant ids and the patient count: rounded to --round-to alleles and declared "
            "public by the hospital (--release rounded, not differential privacy), or with Gaussian noise "
            "charged to the site's privacy ledger in --state-dir (--release dp). The coordinator combines "
            "every site's file with `genofed coordinator panel`. Variant ids are released as public, like a "
            "genotyping array's manifest: a site whose variant list is itself sensitive must not run this."
        ),
    )
    variants.add_argument("--genotypes", required=True, metavar="FILE", help="VCF, PLINK or table")
    variants.add_argument(
        "--out", required=True, metavar="FILE", help="the summary file to write (refused if it exists)"
    )
    variants.add_argument(
        "--site", default="", metavar="NAME", help="the hospital's name (default: the genotype file's folder)"
    )
    variants.add_argument(
        "--release",
        default="rounded",
        choices=("rounded", "dp"),
        help="rounded: counts rounded, declared public; dp: Gaussian noise, charged (default: rounded)",
    )
    variants.add_argument(
        "--round-to",
        type=int,
        default=10,
        metavar="R",
        help="rounded release: counts to a multiple of R alleles (default: 10)",
    )
    variants.add_argument(
        "--epsilon",
        type=epsilon_number,
        help="dp release: what it may add to the site's epsilon (default: none)",
    )
    variants.add_argument("--delta", type=float, default=None, help=LOCAL_DELTA_HELP)
    variants.add_argument(
        "--budget",
        type=epsilon_number,
        help=(
            "the lifetime epsilon cap for these patients: refuse a dp release exceeding it (required with "
            "dp unless --state-dir is a site's state folder, whose declared budget is the cap)"
        ),
    )
    add_raise_budget_argument(variants)
    variants.add_argument(
        "--state-dir",
        default="",
        metavar="DIR",
        help=(
            "the site's state folder holding its privacy ledger (SITE/state of `genofed hospital check`: its "
            "declared budget caps the release too); it must be the ledger these genotypes are bound to "
            "(required with dp; default: none)"
        ),
    )
    add_new_ledger_argument(variants)
    variants.add_argument("--force", action="store_true", help="replace an existing --out file")
    variants.set_defaults(handler=run_hospital_variants)


def run_hospital_variants(args: argparse.Namespace) -> int:
    from genofed.client.variant_release import VariantReleaseOptions, release_variants

    options = VariantReleaseOptions(
        site=args.site,
        release=args.release,
        round_to=args.round_to,
        epsilon=args.epsilon,
        delta=local_delta(args),
        budget=args.budget,
        raise_budget=args.raise_budget,
        state_dir=args.state_dir,
        force=args.force,
        new_ledger=args.new_ledger,
    )
    summary = release_variants(args.genotypes, args.out, options)
    release = summary.release
    print(f"wrote the variant summary of {summary.site} to {args.out}: {len(summary)} variants")
    if release.mode == "rounded":
        print(
            f"  counts rounded to {release.round_to} alleles, declared public by this hospital "
            "(not differential privacy)"
        )
    else:
        print(
            f"  Gaussian noise, sd {release.noise_sd:.3g} per count (noise multiplier "
            f"{release.noise_multiplier:.3g}), charged to {args.state_dir}: epsilon {release.epsilon:g} "
            f"at delta {release.delta:g}"
        )
    return 0
