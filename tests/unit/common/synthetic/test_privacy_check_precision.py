"""The privacy checks' numbers add up and their precision is said (an outside audit of synthetic data,
findings 6, 7, 9, 12):

- the AA_TS the privacy loss subtracts is reported, with its records: holdout minus it is the loss;
- a check whose standard error is at least its margin "cannot tell at this size": warned of for a
  clinic's cohort, not for a large one; its standard error is never 0;
- the failure's advice then gives no smaller --epsilon (a new run, charged again, for a coin toss);
- the advice to turn DP on names no epsilon above what the files' site has left;
- the reference generator is not said to train.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.site_files import budgeted_site, variants_args, write_small_site

from genofed.cli.main import main
from genofed.client.synth_advice import failure_message, suggestions
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.synthetic.checks import Thresholds, validate_synthetic
from genofed.common.synthetic.checks.leakage import privacy
from genofed.common.synthetic.checks.precision import (
    MIN_RECORDS,
    check_precision,
    precision_dicts,
    precision_warning,
)

VARIANTS = 120


def _people(rng: np.random.Generator, k: int) -> np.ndarray:
    """`k` real people of one population (the same allele frequencies for every call)."""
    freq = np.random.default_rng(7).uniform(0.05, 0.5, VARIANTS)
    return rng.binomial(2, freq, size=(k, VARIANTS)).astype(np.int8)


def _validation(train: int, holdout: int, synthetic: int, seed: int = 0) -> dict:
    """validation.json's `validation` for a batch of other real people (nothing leaks), privacy only."""
    rng = np.random.default_rng(seed)
    p = privacy(
        real_train=_people(rng, train), real_holdout=_people(rng, holdout), synthetic=_people(rng, synthetic)
    )
    precision = check_precision(p, Thresholds(), n_holdout=holdout)
    return {
        "n_train": train,
        "n_holdout": holdout,
        "n_synthetic": synthetic,
        "privacy": p,
        "precision": precision_dicts(precision),
    }


def test_holdout_minus_the_reported_training_aa_is_the_privacy_loss_exactly():
    """An audit subtracted aats_train (on 160 records) from aats_holdout (on 40) and got the
    opposite sign of the privacy_loss beside them."""
    rng = np.random.default_rng(3)
    train, holdout, synthetic = _people(rng, 160), _people(rng, 40), _people(rng, 200)
    report = validate_synthetic(
        train,
        holdout,
        synthetic,
        labels_real=np.arange(160) % 2,
        labels_synth=np.arange(200) % 2,
        thresholds=Thresholds(fidelity_limits="fixed"),
    )
    p = report.privacy
    assert p.aats_holdout - p.aats_train_for_loss == p.privacy_loss
    assert (p.n_subsample, p.n_aats_train) == (40, 160)
    saved = json.loads(json.dumps(report.to_dict()))["privacy"]  # as validation.json holds it
    assert saved["aats_holdout"] - saved["aats_train_for_loss"] == saved["privacy_loss"]
    markdown = report.to_markdown()
    assert f"privacy_loss = AA_ES - AA_TS on 40 records of each set: aats_holdout {p.aats_holdout:.4g}" in (
        markdown
    )
    assert f"- {p.aats_train_for_loss:.4g} (40 training vs the same 40 synthetic records)" in markdown
    assert f"AA_TS on 160 training vs 160 synthetic records: {p.aats_train:.4g}" in markdown


def test_a_clinics_cohort_is_warned_that_the_privacy_checks_cannot_tell_and_a_large_one_is_not():
    clinic = _validation(160, 40, 200)  # 200 patients: 40 held out
    warning = precision_warning(clinic)
    assert warning.startswith("too few patients for the privacy checks to tell at this size: privacy_loss")
    assert "on 40 records per set (the smallest of 160 training, 40 held-out, 200 synthetic)" in warning
    assert "mia_auc" in warning and "at least 16 % of the time" in warning
    assert "only redraws the noise" in warning and "or more patients would let these checks tell" in warning
    loss = next(p for p in clinic["precision"] if p["name"] == "privacy_loss")
    assert loss["standard_error"] >= loss["margin"] == pytest.approx(0.03) and not loss["can_tell"]
    large = _validation(4000, 1000, 1000)
    assert all(p["can_tell"] for p in large["precision"]) and precision_warning(large) == ""


