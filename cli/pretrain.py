"""`genofed pretrain`: train a model on a public or related-disease source cohort, centrally,
for the federation to start from (docs/transfer-learning.md).

Its own module: pretraining runs at the coordinator but is no part of the deployed coordinator's
folder and service (cli/coordinator.py). torch loads inside the handler, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genofed.server.pretraining.settings import PretrainSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    register_pretrain(subparsers)


def register_pretrain(subparsers: argparse._SubParsersAction) -> None:
    """`genofed pretrain`: the source cohort, the panel, the task and the training settings."""
    from genofed.server.pretraining.settings import PRETRAIN_MODELS, TASKS, PretrainSettings

    defaults = PretrainSettings()
    parser = subparsers.add_parser(
        "pretrain",
        help="train the shared model on a large source cohort, on the federation's panel",
        description=(
            "Pretrain the model a federation starts from (`genofed simulate --pretrained MODEL`, run config "
            "`pretrained=MODEL`) on a large source cohort: a public or consortium dataset, trained centrally "
            "and without DP (its people are not the federation's patients). Writes one versioned file with "
            "the weights, the panel, the model config, the training provenance and a SHA-256 content hash."
        ),
    )
    parser.add_argument(
        "--source",
        required=True,
        metavar="DIR",
        help="source cohort folder: genotypes.vcf.gz or genotypes.bed, and phenotypes.csv",
    )
    parser.add_argument(
        "--panel", required=True, metavar="FILE", help="the federation's panel.tsv (the model's input)"
    )
    parser.add_argument(
        "--out", required=True, metavar="MODEL", help="pretrained-model file to write (e.g. near.pt)"
    )
    parser.add_argument(
        "--task",
        default=defaults.task,
        choices=TASKS,
        help=(
            "binary: a 0/1 trait column; multiclass: a categorical column such as ancestry (default: binary)"
        ),
    )
    parser.add_argument(
        "--label-column",
        "--label",
        dest="label",
        default=defaults.label,
        metavar="COLUMN",
        help="the phenotype file's column to predict: 0/1 (or case/control) for --task binary, class "
        f"names for multiclass; --label is the older spelling (default: {defaults.label})",
    )
    parser.add_argument(
        "--model",
        default=defaults.model,
        choices=PRETRAIN_MODELS,
        help=(
            "network: the GenNet-style network a federation fine-tunes (`--pretrained`); logistic: one "
            "weight per variant plus covariates, L2-regularised and solved by L-BFGS, whose variant "
            f"importances a federation's `--prior` selects from (default: {defaults.model})"
        ),
    )
    _add_pretrain_training_options(parser, defaults)
    parser.add_argument("--force", action="store_true", help="replace MODEL if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_pretrain)


def _add_pretrain_training_options(parser: argparse.ArgumentParser, defaults: PretrainSettings) -> None:
    """Epochs, batch size, learning rate, width, validation share and seed of `genofed pretrain`."""
    parser.add_argument(
        "--epochs",
        type=int,
        default=defaults.epochs,
        help=f"network only: training epochs; the best on validation is kept (default: {defaults.epochs})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help=f"network only: mini-batch size (default: {defaults.batch_size})",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=defaults.lr,
        help=f"network only: SGD learning rate (default: {defaults.lr})",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        default=defaults.hidden,
        help=f"network only: width of the representation (default: {defaults.hidden})",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=defaults.validation_fraction,
        help=f"share of the source held out to pick the best epoch (default: {defaults.validation_fraction})",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"random seed (default: {defaults.seed})"
    )
    parser.add_argument(
        "--l2",
        type=float,
        default=defaults.l2,
        help=(
            "logistic only: the L2 strength per person; 0 tries a grid of strengths and keeps the best "
            f"on validation (default: {defaults.l2:g})"
        ),
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=defaults.max_iter,
        help=f"logistic only: L-BFGS iterations per L2 strength at most (default: {defaults.max_iter})",
    )


#: `genofed pretrain`'s options that only one model uses (their help says "network only" or
#: "logistic only"), by the model that uses them.
_MODEL_ONLY_OPTIONS = {
    "network": ("epochs", "batch_size", "lr", "hidden"),
    "logistic": ("l2", "max_iter"),
}


def _refuse_other_models_options(args: argparse.Namespace) -> None:
    """Refuse an option set away from its default for the model that does not use it: a logistic
    model is fitted by L-BFGS, so `--epochs 50 --lr 0.5` did nothing, yet the model file recorded
    them as its settings (an audit read them there). A default passed explicitly cannot be told
    from the default and passes."""
    from genofed.common.errors import ConfigError
    from genofed.server.pretraining.settings import PretrainSettings

    defaults = PretrainSettings()
    for model, names in _MODEL_ONLY_OPTIONS.items():
        if model == args.model:
            continue
        given = [
            f"--{name.replace('_', '-')}" for name in names if getattr(args, name) != getattr(defaults, name)
        ]
        if given:
            raise ConfigError(
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to --model {model} only; "
                f"a {args.model} model does not use {'it' if len(given) == 1 else 'them'}: drop "
                f"{'it' if len(given) == 1 else 'them'}, or pass --model {model}"
            )


#: An existing --out that `pretrain --force` may replace, in words (`_is_pretrained`).
EARLIER_PRETRAINED = "a pretrained model file of `genofed pretrain`"


def _is_pretrained(path: Path) -> bool:
    """Whether `path` is a model file `genofed pretrain` wrote (verified; no federated or adapted
    provenance): the only file `pretrain --force` replaces."""
    from genofed.common.errors import GenofedError
    from genofed.common.scoring.model_file import load_model_file

    try:
        return load_model_file(path).provenance.get("kind") in (None, "pretrained")
    except GenofedError:
        return False


def run_pretrain(args: argparse.Namespace) -> int:
    from genofed.common.scoring.model_file import parameter_count
    from genofed.common.util.atomic import (
        require_file_target,
        require_not_an_input,
        require_replaceable_output,
        require_writable_target,
    )
    from genofed.server.pretraining.train import PretrainSettings, pretrain

    out = Path(args.out)
    require_file_target(out)  # a folder as --out: refused now, not after the training
    # --force replaces an earlier pretrained model only: a fuzzing review's `--out` at the panel or at
    # the source's genotype file was overwritten with the model (the panel is refused as an input, a
    # file inside --source as no pretrained model); and an --out that cannot be written was found
    # only after the training
    require_not_an_input(out, {"--panel": args.panel, "--source": args.source})
    require_replaceable_output(
        out, force=args.force, output=EARLIER_PRETRAINED, is_earlier_output=_is_pretrained
    )
    require_writable_target(out)
    _refuse_other_models_options(args)
    settings = PretrainSettings(
        task=args.task,
        label=args.label,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        hidden=args.hidden,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        model=args.model,
        l2=args.l2,
        max_iter=args.max_iter,
    )
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    model, digest = pretrain(args.source, args.panel, out, settings, progress=progress)
    metrics = model.provenance["metrics"]
    score = ", ".join(f"{k} {v:.3f}" for k, v in metrics["validation"].items() if v is not None)
    print(f"wrote {out} ({model.task.kind} task '{model.task.label}', {model.provenance['samples']} people)")
    if "best_l2" in metrics:
        print(f"  logistic model, best L2 strength {metrics['best_l2']:g}: validation {score}")
    else:
        print(f"  best epoch {metrics['best_epoch']}: validation {score}")
    # the trainable weights, as inspect-model counts them (not buffers such as a logistic scale)
    print(f"  parameters: {parameter_count(model)}, panel: {len(model.panel)} variants")
    print(f"  content hash: {digest}")
    if model.model_config.architecture == "logistic":
        print(f"  use it: genofed simulate --data FED --prior {out}")
    else:
        print(f"  use it: genofed simulate --data FED --pretrained {out} --finetune partial")
    return 0
