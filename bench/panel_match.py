"""The panel built from the hospitals' variant summaries against the pooled-data panel (docs/panel.md).

    .venv/bin/python bench/panel_match.py [FEDERATION_DIR]   # default: demo/cohorts

Prints, for the rounded release (the default) and for DP releases at a few epsilons: what each
rule dropped, whether ids and order equal those of `panel_from_pooled` (the same rules on exact
pooled counts), the frequency differences, and the noise per count of a DP release; then how the
built panel differs from the `panel.tsv` that `genofed simulate-cohorts` wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from genofed.common.data.layout import PANEL, hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.data.panel_building import PanelRules, build_panel, panel_from_pooled
from genofed.common.data.readers import read_genotypes
from genofed.common.data.variant_summary import dp_sensitivity, noisy_summary, rounded_summary
from genofed.common.privacy.accountant import calibrate_noise

EPSILONS = (1.0, 8.0, 100.0)
DELTA = 1e-5


def _compare(name: str, panel: VariantPanel, reference: VariantPanel) -> None:
    index = {v: i for i, v in enumerate(reference.variant_ids)}
    shared = [v for v in panel.variant_ids if v in index]
    diff = np.abs(
        np.array([panel.alt_freq[i] for i, v in enumerate(panel.variant_ids) if v in index])
        - np.array([reference.alt_freq[index[v]] for v in shared])
    )
    print(
        f"{name}: {len(panel)} variants, pooled {len(reference)}; same ids and order: "
        f"{panel.variant_ids == reference.variant_ids}; only here {len(panel) - len(shared)}, "
        f"only pooled {len(reference) - len(shared)}; |freq difference| mean {diff.mean():.4f}, "
        f"max {diff.max():.4f}"
    )


def main(root: Path) -> None:
    sites = {f.name: read_genotypes(f.genotypes) for f in hospital_folders(root)}
    n_variants = max(g.n_variants for g in sites.values())
    print(f"{root}: {len(sites)} hospitals, {sum(g.n_samples for g in sites.values())} patients")
    rules = PanelRules()
    reference, ref_report = panel_from_pooled(sites, rules)
    print("pooled reference (exact counts, default rules):")
    print("\n".join(ref_report.lines(rules)))
    rounded, report = build_panel([rounded_summary(n, g) for n, g in sites.items()])
    print("rounded summaries (R = 10, default rules):")
    print("\n".join(report.lines(rules)))
    _compare("rounded vs pooled", rounded, reference)
    rng = np.random.default_rng(0)
    for epsilon in EPSILONS:
        sigma = calibrate_noise([], sample_rate=1.0, steps=1, target_epsilon=epsilon, delta=DELTA)
        noisy = [
            noisy_summary(n, g, noise_multiplier=sigma, epsilon=epsilon, delta=DELTA, rng=rng)
            for n, g in sites.items()
        ]
        print(
            f"dp at epsilon {epsilon:g}, delta {DELTA:g}: noise multiplier {sigma:.3g}, sd per count "
            f"{sigma * dp_sensitivity(n_variants):.4g} at a site with all {n_variants} variants"
        )
        _compare(f"  dp eps {epsilon:g} vs pooled", build_panel(noisy)[0], reference)
    simulated_path = root / PANEL
    if simulated_path.is_file():
        _compare("rounded vs simulate-cohorts' panel.tsv", rounded, VariantPanel.load(simulated_path))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo/cohorts"))
