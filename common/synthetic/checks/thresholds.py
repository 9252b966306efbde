"""The pass/fail limits of a synthetic batch (`Thresholds`), in one frozen dataclass so that a
site, the experiments and the tests judge a batch by the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

from genofed.common.util.checks import require_choice, require_in_range, require_int

#: How the fidelity checks (allele frequencies, genotype TVD, LD, PCA mixing) are judged.
FIDELITY_LIMITS = ("band", "fixed")


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits. Defaults marked (target) are the project's targets for synthetic data; the
    others are judgements documented next to them. A limit of None turns its check into a reported metric."""

    af_correlation_min: float = 0.99  # (target) Pearson r of per-variant allele frequencies
    ld_correlation_min: float = 0.95  # (target) Pearson r of real vs synthetic r^2 (upper triangles)
    aats_low: float = 0.45  # (target) AA_TS below: synthetic records sit too close to training records
    aats_high: float = 0.55  # (target) AA_TS above: synthetic records are distinguishable from real ones
    privacy_loss_max: float = 0.03  # (target) AA_ES - AA_TS (signed; negative is fine)
    exact_copies_max: int = 0  # (target) synthetic records identical to a training record
    mia_auc_max: float = 0.55  # (target) distance-based membership-inference AUC
    spurious_rate_max: float = 0.05  # (target) share of synthetic associations absent in real data
    # Significance of the association checks: a finding is significant at family-wise alpha
    # `synthetic_alpha` after `correction` ("bonferroni", or "bh" = Benjamini-Hochberg FDR q);
    # absent in real data means not even nominally significant there (p >= real_nominal_alpha),
    # or significant with the opposite sign. Bonferroni by default: with many moderate true
    # associations BH admits weak findings that a same-size real sample misses by chance, so even
    # held-out real data would score a high "spurious" rate (seen on the test population).
    synthetic_alpha: float = 0.05
    correction: str = "bonferroni"
    real_nominal_alpha: float = 0.05
    # Judgement: at least half of the real BH-significant associations must be nominally
    # significant with the same sign in the synthetic data (a generator that drops the label
    # signal, e.g. shuffled labels, has ~0). Not applicable when real data has no finding.
    association_recall_min: float | None = 0.5
    # Effect-size correlation depends on how much true signal the real data has (with few causal
    # variants it is mostly sampling noise even for held-out real data), so reported by default.
    effect_correlation_min: float | None = None
    # Judgement: normalised nearest-neighbour mixing in the top real PCs (1 = perfectly mixed).
    pca_mixing_min: float | None = 0.8
    # Mean per-variant total variation distance of the 0/1/2 frequencies; no target set.
    genotype_tvd_mean_max: float | None = None
    # How the four fidelity checks above (allele-frequency r, genotype TVD, LD r, PCA mixing) are
    # judged. "band" (default): the synthetic batch against the held-out patients must score at
    # least the `band_quantile` of `band_resamples` bootstrap samples of as many real training
    # patients against the same holdout (at most 1 - quantile for TVD; `checks.bands`): as good as
    # real data of its size. The fixed limits above are then targets shown next to the band.
    # "fixed": the limits above, against the training patients (the 1000 Genomes experiments).
    # Label and privacy checks always keep their fixed limits.
    fidelity_limits: str = "band"
    band_resamples: int = 20
    band_quantile: float = 0.05

    def __post_init__(self) -> None:
        require_choice("fidelity_limits", self.fidelity_limits, FIDELITY_LIMITS)
        require_int("band_resamples", self.band_resamples, minimum=2)
        require_in_range("band_quantile", self.band_quantile, 0.0, 0.5, low_open=True, high_open=True)


#: The default limits, shared as one immutable instance (argument defaults use it).
DEFAULT_THRESHOLDS = Thresholds()
