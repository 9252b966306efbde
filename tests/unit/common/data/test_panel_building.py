"""Building the panel from the sites' variant summaries: matching, swaps, the strand rule, the
filters, genomic order, and the proof that it matches the panel built from pooled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genofed.common.data.cohort import MISSING
from genofed.common.data.layout import PANEL, hospital_folders
from genofed.common.data.panel import VariantPanel, align_to_panel
from genofed.common.data.panel_building import PanelRules, build_panel, is_strand_ambiguous, panel_from_pooled
from genofed.common.data.readers import read_genotypes
from genofed.common.data.variant_summary import (
    Release,
    VariantSummary,
    noisy_summary,
    rounded_summary,
    summarize_genotypes,
)
from genofed.common.data.writers import write_vcf
from genofed.common.errors import ConfigError, DataError
from genofed.simulations.cohorts.build import simulate_cohorts


def _site(name: str, counts: dict[str, tuple[float, float]], samples: float = 100) -> VariantSummary:
    ids = list(counts)
    called = [counts[v][0] for v in ids]
    alt = [counts[v][1] for v in ids]
    return VariantSummary(name, ids, called, alt, samples, Release("exact", round_to=0))


def test_swapped_alleles_are_one_variant_in_the_majority_orientation():
    sites = [
        _site("a", {"1:100:A:G": (200, 20)}),
        _site("b", {"1:100:G:A": (200, 190)}),  # REF/ALT swapped: 10 A alleles
        _site("c", {"1:100:A:G": (200, 30)}),
    ]
    panel, report = build_panel(sites)
    assert panel.variant_ids == ["1:100:A:G"]
    assert panel.alt_freq[0] == pytest.approx((20 + 10 + 30) / 600)
    assert report.swapped == 1 and report.kept == 1


def test_an_orientation_tie_goes_to_the_first_site_by_name():
    sites = [_site("zeta", {"1:100:G:A": (200, 50)}), _site("alpha", {"1:100:A:G": (200, 150)})]
    panel, _ = build_panel(sites)
    assert panel.variant_ids == ["1:100:A:G"]
    assert panel.alt_freq[0] == pytest.approx(300 / 400)


def test_strand_ambiguous_snps_seen_both_ways_are_resolved_by_frequency_or_dropped():
    sites = [
        _site(
            "a",
            {
                "1:100:A:T": (200, 20),
                "1:200:C:G": (200, 20),
                "1:250:C:G": (200, 20),
                "1:260:C:G": (200, 90),
                "1:300:A:G": (200, 20),
            },
        ),
        _site(
            "b",
            {
                "1:100:A:T": (200, 30),
                "1:200:G:C": (200, 170),
                "1:250:G:C": (200, 30),
                "1:260:G:C": (200, 110),
                "1:300:G:A": (200, 170),
            },
        ),
    ]
    panel, report = build_panel(sites)
    # A/T in one orientation everywhere: kept. 1:200 C/G seen both ways, read as a swap both sites
    # have G at 0.10 and 0.15: the same minor allele, so a swap, kept. 1:250: as a swap, G is at
    # 0.10 at a but 0.85 at b: the sites disagree on the minor allele (a strand flip?), dropped.
    # 1:260: pooled MAF 0.45, too near 0.5 to tell, dropped. A/G swapped: an ordinary swap.
    assert panel.variant_ids == ["1:100:A:T", "1:200:C:G", "1:300:A:G"]
    assert panel.alt_freq[1] == pytest.approx((20 + 30) / 400)
    assert report.dropped_strand == 2 and report.swapped == 4


def test_presence_call_rate_and_maf_filters_and_report():
    sites = [
        _site("a", {"1:1:A:G": (200, 50), "1:2:A:G": (150, 50), "1:3:A:G": (200, 1), "1:4:A:G": (200, 50)}),
        _site("b", {"1:1:A:G": (200, 50), "1:2:A:G": (150, 50), "1:3:A:G": (200, 1)}),
    ]
    panel, report = build_panel(sites, min_sites=2, min_call_rate=0.9, min_maf=0.01)
    assert panel.variant_ids == ["1:1:A:G"]
    assert (report.dropped_sites, report.dropped_call_rate, report.dropped_maf) == (1, 1, 1)
    assert report.variants_seen == 4 and report.kept == 1
    assert build_panel(sites, min_sites=1, min_call_rate=0.7, min_maf=0)[0].variant_ids == [
        "1:1:A:G",
        "1:2:A:G",
        "1:3:A:G",
        "1:4:A:G",
    ]


def test_the_report_names_the_frequency_filter_only_when_it_is_on():
    """`coordinator panel` printed "dropped, pooled minor allele frequency below 0: 0" at the default
    --min-maf 0, a filter that cannot drop anything (a deployment walkthrough)."""
    sites = [_site(name, {"1:1:A:G": (200, 50), "1:3:A:G": (200, 1)}) for name in ("a", "b")]
    _panel, report = build_panel(sites, min_maf=0)
    lines = report.lines(PanelRules(min_maf=0))
    assert not any("frequency below" in line for line in lines)
    assert "  no minor allele frequency filter (--min-maf 0: rare variants kept)" in lines
    _panel, report = build_panel(sites, min_maf=0.01)
    assert "  dropped, pooled minor allele frequency below 0.01: 1" in report.lines(PanelRules(min_maf=0.01))


def test_genomic_order_is_natural():
    ids = ["X:5:A:G", "10:5:A:G", "2:9:A:G", "2:5:C:T", "1:7:A:G", "MT:1:A:G", "2:5:A:G"]
    sites = [_site(n, {v: (200, 20) for v in ids}) for n in ("a", "b")]
    panel, _ = build_panel(sites)
    assert panel.variant_ids == [
        "1:7:A:G",
        "2:5:A:G",
        "2:5:C:T",
        "2:9:A:G",
        "10:5:A:G",
        "X:5:A:G",
        "MT:1:A:G",
    ]


def test_bad_rules_and_inputs_are_refused():
    sites = [_site("a", {"1:1:A:G": (200, 50)}), _site("a", {"1:1:A:G": (200, 50)})]
    with pytest.raises(ConfigError, match="more than one summary"):
        build_panel(sites)
    with pytest.raises(ConfigError, match="--min-sites 3"):
        build_panel(sites[:1] + [_site("b", {})], min_sites=3)
    with pytest.raises(ConfigError, match="min_maf"):
        build_panel(sites[:1], min_sites=1, min_maf=0.7)
    twice = _site("a", {"1:1:A:G": (200, 50), "1:1:G:A": (200, 150)})
    with pytest.raises(DataError, match="listed twice"):
        build_panel([twice], min_sites=1)


def test_swap_and_strand_from_tiny_vcfs(tmp_path: Path):
    """The same four patients typed at two sites, the second writing 1:200 and 1:300 with REF/ALT
    swapped (as PLINK's minor-allele A1 does) and 1:400 relabelled without flipping its dosages
    (what a strand flip looks like): the swaps are converted, and the C/G SNP 1:300 is resolved as
    a swap by its frequencies (both sites: G minor); 1:400's sites disagree on the minor allele,
    so it is dropped."""
    dosages = np.array([[0, 1, 2, 2], [1, 0, 1, 1], [2, 1, MISSING, MISSING], [0, 0, 1, 1]], dtype=np.int8)
    samples = [f"p{i}" for i in range(4)]
    write_vcf(tmp_path / "a.vcf", dosages, samples, ["1:100:C:G", "1:200:A:G", "1:300:G:C", "1:400:G:C"])
    flipped = np.where(dosages == MISSING, MISSING, 2 - dosages).astype(np.int8)
    flipped[:, 0] = dosages[:, 0]
    flipped[:, 3] = dosages[:, 3]
    write_vcf(tmp_path / "b.vcf", flipped, samples, ["1:100:C:G", "1:200:G:A", "1:300:C:G", "1:400:C:G"])
    summaries = [summarize_genotypes(n, tmp_path / f"{n}.vcf", round_to=1) for n in ("a", "b")]
    panel, report = build_panel(summaries, min_call_rate=0.5)
    assert panel.variant_ids == ["1:100:C:G", "1:200:A:G", "1:300:G:C"]
    np.testing.assert_allclose(panel.alt_freq, [3 / 8, 2 / 8, 8 / 12])
    assert (report.swapped, report.dropped_strand) == (3, 1)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("panel") / "cohorts"
    simulate_cohorts(out, preset="small", seed=11)
    return out


def _sites(cohorts: Path) -> dict:
    return {f.name: read_genotypes(f.genotypes) for f in hospital_folders(cohorts)}


def test_rounded_summaries_give_the_pooled_panel(cohorts: Path):
    """The proof: same ids, same order as the pooled reference; each frequency within the
    rounding bound |df| <= 1.5 S R / (C - S R / 2) (docs/panel.md)."""
    sites = _sites(cohorts)
    reference, ref_report = panel_from_pooled(sites)
    panel, report = build_panel([rounded_summary(n, g) for n, g in sites.items()])
    assert panel.variant_ids == reference.variant_ids
    assert ref_report.swapped > 0  # the PLINK clinic writes minor alleles as A1: swaps were resolved
    called = _pooled_called(sites, reference)
    bound = 1.5 * 3 * 10 / (called - 3 * 10 / 2)
    assert np.all(np.abs(panel.alt_freq - reference.alt_freq) <= bound)
    # The pooled reference's frequencies are the pooled data's own: every site aligned to the
    # panel (swaps flipped), stacked, counted.
    pooled = np.vstack(
        [align_to_panel(g.dosages, g.variant_ids, reference, min_coverage=0)[0] for g in sites.values()]
    )
    np.testing.assert_allclose(
        reference.alt_freq, VariantPanel.from_dosages(reference.variant_ids, pooled).alt_freq
    )
    # simulate-cohorts' own panel holds every pool variant in the pool's orientation, with the
    # pool's frequency: the built panel is its subset, in its order.
    simulated = VariantPanel.load(cohorts / PANEL)
    index = {v: i for i, v in enumerate(simulated.variant_ids)}
    assert all(v in index for v in panel.variant_ids)
    assert [index[v] for v in panel.variant_ids] == sorted(index[v] for v in panel.variant_ids)


def test_dp_summaries_give_the_pooled_panel_at_a_generous_epsilon(cohorts: Path):
    """DP counts at the accountant's least noise (multiplier 0.3), under rules whose thresholds the
    noise cannot cross: the pooled panel's ids in its order, frequencies within 6 noise sd, except
    strand-ambiguous SNPs whose swap is read from frequencies near the cut (`_resolved_as_swap`):
    about half of the noise draws drop one or two of them, each counted as a strand drop."""
    sites = _sites(cohorts)
    rules = PanelRules(min_sites=2, min_call_rate=0.5, min_maf=0.0)
    reference, _ = panel_from_pooled(sites, rules)
    rng = np.random.default_rng(5)
    noisy = [
        noisy_summary(n, g, noise_multiplier=0.3, epsilon=100, delta=1e-5, rng=rng) for n, g in sites.items()
    ]
    panel, report = build_panel(noisy, min_sites=2, min_call_rate=0.5)
    kept = set(panel.variant_ids)
    lost = [v for v in reference.variant_ids if v not in kept]
    assert len(lost) == report.dropped_strand <= 2
    assert all(is_strand_ambiguous(*v.split(":")[2:]) for v in lost)
    assert panel.variant_ids == [v for v in reference.variant_ids if v in kept]
    rows = np.array([v in kept for v in reference.variant_ids])
    sd = noisy[0].release.noise_sd
    called = _pooled_called(sites, reference)[rows]
    expected = reference.alt_freq[rows]
    freq_sd = sd * np.sqrt(3) * np.sqrt(1 + expected**2) / called
    assert np.all(np.abs(panel.alt_freq - expected) <= 6 * freq_sd)


def _pooled_called(sites: dict, panel: VariantPanel) -> np.ndarray:
    """Exact pooled called alleles of every panel variant (swapped ids included)."""
    stacked = np.vstack(
        [align_to_panel(g.dosages, g.variant_ids, panel, min_coverage=0)[0] for g in sites.values()]
    )
    return 2.0 * (stacked != MISSING).sum(axis=0)
