"""The genotype-augmentation experiment: does augmentation help a small site?

The paper (BRIEF.md) reports a small-cohort classifier going from AUC 0.71 to 0.82 with
genotype-aware augmentation, and recommends combining it with classical models. Here, on the
simulated rare disease, small sites of 25-200 patients are drawn (nested, as in the transfer and
synthetic-utility experiments) from one simulated clinic, several seeds, with and without DP; each
site trains the GenNet-style network alone (`fit_alone`, the network's settings) under every arm:

  none            no augmentation;
  noise, mutate, missing, mix, mixup
                  one transform each, at rates fixed in advance (`ARMS`; the example string
                  "noise=0.01,mutate=0.005,missing=0.02,mix=0.3,mixup=0.2", not tuned);
  noise+mutate+missing
                  the DP-compatible combination;
  all+mix         that combination plus segment mixing (without DP only).

Mix and mixup put a second patient into one example, so under DP they are refused by design
(client/augmentation.py); their DP cells are rows with status "n/a under DP" and the reason.
Every other arm draws one augmented example per drawn record (client/trainer.py), so under DP
its noise multiplier and epsilon equal those of "none": recorded per row and asserted.

Classical baseline: L2-penalised logistic regression (scikit-learn's LogisticRegressionCV, the
penalty chosen by stratified internal cross-validation on the site's own training patients, AUC
scoring) on the same features, WITHOUT DP. "combined": the mean of its predicted probability and
that of the noise+mutate+missing network (the arm that also exists under DP, chosen in advance,
not the best arm after the fact); a probability average keeps both models as they are and needs
no further fitting on 20-160 patients. Both exist without DP only: the logistic model is not a
private release.

Robustness: each model is also scored on copies of the test cohort with injected genotyping error
(`inject_genotyping_error`, 1 % and 5 % miscalls, the same corrupted copies for every model).

Cohorts: the `synthetic` preset (the transfer preset's four clinics of 400 and its default disease,
on a ~1,300-variant genome instead of ~20,000). Chosen for run time, not results: the whole grid
(4 sizes x 3 seeds x 2 privacy levels, 13 models per site and seed) takes about a minute there,
while at ~20,000 variants (`--preset transfer`) one (size, seed) piece without DP takes 1-2 min on
2 cores, a third of it the logistic baseline's cross-validation. Second part (`thousand_genomes`,
into OUT/1000g): the semi-synthetic 1000 Genomes cohorts (preset `1000g`, clinics of 60: sites of
25 and 50 only), a few minutes. Finished (size, seed, epsilon) pieces are kept in OUT and reused.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genofed.client.augmentation import augment_callable
from genofed.client.site import SiteTensors
from genofed.common.augment import Augmenter, AugmentSpec, inject_genotyping_error, parse_augment
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.layout import GENOTYPES, PANEL, PHENOTYPES, TEST
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress, silent
from genofed.common.util.torch_threads import single_torch_thread
from genofed.server.results import json_default
from genofed.server.settings import RunSettings
from genofed.simulations.cohorts.build import ensure_cohorts
from genofed.simulations.experiments.augmentation.config import (
    ARMS,
    COMBINED_WITH,
    DP_REFUSED,
    MIN_RELEVANT_GAIN,
    NOT_PRIVATE,
    PAPER,
    TARGET_GAIN,
    TARGET_SIZE,
    AugmentConfig,
)
from genofed.simulations.experiments.augmentation.report import write_augment_report
from genofed.simulations.experiments.base import (
    cached,
    check_sites_fit,
    config_dict,
    epsilon_key,
    load_hospitals,
    mean,
    paired,
    sd,
    site_folders,
    site_settings,
)
from genofed.simulations.local.baselines import classifier_step, fit_alone
from genofed.simulations.local.simulate import simulated_sites


def run_augment_experiment(config: AugmentConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or finish) the experiment in `config.out_dir`; write augment.json and report.md there.

    Torch runs single-threaded meanwhile (site-sized networks gain nothing from intra-op threads,
    and on a busy 2-core machine two threads were ~10x slower); the thread count is restored.
    """
    with single_torch_thread():
        return _run(config, progress)


@dataclass(frozen=True)
class TestSets:
    """The test cohort's features, clean and with each injected miscall rate, and its labels."""

    features: dict[float, np.ndarray]
    labels: np.ndarray


