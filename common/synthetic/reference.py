"""The reference-based generator: synthetic people as mosaics of a PUBLIC reference panel's
haplotypes (a Li-Stephens copying model), conditioned on what the site releases about its
patients (`site_release`): its case share, per-class allele frequencies and covariate histogram.

Why: learning the linkage of 20,000 variants from 200 patients is the wrong problem. Linkage and
population structure are public knowledge, carried by reference panels such as 1000 Genomes;
what belongs to the hospital is its allele frequencies, its case/control differences and its
covariates. So the haplotypes are copied in segments from the panel (LD and structure come from
there, at no privacy cost), and only the site's released statistics move them:

1. Population matching: a public classifier fitted on the panel alone assigns every patient to
   its nearest panel population; the release counts the assignments (with noise), and the
   classifier's own confusion on the panel turns the counts back into the site's mix
   (`match_populations`). Every synthetic person draws one population from that mix and copies
   only its haplotypes, so the synthetic cohort has the site's ancestry.
2. Copying: each haplotype starts on a random panel haplotype of its population and jumps to
   another at each gap between variants with probability 1 - exp(-rho d), d the gap in Mb and
   rho = 4 Ne r / H the Li-Stephens rate (Ne the effective population size, r the recombination
   rate per Mb, H the population's haplotypes in the panel); always across chromosomes.
3. Class frequencies: per class, each variant's alleles are flipped at random (0 -> 1 or 1 -> 0,
   the fewest flips) until its frequency is the class's released frequency; the copied LD is
   kept wherever the site does not differ from its population.
4. Covariates: (sex, age decade) from the class's released histogram, age uniform in the decade.

Columns the panel does not cover are drawn independently from the class frequencies (no LD).
Records are phased (the VCF `genofed synth` writes is phased).

The generator's whole privacy cost is the one release (`TrainedReference.history`); the panel
and the rules above are public. Without DP the release is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genofed.common.data.readers.phenotypes import AGE_RANGE
from genofed.common.errors import ConfigError
from genofed.common.privacy.accountant import Step, calibrate_noise
from genofed.common.privacy.release import release_step
from genofed.common.synthetic.config_base import SyntheticRecords, check_sampling
from genofed.common.synthetic.reference_panel import ReferencePanel
from genofed.common.synthetic.site_release import (
    AGE_BIN_YEARS,
    SiteRelease,
    release_site,
)
from genofed.common.util.checks import require_positive

#: Persons copied at a time (memory: chunk x 2 x V int32 source indices).
_CHUNK = 256


@dataclass(frozen=True)
class ReferenceSettings:
    """The copying model's public constants (nothing here is fitted to patients).

    seed: seeds the sampling (not the release's DP noise, which is drawn from the OS's secret
        randomness unless a caller passes its own generator).
    effective_size: Ne of the Li-Stephens switch rate; 10,000 is the human figure.
    cm_per_mb: recombination rate; 1 cM per Mb is the human genome average.
    """

    seed: int = 42
    effective_size: float = 10_000.0
    cm_per_mb: float = 1.0

    def __post_init__(self) -> None:
        require_positive("effective_size", self.effective_size)
        require_positive("cm_per_mb", self.cm_per_mb)


def reference_noise_for_budget(*, epsilon: float, delta: float, history: list[Step] | tuple = ()) -> float:
    """The release's noise multiplier that keeps the site's total epsilon (`history` + the one
    release) within `epsilon` at `delta`; raises BudgetExhausted if none can."""
    return calibrate_noise(list(history), sample_rate=1.0, steps=1, target_epsilon=epsilon, delta=delta)


@dataclass
class TrainedReference:
    """A site's reference generator: the public panel, the site's release, the population mix it
    matched and the class frequencies it generates from. `history` is the release's ledger step
    (empty without DP); `losses` is empty (nothing is trained by gradient descent)."""

    panel: ReferencePanel
    release: SiteRelease
    settings: ReferenceSettings
    population_weights: dict[str, float]
    class_freq: np.ndarray  # (2, V) what each class is generated at
    copy_freq: np.ndarray  # (V,) what the copying alone gives in expectation (the matched mix)
    history: list[Step] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def sample(
        self,
        n: int,
        *,
        labels: np.ndarray | None = None,
        case_fraction: float | None = None,
        seed: int,
        temperature: float = 1.0,
    ) -> SyntheticRecords:
        """Draw `n` phased records; the same (generator, arguments, seed) gives the same records.

        Labels: `labels` if given, else Bernoulli(case_fraction), defaulting to the released share.
        `temperature` exists for the common interface; only 1 is meaningful here.
        """
        check_sampling(n, temperature)
        if temperature != 1.0:
            raise ConfigError(
                "--temperature applies to the VAE and GAN only; the reference generator copies haplotypes"
            )
        rng = np.random.default_rng(seed)
        share = self.release.case_fraction if case_fraction is None else float(case_fraction)
        y = (rng.random(n) < share).astype(np.int8) if labels is None else np.asarray(labels, dtype=np.int8)
        if len(y) != n:
            raise ValueError(f"{len(y)} labels for {n} records")
        haps = self._copy(n, rng)
        for k in (0, 1):
            rows = np.flatnonzero(y == k)
            if len(rows):
                haps[rows] = _match_frequencies(
                    haps[rows], self.class_freq[k], self.copy_freq, self.panel.covered, rng
                )
        records = SyntheticRecords(genotypes=haps.sum(axis=2, dtype=np.int8), labels=y, haplotypes=haps)
        if self.release.covariates is not None:
            records.sex, records.age = _covariates(self.release.covariates, y, rng)
        return records

    def save(self, path: str | Path) -> None:
        """The release, the matched mix and the settings as a plain .npz (no pickles); the panel
        is public and referenced by its source, not copied."""
        r = self.release
        np.savez(
            Path(path),
            class_counts=r.class_counts,
            centred_sums=r.centred_sums,
            released=r.released,
            reference_freq=r.reference_freq,
            covariates=np.zeros(0) if r.covariates is None else r.covariates,
            ancestry=np.zeros(0) if r.ancestry is None else r.ancestry,
            noise_sd=r.noise_sd,
            noise_multiplier=np.array(np.nan if r.noise_multiplier is None else r.noise_multiplier),
            class_freq=self.class_freq,
            copy_freq=self.copy_freq,
            history=np.array(self.history, dtype=np.float64).reshape(-1, 3),
            population_names=np.array(list(self.population_weights), dtype=str),
            population_weights=np.array(list(self.population_weights.values()), dtype=np.float64),
            settings=np.array([str(asdict(self.settings))]),
            panel_source=np.array([self.panel.source]),
        )

    def _copy(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, V, 2) int8 mosaic haplotypes, each person from one population of the matched mix."""
        names = list(self.population_weights)
        weights = np.array([self.population_weights[k] for k in names])
        person_pop = rng.choice(len(names), size=n, p=weights / weights.sum())
        out = np.zeros((n, self.panel.n_variants, 2), dtype=np.int8)
        for k, name in enumerate(names):
            rows = np.flatnonzero(person_pop == k)
            pool = (
                np.flatnonzero(self.panel.populations == name) if name else np.arange(self.panel.n_haplotypes)
            )
            switch = _switch_probabilities(self.panel, self.settings, len(pool))
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                mosaic = _mosaic(self.panel.haplotypes, pool, switch, 2 * len(chunk), rng)
                out[chunk] = mosaic.reshape(len(chunk), 2, -1).transpose(0, 2, 1)
        return out


