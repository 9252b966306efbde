"""The operating threshold in words, as `genofed predict` describes its calls: the model's own
(`model_threshold_detail`: its rule, the validation figures it was read from, noisy or exact as
`operating.exact_counts` decides, with the hospitals' declared sizes beside a noisy count) or one
given with --threshold (`given_threshold_detail`), and what it does on the coordinator's test
cohort where the model file records that at this very threshold (`figures_at`), carried to a
prevalence (`chosen_prevalence`) or, where that cannot be done, why not (`unused_prevalence_note`).

Why a module of its own: the noisy validation figures, the exact test-cohort figures and the
prevalence they are carried to come from different records of the file, each missing in some kind
of file (an `adapt` or `pretrain` file, an older one, a run without a test cohort); reading them,
and saying which are known, is one job, apart from scoring anyone.
"""

from __future__ import annotations

import math
from typing import Any

from genofed.common.reporting.ratios import Prevalence
from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.operating import exact_counts, recorded_prevalence


def model_threshold_detail(model: ModelFile, prevalence: Prevalence | None = None) -> str:
    """The model file's operating threshold in words: its rule's name and the validation figures
    it was read from (noisy for a federated run, exact for `genofed adapt`), and what it does on the
    test cohort when the file records it, carried to `prevalence` if one is given (`_on_test_cohort`)."""
    point = model.operating.get("threshold") or {}
    rule = str(point.get("rule") or "").split(":")[0] or "its recorded rule"
    exact = exact_counts(model.operating, model.provenance)
    about = "" if exact else "about "
    patients = point.get("validation_patients")
    figures = ""
    if isinstance(point.get("sensitivity"), float | int) and isinstance(
        point.get("specificity"), float | int
    ):
        declared = declared_validation(model, exact)
        on = f" on {about}{float(patients):.0f} validation patients" if patients is not None else ""
        on += f"; the hospitals declared {declared:,}" if patients is not None and declared else ""
        kind = "" if exact else "noisy "
        figures = f", {kind}{_rate_words(point, 'sensitivity')}, {_rate_words(point, 'specificity')}{on}"
        if exact:
            figures = f", {_exact_rates_words(point)}"
    return f"the model's operating threshold ({rule}{figures}){_on_test_cohort(model, prevalence)}"


def given_threshold_detail(
    recorded: float | None,
    model: ModelFile | None = None,
    threshold: float | None = None,
    prevalence: Prevalence | None = None,
) -> str:
    """A --threshold in words, with the model's own threshold beside it, and what it does on the
    coordinator's test cohort when the model file records that at exactly this threshold
    (`figures_at`), carried to `prevalence` as for the operating threshold; else that its
    sensitivity and specificity are unknown here (and at which thresholds the file records them)."""
    own = f"the model's own is {float(recorded):g}" if recorded is not None else "the model file has none"
    figures = None if model is None or threshold is None else figures_at(model, threshold)
    if figures is not None:
        from genofed.common.scoring.operating import held_out_figures_words

        return f"given with --threshold ({own}); {held_out_figures_words(figures, prevalence)}"
    known = "" if model is None else _known_at(model, threshold)
    return f"given with --threshold ({own}); its sensitivity and specificity are unknown here{known}"


def _exact_rates_words(point: dict[str, Any]) -> str:
    """An operating point read off exact counts (a `genofed adapt` file's, from the hospital's own
    validation patients) in words, each rate with its Wilson 95 % interval from the recorded counts:
    'sensitivity 0.643 (0.388-0.837), specificity 0.826 (0.629-0.930) on 37 validation patients (14
    cases, 23 controls, exact; 95 % intervals)'. Why: predict printed the bare rates on 37 patients
    where `adapt` itself had printed 39-84 % around the sensitivity (a new-user walkthrough)."""
    from genofed.common.reporting.calibration import wilson_interval

    patients, cases = point.get("validation_patients"), point.get("validation_cases")
    if not isinstance(patients, int | float) or not isinstance(cases, int | float):
        return f"{_rate_words(point, 'sensitivity')}, {_rate_words(point, 'specificity')}"
    cases = int(round(float(cases)))
    controls = int(round(float(patients))) - cases

    def rate(name: str, of: int) -> str:
        value = float(point[name])
        low, high = wilson_interval(int(round(value * of)), of)
        return f"{name} {value:.3f} ({low:.3f}-{high:.3f})"

    return (
        f"{rate('sensitivity', cases)}, {rate('specificity', controls)} on {cases + controls} validation "
        f"patients ({cases} cases, {controls} controls, exact; 95 % intervals)"
    )


def _rate_words(point: dict[str, Any], name: str) -> str:
    """'sensitivity 0.801', or for a noisy figure whose noise sd the file records 'sensitivity 0.80
    (noise sd 0.13)': two decimals, since the noise makes the third meaningless."""
    noise = point.get(f"{name}_noise_sd")
    if isinstance(noise, float | int) and not isinstance(noise, bool) and math.isfinite(noise):
        return f"{name} {float(point[name]):.2f} (noise sd {float(noise):.2f})"
    return f"{name} {float(point[name]):.3f}"


def _on_test_cohort(model: ModelFile, prevalence: Prevalence | None = None) -> str:
    """What the threshold does on the coordinator's test cohort, exact, when the model file records
    it (a federated run with a test cohort: `held_out_figures_at`), with `prevalence` what share of
    the people flagged and not flagged have the disease there; "" without the record. Beside noisy
    validation figures it tells a clinician what the threshold does on real people (an audit read a
    noisy sensitivity of 1.000 where the test cohort gave 0.80)."""
    figures = threshold_figures_recorded(model)
    if figures is None:
        return ""
    from genofed.common.scoring.operating import held_out_figures_words

    return f"; {held_out_figures_words(figures, prevalence)}"