def load_test_sets(cohorts: Path, panel: VariantPanel, rates: tuple[float, ...], seed: int) -> TestSets:
    """The test cohort encoded as `TestCohort` does, plus one corrupted copy per rate: the same
    copy for every model and seed (paired comparisons), drawn from `seed` and the rate."""
    cohort = load_site(cohorts / TEST / GENOTYPES, cohorts / TEST / PHENOTYPES, panel=panel).cohort
    spec = FeatureSpec(alt_freq=panel.alt_freq)
    features = {0.0: encode(spec, cohort)}
    for rate in rates:
        noisy = inject_genotyping_error(cohort.dosages, rate, seed=seed * 1_000_003 + round(rate * 1e6))
        features[rate] = encode(spec, replace(cohort, dosages=noisy))
    return TestSets(features, cohort.labels.astype(np.float32))


def _run(config: AugmentConfig, progress: Progress | None) -> dict[str, Any]:
    say = progress or silent
    started = time.perf_counter()
    out = Path(config.out_dir)
    check_sites_fit(config.sizes, config.preset, config.clinics)
    out.mkdir(parents=True, exist_ok=True)
    cohorts = ensure_cohorts(
        Path(config.cohorts) if config.cohorts else out / "cohorts",
        preset=config.preset,
        seed=config.cohort_seed,
        progress=say,
    )
    panel = VariantPanel.load(cohorts / PANEL)
    tests = load_test_sets(cohorts, panel, config.error_rates, config.cohort_seed)
    hospitals = load_hospitals(cohorts)
    rows: list[dict[str, Any]] = []
    for size, seed, folder in site_folders(out, hospitals, cohorts, config.sizes, config.seeds):
        rows += _site_rows(folder, cohorts, panel, tests, size, seed, config, say)
    results = summarise(rows, config)
    results["wall_seconds"] = time.perf_counter() - started
    results["test"] = {"people": int(len(tests.labels)), "cases": int(tests.labels.sum())}
    results["variants"] = len(panel)
    if config.thousand_genomes and config.preset != "1000g":
        say("second part: the semi-synthetic 1000 Genomes cohorts")
        part = _run(config.thousand_genomes_part(), progress)
        results["thousand_genomes"] = {
            key: part[key]
            for key in (
                "config",
                "arms",
                "table",
                "gains",
                "vanishing",
                "targets",
                "test",
                "variants",
                "wall_seconds",
                "report",
            )
        }
        results["wall_seconds"] = time.perf_counter() - started
    write_text_atomic(out / "augment.json", json.dumps(results, indent=2, default=json_default) + "\n")
    results["report"] = str(write_augment_report(out, results))
    return results


def _site_rows(
    folder: Path,
    cohorts: Path,
    panel: VariantPanel,
    tests: TestSets,
    size: int,
    seed: int,
    config: AugmentConfig,
    say: Progress,
) -> list[dict[str, Any]]:
    base = site_settings(config.run, folder, cohorts, seed)
    sites = simulated_sites(base)
    rows: list[dict[str, Any]] = []
    arms = ",".join(f"{a}={ARMS[a]}" for a in sorted(config.arms)) + f";logistic={config.logistic}"
    rates = "_".join(f"{r:g}" for r in config.error_rates)
    for name in config.clinics:
        if name not in sites:
            raise GenofedError(f"no clinic {name!r} in preset {config.preset}; clinics: {', '.join(sites)}")
        for epsilon in config.epsilons:
            settings = replace(base, epsilon=epsilon)
            level = "no DP" if math.isinf(epsilon) else f"epsilon {epsilon:g}"
            say(f"sites of {size}, seed {seed}, {name}, {level}")
            piece = folder / "augment" / f"{name}-eps{epsilon:g}-{_digest(arms)}-err{rates}.json"
            rows += cached(
                piece,
                lambda settings=settings, name=name: _piece(
                    sites[name], settings, panel, tests, name, size, seed, config
                ),
            )
    return rows


