"""What `genofed adapt` gives each hospital of a simulated federation: its calibration, and how fair
its comparison with the shared model is. (Evidence for docs/predicting.md "Adapting the shared
model to your hospital".)

For every hospital folder of `--data` and the shared model of a finished `genofed simulate` run on
it (`--run`): the hospital's adaptation as `genofed adapt` fits it (its default split, --split-seed
0) without and with the out-of-fold calibration, scored on the federation's test cohort (AUC,
Brier score, expected calibration error, the share of risks below 0.01 or above 0.99), with
adapt's validation AUCs of the shared and the adapted model; then the shared model's AUC on the
patients this hospital's simulated agent trained on and on those it held out (its secret split,
which `genofed adapt --state-dir` reproduces for a deployed agent), and on adapt's default
validation patients: how far a split that mixes the agent's training patients in flatters the
shared model; last, the adaptation `genofed adapt --state-dir` fits, on the agent's own split, and
its validation AUCs. "(warning)": `adapt` warns that the shared model may be the better choice.

    .venv/bin/python bench/adapt_calibration.py --data demo/cohorts --run RUN
                                                (RUN: `genofed simulate --data demo/cohorts --out RUN`)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from measure import require_federation
from sklearn.metrics import brier_score_loss, roc_auc_score

from genofed.client.site import VALIDATION_FRACTION, derived_seed, simulated_secret
from genofed.common.data.layout import TEST, hospital_folders, site_files
from genofed.common.data.splits import keyed_split
from genofed.common.model.metrics import expected_calibration_error
from genofed.common.model.network import predict_proba
from genofed.common.scoring.adapt import adapt
from genofed.common.scoring.model_file import load_model_file
from genofed.common.scoring.people import encoded_cohort


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")


def _scored(labels: np.ndarray, risks: np.ndarray) -> str:
    """AUC, Brier, ECE and the share of extreme risks of `risks` on the test cohort."""
    extreme = float(np.mean((risks < 0.01) | (risks > 0.99)))
    return (
        f"{_auc(labels, risks):.3f} {brier_score_loss(labels, risks):.3f} "
        f"{expected_calibration_error(labels, risks):.3f} {extreme:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts", help="the federation folder the run trained on")
    parser.add_argument("--run", required=True, help="a finished `genofed simulate` run on --data")
    args = parser.parse_args()
    data, run = require_federation(args.data), Path(args.run)
    seed = int(json.loads((run / "results.json").read_text())["config"]["seed"])
    shared = load_model_file(run / "model.pt")
    test_files = site_files(data / TEST)
    test = encoded_cohort(shared, test_files.genotypes, test_files.phenotypes)
    test_x, test_y = test.features, np.asarray(test.cohort.labels)
    shared_risks = predict_proba(shared.build(), test_x)
    base = float(test_y.mean())
    print(f"shared model on the test cohort: AUC, Brier, ECE, extreme {_scored(test_y, shared_risks)}; "
          f"base-rate Brier {base * (1 - base):.3f}")  # fmt: skip
    print(
        "test cohort: AUC Brier ECE extreme (risks < 0.01 or > 0.99); adapt's validation AUC shared / adapted"
    )
    print(f"{'hospital':>11} {'n':>4} {'slope':>5} {'uncalibrated':>24} {'calibrated':>24} {'validation':>13}"
          f"   shared AUC on the agent's trained-on / held-out / adapt's validation"
          f"   --state-dir: validation AUC shared / adapted")  # fmt: skip
    started = time.perf_counter()
    for folder in hospital_folders(data):
        people = encoded_cohort(shared, folder.genotypes, folder.phenotypes)
        ids, labels = people.cohort.sample_ids, np.asarray(people.cohort.labels)
        train, validation = keyed_split(ids, VALIDATION_FRACTION, 0)  # adapt's default split
        fits = {}
        for calibrate in (False, True):
            fits[calibrate] = adapt(
                shared,
                (people.features[train], labels[train]),
                (people.features[validation], labels[validation]),
                source=folder.name,
                calibrate=calibrate,
            )
        adapted = fits[True]
        scores = {k: predict_proba(fit.model.build(), test_x) for k, fit in fits.items()}
        own = predict_proba(shared.build(), people.features)
        agent_seed = derived_seed(simulated_secret(seed, folder.name), "split")
        trained_on, held_out = keyed_split(ids, VALIDATION_FRACTION, agent_seed)
        fair = adapt(  # what `genofed adapt --state-dir` fits and compares: the agent's own split
            shared,
            (people.features[trained_on], labels[trained_on]),
            (people.features[held_out], labels[held_out]),
            source=folder.name,
            agent_split=True,
        )
        slope = adapted.calibration["slope"] if adapted.calibration else float("nan")
        print(
            f"{folder.name:>11} {len(labels):>4} {slope:5.2f} {_scored(test_y, scores[False]):>24} "
            f"{_scored(test_y, scores[True]):>24} {adapted.shared_auc or float('nan'):.3f} / "
            f"{adapted.adapted_auc or float('nan'):.3f}   {_auc(labels[trained_on], own[trained_on]):.3f} / "
            f"{_auc(labels[held_out], own[held_out]):.3f} / {_auc(labels[validation], own[validation]):.3f}"
            f"{' (warning)' if adapted.warning else ''}   {fair.shared_auc or float('nan'):.3f} / "
            f"{fair.adapted_auc or float('nan'):.3f}{' (warning)' if fair.warning else ''}",
            flush=True,
        )
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