def train_reference(
    dosages: np.ndarray,
    labels: np.ndarray,
    *,
    reference: ReferencePanel,
    settings: ReferenceSettings,
    covariates: np.ndarray | None = None,
    noise_multiplier: float | None = None,
    focus: np.ndarray | None = None,
    noise_rng: np.random.Generator | None = None,
) -> TrainedReference:
    """The site's release (DP when `noise_multiplier` is given) and the generator built on it.

    Args:
        dosages: (n, V) the site's ALT dosages, imputed; columns as the panel's.
        labels: (n,) 0/1.
        reference: the public panel aligned to the site's variants (`load_reference_panel`).
        settings: the copying model's constants.
        covariates: (n, 2) sex and age, or None.
        noise_multiplier: the release's Gaussian sigma (`reference_noise_for_budget`), None = exact.
        focus: (V,) bool, the variants whose per-class frequencies are released (default all;
            a public gene list narrows it).
        noise_rng: seeds the DP noise's key; default the OS's secret randomness (a seeded noise
            could be subtracted by anyone who knows the seed). Experiments pass a seeded one.
    """
    if dosages.shape[1] != reference.n_variants:
        raise ValueError(f"{dosages.shape[1]} genotype columns but the panel has {reference.n_variants}")
    classifier = PopulationClassifier.fit(reference)
    # columns the panel lacks have no public frequency: they are always released (centred on 0.5)
    released = ~reference.covered | (True if focus is None else np.asarray(focus, dtype=bool))
    freq = reference.alt_frequencies()
    release = release_site(
        dosages,
        labels,
        reference_freq=freq,
        covariates=covariates,
        released=released,
        noise_multiplier=noise_multiplier,
        rng=noise_rng,
        ancestry=None if classifier is None else classifier.assign(dosages),
        n_populations=0 if classifier is None else len(classifier.names),
    )
    weights = match_populations(reference, release, classifier)
    # ... and there the site's own pooled release stands in for the population's frequency, shrunk
    # under DP towards what the panel says of allele frequencies in general
    pooled = uncovered_frequencies(release, reference)
    prior = np.where(reference.covered, _mixed_frequencies(reference, weights), pooled)
    class_freq = release.class_frequencies(prior)
    history = [] if noise_multiplier is None else [release_step(noise_multiplier)]
    return TrainedReference(reference, release, settings, weights, class_freq, prior, history)


