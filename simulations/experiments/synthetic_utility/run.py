"""The synthetic-data utility experiment: does validated synthetic data help a small site?

The paper (BRIEF.md) enlarged simulated cystic-fibrosis cohorts by 38.6 % with GAN/VAE genomes
and cut classification error from 18 % to 11 %, while 12 % of the synthetic sequences produced
false genotype-phenotype correlations. Here, on the simulated rare disease, for small sites drawn
(nested, as in the transfer experiment) from the simulated clinics, several seeds, with and
without DP, each site trains the GenNet-style network (`fit_alone`, the network's settings) on

  real          its real training patients only;
  validated     real + the ACCEPTED records of a generator (reference, VAE or GAN) it trained itself
                (`generate_validated`: without DP records too close to a patient dropped, nothing at all
                if the batch failed validation), at several synthetic : real ratios;
  unvalidated   real + every generated record of the same batch, unfiltered and unvalidated:
                what the validation is worth (the paper's 12 % problem).

One generator per (site, privacy level, kind) serves every ratio: it is trained once by
`generate_validated` at the largest ratio and sampled again for the smaller ones. Under DP that
is also the honest accounting: the generator's weights are one DP release, and any number of
samples drawn from them are post-processing.

Privacy (finite epsilon): every arm spends the same TOTAL epsilon per real patient. The
generator gets `generator_share` of it (a quarter by default, see `SynthUtilityConfig`), and the
classifier's DP-SGD noise is calibrated with the generator's steps as earlier history, so the
composition (RDP, `epsilon_of`) of both is within the budget; this is asserted for every arm.
The classifier's Poisson sampling runs over real + synthetic rows at rate 1 / ceil(rows / batch):
the synthetic rows are a function of the generator's DP release only, so given that release they
are fixed public data, and adaptive composition covers a mechanism that reads both. A real
patient is still one row, included with the accounted sample rate; the extra rows only lower
that rate (privacy amplification by the larger data set), which is where the synthetic data can
"buy" less classifier noise.

Test: the simulation's held-out test cohort; error = 1 - accuracy at threshold 0.5 (the
majority-class error is reported next to it). Finished pieces are kept in OUT and reused.

Cohorts: the `synthetic` preset (the transfer preset's clinics on a ~1,300-variant genome: the
validation's PCA is cubic in the number of variants, see presets.py). Cost: one (site, seed,
privacy level, generator) piece trains a generator and validates three batches, about 1 min at
50 patients and 1.5 min at 100 on one busy core; the default grid (2 sizes x 3 seeds x 2 privacy
levels x 2 generators = 24 pieces) takes about half an hour on 2 cores. Sites of 200 double that.
The reference generator trains nothing (one DP release, then copying from the public panel,
OUT/cohorts/reference/): its piece is mostly validation, ~5-15 s at 50-200 patients.

The modules beside this one, each with one job: `site_data` (one small site's patients, its
synthetic records as features, its held-out reference), `site_rows` (the cached pieces of one
(size, seed) folder), `site_generator` (the site's generator, trained once and resampled per
ratio), `arms` (the classifier arms and their privacy spend) and `summary` (means, paired
reductions, targets).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.data.layout import PANEL, TEST
from genofed.common.data.panel import VariantPanel
from genofed.common.synthetic.generators import generator_settings
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress, silent
from genofed.common.util.torch_threads import single_torch_thread
from genofed.server.evaluation import TestCohort
from genofed.server.results import json_default
from genofed.simulations.cohorts.build import ensure_cohorts
from genofed.simulations.experiments.base import check_sites_fit, load_hospitals, site_folders
from genofed.simulations.experiments.synthetic_utility.config import SynthUtilityConfig
from genofed.simulations.experiments.synthetic_utility.public_panel import load_public_panel
from genofed.simulations.experiments.synthetic_utility.report import write_utility_report
from genofed.simulations.experiments.synthetic_utility.site_data import (
    SiteData,
    encode_records,
    holdout_reference,
    load_site_data,
)
from genofed.simulations.experiments.synthetic_utility.site_generator import resample
from genofed.simulations.experiments.synthetic_utility.site_rows import site_rows
from genofed.simulations.experiments.synthetic_utility.summary import summarise

__all__ = [
    "SiteData",
    "SynthUtilityConfig",
    "encode_records",
    "generator_available",
    "holdout_reference",
    "load_site_data",
    "resample",
    "run_synth_utility_experiment",
    "summarise",
]


def run_synth_utility_experiment(
    config: SynthUtilityConfig, progress: Progress | None = None
) -> dict[str, Any]:
    """Run (or finish) the experiment in `config.out_dir`; write synth_utility.json and report.md there.

    Torch runs single-threaded meanwhile: the site-sized networks gain nothing from intra-op
    threads, and on a busy 2-core machine OpenMP's spinning threads made one generator epoch
    ~14x slower (measured: 10 VAE epochs on 128 x 1,271 took 60 s with 2 threads, 4.4 s with 1).
    """
    with single_torch_thread():
        return _run(config, progress)


def _run(config: SynthUtilityConfig, progress: Progress | None) -> dict[str, Any]:
    say = progress or silent
    started = time.perf_counter()
    out = Path(config.out_dir)
    check_sites_fit(config.sizes, config.preset)
    out.mkdir(parents=True, exist_ok=True)
    cohorts = ensure_cohorts(
        Path(config.cohorts) if config.cohorts else out / "cohorts",
        preset=config.preset,
        seed=config.cohort_seed,
        progress=say,
    )
    panel = VariantPanel.load(cohorts / PANEL)
    test = TestCohort.load(cohorts / TEST, panel)
    hospitals = load_hospitals(cohorts)
    available = {kind: generator_available(kind) for kind in config.generators}
    reference = (
        load_public_panel(cohorts, panel.variant_ids)
        if "reference" in config.generators and available["reference"] is None
        else None
    )
    rows: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for size, seed, folder in site_folders(out, hospitals, cohorts, config.sizes, config.seeds):
        rows += site_rows(
            folder, cohorts, panel, test, size, seed, config, available, say, references, reference, skipped
        )
    results = summarise(rows, config)
    results["holdout_reference"] = references
    results["skipped"] = skipped
    results["generators"] = {
        kind: ("available" if reason is None else f"not available: {reason}")
        for kind, reason in available.items()
    }
    results["wall_seconds"] = time.perf_counter() - started
    share = float(np.mean(test.labels))
    results["test"] = {
        "people": int(len(test.labels)),
        "cases": int(test.labels.sum()),
        "majority_error": min(share, 1 - share),
    }
    results["variants"] = len(panel)
    write_text_atomic(out / "synth_utility.json", json.dumps(results, indent=2, default=json_default) + "\n")
    results["report"] = str(write_utility_report(out, results))
    return results


def generator_available(kind: str) -> str | None:
    """None if `kind` can be built, else why not (the GAN module may not exist yet)."""
    try:
        generator_settings(kind, seed=0)  # the reference generator's panel is checked by the run
    except Exception as exc:  # ImportError, or a module that is still being written
        return f"{type(exc).__name__}: {exc}"
    return None