def test_a_small_synthetic_batch_is_judged_by_its_records_not_by_the_held_out_count():
    """`--n 15` left 15 records per set behind the loss, with 40 held out: no warning before."""
    few = _validation(160, 40, 15)
    assert few["privacy"].n_subsample == 15 < MIN_RECORDS
    warning = precision_warning(few)
    assert "on 15 records per set" in warning and "fewer than the 40 held-out patients" in warning


def test_the_standard_error_of_a_degenerate_batch_is_not_0():
    """Every record nearest its own kind (a batch far from everyone): the plug-in error was 0."""
    rng = np.random.default_rng(0)
    far = np.full((30, VARIANTS), 2, dtype=np.int8)
    far[:, ::2] = 0
    far[np.arange(30), np.arange(30)] = 1  # distinct records, all far from the real ones
    p = privacy(real_train=_people(rng, 40), real_holdout=_people(rng, 10), synthetic=far)
    assert p.privacy_loss == 0.0 and p.privacy_loss_se > 0.03
    loss = next(c for c in check_precision(p, Thresholds(), n_holdout=10) if c.name == "privacy_loss")
    assert not loss.can_tell


def _failed(checks: dict[str, float], *, epsilon: float | None, loose: dict[str, float], kind: str = "vae"):
    """A failed batch's summary; `loose`: the checks' standard errors (cannot tell when >= margin)."""
    margins = {"privacy_loss": 0.03, "mia_auc": 0.05}
    limits = {"privacy_loss": "< 0.03", "mia_auc": "<= 0.55", "exact_copies": "<= 0"}
    return {
        "passed": False,
        "failed_checks": list(checks),
        "epsilon": epsilon,
        "delta": None if epsilon is None else 1e-5,
        "generator": {"kind": kind, "settings": {"epochs": 0 if kind == "reference" else 100}},
        "validation": {
            "n_train": 160,
            "n_holdout": 40,
            "n_synthetic": 200,
            "checks": [
                {"name": name, "value": value, "threshold": limits[name], "passed": False}
                for name, value in checks.items()
            ],
            "precision": [
                {
                    "name": name,
                    "value": checks.get(name, 0.0),
                    "standard_error": se,
                    "margin": margins[name],
                    "no_leak": 0.5 if name == "mia_auc" else 0.0,
                    "records": 40,
                    "can_tell": se < margins[name],
                }
                for name, se in loose.items()
            ],
        },
    }


def test_a_privacy_failure_that_cannot_tell_gets_no_smaller_epsilon_and_says_why():
    """The audit's reference runs at epsilon 0.1-3 failed privacy_loss at standard errors 0.076-0.105
    and were told to spend again at a smaller epsilon."""
    summary = _failed({"privacy_loss": 0.05}, epsilon=1.0, loose={"privacy_loss": 0.089}, kind="reference")
    text = failure_message(summary, "out", "SITE/state")
    assert "FAILED validation" in text  # the batch still fails
    assert "privacy_loss 0.05 (needs < 0.03; standard error 0.089: cannot tell at this size)" in text
    assert "a smaller --epsilon" not in text and "no smaller --epsilon for these checks" in text
    assert "read privacy_loss as undecided" in text and "about 1,800 or more" in text
    # a precise check still gets the remedy (a reference batch: a VAE at epsilon 1 on 200 patients is
    # refused before its charge, so no smaller epsilon is offered for it, test_synth_advice_feasibility.py)
    precise = _failed({"privacy_loss": 0.05}, epsilon=1.0, loose={"privacy_loss": 0.02}, kind="reference")
    assert "a smaller --epsilon for the generator than 1" in " ".join(suggestions(precise))
    # an exact copy is no sampling noise: its remedy stays, said to be for it
    mixed = _failed(
        {"privacy_loss": 0.05, "exact_copies": 2},
        epsilon=1.0,
        loose={"privacy_loss": 0.089},
        kind="reference",
    )
    tips = suggestions(mixed)
    assert tips[0].startswith("read privacy_loss as undecided")
    assert any(tip.startswith("for exact_copies: a smaller --epsilon") for tip in tips)