def uncovered_frequencies(release: SiteRelease, panel: ReferencePanel) -> np.ndarray:
    """(V,) the frequency a variant the panel lacks is generated at: the site's released pooled
    frequency, under DP shrunk towards the panel's frequencies (empirical Bayes with a public
    prior: the mean and the spread of the panel's covered variants' ALT frequencies) by
    t^2 / (t^2 + s^2), s the pooled frequency's DP noise. Without DP (s = 0) it is the site's own.

    Until this change the noisy pooled frequency was used as it came, clipped to [0, 1]: at the
    noise of a small site's DP release (an outside walkthrough: sd 0.3 to 2 in frequency units)
    most of those variants were generated at frequency 0 or 1, every record shared one genotype
    there, and the batch separated from the real patients in the PCA (pca_mixing 0.07 at epsilon
    1 with 162 of 967 variants outside the panel)."""
    raw = np.nan_to_num(release.pooled_frequencies(), nan=0.5)
    noise_sd = float(release.noise_sd[0])
    if noise_sd > 0:
        total = float(release.class_counts.sum())
        # the sum of the two classes' noisy centred sums, over 2 alleles of `total` patients
        noise = 2.0 * (noise_sd / (2.0 * total)) ** 2
        public = panel.alt_frequencies()[panel.covered]
        public = public[np.isfinite(public)]
        mean, spread = (float(public.mean()), float(public.var())) if len(public) > 1 else (0.5, 1.0 / 12)
        raw = mean + spread / (spread + noise) * (raw - mean)
    return np.clip(raw, 0.0, 1.0)


@dataclass(frozen=True)
class PopulationClassifier:
    """A public classifier of ancestry, fitted on the panel alone: nearest population centroid in
    the panel's top principal components. `confusion[k, j]` is the share of panel people of
    population k it assigns to j, so that a site's assignment counts can be turned back into its
    mix (`match_populations`)."""

    names: list[str]
    columns: np.ndarray  # (V,) bool: the panel's covered columns, the only ones it reads
    mean: np.ndarray  # (C,) the panel's mean dosage on them
    axes: np.ndarray  # (C, K) principal axes
    centroids: np.ndarray  # (P, K)
    confusion: np.ndarray  # (P, P)

    #: Principal components the classifier uses.
    COMPONENTS = 10

    @classmethod
    def fit(cls, panel: ReferencePanel) -> PopulationClassifier | None:
        """The classifier, or None for a panel with fewer than two labelled populations."""
        names = sorted(set(panel.populations[::2].tolist()) - {""})
        if len(names) < 2:
            return None
        columns = panel.covered.copy()
        people = panel.haplotypes[:, columns].reshape(-1, 2, int(columns.sum())).sum(axis=1, dtype=np.float32)
        labels = panel.populations[::2]
        keep = labels != ""
        people, labels = people[keep], labels[keep]
        mean = people.mean(axis=0)
        centred = people - mean
        values, vectors = np.linalg.eigh(centred @ centred.T)  # via the small Gram matrix
        top = np.argsort(values)[::-1][: min(cls.COMPONENTS, len(values) - 1)]
        axes = centred.T @ (vectors[:, top] / np.sqrt(np.maximum(values[top], 1e-9)))
        scores = centred @ axes
        centroids = np.stack([scores[labels == k].mean(axis=0) for k in names])
        own = np.array([names.index(k) for k in labels])
        assigned = _nearest(scores, centroids)
        confusion = np.stack(
            [np.bincount(assigned[own == k], minlength=len(names)) for k in range(len(names))]
        )
        confusion = confusion / confusion.sum(axis=1, keepdims=True)
        return cls(names, columns, mean, axes, centroids, confusion)

    def assign(self, dosages: np.ndarray) -> np.ndarray:
        """(n,) index into `names` of each person's nearest population centroid."""
        x = np.asarray(dosages, dtype=np.float32)[:, self.columns]
        return _nearest((x - self.mean) @ self.axes, self.centroids)


