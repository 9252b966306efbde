"""`genofed hospital variants`: what a hospital releases about its variants for the panel.

The counts themselves are computed in `genofed.common.data.variant_summary`; this module decides
what the release costs and records it in the site's privacy ledger (the same ledger its federated
training and `genofed synth` charge, in `--state-dir`):

- `rounded`: declared public by the hospital, not differential privacy. With a state folder the
  ledger records it as a charge of kind `declared-public` with zero steps (so epsilon 0: the
  accountant skips zero-step entries), so the site's ledger lists everything it released. Without
  `--state-dir` it is listed in the ledger the genotypes are bound to (the machine-wide index:
  `hospital check`, `synth` or an earlier summary bound them), and a warning says so; genotypes
  bound to no ledger give a warning that the release is recorded in no ledger (the file's header
  is then its only record). Differencing two rounded releases around one patient reveals some of
  that patient's variants exactly (`bench/rounded_release_differencing.py`, docs/panel.md).
- `dp`: one Gaussian release, one step of the subsampled Gaussian at sample rate 1
  (`genofed.common.privacy.release.release_step`). The noise multiplier is the smallest that
  keeps the site's total epsilon (its history plus this release) within what it already spent
  plus `--epsilon`, calibrated by `genofed.common.privacy.accountant.calibrate_noise` under the
  ledger lock; refused, before anything is computed or written, when `--budget` or the budget
  the site declared (when `--state-dir` is a site's state folder) would be exceeded, and when
  there is neither (a ledger with no cap); at a site, also when `--delta` is above the site's
  delta, and when the release would take the site's epsilon against the coordinator and all other
  sites colluding over its `max_coalition_epsilon` (`genofed.client.local_ledger`). The charge is
  recorded before the file is written.

At a site (a state folder SITE/state beside SITE/hospital.json) both releases are also written to
the site's audit log, SITE/audit.jsonl, before the file is written (`local_release_audit.audit_release`);
`--delta` defaults to the site's own there (`local_ledger.default_delta`, in the CLI).

At a site (a state folder next to a hospital.json whose `hospital check` declared a cohort size),
the summary's `samples` header is that declared size, the one the site already made public,
instead of its own count.

The ledger in `--state-dir` must be the one the genotypes are bound to, by the agent's rules
(`genofed.client.local_ledger`): a fresh folder for genotypes whose ledger is elsewhere is no
fresh budget, nor is a re-exported file of the same patients (bound by their sample ids too).
Checked once the genotypes are read, before anything is computed or written.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from genofed.client.local_budget_record import check_budget_change, record_budget
from genofed.client.local_ledger import (
    DEFAULT_DELTA,
    LocalLedger,
    bound_state_dir,
    check_and_bind,
    epsilon_too_small,
    genotypes_sha256,
    local_ledger,
)
from genofed.client.local_release_audit import audit_release
from genofed.common.data.cohort import GenotypeMatrix
from genofed.common.data.readers import genotype_input_files, read_genotypes
from genofed.common.data.variant_names import read_variant_names
from genofed.common.data.variant_summary import (
    DEFAULT_ROUND_TO,
    RELEASES,
    VariantSummary,
    noisy_summary,
    rounded_summary,
)
from genofed.common.errors import ConfigError
from genofed.common.privacy.accountant import SIGMA_MAX, BudgetExhausted, Step, calibrate_noise, epsilon_of
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.privacy.release import release_step
from genofed.common.util.atomic import require_not_an_input, require_writable_target
from genofed.common.util.checks import require, require_at_least, require_choice, require_in_range

#: The ledger kind of a DP variant-summary release.
VARIANTS_KIND = "variants"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantReleaseOptions:
    """How `genofed hospital variants` releases.

    Args:
        site: the hospital's name in the federation (default: the genotype file's folder name).
        release: `rounded` (declared public) or `dp` (noisy, charged).
        round_to: the rounding of `rounded` counts, in alleles.
        epsilon: what a `dp` release may add to the site's epsilon.
        delta: DP delta of the accounting (the CLI's default: the site's own,
            `local_ledger.default_delta`).
        budget: the site's lifetime epsilon cap: a `dp` release that would exceed it is refused
            (required for `dp` unless `state_dir` is a site's state folder with a declared budget).
        state_dir: the site's state folder holding its privacy ledger (required for `dp`).
        force: overwrite an existing output file.
        new_ledger: the operator's reason to start a new ledger for genotypes that have one
            elsewhere (audited; `genofed.client.agent.ledger_binding`).
        raise_budget: a `budget` above the cap recorded beside a ledger outside any site raises it
            (the site's decision); without it such a budget is refused (`check_budget_change`).
    """

    site: str = ""
    release: str = "rounded"
    round_to: int = DEFAULT_ROUND_TO
    epsilon: float | None = None
    delta: float = DEFAULT_DELTA
    budget: float | None = None
    state_dir: str = ""
    force: bool = False
    new_ledger: str = ""
    raise_budget: bool = False


def release_variants(
    genotypes: str | Path, out: str | Path, options: VariantReleaseOptions
) -> VariantSummary:
    """Compute, charge (or record as declared public) and write the site's variant summary."""
    genotypes, out = Path(genotypes), Path(out)
    require_not_a_genotype_input(out, genotypes)
    _check(out, options)
    site = options.site or genotypes.resolve().parent.name
    # a dp release without a cap, or above the site's delta, is refused here, before the genotypes
    # are read (`NoCap`, `LocalLedger.check_delta`)
    local = (
        local_ledger(options.state_dir, options.budget, spends=options.release == "dp", delta=options.delta)
        if options.state_dir
        else None
    )
    if local is not None and options.release == "dp":  # a larger --budget raises no cap unasked
        raised = check_budget_change(local, raise_budget=options.raise_budget)
        if raised:
            logger.warning(raised)
    matrix = read_genotypes(genotypes)
    if local is None:  # a rounded release (dp needs --state-dir): the ledger its genotypes are bound to
        local = _default_ledger(genotypes, matrix.sample_ids)
    ledger = _bound_ledger(local, genotypes, matrix.sample_ids, options) if local is not None else None
    samples = local.declared_size if local is not None else None  # the site's public size, if declared
    if options.release == "rounded":
        if options.round_to == 1:
            logger.warning(
                "--round-to 1 rounds nothing: this summary declares the exact allele counts public "
                "(docs/panel.md, 'What a hospital releases')"
            )
        summary = rounded_summary(site, matrix, options.round_to, samples=samples)
        if ledger is not None:
            _record_declared(ledger, summary, genotypes, ledger.delta or options.delta, out)
            if not options.state_dir:
                logger.warning(
                    "no --state-dir given: this variant summary is listed in the privacy ledger these "
                    "genotypes are bound to, in %s",
                    ledger.state_dir,
                )
    else:
        assert ledger is not None  # `_check` requires --state-dir
        summary = _charged_noisy(site, matrix, genotypes, options, ledger, out, samples)
    summary.names = read_variant_names(genotypes, summary.variant_ids)  # public, like the ids
    summary.save(out)
    return summary


def require_not_a_genotype_input(out: Path, genotypes: Path) -> None:
    """Refuse an --out that is a file the genotypes are read from, even with --force: for PLINK any
    of the fileset's .bed/.bim/.fam, however --genotypes names it (the prefix, or another of the
    three), and through ../ spellings, symlinks and hard links (compared as files, not as text)."""
    require_not_an_input(out, {"--genotypes": genotypes})
    files = genotype_input_files(genotypes)
    for path in files:
        if out.exists() and path.exists() and os.path.samefile(out, path):
            what = f"the PLINK {path.suffix} file ({path})" if len(files) > 1 else f"the file {path}"
            raise ConfigError(
                f"--out {out} is {what} that --genotypes {genotypes} reads: writing there would destroy "
                "that input; choose another --out (--force replaces an earlier output, never an input)"
            )


def _default_ledger(genotypes: Path, sample_ids: list[str]) -> LocalLedger | None:
    """Without `--state-dir`: the ledger the genotypes (their file or their patients) are bound to,
    which lists the rounded release (`release_variants` says so once it is listed); None, with a
    warning, when they are bound to none."""
    state = bound_state_dir(genotypes, sample_ids)
    if state is None:
        logger.warning(
            "this variant summary is recorded in no privacy ledger: no --state-dir was given and "
            "these genotypes are bound to none, so the file's header is its only record. Give "
            "--state-dir SITE/state (the site's state folder) to list it in the site's ledger."
        )
        return None
    return local_ledger(state, None, spends=False)


def _bound_ledger(
    ledger: LocalLedger, genotypes: Path, sample_ids: list[str], options: VariantReleaseOptions
) -> LocalLedger:
    """`ledger` (`local_ledger`'s, with its cap), bound to the genotypes (their file and their
    patients), checked before anything is computed or written (a rounded release spends nothing
    but is recorded in the same ledger)."""
    dp = options.release == "dp"
    if dp and options.epsilon:  # an --epsilon no noise can reach: refused before the ledger is bound
        _release(options.epsilon, options.delta)
    check_and_bind(
        ledger,
        genotypes,
        None,
        epsilon=options.epsilon or 0.0,
        delta=options.delta if dp else ledger.delta or options.delta,
        purpose="its variant summary",
        command="variants",
        new_ledger=options.new_ledger,
        sample_ids=sample_ids,
        release=(lambda book, target: [_release(options.epsilon, options.delta)]) if dp else None,
        own=True,
    )
    return ledger


def _check(out: Path, options: VariantReleaseOptions) -> None:
    """Every option, before the genotypes are read or anything is spent."""
    require_choice("--release", options.release, RELEASES)
    require(
        not out.is_dir(),
        f"--out {out} is a folder: give the path of a file, e.g. --out {out / 'variants.tsv'}",
    )
    require(
        options.force or not out.exists(),
        f"{out} exists; choose a new file or pass --force to replace it",
    )
    require(out.parent.is_dir(), f"the folder of --out ({out.parent}) does not exist; create it first")
    require_writable_target(out)  # before anything is charged to the ledger
    if options.release == "rounded":
        require_at_least("--round-to", options.round_to, 1, message="--round-to must be 1 or more alleles")
        require(options.epsilon is None, "--epsilon is for --release dp; rounded counts are declared public")
        return
    require(
        options.epsilon is not None and math.isfinite(options.epsilon) and options.epsilon > 0,
        "--release dp needs a finite, positive --epsilon: what this release may add to the site's epsilon",
    )
    require_in_range("--delta", options.delta, 0, 1, low_open=True, high_open=True)
    require(
        bool(options.state_dir),
        "--release dp needs --state-dir: the release is charged to the site's privacy ledger there",
    )


def _charged_noisy(
    site: str,
    matrix: GenotypeMatrix,
    genotypes: Path,
    options: VariantReleaseOptions,
    bound: LocalLedger,
    out: Path,
    samples: int | None = None,
) -> VariantSummary:
    """Calibrate under the ledger lock, check the caps, charge (and at a site, write the release to
    its audit log: `out` is where it goes), then draw the noise (fresh randomness: nobody can
    reproduce it, so a repeated release is a new one and is charged again)."""
    assert options.epsilon is not None
    bound.state_dir.mkdir(parents=True, exist_ok=True)
    refused = "Nothing was released."
    with PrivacyLedger.locked_at(bound.state_dir / LEDGER_FILE) as ledger:
        purpose = "its variant summary"
        bound.check_spend(ledger, options.epsilon, options.delta, purpose=purpose, refused=refused, own=True)
        history = ledger.history()
        before = ledger.epsilon(options.delta)
        noise, rate, steps = _release(options.epsilon, options.delta)
        after = bound.check_total(
            ledger,
            [(noise, rate, steps)],
            options.delta,
            epsilon=options.epsilon,
            purpose=purpose,
            refused=refused,
        )
        bound.check_coalition(
            ledger,
            [(noise, rate, steps)],
            options.delta,
            epsilon=options.epsilon,
            purpose="its variant summary",
            refused=refused,
        )
        digest = genotypes_sha256(genotypes)
        charge = Charge(
            plan_id=f"variants-{digest[:16]}-{secrets.token_hex(4)}",
            round=0,
            noise_multiplier=noise,
            sample_rate=rate,
            steps=steps,
            epsilon_after=epsilon_of([*history, (noise, rate, steps)], options.delta),
            note=(
                f"variant summary (dp) of {genotypes.name}: {matrix.n_variants} variants, epsilon "
                f"{options.epsilon:g} at delta {options.delta:g} on its own (the ledger's total "
                f"{before:.3g} -> {after:.3g})"
            ),
            input_digest=digest,
            kind=VARIANTS_KIND,
            delta=options.delta,
        )
        ledger.charge(charge)
        record_budget(bound, delta=options.delta, command="hospital variants --release dp")
        audit_release(
            bound,
            ledger,
            charge,
            command="hospital variants --release dp",
            epsilon=options.epsilon,
            output=out,
        )
    return noisy_summary(
        site,
        matrix,
        noise_multiplier=noise,
        epsilon=options.epsilon,
        delta=options.delta,
        samples=samples,
    )


def _release(epsilon: float, delta: float) -> Step:
    """The one Gaussian release at `--epsilon` on its own, whatever the ledger holds (as `genofed
    synth` calibrates: the ledger is charged what composing it adds, at most `epsilon`). Until
    this change its noise was calibrated so that the ledger's total moved by `epsilon`, a release
    of a larger epsilon on its own on a ledger with history.

    A calibration that fails means that `--epsilon` is below what one release costs at the
    largest noise: refused as too small (`epsilon_too_small`), not as "privacy budget
    exhausted", which an audit read for `genofed synth --epsilon 1e-9` at a site with budget left."""
    try:
        sigma = calibrate_noise([], sample_rate=1.0, steps=1, target_epsilon=epsilon, delta=delta)
    except BudgetExhausted:
        floor = epsilon_of([release_step(SIGMA_MAX)], delta)
        raise epsilon_too_small(
            epsilon, floor, delta=delta, what="the variant summary's one Gaussian release", own=True
        ) from None
    return release_step(sigma)


def _record_declared(
    local: LocalLedger, summary: VariantSummary, genotypes: Path, delta: float, out: Path
) -> None:
    """A zero-step ledger entry: the site's ledger lists the declared-public release too, and at a
    site so does its audit log (`out`: where the summary goes)."""
    local.state_dir.mkdir(parents=True, exist_ok=True)
    with PrivacyLedger.locked_at(local.state_dir / LEDGER_FILE) as ledger:
        digest = genotypes_sha256(genotypes)
        prefix = f"variants-{digest[:16]}-rounded-"
        plan = f"{prefix}{summary.release.round_to}"
        earlier = sorted(
            {c.plan_id[len(prefix) :] for c in ledger.charges if c.plan_id.startswith(prefix)}
            - {str(summary.release.round_to)}
        )
        if earlier:  # two roundings of one cohort, differenced, narrow its counts
            logger.warning(
                "these genotypes' summary was already declared public rounded to %s: with this one, the two "
                "roundings together narrow each count more than either alone (docs/panel.md: release "
                "once per cohort)",
                ", ".join(earlier),
            )
        ledger.declare_public(
            plan,
            note=(
                f"variant summary of {genotypes.name}, counts rounded to {summary.release.round_to}: "
                "declared public by the hospital, not differential privacy (epsilon 0)"
            ),
            input_digest=digest,
            delta=delta,
        )
        (charge,) = ledger.charges_of(plan, DECLARED_PUBLIC)
        audit_release(
            local, ledger, charge, command="hospital variants --release rounded", epsilon=0.0, output=out
        )