def threshold_figures_recorded(model: ModelFile) -> dict[str, Any] | None:
    """The model file's record of what its threshold does on the test cohort (`held_out_figures_at`),
    or None: a run without a test cohort, an `adapt` or `pretrain` file, an older file."""
    metrics = model.provenance.get("metrics") if isinstance(model.provenance, dict) else None
    figures = metrics.get("test_at_threshold") if isinstance(metrics, dict) else None
    return figures if isinstance(figures, dict) else None


def figures_at(model: ModelFile, threshold: float) -> dict[str, Any] | None:
    """What calling `risk >= threshold` high does on the coordinator's test cohort, exactly, when
    the model file records it at this very threshold (`held_out_figures_at`'s form): the operating
    threshold's `metrics.test_at_threshold`, or the run's test metrics (`metrics.test`, read at
    their own threshold, 0.5, with the same `>=`: counts of people and cases, sensitivity,
    specificity), whose Wilson intervals follow from those counts. None at any other threshold, or
    for a file without them (an `adapt` or `pretrain` file, an older file, a run without a test cohort).

    Why: `--threshold 0.5` was said to have unknown sensitivity and specificity, and --prevalence
    dropped, while the file recorded the test cohort's figures at exactly 0.5 (a new-user walkthrough)."""
    for figures in _recorded_figures(model):
        if math.isclose(float(figures["threshold"]), float(threshold)):
            return figures
    return None


def _recorded_figures(model: ModelFile) -> list[dict[str, Any]]:
    """Every test-cohort record of a threshold's figures the model file holds (`figures_at`)."""
    from genofed.common.reporting.calibration import wilson_interval

    found = []
    at_threshold = threshold_figures_recorded(model)
    if at_threshold is not None and _finite_number(at_threshold.get("threshold")):
        found.append(at_threshold)
    metrics = model.provenance.get("metrics") if isinstance(model.provenance, dict) else None
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, dict) or not all(
        _finite_number(test.get(key)) for key in ("threshold", "sensitivity", "specificity", "n", "cases")
    ):
        return found
    cases, controls = int(test["cases"]), int(test["n"]) - int(test["cases"])
    if cases <= 0 or controls <= 0:
        return found
    found_cases = int(round(float(test["sensitivity"]) * cases))
    cleared = int(round(float(test["specificity"]) * controls))
    found.append(
        {
            "threshold": float(test["threshold"]),
            "sensitivity": float(test["sensitivity"]),
            "sensitivity_interval": list(wilson_interval(found_cases, cases)),
            "specificity": float(test["specificity"]),
            "specificity_interval": list(wilson_interval(cleared, controls)),
            "cases": cases,
            "controls": controls,
        }
    )
    return found


def _known_at(model: ModelFile, threshold: float | None) -> str:
    """' (the model file records them at 0.5 and 0.7 only)', naming the thresholds at which the
    file records the test cohort's figures (`figures_at`); "" when it records none."""
    levels = sorted({float(f["threshold"]) for f in _recorded_figures(model)} - {threshold})
    if not levels:
        return ""
    return f" (the model file records them at {' and '.join(f'{t:g}' for t in levels)} only)"


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def chosen_prevalence(model: ModelFile, given: float | None) -> Prevalence | None:
    """--prevalence when given, else the model file's (`recorded_prevalence`)."""
    return (
        Prevalence(float(given), "given with --prevalence")
        if given is not None
        else recorded_prevalence(model.provenance)
    )


def unused_prevalence_note(model: ModelFile, own_threshold: bool, threshold: float | None = None) -> str:
    """Why --prevalence changed nothing: PPV needs the threshold's sensitivity and specificity on
    exact data, which a threshold of the user's (`own_threshold`, `threshold`) has none of unless
    the file records them there (`figures_at`), and a file without a test cohort's record does not
    give."""
    if own_threshold:
        why = (
            "the threshold used is not the model's, so its sensitivity and specificity are unknown here"
            f"{_known_at(model, threshold)}"
        )
    elif threshold_figures_recorded(model) is None:
        why = (
            "the model file records no exact figures for its threshold (no test cohort's: a run without "
            "one, a `genofed adapt` or `pretrain` file, or an older file)"
        )
    else:
        why = "nobody is called (no threshold)"
    return (
        f"--prevalence was not used: {why}, so what share of the people flagged have the disease "
        "cannot be given"
    )


def declared_validation(model: ModelFile, exact: bool) -> int | None:
    """Beside a federated run's noisy count of validation patients: the sum of the sizes its
    hospitals declared (public, in the file's provenance), from which the noise can move the count
    far (an audit read about 304 against 242 declared). Those of the hospitals whose releases were
    pooled (`validation_sites`), where the file records them: a walkthrough's file summed every
    hospital's, 102 where the 2 that evaluated had declared 70. None for exact counts or a file
    without them."""
    prov = model.provenance if isinstance(model.provenance, dict) else {}
    pooled, sites = prov.get("validation_sites"), prov.get("sites")
    if exact:
        return None
    if isinstance(pooled, dict):
        sizes = list(pooled.values())
    elif isinstance(sites, dict):  # a file written before `validation_sites`
        sizes = [site.get("validation") for site in sites.values() if isinstance(site, dict)]
    else:
        return None
    if not sizes or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        return None
    return sum(sizes)