def _nearest(scores: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    distances = ((scores[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def match_populations(
    panel: ReferencePanel, release: SiteRelease, classifier: PopulationClassifier | None = None
) -> dict[str, float]:
    """The site's ancestry as a mix of the panel's populations. With the released ancestry counts
    (the classifier's assignments), the mix w solves counts / total = confusion^T w by
    non-negative least squares: the classifier's known errors on the panel are undone. Without
    them, the released pooled frequencies are fitted as a non-negative mix of the populations'
    frequencies (thousands of noisy frequencies pin down a handful of weights, less precisely).
    A panel without population labels is one population, ""."""
    from scipy.optimize import nnls

    names = sorted(set(panel.populations.tolist()) - {""})
    if len(names) < 2:
        return {names[0] if names else "": 1.0}
    counts = None if classifier is None else ancestry_counts(release, classifier.names)
    if counts is not None:  # none above the noise: the panel's own composition (below)
        names = classifier.names
        weights = nnls(classifier.confusion.T, counts / counts.sum())[0] if counts.sum() > 0 else counts
    else:
        use = release.released & panel.covered
        target = release.pooled_frequencies()[use]
        columns = np.stack(
            [panel.haplotypes[panel.populations == k][:, use].mean(axis=0) for k in names], axis=1
        )
        weights, _ = nnls(columns, target)
    if weights.sum() <= 0:
        weights = np.array([(panel.populations == k).sum() for k in names], dtype=np.float64)
    kept = {k: float(w) for k, w in zip(names, weights / weights.sum(), strict=True) if w > 1e-3}
    total = sum(kept.values())  # a mix again after the negligible populations are dropped
    return {k: w / total for k, w in kept.items()}


def ancestry_counts(release: SiteRelease, names: list[str]) -> np.ndarray | None:
    """(K,) the site's patients per panel population (`names`) to match its mix with: the released
    counts, exact without DP; under DP their posterior means under a spike-and-slab prior fitted
    to the K counts themselves (empirical Bayes, `_spike_and_slab`): a population is absent from
    the site with probability pi, else its count is exponential with mean mu. A site of one
    population keeps that one (the others' noise is read as noise); a site spread thinly over many
    populations, each count under the noise, gets a near-even mix, which is the panel's own
    composition. None when no ancestry was released; all zeros when nothing stands above the noise
    (`match_populations` then takes the panel's composition: structure from the panel, not noise).

    Until this change the noisy counts were matched as released, clipped at 0: every population
    the site lacks kept 0.4 noise sd on average, and at a small site's noise (an outside
    walkthrough: sd 6.6 to 13 patients per count, 27 panel populations, 107 training patients)
    that outweighed the real counts: the matched mix put 40 % of the records on continents absent
    from the site."""
    if release.ancestry is None:
        return None
    counts = np.asarray(release.ancestry, dtype=np.float64)
    noise_sd = float(release.noise_sd[3]) if len(release.noise_sd) > 3 else 0.0
    if noise_sd > 0:
        counts = _spike_and_slab(counts, noise_sd)
    return np.maximum(counts, 0.0)


def _spike_and_slab(observed: np.ndarray, sd: float) -> np.ndarray:
    """Posterior means of non-negative counts c_k seen as c_k + N(0, sd^2), each 0 with probability
    pi and else exponential with mean mu; (pi, mu) maximise the counts' marginal likelihood over a
    public grid (the slab's marginal is the exponentially modified normal)."""
    from scipy.stats import exponnorm, norm

    o = np.asarray(observed, dtype=np.float64)
    top = max(float(o.max()), sd)
    means = np.geomspace(sd / 20.0, 4.0 * top, 60)
    shares = np.linspace(0.0, 0.98, 50)  # pi, the share of populations absent from the site
    spike = norm.logpdf(o, scale=sd)  # (K,)
    slab = np.stack([exponnorm.logpdf(o, mu / sd, scale=sd) for mu in means])  # (M, K)
    with np.errstate(divide="ignore"):
        mixed = np.logaddexp(
            np.log(shares)[:, None, None] + spike[None, None, :],
            np.log1p(-shares)[:, None, None] + slab[None, :, :],
        )  # (P, M, K)
    best = np.unravel_index(np.argmax(mixed.sum(axis=2)), mixed.shape[:2])
    pi, mu = shares[best[0]], means[best[1]]
    with np.errstate(divide="ignore"):
        log_slab = np.log1p(-pi) + slab[best[1]]
        log_spike = np.log(pi) + spike if pi > 0 else np.full_like(o, -np.inf)
    p_slab = np.exp(log_slab - np.logaddexp(log_slab, log_spike))
    # c | slab, o: N(o - sd^2 / mu, sd^2) truncated to c >= 0
    m = o - sd**2 / mu
    a = m / sd
    mean = m + sd * np.exp(norm.logpdf(a) - norm.logcdf(a))
    return p_slab * mean


def _mixed_frequencies(panel: ReferencePanel, weights: dict[str, float]) -> np.ndarray:
    """(V,) ALT frequencies of the matched mix of populations."""
    if list(weights) == [""]:
        return np.nan_to_num(panel.alt_frequencies(), nan=0.5)
    total = sum(weights.values())
    freq = sum(w / total * panel.haplotypes[panel.populations == k].mean(axis=0) for k, w in weights.items())
    return np.where(panel.covered, freq, 0.5)


def _switch_probabilities(
    panel: ReferencePanel, settings: ReferenceSettings, n_haplotypes: int
) -> np.ndarray:
    """(V,) probability that a copying haplotype jumps just before each variant (1 at the first
    variant of every chromosome)."""
    rho = 4.0 * settings.effective_size * settings.cm_per_mb / 100.0 / max(n_haplotypes, 1)
    gap_mb = np.diff(panel.positions.astype(np.float64), prepend=np.nan) / 1e6
    switch = 1.0 - np.exp(-rho * np.abs(np.nan_to_num(gap_mb, nan=np.inf)))
    chrom = np.asarray(panel.chromosomes)
    new_chromosome = np.ones(len(chrom), dtype=bool)
    new_chromosome[1:] = chrom[1:] != chrom[:-1]
    return np.where(new_chromosome, 1.0, switch)


def _mosaic(
    haplotypes: np.ndarray, pool: np.ndarray, switch: np.ndarray, m: int, rng: np.random.Generator
) -> np.ndarray:
    """(m, V) haplotypes copied from `pool` rows of `haplotypes` in segments."""
    jumps = rng.random((m, len(switch))) < switch
    jumps[:, 0] = True
    segment = np.cumsum(jumps, axis=1) - 1  # per row: 0, 0, 1, 1, 1, 2, ...
    per_row = segment[:, -1] + 1
    offsets = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    sources = pool[rng.integers(0, len(pool), size=int(per_row.sum()))]
    rows = sources[segment + offsets[:, None]]
    return haplotypes[rows, np.arange(len(switch))[None, :]]


def _match_frequencies(
    haps: np.ndarray, target: np.ndarray, copied: np.ndarray, covered: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Flip alleles of (n, V, 2) haplotypes at random so that each variant's ALT frequency is
    `target`'s in expectation, with the fewest flips; uncovered columns are drawn afresh.

    The flip rates compare `target` with `copied`, the frequency copying gives in expectation,
    not with the batch's realised frequency: correcting the batch's own sampling noise would flip
    a few per cent of the alleles of every variant and erode the copied LD for nothing."""
    n, v, _ = haps.shape
    flat = haps.transpose(0, 2, 1).reshape(2 * n, v).copy()
    realised = np.asarray(copied, dtype=np.float64)
    up = np.where(target > realised, (target - realised) / np.maximum(1.0 - realised, 1e-12), 0.0)
    down = np.where(target < realised, (realised - target) / np.maximum(realised, 1e-12), 0.0)
    u = rng.random(flat.shape)
    flat = np.where((flat == 0) & (u < up), 1, np.where((flat == 1) & (u < down), 0, flat)).astype(np.int8)
    if (~covered).any():
        fresh = (rng.random((2 * n, int((~covered).sum()))) < target[~covered]).astype(np.int8)
        flat[:, ~covered] = fresh
    return flat.reshape(n, 2, v).transpose(0, 2, 1)


def _covariates(hist: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sex and age of each record from its class's released (sex, age decade) histogram."""
    n = len(y)
    sex = np.zeros(n, dtype=np.int8)
    age = np.zeros(n, dtype=np.float64)
    for k in (0, 1):
        rows = np.flatnonzero(y == k)
        cells = np.maximum(hist[k].ravel(), 0.0)
        p = cells / cells.sum() if cells.sum() > 0 else np.full(cells.size, 1.0 / cells.size)
        drawn = rng.choice(cells.size, size=len(rows), p=p)
        sex_k, decade = np.divmod(drawn, hist.shape[2])
        sex[rows] = sex_k
        age[rows] = (decade + rng.random(len(rows))) * AGE_BIN_YEARS
    low, high = AGE_RANGE
    return sex, np.clip(age, low, high)
