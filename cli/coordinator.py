"""Coordinator-side commands: `genofed coordinator
init/enroll/set-size/revoke/unenroll/renew-cert/start/status/hospitals/panel`, and `genofed inspect-model`
(cli/inspect_model.py) beside them in `--help`. `genofed pretrain` is cli/pretrain.py; what `init
--same-federation-as` says to the operator is cli/second_study.py."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from genofed.cli.inspect_model import register_inspect_model
from genofed.cli.options import epsilon_number, settings_as_options
from genofed.cli.parser import add_prior_arguments

if TYPE_CHECKING:
    from genofed.server.settings import RunSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    register_inspect_model(subparsers)
    register_coordinator(subparsers)


def register_coordinator(subparsers: argparse._SubParsersAction) -> None:
    """`genofed coordinator` and its subcommands, in the order `--help` lists them."""
    parser = subparsers.add_parser(
        "coordinator",
        help=(
            "the coordinator of a deployed federation: its folder, CA, enrolled hospitals, the service and "
            "its status"
        ),
        description="Set up and administer a deployed federation's coordinator folder.",
    )
    commands = parser.add_subparsers(dest="coordinator_command", metavar="COMMAND", required=True)
    _add_init(commands)
    _add_enroll(commands)
    _add_set_size(commands)
    _add_revoke(commands)
    _add_unenroll(commands)
    _add_renew_cert(commands)
    _add_start(commands)
    _add_status(commands)
    _add_hospitals(commands)
    _add_panel(commands)


def _add_init(commands: argparse._SubParsersAction) -> None:
    """`coordinator init`: the folder, the panel and the federation's training settings."""
    from genofed.server.settings import RunSettings

    defaults = RunSettings()
    init = commands.add_parser(
        "init",
        help=(
            "create the federation folder: CA, TLS server certificate, federation config, empty hospital list"
        ),
        description=(
            "Create DIR (refused if it exists and is not empty): ca.key/ca.pem (the federation's CA; send "
            "ca.pem to every hospital), server.key/server.pem (the coordinator's TLS certificate for the "
            "--host names), federation.json (panel hash, training settings) and hospitals.json (empty). Keys "
            "are 0600. With --prior / --gene-prior the files are checked as a run checks them and copied "
            "into DIR/priors with their SHA-256. model.json: the model the federation trains (its config, "
            "the variants it reads, its digest), for hospitals to pin with `genofed hospital check "
            "--model-config`. With --same-federation-as OLD_DIR: a second study on OLD_DIR's federation, "
            "its CA, enrolled hospitals and revocations carried over (no new ca.pem, no enrolment again)."
        ),
    )
    init.add_argument("dir", metavar="DIR", help="new federation folder")
    init.add_argument(
        "--same-federation-as",
        metavar="OLD_DIR",
        help="a second study on the federation of OLD_DIR (an earlier study's folder): keep its CA "
        "(hospitals keep ca.pem; a new server certificate it signs), its enrolled hospitals with their "
        "declared sizes and its revocations; new run settings and a new plan id, the hospitals' ledgers "
        "going on. OLD_DIR's coordinator and enrolment commands refuse from then on (docs/deployment.md, "
        "'A second study on the same federation')",
    )
    init.add_argument(
        "--ca-key",
        metavar="FILE",
        help="with --same-federation-as: the CA's private key, if moved out of OLD_DIR after its init; it is "
        "not copied into DIR (default: OLD_DIR/ca.key, copied)",
    )
    init.add_argument(
        "--host",
        action="append",
        metavar="NAME_OR_IP",
        help="a host name or IP address hospitals connect to (repeat for several; required, except with "
        "--same-federation-as, whose hosts are the default)",
    )
    init.add_argument(
        "--panel",
        metavar="FILE",
        help="the federation's variant panel.tsv (copied, with its SHA-256; required, except with "
        "--same-federation-as, whose panel is the default)",
    )
    init.add_argument(
        "--test-dir",
        metavar="DIR",
        help="a held-out cohort folder (genotypes + phenotypes.csv) the coordinator evaluates every round on",
    )
    init.add_argument(
        "--label-column",
        default="label",
        metavar="NAME",
        help="the --test-dir phenotype file's 0/1 (or case/control, yes/no, да/нет) disease column, "
        "recorded in federation.json for the coordinator's evaluation and the report (each hospital "
        "names its own in its node config) (default: label)",
    )
    _add_init_federation_options(init, defaults)
    _add_init_training_options(init, defaults)
    _add_init_aggregation_options(init, defaults)
    init.set_defaults(handler=run_coordinator_init)


