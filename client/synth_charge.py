"""A `genofed synth` run under DP: the generator's noise calibrated for `--epsilon` as the release's
own guarantee, its training and its charge to the site's privacy ledger, all under the ledger's
lock, so that no other release lands between the checks against the budget and the charge; a
hospital's batch that cannot pass validation is refused before the charge (`feasibility_check`).
The charge is made whatever the verdict: a generator that failed validation has still looked at
the patients.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from genofed.client.local_budget_record import check_budget_change, record_budget
from genofed.client.local_ledger import LocalLedger, epsilon_too_small, genotypes_sha256, ledger_words
from genofed.client.local_release_audit import audit_release
from genofed.client.synth_feasibility import CannotPass, PublicFacts, refusal
from genofed.client.synth_options import SynthOptions
from genofed.client.synth_output import PRIVATE_DIR_MODE, batch_verdict
from genofed.common.errors import GenofedError
from genofed.common.privacy.accountant import SIGMA_MAX, BudgetExhausted, epsilon_of
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.synthetic.checks.precision import foreseen_warning
from genofed.common.synthetic.generators import noise_for_budget, planned_history
from genofed.common.synthetic.pipeline import ValidatedBatch
from genofed.common.synthetic.site_release import case_count_noise

#: The run's logger, named as before this module was split from `client/synth.py`.
logger = logging.getLogger("genofed.client.synth")

#: What a generator's ledger input digest is the SHA-256 of (its audit entry's `input_digest_of`):
#: the data it read and its settings, in memory, so no file's `sha256sum` matches it; the entry
#: records the genotypes file's own as `genotypes_sha256`.
GENERATOR_DIGEST = "the imputed dosages, labels and generator settings in memory, not a file"


def feasibility_check(
    options: SynthOptions, facts: PublicFacts
) -> Callable[[float, LocalLedger, PrivacyLedger], None]:
    """A hospital's own DP run: the check, with the calibrated noise, that refuses a batch that
    cannot pass validation before anything is charged (`synth_feasibility.cannot_pass`, public
    facts only), or with `--spend-anyway` warns and goes on."""

    def check(sigma: float, local: LocalLedger, ledger: PrivacyLedger) -> None:
        problem = facts.problem(options.generator, options.epsilon, noise_multiplier=sigma)
        if problem is None:
            return
        if options.spend_anyway:
            (options.warn or logger.warning)(
                f"--spend-anyway: {problem}; epsilon {options.epsilon:g} is charged all the same"
            )
            return
        spent = ledger.epsilon(options.delta) if ledger.charges else 0.0
        left = None if local.budget is None else local.budget - spent
        raise CannotPass(
            refusal(
                problem,
                ledger=ledger_words(local.state_dir),
                left=left,
                budget=local.budget,
                smallest=facts.smallest_accepted(options.generator, options.epsilon),
                no_larger=facts.no_larger_words(options.generator),
            )
        )

    return check


def generate_charged(
    generate: Callable[..., ValidatedBatch],
    settings: Any,
    options: SynthOptions,
    local: LocalLedger,
    genotypes: str | Path,
    dosages: np.ndarray,
    labels: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    out: Path,
    *,
    n_records: int,
    bind: Callable[[], None] | None = None,
    public_rows: int | None = None,
    feasible: Callable[[float, LocalLedger, PrivacyLedger], None] | None = None,
) -> tuple[ValidatedBatch, str, tuple[float, float]]:
    """Calibrate, train and charge under the ledger lock, refusing before training when the
    budget (`local.budget`: --budget or the site's own) or the site's coalition cap would be
    exceeded, or `--epsilon` is too small to calibrate. The charge is made whatever the verdict: a
    generator that failed validation has still looked at the patients. `bind` (the files' binding
    to this ledger, checked before the data were read) runs once the generator has trained, just
    before its charge, under the same lock: a run refused or interrupted before the charge binds
    nothing (an interrupted run had left a binding in a folder without a ledger, which then
    refused the patients' next ledger as one that "would forget the privacy already spent").
    `feasible(sigma, local, ledger)` refuses, with the
    calibrated noise and before the binding and the training, a batch that cannot pass validation
    (`synth_feasibility`). At a site, the release is written to its audit log
    too (`out`: where the batch goes), before the batch is written. `split`: the generator's
    (train, holdout) indices (`generator_input`'s keyed split). `public_rows`: the training rows
    the VAE's and GAN's sampling rate and steps follow, a public count
    (`synth_public.public_counts`); the noise is calibrated for the same (None: the split's
    training size). `n_records`: the batch's size, for the warning of what its verdict will be
    worth. Returns the batch, its ledger plan and the ledger's epsilon (at `options.delta`) before
    and after the charge."""
    # a ledger folder made here holds figures of the patients' releases: readable by its owner only
    local.state_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    refused = "Nothing was computed or written."
    with PrivacyLedger.locked_at(local.state_dir / LEDGER_FILE) as ledger:
        if options.bound_to_data:  # again under the lock: another run may have recorded a cap since
            check_budget_change(local, raise_budget=options.raise_budget)
        local.check_spend(
            ledger, options.epsilon, options.delta, purpose="the generator", refused=refused, own=True
        )
        n_train = len(split[0])  # the patients the generator trains on
        rows = n_train if public_rows is None else public_rows  # the rows its DP-SGD's rate follows
        count_noise = case_count_noise(options.epsilon, options.delta)  # VAE and GAN only
        # the release's noise for ITS OWN epsilon, whatever the ledger holds; the ledger is charged
        # what composing it adds (at most that epsilon), refused over the budget
        sigma = _calibrated(options, rows, settings, count_noise)
        planned = planned_history(options.generator, rows, settings, sigma, count_noise)
        before = ledger.epsilon(options.delta)
        target = local.check_total(
            ledger, planned, options.delta, epsilon=options.epsilon, purpose="the generator", refused=refused
        )
        local.check_coalition(
            ledger, planned, options.delta, epsilon=options.epsilon, purpose="the generator", refused=refused
        )
        if feasible is not None:  # a batch that cannot pass is refused before anything is charged
            feasible(sigma, local, ledger)
        if bind is not None:  # a hospital's own run: told what its verdict will be worth
            n_holdout = len(split[1])
            foreseen = foreseen_warning(
                n_train, n_holdout, n_records, epsilon=options.epsilon, thresholds=options.thresholds
            )
            if foreseen:
                (options.warn or logger.warning)(foreseen)
        batch = generate(noise_multiplier=sigma, count_noise=count_noise)
        if bind is not None:  # bound only now, with the charge: an interrupted run leaves no binding
            bind()
        digest = hashlib.sha256(
            dosages.tobytes() + labels.tobytes() + json.dumps(asdict(settings), default=str).encode()
        ).hexdigest()
        # a run of its own: the generator's noise is fresh randomness, so even the same command again
        # is a new release, charged again (under the same key it replaced the first one's charge)
        plan = f"synth-{options.generator}-{digest[:16]}-{options.seed}-{secrets.token_hex(4)}"
        own = epsilon_of(batch.history, options.delta)
        if own > options.epsilon * (1 + 1e-3):
            raise GenofedError(
                f"internal: the generator's release has epsilon {own:.4g} on its own, more than the "
                f"--epsilon {options.epsilon:g} it was calibrated for (steps {batch.history})"
            )
        _charge_generator(ledger, batch, plan, digest, options, genotypes, before=before)
        if options.bound_to_data:  # outside a site: the cap it was given, for `hospital ledger DIR`
            record_budget(local, delta=options.delta, command="synth")
        if ledger.charges_of(plan, "train"):  # the site's audit log: what was released, at what cost
            audit_release(
                local,
                ledger,
                ledger.charges_of(plan, "train")[-1],
                command="synth",
                epsilon=options.epsilon,
                output=out,
                # the digest is of the data read and the settings, in memory: no file's sha256sum
                input_digest_of=GENERATOR_DIGEST,
                genotypes_sha256=genotypes_sha256(genotypes),
                validation=batch_verdict(batch),
            )
        spent_after = ledger.epsilon(options.delta)
        if spent_after > target * (1 + 1e-6):
            raise GenofedError(
                f"internal: generator spent epsilon {spent_after:.3f}, more than planned {target:.3f}"
            )
        coalition_after = ledger.coalition_epsilon(options.delta)
        if coalition_after > local.coalition_cap * (1 + 1e-6):
            raise GenofedError(
                f"internal: generator brought the coalition epsilon to {coalition_after:.3f}, over the "
                f"cap {local.coalition_cap:g} it was checked against (planned steps {planned}, trained "
                f"{batch.history})"
            )
    return batch, plan, (before, ledger.epsilon(options.delta))


def _calibrated(options: SynthOptions, rows: int, settings: Any, count_noise: float) -> float:
    """The generator's noise multiplier for `--epsilon` as the release's OWN guarantee
    (`noise_for_budget` with no history), its DP-SGD sampling `rows` training rows (the public
    count, `synth_public.public_counts`), whatever the ledger already holds: until this change the
    noise was calibrated so that the ledger's composed total moved by `--epsilon`, and a ledger holding 1.99
    got a release of epsilon 2.07 on its own for `--epsilon 1` (an outside walkthrough), half the
    noise a fresh ledger got for the same command. A calibration that fails means that `--epsilon`
    is below what the generator's steps cost alone at the largest noise (`SIGMA_MAX`): refused as
    too small (`epsilon_too_small`), not as the site's budget exhausted (an audit read "privacy
    budget exhausted ... stop contributing" for `--epsilon 1e-9` at a site with 3.5 left)."""
    try:
        return noise_for_budget(
            options.generator,
            rows,
            settings,
            epsilon=options.epsilon,
            delta=options.delta,
            count_noise=count_noise,
        )
    except BudgetExhausted:
        quietest = planned_history(options.generator, rows, settings, SIGMA_MAX, max(count_noise, SIGMA_MAX))
        floor = epsilon_of(quietest, options.delta)
        raise epsilon_too_small(
            options.epsilon,
            floor,
            delta=options.delta,
            what=f"the {options.generator} generator's release",
            # the floor grows with the training steps
            alternative="" if options.generator == "reference" else ", or fewer --epochs",
            own=True,
        ) from None


def _charge_generator(
    ledger: PrivacyLedger,
    batch: ValidatedBatch,
    plan: str,
    digest: str,
    options: SynthOptions,
    genotypes: str | Path,
    *,
    before: float,
) -> None:
    """One ledger entry per step kind of the generator's DP training (its accountant's history),
    each recording the site's epsilon once all of them are charged; the note says the release's
    own epsilon and what the ledger's total went from (`before`) and to."""
    after = epsilon_of([*ledger.history(), *batch.history], options.delta)
    for i, (noise, rate, steps) in enumerate(batch.history):
        ledger.charge(
            Charge(
                plan_id=plan,
                round=i,
                noise_multiplier=noise,
                sample_rate=rate,
                steps=steps,
                epsilon_after=after,
                time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                note=(
                    f"synthetic-data generator ({options.generator}) on {Path(genotypes).name}, epsilon "
                    f"{options.epsilon:g} at delta {options.delta:g} on its own (the ledger's total "
                    f"{before:.3g} -> {after:.3g})"
                ),
                input_digest=digest,
                delta=options.delta,
            )
        )
