"""Hospital-side commands: `genofed synth` and the hospital agent (`genofed hospital init`)."""

from __future__ import annotations

import argparse
import math


def register(subparsers: argparse._SubParsersAction) -> None:
    register_synth(subparsers)
    register_hospital(subparsers)


def register_hospital(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hospital",
        help="the hospital agent: the site's key pair (later: check, start, audit)",
        description="Run a hospital's side of a deployed federation.",
    )
    commands = parser.add_subparsers(dest="hospital_command", metavar="COMMAND", required=True)
    init = commands.add_parser(
        "init",
        help="make this site's key pair and print the public key to send to the coordinator",
        description=(
            "Make the site's EC key pair in DIR: supernode.key (OpenSSH private key, readable by the owner only, "
            "for flower-supernode's --auth-supernode-private-key) and supernode.pub (the public key to send to the "
            "coordinator, who enrols it with `genofed coordinator enroll`). Refuses to overwrite an existing key."
        ),
    )
    init.add_argument("dir", metavar="DIR", help="the site folder (created 0700 if missing)")
    init.add_argument("--name", required=True, help="the hospital's name in the federation, e.g. rostov")
    init.set_defaults(handler=run_hospital_init)


def run_hospital_init(args: argparse.Namespace) -> int:
    import sys

    from .keys import init_site

    info = init_site(args.dir, args.name)
    print(f"made the key pair of hospital {info['name']!r} in {args.dir}", file=sys.stderr)
    print(f"  private key: {args.dir}/{info['private_key']} (0600: it never leaves this machine)", file=sys.stderr)
    print(f"  send {args.dir}/{info['public_key']} to the coordinator; confirm its fingerprint by phone:", file=sys.stderr)
    print(f"  {info['fingerprint']}", file=sys.stderr)
    print(info["public_key_line"])
    return 0


def register_synth(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate a validated synthetic copy of this hospital's cohort (VCF + phenotypes.csv + report)",
        description=(
            "Train a label-conditional generator (VAE, or GAN with --generator gan) on 80 %% of the hospital's patients (DP-SGD with --epsilon, charged to the "
            "site's privacy ledger in --state-dir), sample synthetic records, drop those too close to a real one, and "
            "validate the batch (allele and genotype frequencies, LD, population structure, associations and the "
            "spurious-association rate, distance to closest record, exact copies, adversarial accuracy, membership "
            "inference) against the 20 %% it never saw. Only a batch that passes is written; OUT/report.md and "
            "OUT/validation.json are written either way."
        ),
    )
    parser.add_argument("--genotypes", required=True, metavar="FILE", help="VCF, PLINK or table")
    parser.add_argument("--phenotypes", required=True, metavar="FILE", help="phenotypes.csv (sample_id, label, sex, age)")
    parser.add_argument("--out", required=True, metavar="DIR", help="new folder for the synthetic cohort and its report")
    parser.add_argument("--epsilon", type=float, default=math.inf, help="privacy spent on the generator (default: inf = no DP)")
    parser.add_argument("--delta", type=float, default=1e-5, help="DP delta (default: 1e-5)")
    parser.add_argument("--budget", type=float, help="the site's lifetime epsilon cap: refuse if the ledger would exceed it")
    parser.add_argument("--state-dir", default="", metavar="DIR", help="the site's state folder holding its privacy ledger")
    parser.add_argument("--n", type=int, help="records to generate (default: as many as the real cohort)")
    parser.add_argument("--generator", default="vae", choices=("vae", "gan"),
                        help="vae: conditional VAE (default); gan: conditional WGAN-GP (DP-WGAN under --epsilon)")
    parser.add_argument("--epochs", type=int, help="generator training epochs (default: the generator's own)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="sampling temperature: below 1 sharpens every variant's distribution towards its mode "
                             "(0.7 brought 1000 Genomes samples closer to real people; default: 1)")
    parser.add_argument("--phase", default="auto", choices=("auto", "ignore"),
                        help="auto: haplotype-aware generation and a phased output VCF when the input VCF is fully phased "
                             "with no missing calls; ignore: always model dosages (default: auto)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from .synth import SynthOptions, synthesize

    options = SynthOptions(n=args.n, epsilon=args.epsilon, delta=args.delta, budget=args.budget, state_dir=args.state_dir,
                           seed=args.seed, generator=args.generator, epochs=args.epochs, phase=args.phase,
                           temperature=args.temperature)
    summary = synthesize(args.genotypes, args.phenotypes, args.out, options)
    if summary["passed"]:
        print(f"wrote {summary['records_written']} synthetic records to {args.out} (validation passed; "
              f"{summary['records_dropped_as_too_close']} dropped as too close to a real patient)")
        return 0
    print(f"the synthetic batch FAILED validation ({', '.join(summary['failed_checks'])}): no records written; "
          f"see {args.out}/report.md")
    return 1