def _digest(text: str) -> str:
    """A short name for the arm set of a cached piece (another arm set is another piece)."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _piece(
    site: SiteTensors,
    settings: RunSettings,
    panel: VariantPanel,
    tests: TestSets,
    name: str,
    size: int,
    seed: int,
    config: AugmentConfig,
) -> list[dict[str, Any]]:
    """Every arm of one (site, seed, epsilon); without DP also the logistic baseline and the
    combined model."""
    model_config = ModelConfig(n_variants=site.n_variants)
    y = site.train_y
    common = {
        "size": size,
        "seed": seed,
        "epsilon": epsilon_key(settings.epsilon),
        "site": name,
        "n_train": int(len(y)),
        "cases_train": int(y.sum()),
    }
    privacy = _privacy(len(y), settings)
    rows, probs = [], {}
    for arm in config.arms:
        spec = parse_augment(ARMS[arm] or None)
        if settings.private and spec.mixes_patients:
            rows.append(
                {"arm": arm, "augment": ARMS[arm], **common, "status": "n/a under DP", "reason": DP_REFUSED}
            )
            continue
        started = time.perf_counter()
        probs[arm] = _network_probabilities(spec, site, settings, model_config, panel, tests, name)
        rows.append(
            {
                "arm": arm,
                "augment": ARMS[arm] or "none",
                **common,
                "status": "ok",
                **_scores(tests, probs[arm]),
                **privacy,
                "seconds": time.perf_counter() - started,
            }
        )
    if config.logistic:
        rows += _baseline_rows(site, settings, tests, seed, common, probs)
    return rows


def _network_probabilities(
    spec: AugmentSpec,
    site: SiteTensors,
    settings: RunSettings,
    model_config: ModelConfig,
    panel: VariantPanel,
    tests: TestSets,
    name: str,
) -> dict[float, np.ndarray]:
    """Train the site's network alone with the arm's augmentation (none for the identity) and
    predict every test set, one per genotype error rate."""
    x, y = site.train_x, site.train_y
    augment = None
    if not spec.is_identity:
        augmenter = Augmenter(
            spec,
            dosages=site.train_dosages,
            labels=y.astype(np.int8),
            alt_freq=np.asarray(panel.alt_freq),
        )
        augment = augment_callable(augmenter, site)
    weights = fit_alone(x, y, settings, model_config, name, augment=augment)
    model = build_model(model_config, seed=0)
    model.load_state_dict(weights)
    return {rate: predict_proba(model, f) for rate, f in tests.features.items()}


def _baseline_rows(
    site: SiteTensors,
    settings: RunSettings,
    tests: TestSets,
    seed: int,
    common: dict[str, Any],
    probs: dict[str, dict[float, np.ndarray]],
) -> list[dict[str, Any]]:
    """The logistic baseline and the combined model (its mean with `COMBINED_WITH`); both are
    not private, so under DP only rows saying so. Adds the logistic's probabilities to `probs`."""
    if settings.private:
        return [
            {"arm": arm, "augment": "-", **common, "status": "n/a under DP", "reason": NOT_PRIVATE}
            for arm in ("logistic", "combined")
        ]
    started = time.perf_counter()
    logistic, chosen = fit_logistic(site.train_x, site.train_y, seed)
    probs["logistic"] = {rate: logistic.predict_proba(f)[:, 1] for rate, f in tests.features.items()}
    rows = [
        {
            "arm": "logistic",
            "augment": "-",
            **common,
            "status": "ok",
            **_scores(tests, probs["logistic"]),
            "C": chosen,
            "seconds": time.perf_counter() - started,
        }
    ]
    if COMBINED_WITH in probs:
        mean = {rate: (probs["logistic"][rate] + probs[COMBINED_WITH][rate]) / 2 for rate in tests.features}
        rows.append(
            {
                "arm": "combined",
                "augment": f"mean of logistic and {COMBINED_WITH}",
                **common,
                "status": "ok",
                **_scores(tests, mean),
            }
        )
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, float]:
    """L2-penalised logistic regression, the strength chosen by stratified k-fold CV (k = 5, or
    fewer when a class has fewer patients) on these training rows only, AUC scoring; no DP."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(y).astype(int)
    folds = max(2, min(5, int(np.bincount(labels, minlength=2).min())))
    model = LogisticRegressionCV(
        Cs=np.logspace(-4, 2, 13),
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        scoring="roc_auc",
        max_iter=2000,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(x, labels)
    return model, float(np.ravel(model.C_)[0])


def _scores(tests: TestSets, probs: dict[float, np.ndarray]) -> dict[str, Any]:
    out = {}
    for rate, p in probs.items():
        metrics = binary_metrics(tests.labels, p)
        key = "" if rate == 0.0 else f"_err{rate:g}"
        auc = metrics.get("auc")
        out[f"auc{key}"] = None if auc is None or math.isnan(auc) else float(auc)
        if rate == 0.0:
            out["accuracy"] = metrics.get("accuracy")
    return out


def _privacy(n: int, settings: RunSettings) -> dict[str, Any]:
    """The DP-SGD run `fit_alone` does on n rows (augmentation adds none): noise and epsilon."""
    if not settings.private:
        return {"noise_multiplier": None, "epsilon_spent": None}
    step = classifier_step(n, settings)
    spent = epsilon_of([step], settings.delta)
    if spent > settings.epsilon * (1 + 1e-6):
        raise AssertionError(f"spends epsilon {spent:.4f}, more than the budget {settings.epsilon:g}")
    return {"noise_multiplier": float(step[0]), "epsilon_spent": float(spent)}


def summarise(rows: list[dict[str, Any]], config: AugmentConfig) -> dict[str, Any]:
    """Means and spreads per (arm, size, epsilon), paired gains over "none", targets."""
    frame = pd.DataFrame(rows)
    auc_keys = ["auc", *[f"auc_err{r:g}" for r in config.error_rates]]
    for key in auc_keys:
        if key not in frame:
            frame[key] = np.nan
    table = []
    for (arm, size, eps), g in frame.groupby(["arm", "size", "epsilon"], sort=False):
        ok = g[g["status"] == "ok"]
        entry = {
            "arm": arm,
            "augment": g["augment"].iloc[0],
            "size": int(size),
            "epsilon": eps,
            "n": int(len(ok)),
            "status": "ok" if len(ok) else g["status"].iloc[0],
            "reason": None if len(ok) else g["reason"].iloc[0],
        }
        for key in auc_keys:
            entry[f"{key}_mean"], entry[f"{key}_sd"] = mean(ok[key]), sd(ok[key])
        if "noise_multiplier" in ok and len(ok):
            entry["noise_multiplier"] = mean(ok["noise_multiplier"])
            entry["epsilon_spent"] = mean(ok["epsilon_spent"])
        table.append(entry)
    gains = _gains(frame, auc_keys)
    return {
        "config": config_dict(config),
        "arms": {a: ARMS[a] for a in config.arms},
        "rows": rows,
        "table": table,
        "gains": gains,
        "vanishing": _vanishing(gains, config),
        "targets": _targets(frame, gains, config),
        "paper": PAPER,
    }


def _gains(frame: pd.DataFrame, auc_keys: list[str]) -> list[dict[str, Any]]:
    """AUC of each arm minus "none", paired by (size, seed, epsilon, site), clean and per error rate."""
    ok = frame[frame["status"] == "ok"]
    cell = ["size", "seed", "epsilon", "site"]
    none = ok[ok.arm == "none"].set_index(cell)[auc_keys]
    out = []
    for (arm, size, eps), g in ok[ok.arm != "none"].groupby(["arm", "size", "epsilon"], sort=False):
        pairs = paired(g[cell + auc_keys], none, cell, "_none")
        if pairs.empty:
            continue
        entry = {"arm": arm, "size": int(size), "epsilon": eps, "pairs": int(len(pairs))}
        for key in auc_keys:
            diff = pd.to_numeric(pairs[key], errors="coerce") - pd.to_numeric(
                pairs[f"{key}_none"], errors="coerce"
            )
            entry[f"{key}_gain"], entry[f"{key}_gain_sd"] = mean(diff), sd(diff)
        out.append(entry)
    return out


def _vanishing(gains: list[dict[str, Any]], config: AugmentConfig) -> list[dict[str, Any]]:
    """Per (arm, epsilon): at which sizes the clean-test AUC gain over "none" is clear (at least
    `MIN_RELEVANT_GAIN` and more than one standard error of the paired mean), and the smallest
    such size (wherever it is not clear, the gain has vanished)."""
    out = []
    arms = [a for a in config.arms if a != "none"] + (["logistic", "combined"] if config.logistic else [])
    for eps in [epsilon_key(e) for e in config.epsilons]:
        for arm in arms:
            cells = sorted(
                (g for g in gains if g["arm"] == arm and g["epsilon"] == eps), key=lambda g: g["size"]
            )
            if not cells:
                continue
            verdicts = {g["size"]: _clear(g) for g in cells}
            clear = [size for size, verdict in verdicts.items() if verdict]
            out.append(
                {
                    "arm": arm,
                    "epsilon": eps,
                    "gain_by_size": {g["size"]: g["auc_gain"] for g in cells},
                    "sizes_with_clear_gain": clear,
                    "smallest_clear": min(clear) if clear else None,
                    # one seed: no standard error, so neither clear nor vanished
                    "sizes_not_measurable": [size for size, verdict in verdicts.items() if verdict is None],
                }
            )
    return out


def _clear(gain: dict[str, Any], floor: float = MIN_RELEVANT_GAIN) -> bool | None:
    """Whether a paired gain is at least `floor` and more than one standard error of the mean;
    None (not measurable, neither clear nor not) without a standard error: one seed, fewer than
    2 pairs."""
    mean, sd, n = gain.get("auc_gain"), gain.get("auc_gain_sd"), gain.get("pairs", 0)
    if mean is None:
        return False
    if sd is None or n < 2 or not math.isfinite(sd):
        return None
    return bool(mean >= floor and mean > sd / math.sqrt(n))


def _targets(frame: pd.DataFrame, gains: list[dict[str, Any]], config: AugmentConfig) -> dict[str, Any]:
    """(1) +0.05 clean AUC at a 100-patient site (else the size closest to 100) without DP, from the
    best augmentation arm (the logistic / combined models are not augmentations); (2) robustness:
    that arm's AUC gain over "none" on the highest-error test copy; (3) privacy: every DP arm's
    noise multiplier and epsilon equal those of "none" at the same (size, seed)."""
    size = min(config.sizes, key=lambda s: (abs(s - TARGET_SIZE), s))
    candidates = [
        g
        for g in gains
        if g["size"] == size and g["epsilon"] == "inf" and g["arm"] in ARMS and g["auc_gain"] is not None
    ]
    best = max(candidates, key=lambda g: g["auc_gain"], default=None)
    worst_rate = max(config.error_rates)
    gain_target = {
        "size": size,
        "best_arm": None if best is None else best["arm"],
        "gain": None if best is None else best["auc_gain"],
        "gain_sd": None if best is None else best["auc_gain_sd"],
        "arms_compared": len(candidates),
        "met": bool(best is not None and best["auc_gain"] >= TARGET_GAIN),
    }
    robustness = _robustness(gains, size, best, gain_target["best_arm"], worst_rate)
    privacy = _privacy_target(frame, config)
    return {"gain": gain_target, "robustness": robustness, "privacy": privacy}


def _robustness(
    gains: list[dict[str, Any]],
    size: int,
    best: dict[str, Any] | None,
    best_arm: str | None,
    worst_rate: float,
) -> dict[str, Any]:
    """The robustness target: the best clean-AUC arm's gain over "none" on the highest-error test
    copy (met when positive by more than one standard error), and the most robust arm beside it."""
    key = f"auc_err{worst_rate:g}_gain"
    robust_cells = [g for g in gains if g["size"] == size and g["arm"] in ARMS and g.get(key) is not None]
    robustness = {
        "size": size,
        "error_rate": worst_rate,
        "best_arm": best_arm,
        "gain": None if best is None else best.get(key),
        "gain_sd": None if best is None else best.get(f"{key}_sd"),
        "best_robust_arm": None,
        "best_robust_gain": None,
    }
    if robust_cells:
        top = max((g for g in robust_cells if g["epsilon"] == "inf"), key=lambda g: g[key], default=None)
        if top is not None:
            robustness.update(best_robust_arm=top["arm"], best_robust_gain=top[key])
    # robustness: a positive gain on the corrupted copy, by more than one standard error; None
    # (not measurable, neither met nor missed) without a standard error (one seed)
    robustness["met"] = (
        False
        if best is None
        else _clear(
            {"auc_gain": best.get(key), "auc_gain_sd": best.get(f"{key}_sd"), "pairs": best["pairs"]},
            floor=1e-12,
        )
    )
    robustness["pairs"] = None if best is None else best["pairs"]
    return robustness


def _privacy_target(frame: pd.DataFrame, config: AugmentConfig) -> dict[str, Any]:
    """The privacy target: every DP arm's noise multiplier and epsilon equal those of "none" at
    the same (size, seed, epsilon, site), and within the budget."""
    checks, mismatches = 0, []
    ok = frame[(frame["status"] == "ok") & (frame["epsilon"] != "inf")]
    if len(ok) and "noise_multiplier" in ok:
        none = ok[ok.arm == "none"].set_index(["size", "seed", "epsilon", "site"])
        for _, row in ok[ok.arm.isin([a for a in ARMS if a != "none"])].iterrows():
            ref = none.loc[(row["size"], row["seed"], row["epsilon"], row["site"])]
            checks += 1
            if not (
                math.isclose(row["noise_multiplier"], ref["noise_multiplier"], rel_tol=1e-9)
                and math.isclose(row["epsilon_spent"], ref["epsilon_spent"], rel_tol=1e-9)
                and row["epsilon_spent"] <= float(row["epsilon"]) * (1 + 1e-6)
            ):
                mismatches.append(f"{row['arm']} n{row['size']} seed {row['seed']} eps {row['epsilon']}")
    return {
        "dp_arms_checked": checks,
        "mismatches": mismatches,
        "met": bool(checks and not mismatches) if any(not math.isinf(e) for e in config.epsilons) else None,
    }
