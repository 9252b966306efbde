"""Coordinator-side commands: `genofed pretrain` (and later the coordinator service)."""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    register_pretrain(subparsers)
    register_inspect_model(subparsers)


def register_inspect_model(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect-model",
        help="verify a pretrained-model file and show where it came from",
        description=(
            "Check a `genofed pretrain` file's content hash (and, with --panel, that it fits a federation's panel), "
            "then print its task, model, panel and provenance: what a coordinator or a data-protection officer "
            "should look at before a federation starts from it."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="pretrained-model file")
    parser.add_argument("--panel", metavar="FILE", help="also check it against this federation panel.tsv")
    parser.add_argument("--expect-hash", metavar="SHA256", default="", help="refuse unless its content hash starts with this")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.set_defaults(handler=run_inspect_model)


def run_inspect_model(args: argparse.Namespace) -> int:
    import json

    from genofed.common.panel import VariantPanel

    from .pretrained import check_compatible, load_pretrained

    model = load_pretrained(args.model, expected_hash=args.expect_hash)
    if args.panel:
        check_compatible(model, VariantPanel.load(args.panel), source=args.model)
    prov = model.provenance
    info = {
        "file": args.model,
        "content_hash": model.content_hash,
        "task": model.task.to_dict(),
        "model_config": model.model_config.to_dict(),
        "parameters": sum(t.numel() for t in model.state_dict.values()),
        "panel_variants": len(model.panel),
        "fits_panel": args.panel or None,
        "provenance": prov,
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    metrics = prov.get("metrics", {})
    print(f"{args.model}: intact (content hash {model.content_hash})")
    print(f"  task: {model.task.kind} '{model.task.label}'" + (f", classes {', '.join(model.task.classes)}" if model.task.classes else ""))
    print(f"  model: {info['parameters']} parameters, {model.model_config.to_dict()}")
    print(f"  panel: {len(model.panel)} variants" + (f"; matches {args.panel}" if args.panel else ""))
    print(f"  source: {prov.get('source')} ({prov.get('samples')} people: {prov.get('targets')})")
    for role, entry in prov.get("files", {}).items():
        print(f"    {role}: {entry.get('path')} sha256 {str(entry.get('sha256'))[:16]}...")
    print(f"  trained: {prov.get('created')}, seed {prov.get('settings', {}).get('seed')}, best epoch {metrics.get('best_epoch')}, "
          f"validation {metrics.get('validation')}")
    return 0


def register_pretrain(subparsers: argparse._SubParsersAction) -> None:
    from .pretrain import TASKS, PretrainSettings

    defaults = PretrainSettings()
    parser = subparsers.add_parser(
        "pretrain",
        help="train the shared model on a large source cohort, on the federation's panel",
        description=(
            "Pretrain the model a federation starts from (`genofed simulate --pretrained MODEL`, run config "
            "`pretrained=MODEL`) on a large source cohort: a public or consortium dataset, trained centrally and "
            "without DP (its people are not the federation's patients). Writes one versioned file with the "
            "weights, the panel, the model config, the training provenance and a SHA-256 content hash."
        ),
    )
    parser.add_argument("--source", required=True, metavar="DIR",
                        help="source cohort folder: genotypes.vcf.gz or genotypes.bed, and phenotypes.csv")
    parser.add_argument("--panel", required=True, metavar="FILE", help="the federation's panel.tsv (the model's input)")
    parser.add_argument("--out", required=True, metavar="MODEL", help="pretrained-model file to write (e.g. near.pt)")
    parser.add_argument("--task", default=defaults.task, choices=TASKS,
                        help="binary: a 0/1 trait column; multiclass: a categorical column such as ancestry (default: binary)")
    parser.add_argument("--label", default=defaults.label, metavar="COLUMN",
                        help=f"phenotypes.csv column to predict (default: {defaults.label})")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"training epochs; the best on validation is kept (default: {defaults.epochs})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"mini-batch size (default: {defaults.batch_size})")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"SGD learning rate (default: {defaults.lr})")
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help=f"width of the representation (default: {defaults.hidden})")
    parser.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction,
                        help=f"share of the source held out to pick the best epoch (default: {defaults.validation_fraction})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default: {defaults.seed})")
    parser.add_argument("--force", action="store_true", help="replace MODEL if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.common.errors import GenofedError

    from .pretrain import PretrainSettings, pretrain

    out = Path(args.out)
    if out.exists() and not args.force:
        raise GenofedError(f"{out} exists; pass --force to replace it")
    settings = PretrainSettings(
        task=args.task, label=args.label, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
        validation_fraction=args.validation_fraction, seed=args.seed,
    )
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    model, digest = pretrain(args.source, args.panel, out, settings, progress=progress)
    metrics = model.provenance["metrics"]
    score = ", ".join(f"{k} {v:.3f}" for k, v in metrics["validation"].items() if v is not None)
    print(f"wrote {out} ({model.task.kind} task '{model.task.label}', {model.provenance['samples']} people)")
    print(f"  best epoch {metrics['best_epoch']}: validation {score}")
    print(f"  parameters: {sum(t.numel() for t in model.state_dict.values())}, panel: {len(model.panel)} variants")
    print(f"  content hash: {digest}")
    print(f"  use it: genofed simulate --data FED --pretrained {out} --finetune partial")
    return 0