def _add_init_federation_options(init: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """Rounds, strategy and the privacy budget (epsilon, delta) of `coordinator init`."""
    from genofed.server.settings import STRATEGIES

    init.add_argument(
        "--rounds",
        type=int,
        default=defaults.rounds,
        help="federated rounds (default, or 0: the model's rule from public facts, docs/models.md)",
    )
    init.add_argument(
        "--strategy",
        default=defaults.strategy,
        choices=STRATEGIES,
        help=f"aggregation (default: {defaults.strategy})",
    )
    init.add_argument(
        "--epsilon",
        type=epsilon_number,
        default=defaults.epsilon,
        help=(
            "the epsilon each hospital's privacy ledger may reach by the end of the run, earlier runs "
            f"included (a hospital's own budget may be lower); inf = no DP (default: {defaults.epsilon:g})"
        ),
    )
    init.add_argument(
        "--delta", type=float, default=defaults.delta, help=f"DP delta (default: {defaults.delta:g})"
    )
    init.add_argument(
        "--prevalence",
        type=float,
        default=defaults.prevalence,
        metavar="P",
        help="the disease's prevalence where the model is to be used, e.g. 0.015: the run's report gives "
        "PPV and NPV at it, and the model file records it for `genofed predict`; it trains nothing "
        f"(default: {defaults.prevalence:g} = unknown: PPV at the test cohort's case share only)",
    )


def _add_init_training_options(init: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """Hospitals per round and the local DP-SGD settings of `coordinator init`."""
    init.add_argument(
        "--min-hospitals",
        type=int,
        default=defaults.min_nodes,
        help=f"hospitals needed before a round starts (default: {defaults.min_nodes})",
    )
    init.add_argument(
        "--wait-seconds",
        type=float,
        default=defaults.wait_seconds,
        help=(
            "how long a run waits for every enrolled hospital before it starts with the --min-hospitals "
            f"present; 0 = no wait (default: {defaults.wait_seconds:g})"
        ),
    )
    from genofed.server.settings import DEFAULT_MODEL, DEPLOYED_ROUND_TIMEOUT

    init.add_argument(
        "--round-timeout",
        type=float,
        default=DEPLOYED_ROUND_TIMEOUT,
        metavar="SECONDS",
        help=(
            "how long the coordinator waits for the hospitals' replies to one exchange (a training round, a "
            "SecAgg+ stage, an evaluation) before it goes on with those it has; a hospital that has not "
            "answered is logged as refusing that round; inf = wait for every reply "
            f"(default: {DEPLOYED_ROUND_TIMEOUT:g})"
        ),
    )
    by_rule = "default, or 0: the model's rule from public facts, docs/models.md"
    init.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        choices=("logistic", "network"),
        help=f"the shared model; hospitals pin it at `hospital check --model` (default: {DEFAULT_MODEL})",
    )
    add_prior_arguments(init, defaults)
    init.add_argument("--local-epochs", type=int, default=defaults.local_epochs, help=f"({by_rule})")
    init.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"({by_rule})")
    init.add_argument("--lr", type=float, default=defaults.lr, help=f"({by_rule})")
    init.add_argument("--clip", type=float, default=defaults.clip, help=f"DP-SGD clipping norm ({by_rule})")
    init.add_argument(
        "--momentum",
        type=float,
        default=defaults.momentum,
        help=f"local SGD momentum in [0, 1) ({by_rule.replace('or 0', 'or -1')})",
    )