def test_the_reference_generator_is_not_said_to_train_and_both_others_are_named():
    off = failure_message(_failed({"mia_auc": 0.6}, epsilon=None, loose={}, kind="reference"), "out")
    on = failure_message(_failed({"mia_auc": 0.6}, epsilon=2.0, loose={}, kind="reference"), "out", "S")
    assert "trained" not in off and "took the patients' class frequencies exactly, without DP" in off
    assert "trained" not in on and "released the patients' class frequencies under DP at epsilon 2" in on
    assert "less of any one patient in them" in on and "memorised" not in on
    weak = dict(_failed({"mia_auc": 0.6}, epsilon=None, loose={}, kind="reference"))
    weak["failed_checks"] = ["ld_correlation"]
    assert any("--generator vae or --generator gan (this run: reference)" in t for t in suggestions(weak))


def test_turning_dp_on_names_no_epsilon_above_what_the_files_site_has_left(tmp_path):
    """An audit ran synth without --state-dir on files bound to a site with 1 of 3 left and was told
    `--epsilon 8 --state-dir SITE/state`."""
    genotypes, _ = write_small_site(tmp_path / "rostov")
    site = budgeted_site(tmp_path, budget=3.0)
    state = site / "state"
    dp = ["--release", "dp", "--epsilon", "1.6", "--state-dir", str(state)]
    assert main(variants_args(genotypes, tmp_path / "a.tsv", *dp)) == 0  # binds the files to the site
    left = 3.0 - PrivacyLedger(state / LEDGER_FILE).epsilon(1e-5)
    # the reference generator: a DP VAE at 200 patients is advised that DP cannot help (test_synth_advice)
    summary = _failed({"mia_auc": 0.7}, epsilon=None, loose={"mia_auc": 0.02}, kind="reference")
    text = failure_message(summary, "out", genotypes=genotypes)
    assert f"--epsilon {int(left * 100) / 100:g} --state-dir {state.resolve()}" in text
    assert "--epsilon 8" not in text
    unbound = failure_message(summary, "out", genotypes=tmp_path / "rostov" / "phenotypes.csv")
    assert "--epsilon E --state-dir SITE/state, with E at most what the site's budget has left" in unbound


def test_aats_train_is_judged_too_and_cannot_tell_at_a_small_clinic():
    """An audit: other real people failed AA_TS's band 38 % of the time at 60 patients, and a
    failure below it drew "a smaller --epsilon (a new run, charged again)"."""
    small = {p["name"]: p for p in _validation(48, 12, 60)["precision"]}["aats_train"]
    assert small["records"] == 48 and small["margin"] == pytest.approx(0.05)
    assert small["standard_error"] == pytest.approx((1 / (8 * 48)) ** 0.5) and not small["can_tell"]
    clinic = {p["name"]: p for p in _validation(160, 40, 200)["precision"]}["aats_train"]
    assert clinic["can_tell"]  # 160 records: standard error 0.028
    failed = _failed({"privacy_loss": 0.0}, epsilon=1.0, loose={})
    failed["failed_checks"] = ["aats_train"]
    failed["validation"]["checks"] = [{"name": "aats_train", "value": 0.40, "threshold": "in [0.45, 0.55]"}]
    failed["validation"]["precision"] = [{**small, "value": 0.40, "limit": 0.45}]
    tips = suggestions(failed)
    assert tips[0].startswith("read aats_train as undecided")
    assert not any("a smaller --epsilon for the generator" in tip for tip in tips)
    assert "no smaller --epsilon for these checks" in " ".join(tips)
