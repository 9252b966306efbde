"""`genofed synth`'s refusals before anything is read, trained or charged, and the last guard
before a batch replaces its output folder: an `--out` apart from the privacy ledger (the batch
replaces `--out` whole), ledger options that apply only under DP, `--phase phased` on a file that
carries phase, and an output folder that can be written (budget spent for an output that cannot be
written is lost). `client/synth.py` runs them in that order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from genofed.client.agent.ledger_binding import BINDING_FILE
from genofed.client.agent.ledger_report import BUDGET_FILE
from genofed.client.local_ledger import local_ledger
from genofed.common.data.readers import VCF_SUFFIXES, is_vcf
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.common.util.atomic import require_replaceable_dir, require_writable_target
from genofed.common.util.checks import require


class CheckedOptions(Protocol):
    """What these checks read of `genofed.client.synth.SynthOptions` (a Protocol: synth.py imports
    this module, not the other way round)."""

    epsilon: float
    budget: float | None
    state_dir: str
    bound_to_data: bool
    phase: str
    warn: Callable[[str], None] | None


logger = logging.getLogger("genofed.client.synth")

#: The files of a privacy ledger's folder (the ledger, its data binding, its recorded `--budget`):
#: none may ever sit inside `--out`, which the batch replaces whole (`atomic_dir`).
LEDGER_FILES = (LEDGER_FILE, BINDING_FILE, BUDGET_FILE)


def check_out_apart_from_ledger(out: Path, state_dir: str, *, inside_too: bool = True) -> None:
    """Refuse an `--out` that is `--state-dir`, or inside it, or holds it (resolved paths: a link or
    `..` is no way around it), before anything is read, trained or charged. Why: the batch replaces
    `--out` whole (`atomic_dir` removes it first), so the ledger charged for the generator was
    deleted with it (an audit: `--out z3 --state-dir z3`, and `--out z4 --state-dir z4/state`; the
    next run was told the ledger was gone, a fresh budget for the same patients). An `--out` inside
    the state folder would not remove the ledger, but mixes records with the ledger a DPO reads: it
    is refused as well in a hospital's own run (`inside_too`); a simulation keeps each virtual
    site's batch in its ledger's folder (`privacy-ledgers/SITE/synthetic`), which removes nothing."""
    if not state_dir:
        return
    where, ledger = out.resolve(), Path(state_dir).resolve()
    if where == ledger:
        relation = "is the same folder as"
    elif ledger in where.parents and inside_too:
        relation = "is inside"
    elif where in ledger.parents:
        relation = "holds"
    else:
        return
    raise ConfigError(
        f"--out {out} {relation} --state-dir {state_dir}: the output folder is replaced whole when the "
        "batch is written, which would delete the privacy ledger kept there (its charges, its data "
        "binding, its budget). Give --out a new folder outside the state folder (e.g. --out "
        f"{ledger.parent / (ledger.name + '-synth')}). Nothing was read, written or charged."
    )


def refuse_ledger_files_in(out: Path) -> None:
    """Refuse (GenofedError) to replace an `out` that holds a privacy ledger's files anywhere inside
    it: the last guard before `atomic_dir` removes `out`, whatever path let them in (the up-front
    check is `check_out_apart_from_ledger`). A ledger is never deleted."""
    if not out.is_dir():
        return
    found = sorted(str(path) for name in LEDGER_FILES for path in out.rglob(name))
    if found:
        raise GenofedError(
            f"--out {out} holds a privacy ledger's files ({', '.join(found)}): writing the batch there "
            "would delete them, so nothing was written to it; move the ledger back where it belongs, or "
            "give --out a new folder"
        )


def check_ledger_options(options: CheckedOptions) -> None:
    """A hospital's own run without DP: `--budget` and `--state-dir` are refused, for they apply
    only under DP (an audit ran `--epsilon inf --budget 3 --state-dir stq` and `--budget 3` with no
    `--epsilon`: both ran unprotected, never saying the two were ignored). One exception: a site's
    state folder, which ties the run to the site's audit log (`unprotected_site`); accepted with a
    one-line note that nothing is charged. Checked before anything is read or written."""
    if not options.bound_to_data or not math.isinf(options.epsilon):
        return
    no_dp = "without --epsilon the generator is not differentially private and nothing is charged"
    if options.budget is not None:
        raise ConfigError(
            f"--budget applies only under differential privacy: it caps what DP releases charge to a "
            f"ledger, and {no_dp}. Give --epsilon E (with --state-dir) to generate under DP, or drop "
            "--budget. Nothing was read, written or charged."
        )
    if not options.state_dir:
        return
    site = local_ledger(options.state_dir, None, spends=False)
    if site.audit_log is None:
        raise ConfigError(
            f"--state-dir {options.state_dir} applies only under differential privacy (the ledger the "
            f"generator's epsilon is charged to), and {no_dp}; that folder is no site's state folder, "
            "whose audit log would record the run. Give --epsilon E to generate under DP, or drop "
            "--state-dir. Nothing was read, written or charged."
        )
    (options.warn or logger.warning)(
        f"no --epsilon: nothing is charged to the ledger in {options.state_dir}; this run without DP is "
        f"written to the site's audit log ({site.audit_log})"
    )


def check_phase_input(genotypes: str | Path, options: CheckedOptions) -> None:
    """`--phase phased` states that the input VCF is phased: refused for any other input (PLINK or a
    table carries no phase), before anything is read, written or charged."""
    if options.phase != "phased" or is_vcf(genotypes):
        return
    raise ConfigError(
        f"--phase phased needs a phased VCF/BCF ({', '.join(VCF_SUFFIXES)}), and {Path(genotypes).name} "
        "is not one: PLINK files and genotype tables carry no phase. Use --phase auto (dosages) or give "
        "the phased VCF. Nothing was read, written or charged."
    )


def check_destination(out: Path, options: CheckedOptions) -> None:
    """A new (or empty) output folder where files can be written (checked before the generator is
    charged: budget spent for an output that cannot be written is lost), and under DP a state dir
    whose ledger pays for the generator."""
    require(not (out.exists() and not out.is_dir()), f"--out {out} is a file; give a new folder's path")
    require(not (out.exists() and any(out.iterdir())), f"{out} exists and is not empty; choose a new folder")
    require_writable_target(out)
    require_replaceable_dir(out)  # an empty --out is replaced at the end: a mount point cannot be
    require(
        math.isinf(options.epsilon) or bool(options.state_dir),
        "--epsilon needs --state-dir: the generator's privacy cost is charged to the site's ledger there",
    )