def _add_init_aggregation_options(init: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """Secure and robust aggregation, and the hospitals' evaluations, of `coordinator init`."""
    init.add_argument(
        "--secagg",
        action="store_true",
        help=(
            "secure aggregation (Flower's SecAgg+): the coordinator sees only the sum of the hospitals' "
            "updates"
        ),
    )
    init.add_argument(
        "--privacy",
        default=defaults.privacy,
        choices=("local", "distributed"),
        help="local: each hospital's DP holds against anyone; distributed (needs --secagg): hospitals add "
        "shares of the noise and SecAgg+ reveals only the sum (default: local; docs/distributed-dp.md)",
    )
    init.add_argument(
        "--trim-beta",
        type=float,
        default=defaults.trim_beta,
        help=f"fedtrimmedavg: the share of updates cut at each end (default: {defaults.trim_beta:g})",
    )
    init.add_argument(
        "--proximal-mu",
        type=float,
        default=defaults.proximal_mu,
        help=f"fedprox: the pull of each hospital's training towards the global model (default: "
        f"{defaults.proximal_mu:g})",
    )
    init.add_argument(
        "--server-lr",
        type=float,
        default=defaults.server_lr,
        help=f"fedadam: the server's step size, eta (default: {defaults.server_lr:g})",
    )
    init.add_argument(
        "--malicious-nodes",
        type=int,
        default=defaults.malicious_nodes,
        help=f"krum, multikrum: how many hospitals may be malicious (default: {defaults.malicious_nodes})",
    )
    init.add_argument(
        "--site-evaluations",
        type=int,
        default=defaults.site_evaluations,
        help=(
            "evaluations of the global model each hospital makes on its own patients per run, each a DP "
            f"release from its budget; 0 = none (default: {defaults.site_evaluations})"
        ),
    )


def _add_enroll(commands: argparse._SubParsersAction) -> None:
    from genofed.server.service.enrollment import MAX_ENROLLED_SIZE

    enroll = commands.add_parser(
        "enroll",
        help="register a hospital's public key and the cohort size it declares public",
        description=(
            "Check a hospital's public key (OpenSSH, EC) and add it, with the cohort size the hospital "
            "declares public, to DIR/hospitals.json. The size is required: give --declared-size N, or "
            "--no-declared-size to enrol without one, leaving the size it declares in each run unchecked."
        ),
    )
    enroll.add_argument("dir", metavar="DIR", help="the federation folder")
    enroll.add_argument("--name", required=True, help="the hospital's name, e.g. rostov")
    enroll.add_argument("--public-key", required=True, metavar="FILE", help="the hospital's supernode.pub")
    enroll.add_argument(
        "--declared-size",
        type=int,
        metavar="N",
        help="the cohort size the hospital declares public (`genofed hospital check` prints it as "
        '"declared public"), read out with the key\'s fingerprint: the hospital must then declare exactly '
        "N in every run, so it cannot claim more patients than it has to outweigh the others (required "
        "unless --no-declared-size)",
    )
    enroll.add_argument(
        "--no-declared-size",
        action="store_true",
        help="enrol without a declared size, accepting that the size the hospital declares in each run is "
        f"unchecked: up to {MAX_ENROLLED_SIZE - 1:,} patients, it can outweigh every other hospital "
        "(docs/robust-aggregation.md, 'Known gap: declared cohort sizes')",
    )
    enroll.set_defaults(handler=run_coordinator_enroll)


def _add_set_size(commands: argparse._SubParsersAction) -> None:
    set_size = commands.add_parser(
        "set-size",
        help="record the cohort size an enrolled hospital now declares public",
        description=(
            "Change the cohort size an enrolled hospital is held to (its cohort grew, or it was enrolled "
            "without one), keeping the earlier size with the time it ended in DIR/hospitals.json. Read "
            "the size out with the hospital's key fingerprint, as at enrolment. A run checks the sizes "
            "when it starts: restart a running coordinator (it resumes from its last checkpoint) to apply it."
        ),
    )
    set_size.add_argument("dir", metavar="DIR", help="the federation folder")
    set_size.add_argument("--name", required=True, help="the enrolled hospital")
    set_size.add_argument(
        "--declared-size",
        type=int,
        required=True,
        metavar="N",
        help='the size the hospital\'s `genofed hospital check` now prints as "declared public"',
    )
    set_size.set_defaults(handler=run_coordinator_set_size)


def _add_revoke(commands: argparse._SubParsersAction) -> None:
    revoke = commands.add_parser(
        "revoke",
        help="withdraw a hospital's access and burn its key (kept in the audit trail)",
        description=(
            "Remove a hospital from DIR/hospitals.json; the revocation is recorded with its time. Its key "
            "is never enrolled again, under any name: to take the hospital back, it makes a new key "
            "(`genofed hospital rotate-key SITE`). To undo an enrolment the coordinator never registered "
            "(a mistyped name, the wrong key file), use `coordinator unenroll`, which keeps the key "
            "enrollable."
        ),
    )
    revoke.add_argument("dir", metavar="DIR", help="the federation folder")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the hospital to revoke")
    which.add_argument(
        "--fingerprint",
        metavar="SHA256:...",
        help="the key to revoke, whatever name it is enrolled under (`hospital rotate-key` prints the old "
        "key's)",
    )
    revoke.set_defaults(handler=run_coordinator_revoke)


def _add_unenroll(commands: argparse._SubParsersAction) -> None:
    unenroll = commands.add_parser(
        "unenroll",
        help="undo an enrolment never registered (a typo): the key stays enrollable",
        description=(
            "Withdraw an enrolment that no `coordinator start` registered with the SuperLink, e.g. a "
            "mistyped name or the wrong key file: the entry moves to the `unenrolled` list of "
            "DIR/hospitals.json with its time, and its key can be enrolled again (under the right name). "
            "Refused once the coordinator registered the key (it may have connected and taken part): "
            "then `coordinator revoke` it."
        ),
    )
    unenroll.add_argument("dir", metavar="DIR", help="the federation folder")
    unenroll.add_argument("--name", required=True, help="the enrolment to withdraw, e.g. rostv")
    unenroll.set_defaults(handler=run_coordinator_unenroll)


def _add_renew_cert(commands: argparse._SubParsersAction) -> None:
    """`coordinator renew-cert`: a new TLS server certificate from the same CA (hospitals keep ca.pem)."""
    from genofed.server.service.pki import SERVER_DAYS

    renew = commands.add_parser(
        "renew-cert",
        help="issue a new TLS server certificate (server.pem, server.key) from the federation's CA",
        description=(
            "Replace DIR/server.pem and DIR/server.key with a new certificate for the hosts `coordinator "
            "init` recorded (or the --host values, which replace them), signed by the federation's CA, when "
            "the old one expired or was lost, or the coordinator's address changed. Hospitals keep their "
            "ca.pem; the coordinator uses the new certificate from its next start."
        ),
    )
    renew.add_argument("dir", metavar="DIR", help="the federation folder")
    renew.add_argument(
        "--host",
        action="append",
        metavar="NAME_OR_IP",
        help=(
            "a host name or IP address hospitals connect to (repeat for several); the given hosts replace "
            "those init recorded, localhost and 127.0.0.1 always added (default: the recorded hosts)"
        ),
    )
    renew.add_argument(
        "--ca-key",
        metavar="FILE",
        help="the CA's private key, if moved out of DIR after init (default: DIR/ca.key)",
    )
    renew.add_argument(
        "--days", type=int, default=SERVER_DAYS, help=f"validity in days (default: {SERVER_DAYS})"
    )
    renew.set_defaults(handler=run_coordinator_renew_cert)


def run_coordinator_renew_cert(args: argparse.Namespace) -> int:
    from genofed.common.util.checks import require_positive
    from genofed.server.service.federation_folder import renew_certificate

    require_positive("--days", args.days)
    tls = renew_certificate(args.dir, hosts=args.host, ca_key=args.ca_key, days=args.days)
    print(
        f"new server certificate for {', '.join(tls['hosts'])}, valid until {tls['server_valid_until']}; "
        "hospitals keep their ca.pem; it is used from the next `genofed coordinator start`"
    )
    return 0


def _add_start(commands: argparse._SubParsersAction) -> None:
    """`coordinator start`: the SuperLink, nginx and the federated run."""
    start = commands.add_parser(
        "start",
        help=(
            "run the federation: flower-superlink with TLS and hospital authentication, then the federated "
            "run"
        ),
        description=(
            "Start flower-superlink on 127.0.0.1 (TLS with DIR's certificate, SuperNode authentication, "
            "state database DIR/state.db, a fresh SuperExec secret, no runtime dependency installation, no "
            "telemetry or update check) and nginx on the hospitals' address passing Flower's Fleet API only; "
            "register the enrolled hospitals (only they are sent tasks), submit the federated run and wait "
            "for it. Results, checkpoints, the model and the report land in DIR/run. Starting again after a "
            "crash resumes from the last checkpoint. Exit 0 when the run completed."
        ),
    )
    start.add_argument("dir", metavar="DIR", help="the federation folder")
    _add_start_addresses(start)
    start.set_defaults(handler=run_coordinator_start)


def _add_start_addresses(start: argparse.ArgumentParser) -> None:
    """Where `coordinator start` listens, how often it syncs the hospitals, which nginx it runs."""
    start.add_argument(
        "--fleet-address",
        default="0.0.0.0:9092",
        metavar="HOST:PORT",
        help=(
            "where hospitals connect: nginx, Flower's Fleet API only (default: 0.0.0.0:9092; allow only the "
            "hospitals' addresses to reach it)"
        ),
    )
    start.add_argument(
        "--internal-address",
        default="127.0.0.1:9091",
        metavar="127.0.0.1:PORT",
        help=(
            "the SuperLink itself, with its unauthenticated Control API: loopback only (default: "
            "127.0.0.1:9091)"
        ),
    )
    start.add_argument(
        "--sync-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help=(
            "how often nodes not registered by this coordinator, or revoked, are unregistered (default: 10); "
            "such nodes are never sent a task in any case"
        ),
    )
    start.add_argument(
        "--nginx",
        default="",
        metavar="PATH",
        help="the nginx executable (default: PATH, then /usr/sbin/nginx)",
    )


def _add_status(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status",
        help="the service state, hospitals connected, round and metrics",
        description=(
            "Show DIR's coordinator: running or not, hospitals and their connection state, rounds done, the "
            "last round's metrics."
        ),
    )
    status.add_argument("dir", metavar="DIR", help="the federation folder")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=run_coordinator_status)


def _add_hospitals(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser(
        "hospitals",
        help="list enrolled (and revoked) hospitals",
        description="List the hospitals enrolled in DIR, with key fingerprints and times.",
    )
    listing.add_argument("dir", metavar="DIR", help="the federation folder")
    listing.add_argument("--json", action="store_true", help="print the whole list as JSON")
    listing.set_defaults(handler=run_coordinator_hospitals)


def _add_panel(commands: argparse._SubParsersAction) -> None:
    """`coordinator panel`: the federation's panel from the hospitals' variant summaries."""
    panel = commands.add_parser(
        "panel",
        help="build panel.tsv from the hospitals' variant summaries (genofed hospital variants)",
        description=(
            "Combine the variant summaries the hospitals released into the federation's panel: variants "
            "matched by position and allele pair (REF/ALT swaps converted), kept when at least --min-sites "
            "sites report them, A/T and C/G SNPs dropped when sites report them in both orientations, then "
            "pooled call rate and minor allele frequency filters; genomic order, pooled alt frequencies "
            "(docs/panel.md)."
        ),
    )
    panel.add_argument(
        "--summaries", required=True, nargs="+", metavar="FILE", help="one variant summary per hospital"
    )
    panel.add_argument(
        "--out", required=True, metavar="FILE", help="the panel to write (refused if it exists)"
    )
    panel.add_argument(
        "--min-sites",
        type=int,
        default=2,
        metavar="K",
        help="keep variants reported by at least K sites (default: 2)",
    )
    panel.add_argument(
        "--min-call-rate",
        type=float,
        default=0.9,
        metavar="X",
        help="keep variants whose pooled call rate is at least X (default: 0.9)",
    )
    panel.add_argument(
        "--min-maf",
        type=float,
        default=0.0,
        metavar="X",
        help="keep variants whose pooled minor allele frequency is at least X (default: 0, keep all)",
    )
    panel.add_argument("--force", action="store_true", help="replace an existing --out file")
    panel.set_defaults(handler=run_coordinator_panel)


def run_coordinator_panel(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.common.data.panel_building import PanelRules, build_panel
    from genofed.common.data.variant_summary import VariantSummary
    from genofed.common.util.atomic import require_not_an_input
    from genofed.common.util.checks import require

    out = Path(args.out)
    require_not_an_input(out, {f"--summaries ({path})": path for path in args.summaries})
    require(args.force or not out.exists(), f"{out} exists; choose a new file or pass --force to replace it")
    summaries = [VariantSummary.load(path) for path in args.summaries]
    rules = PanelRules(args.min_sites, args.min_call_rate, args.min_maf)
    panel, report = build_panel(
        summaries, min_sites=rules.min_sites, min_call_rate=rules.min_call_rate, min_maf=rules.min_maf
    )
    require(len(panel) > 0, "no variant passed the rules: nothing written; see the counts above")
    panel.save(out)
    for line in report.lines(rules):
        print(line)
    print(f"wrote {len(panel)} variants to {out}")
    return 0


def run_coordinator_init(args: argparse.Namespace) -> int:
    from genofed.client.coordinator_request import architecture_digest
    from genofed.common.errors import ConfigError
    from genofed.common.util.checks import require
    from genofed.server.service.federation_folder import init_federation

    settings = {
        "rounds": args.rounds,
        "strategy": args.strategy,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "prevalence": args.prevalence,
        "min_nodes": args.min_hospitals,
        "wait_seconds": args.wait_seconds,
        "round_timeout": args.round_timeout,
        "local_epochs": args.local_epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "clip": args.clip,
        "momentum": args.momentum,
        "model": args.model,
        "privacy": args.privacy,
        "secagg": args.secagg,
        "trim_beta": args.trim_beta,
        "proximal_mu": args.proximal_mu,
        "server_lr": args.server_lr,
        "malicious_nodes": args.malicious_nodes,
        "site_evaluations": args.site_evaluations,
        "prior": args.prior,
        "prior_variants": args.prior_variants,
        "gene_prior": args.gene_prior,
        "label_column": args.label_column,
    }
    require(
        args.test_dir is not None or args.label_column == "label",
        f"--label-column {args.label_column} names the test cohort's disease column, but there is no "
        "--test-dir: give the held-out cohort with --test-dir DIR, or leave --label-column out (each "
        "hospital names its own column in its node config, label-column=NAME)",
    )
    require(
        args.same_federation_as is not None or args.ca_key is None,
        "--ca-key names the CA key of the federation --same-federation-as continues; without "
        "--same-federation-as init makes a new CA (its key in DIR/ca.key)",
    )
    if args.same_federation_as is None:
        require(args.host, "give at least one --host: the name or IP address hospitals connect to")
        require(
            args.panel,
            "give the federation's variant panel (--panel panel.tsv): hospitals check their data against it",
        )
    try:
        if args.same_federation_as is not None:
            return _init_second_study(args, settings)
        config = init_federation(
            args.dir,
            args.host,
            panel=args.panel,
            settings=settings,
            test_dir=args.test_dir,
            digest=architecture_digest,
        )
    except ConfigError as refused:
        raise ConfigError(settings_as_options(str(refused), settings, INIT_OPTION_NAMES)) from None
    tls = config["tls"]
    print(f"created federation folder {args.dir}")
    print(f"  CA: {args.dir}/{tls['ca_certificate']} (send to every hospital; SHA-256 {tls['ca_sha256']})")
    print_init_summary(args.dir, config)
    print(
        f"  next: genofed coordinator enroll {shlex.quote(str(args.dir))} --name HOSPITAL "
        "--public-key supernode.pub "
        '--declared-size N (the hospital\'s `hospital check` prints N as "declared public")'
    )
    return 0


def _init_second_study(args: argparse.Namespace, settings: dict) -> int:
    """`init --same-federation-as OLD_DIR`: the new study's folder on the federation's CA and
    enrolments (server/service/same_federation.py), and what the operator tells the hospitals."""
    from genofed.cli.second_study import carried_lines, next_lines
    from genofed.client.coordinator_request import architecture_digest
    from genofed.server.service.same_federation import init_same_federation

    config, before = init_same_federation(
        args.dir,
        args.same_federation_as,
        hosts=args.host,
        panel=args.panel,
        settings=settings,
        test_dir=args.test_dir,
        digest=architecture_digest,
        ca_key=args.ca_key,
    )
    folder, old = shlex.quote(str(args.dir)), shlex.quote(str(args.same_federation_as))
    for line in carried_lines(folder, old, config, before.registry):
        print(line)
    print_init_summary(folder, config)
    for line in next_lines(folder, old, before.federation, config):
        print(line)
    return 0


def print_init_summary(folder: str, config: dict) -> None:
    """What every `coordinator init` made, after its CA line: certificate, panel, settings, model."""
    tls = config["tls"]
    print(f"  server certificate for {', '.join(tls['hosts'])}, valid until {tls['server_valid_until']}")
    if config["panel"]:
        print(f"  panel: {config['panel']['variants']} variants, sha256 {config['panel']['sha256']}")
    print(f"  settings{_rule_note(config['settings'])}: {_settings_line(config['settings'])}")
    _print_init_model(folder, config)


#: `coordinator init` options whose name is not the run setting's (kebab-case) name.
INIT_OPTION_NAMES = {"min-nodes": "--min-hospitals"}


def _option(setting: str) -> str:
    """The `coordinator init` option the operator types for run setting `setting` (kebab-case)."""
    return INIT_OPTION_NAMES.get(setting, f"--{setting}")


def _settings_line(settings: dict) -> str:
    """federation.json's settings as the operator sets them: option names, and "rule" where 0 (or
    -1 for momentum) stands for the model's rule, filled at the run's start. Display only: the
    file, and the ids hashed from it, keep the stored values."""
    from genofed.server.settings import RULE_SETTINGS

    by_rule = {name.replace("_", "-"): -1 if name == "momentum" else 0 for name in RULE_SETTINGS}
    shown = [
        f"{_option(name)[2:]} {_shown_setting(name, value, by_rule.get(name))}"
        for name, value in settings.items()
    ]
    return ", ".join(shown)


def _rule_note(settings: dict) -> str:
    """What `rule` means, before the settings line and only when a value shows it. Why: at the line's
    end, after `prevalence 0.001`, "(rule: the model's rule fills it in ...)" read as if it were
    about the prevalence (a deployment walkthrough)."""
    if not any(part.endswith(" rule") for part in _settings_line(settings).split(", ")):
        return ""
    return " (a value shown as `rule` is filled in by the model's rule at the run's start, docs/models.md)"


def _shown_setting(name: str, value, rule_sentinel) -> str:
    """One setting's value for the operator: "rule" for the rule's sentinel, on/off for a switch."""
    if name == "prevalence" and value == 0:
        return "unknown"
    if isinstance(value, bool):
        return "on" if value else "off"
    if rule_sentinel is not None and value == rule_sentinel:
        return "rule"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _print_init_model(folder: str, config: dict) -> None:
    """What `coordinator init` fixed about the model: the priors copied and what hospitals pin."""
    model, panel = config["model"], config["panel"]
    for role, entry in config["priors"].items():
        if role == "source":
            chose = f"top {entry['k']} variants" if entry["k"] else "all its variants"
        else:
            chose = f"{entry['variants']} panel variants"
        print(f"  prior ({role}): {folder}/{entry['file']} ({chose}), sha256 {entry['sha256']}")
    print(
        f"  model: {model['architecture']}, reads {model['reads']} of {panel['variants']} variants, digest "
        f"{model['digest'][:12]}; "
        f"send {folder}/model.json with ca.pem and panel.tsv: hospitals pin it with `genofed hospital check "
        "--model-config model.json`"
    )


def run_coordinator_start(args: argparse.Namespace) -> int:
    from genofed.common.util.checks import require_positive
    from genofed.server.service.launch import ServiceOptions, start_coordinator

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    require_positive("--sync-seconds", args.sync_seconds)
    options = ServiceOptions(
        address=args.fleet_address,
        internal_address=args.internal_address,
        sync_seconds=args.sync_seconds,
        nginx=args.nginx,
    )
    return start_coordinator(args.dir, options, say)


def run_coordinator_status(args: argparse.Namespace) -> int:
    import json

    from genofed.server.service.status import coordinator_status

    status = coordinator_status(args.dir)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"coordinator: {status['state']}{_run_words(status)}")
    if status["state"] == "failed" and status.get("error"):  # why, as `coordinator start` said it
        print(f"  why: {status['error']}")
    if status.get("carried_over_to"):  # a later study holds the federation: this folder starts no more
        print(
            f"  this federation was carried over to {status['carried_over_to']['folder']} on "
            f"{status['carried_over_to']['at']} (a second study): its coordinator and enrolments are there"
        )
    if status.get("same_federation_as"):
        carried = status["same_federation_as"]
        print(
            f"  a study on the federation of {carried['folder']} (its CA and enrolments, carried over on "
            f"{carried['carried_at']})"
        )
    for name, hospital in sorted(status.get("hospitals", {}).items()):
        print(f"  {name:<20} node {hospital['node_id']}: {_hospital_words(hospital)}")
    if status.get("without_enrolled_size"):
        print(
            "enrolled without a declared size (the sizes they declare are unchecked; "
            f"docs/robust-aggregation.md): {', '.join(status['without_enrolled_size'])}"
        )
    by_rule = " (the training rule's)" if status.get("rounds_by_rule") else ""
    print(f"rounds: {status['rounds_done']} of {status['rounds_planned']}{by_rule}")
    if status.get("ended_early"):
        print(f"  the run ended early: {status['ended_early'].get('reason')}")
    last = status.get("last_round")
    if last:
        auc = "n/a" if last.get("test_auc") is None else f"{last['test_auc']:.3f}"
        # a round's figure is its training's; the hospitals' DP evaluations, if the run makes any,
        # spend more (no figure: no DP)
        more = " (its evaluation spends more)" if status.get("site_evaluations") else ""
        eps = (
            "epsilon n/a"
            if last.get("epsilon_max") is None
            else f"epsilon after its training <= {last['epsilon_max']:.2f}{more}"
        )
        print(
            f"  round {last['round']}: test AUC {auc}, {eps}, participants "
            f"{', '.join(last.get('participants', [])) or 'none (no update was used in it)'}"
        )
    if status.get("left_out"):  # as `coordinator start` ends a run: each hospital left out, and why
        print(f"  {status['trained']}")
        so_far = "" if status.get("results") else " so far"  # a finished run's rounds are all there are
        print(f"  not every enrolled hospital trained in every round{so_far}:")
        for line in status["left_out"]:
            print(f"    {line}")
    spent = {site: value for site, value in (status.get("epsilon_spent") or {}).items() if value is not None}
    if spent:
        each = ", ".join(f"{site} {value:.2f}" for site, value in spent.items())
        unrecorded = status.get("unrecorded_evaluations") or 0
        most = max(spent.values())
        if unrecorded:
            # the hospitals report their ledger's total, earlier runs included (an operator read
            # "spent on the run" for a hospital whose earlier run had spent half of it)
            print(
                f"each hospital's epsilon after the run as the coordinator recorded it, earlier runs "
                f"included: {most:.2f} ({each}); the run "
                f"planned {unrecorded} evaluation(s) of the final model and recorded none, so a hospital "
                "that answered has spent more: its own `genofed hospital ledger` is the record"
            )
        else:
            print(
                "each hospital's epsilon after the run, earlier runs and evaluations included: at most "
                f"{most:.2f} ({each})"
            )
    if status.get("results"):
        print(f"results: {status['results']}")
    if status.get("serverapp_log_tail"):
        print("the ServerApp's last log lines (the whole log lands in DIR/run/ when the run ends):")
        for line in status["serverapp_log_tail"]:
            print(f"  {line}")
    if status.get("other_runs"):
        print(
            "runs on this SuperLink that are not this coordinator's app (submitted to its Control API, "
            "e.g. with `flwr run`; the hospitals refuse their app; tell whoever submitted them, and see "
            f"them with `FLWR_HOME={shlex.quote(str(Path(args.dir) / 'flwr'))} flwr ls`):"
        )
        for run in status["other_runs"]:
            print(f"  run {run['run_id']}: {run['status']}, app {run['fab_hash'][:16]}")
    return 0


def _run_words(status: dict) -> str:
    """The run's part of status's first line. Its Flower state is named as such, and shown only
    when it is true now: none before the coordinator first asked (not "(None)"), and a run the
    coordinator stopped before it finished is "interrupted" (Flower's last word, "running", is
    stale once the SuperLink is gone)."""
    if not status.get("run_id"):
        return ""
    words = f", run {status['run_id']}"
    flower = status.get("run_status")
    if flower is None:
        return words
    if status.get("coordinator_running") or flower.startswith("finished"):
        return f"{words} (Flower's run state: {flower})"
    return f"{words} (interrupted; Flower's run state was {flower} when the coordinator stopped)"


def _hospital_words(hospital: dict) -> str:
    """A hospital's connection state; while the coordinator is not running, "unknown" with the
    state it last recorded and when (`coordinator_status` marks them)."""
    if hospital["status"] != "unknown" or "last_status" not in hospital:
        return str(hospital["status"])
    return (
        f"unknown: the coordinator is not running (last seen {hospital['last_status']} at "
        f"{hospital['last_seen'] or 'an unknown time'})"
    )


def run_coordinator_enroll(args: argparse.Namespace) -> int:
    from genofed.server.service.enrollment import enroll, key_comment_warning
    from genofed.server.service.federation_folder import read_federation_file

    _require_size_choice(args)  # the operator's choice first, as any other missing option
    read_federation_file(args.dir)  # a folder that is no (intact) federation gets no enrolment
    entry = enroll(args.dir, args.name, args.public_key, declared_size=args.declared_size)
    print(
        f"enrolled hospital {entry['name']!r}: key {entry['fingerprint']} ({entry['curve']}) at "
        f"{entry['enrolled_at']}"
    )
    warning = key_comment_warning(args.dir, args.name, args.public_key)
    if warning:  # a key made for another hospital: the files mixed up?
        print(f"warning: {warning}", file=sys.stderr)
    if "declared_size" in entry:
        print(
            f"  declared cohort size {entry['declared_size']}: the hospital must declare exactly this in "
            "every run"
        )
    else:
        print(f"warning: {_no_size_warning(entry['name'])}", file=sys.stderr)
    print("  confirm this fingerprint with the hospital over a second channel")
    return 0


def _require_size_choice(args: argparse.Namespace) -> None:
    """`enroll` needs the hospital's declared size, or `--no-declared-size` as an explicit choice:
    a hospital enrolled without one can declare up to 999,999 patients in a run and so take the
    FedAvg weight, widen its own update-norm bound and set every hospital's SecAgg+ weight (a
    deployment audit; docs/robust-aggregation.md, "Known gap: declared cohort sizes")."""
    from genofed.common.errors import GenofedError
    from genofed.server.service.enrollment import MAX_ENROLLED_SIZE

    if args.declared_size is not None and args.no_declared_size:
        raise GenofedError(
            "--declared-size and --no-declared-size exclude each other: give the hospital's size with "
            "--declared-size N, or enrol it without one with --no-declared-size"
        )
    if args.declared_size is None and not args.no_declared_size:
        raise GenofedError(
            "give --declared-size N: the cohort size the hospital declares public (`genofed hospital check` "
            'printed it as "declared public: N patients"), read out with the key\'s fingerprint; or '
            "--no-declared-size to enrol without one, accepting that the size the hospital declares is "
            f"unchecked (up to {MAX_ENROLLED_SIZE - 1:,} patients: it can outweigh every other hospital)"
        )


def _no_size_warning(name: str) -> str:
    """What `enroll --no-declared-size` warns: the gap it leaves open, and how to close it later."""
    from genofed.server.service.enrollment import MAX_ENROLLED_SIZE

    return (
        f"{name!r} is enrolled without a declared size: the size it declares in each run is unchecked "
        f"(up to {MAX_ENROLLED_SIZE - 1:,} patients, setting its FedAvg weight, its update-norm bound and, "
        "under SecAgg+, every hospital's weight; docs/robust-aggregation.md); to check it, record its size "
        f"with `genofed coordinator set-size DIR --name {name} --declared-size N`"
    )


def run_coordinator_set_size(args: argparse.Namespace) -> int:
    from genofed.server.service.enrollment import set_size

    entry = set_size(args.dir, args.name, args.declared_size)
    before = entry["size_history"][-1]["declared_size"]
    finished = (Path(args.dir) / "run" / "results.json").is_file()
    print(
        f"hospital {entry['name']!r} (key {entry['fingerprint']}): declared size "
        f"{'none' if before is None else before} -> {entry['declared_size']}; a run checks sizes when it "
        + (
            "starts, and this federation's run has finished (a finished federation is not run again): the "
            "size is recorded, and a second study on this federation (`genofed coordinator init NEW_DIR "
            "--same-federation-as DIR`) carries it over"
            if finished
            else "starts: restart a running coordinator (`genofed coordinator start` resumes) to apply it"
        )
    )
    print("  confirm the size and this fingerprint with the hospital over a second channel")
    return 0


def run_coordinator_revoke(args: argparse.Namespace) -> int:
    from genofed.server.service.enrollment import revoke, revoke_key

    entry = revoke(args.dir, args.name) if args.name is not None else revoke_key(args.dir, args.fingerprint)
    print(f"revoked hospital {entry['name']!r} (key {entry['fingerprint']}) at {entry['revoked_at']}")
    # what it did to the key: an operator revoked a mistyped enrolment and found the key burned
    print(
        "  this key is never enrolled again, under any name: to take the hospital back, it makes a new "
        "key (`genofed hospital rotate-key SITE`, keeping its ledger) and you enrol that"
    )
    return 0


def run_coordinator_unenroll(args: argparse.Namespace) -> int:
    from genofed.server.service.enrollment import unenroll

    entry = unenroll(args.dir, args.name)
    print(
        f"unenrolled {entry['name']!r} (key {entry['fingerprint']}, enrolled {entry['enrolled_at']}) at "
        f"{entry['unenrolled_at']}; no coordinator registered it, so its key is not revoked"
    )
    print(
        f"  enrol it under the right name: `genofed coordinator enroll {shlex.quote(str(args.dir))} --name "
        "HOSPITAL --public-key FILE --declared-size N`"
    )
    return 0


#: How `coordinator hospitals` shows a hospital enrolled without a declared size.
NO_SIZE = "no enrolled size (the size it declares is unchecked)"


def run_coordinator_hospitals(args: argparse.Namespace) -> int:
    import json

    from genofed.server.service.enrollment import load_registry

    registry = load_registry(args.dir)
    if args.json:
        print(json.dumps(registry, indent=2))
        return 0
    if not registry["hospitals"]:
        print("no hospitals enrolled")
    for e in registry["hospitals"]:
        size = f"size {e['declared_size']}" if "declared_size" in e else NO_SIZE
        if e.get("size_history"):  # `coordinator set-size`: each earlier size and when it ended
            size += (
                " (earlier: "
                + ", ".join(
                    f"{'none' if h['declared_size'] is None else h['declared_size']} until {h['until']}"
                    for h in e["size_history"]
                )
                + ")"
            )
        print(f"{e['name']:<20} {e['fingerprint']}  enrolled {e['enrolled_at']}, {size}")
    for e in registry["revoked"]:
        print(f"{e['name']:<20} {e['fingerprint']}  enrolled {e['enrolled_at']}, REVOKED {e['revoked_at']}")
    for e in registry.get("unenrolled", []):  # `coordinator unenroll`: withdrawn, the key not burned
        print(
            f"{e['name']:<20} {e['fingerprint']}  enrolled {e['enrolled_at']}, unenrolled "
            f"{e['unenrolled_at']} (never registered; the key is not revoked)"
        )
    return 0
