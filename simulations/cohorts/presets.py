"""Named simulation presets: every number that shapes a simulated federation, in one place.

Presets are frozen dataclasses with explicit fields, validated when built, so a typo in a
mixture or an impossible prevalence fails at once with a message, not after minutes of msprime.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from genofed.common.errors import ConfigError
from genofed.common.util.checks import (
    require,
    require_at_least,
    require_choice,
    require_in_range,
    require_positive,
)
from genofed.simulations.cohorts.demography import POPULATIONS

#: The sample-id prefix of the public reference panel's people (REF0001, ...).
REFERENCE_PREFIX = "REF"


@dataclass(frozen=True)
class GenomeSpec:
    """The simulated genome: independent regions (region k on chromosome k + 1), human rates.

    Regions are unlinked, so linkage disequilibrium is local as in real genomes. `min_maf`
    drops variants too rare in the pool to matter; it is kept below the rare causal band so
    rare causal variants hide among many other rare ones.
    """

    n_regions: int
    region_length: int
    recombination_rate: float = 1e-8
    mutation_rate: float = 1.25e-8
    min_maf: float = 0.002

    def __post_init__(self) -> None:
        require_in_range(
            "n_regions",
            self.n_regions,
            1,
            22,
            message=f"n_regions must be in 1..22 (one region per autosome), got {self.n_regions}",
        )
        require_at_least(
            "region_length",
            self.region_length,
            1_000,
            message=f"region_length must be >= 1000 bp, got {self.region_length}",
        )
        for name in ("recombination_rate", "mutation_rate"):
            rate = getattr(self, name)
            require_in_range(
                name,
                rate,
                0,
                1e-6,
                low_open=True,
                high_open=True,
                message=f"{name} {rate} is not a per-bp human-like rate",
            )
        require_in_range("min_maf", self.min_maf, 0, 0.5, low_open=True, high_open=True)


@dataclass(frozen=True)
class TraitSpec:
    """A binary trait under a liability-threshold model.

    liability = sum(effect * alt dosage) + sex_effect * male + age_effect * (age - 40) / 10
                + population offset + e,   e ~ Normal(0, 1 - polygenic_variance)
    and a person is a case when liability > threshold, the threshold being solved so that the
    pool prevalence is `prevalence`. Rare variants carry `rare_effect` liability SDs per allele;
    common effects are scaled so their genetic variance in the pool is `polygenic_variance`.
    """

    prevalence: float
    n_rare: int
    n_common: int
    rare_effect: float = 1.5
    rare_freq_range: tuple[float, float] = (0.002, 0.01)
    common_min_maf: float = 0.05
    polygenic_variance: float = 0.25
    sex_effect: float = 0.15
    age_effect: float = 0.1
    #: Population -> baseline liability shift: founder effects give population-specific prevalence.
    population_offsets: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        require_in_range("prevalence", self.prevalence, 0, 0.5, low_open=True, high_open=True)
        require(
            self.n_rare >= 0 and self.n_common >= 0 and self.n_rare + self.n_common > 0,
            "a trait needs at least one causal variant",
        )
        low, high = self.rare_freq_range
        require(
            0 < low < high <= 0.05,
            f"rare_freq_range {self.rare_freq_range} must satisfy 0 < low < high <= 0.05",
        )
        require_in_range("polygenic_variance", self.polygenic_variance, 0, 0.9, high_open=True)
        require_positive(
            "rare_effect", self.rare_effect, message="rare_effect must be positive (risk alleles)"
        )

    @property
    def sigma_e(self) -> float:
        """SD of the environmental noise: polygenic + noise variance is 1 on the liability scale."""
        return (1.0 - self.polygenic_variance) ** 0.5


@dataclass(frozen=True)
class CohortSpec:
    """One clinic (or the test cohort): size, case fraction and catchment ancestry mix.

    Cases of a clinic come from its catchment in proportion to mix x population prevalence;
    controls in proportion to the mix. So clinics differ in ancestry (non-IID) the way real
    district clinics do.
    """

    name: str
    n: int
    case_fraction: float
    ancestry: tuple[tuple[str, float], ...]
    id_prefix: str
    #: Share of calls written as missing (`./.`): arrays and sequencing miss some calls.
    missing_rate: float = 0.0
    #: Share of panel variants the clinic's genotyping platform does not have: absent from its
    #: VCF, so the panel alignment must impute them, as for a clinic on another array.
    untyped_fraction: float = 0.0
    #: "vcf" (phased, bgzipped) or "plink": PLINK 1 files as plink 1.9 exports them, with A1 the
    #: clinic's minor allele, so that REF/ALT come out swapped wherever the ALT is common there.
    genotype_format: str = "vcf"

    def __post_init__(self) -> None:
        require(
            self.name.replace("-", "").replace("_", "").isalnum() and self.name.islower(),
            f"cohort name {self.name!r} must be lower-case letters, digits, '-' or '_'",
        )
        cohort = f"cohort {self.name}"
        require_in_range("n", self.n, 10, 100_000, message=f"{cohort}: n must be in 10..100000, got {self.n}")
        require_in_range(
            "case_fraction",
            self.case_fraction,
            0,
            1,
            low_open=True,
            high_open=True,
            message=f"{cohort}: case_fraction must be in (0, 1)",
        )
        weights = [w for _, w in self.ancestry]
        require(
            bool(weights) and min(weights) >= 0 and abs(sum(weights) - 1) < 1e-6,
            f"cohort {self.name}: ancestry weights must be >= 0 and sum to 1, got {weights}",
        )
        require(
            self.id_prefix.isalpha() and self.id_prefix.isupper(),
            f"cohort {self.name}: id_prefix must be upper-case letters",
        )
        for name in ("missing_rate", "untyped_fraction"):
            require_in_range(
                name,
                getattr(self, name),
                0,
                0.5,
                high_open=True,
                message=f"{cohort}: {name} must be in [0, 0.5)",
            )
        require_choice(
            "genotype_format",
            self.genotype_format,
            ("vcf", "plink"),
            message=f"{cohort}: genotype_format must be 'vcf' or 'plink'",
        )


@dataclass(frozen=True)
class SourceSpec:
    """Large source cohorts for transfer learning, drawn from the same pool and panel.

    `near` shares `shared_rare_fraction` of the disease's rare causal variants and has common
    effects correlated `effect_correlation` with the disease's; `far` is a common trait on
    different variants. Both are population-based samples (a biobank), not case-enriched.
    """

    n: int
    near: TraitSpec
    far: TraitSpec
    shared_rare_fraction: float = 0.5
    effect_correlation: float = 0.7

    def __post_init__(self) -> None:
        require_at_least("n", self.n, 100, message=f"source cohorts need n >= 100, got {self.n}")
        require_in_range("shared_rare_fraction", self.shared_rare_fraction, 0, 1)
        require_in_range("effect_correlation", self.effect_correlation, -1, 1)


@dataclass(frozen=True)
class Preset:
    """Everything `simulate_cohorts` needs besides the seed and the output folder.

    `genotypes="msprime"` simulates a pool of `pool_sizes` people per population; `"1000g"` uses
    the real 1000 Genomes genotypes as the pool (then `genome` and `pool_sizes` are unused).
    """

    name: str
    genotypes: Literal["msprime", "1000g"]
    disease: TraitSpec
    hospitals: tuple[CohortSpec, ...]
    test: CohortSpec
    genome: GenomeSpec | None = None
    pool_sizes: tuple[tuple[str, int], ...] = ()
    sources: SourceSpec | None = None
    #: People in the public reference panel (`reference/`): a population sample no clinic, not the
    #: test cohort and no source drew, in the pool's population proportions. 0 writes none.
    reference_size: int = 500
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        cohorts = (*self.hospitals, self.test)
        names = [c.name for c in cohorts]
        require(len(set(names)) == len(names), f"preset {self.name}: cohort names repeat")
        require(
            "test" not in names[:-1] and "sources" not in names and "reference" not in names,
            "'test', 'sources' and 'reference' are reserved folder names",
        )
        prefixes = [c.id_prefix for c in cohorts]
        require(
            len(set(prefixes)) == len(prefixes) and REFERENCE_PREFIX not in prefixes,
            f"preset {self.name}: id prefixes repeat (or use {REFERENCE_PREFIX}, the reference panel's), "
            "sample ids would clash",
        )
        require_at_least("reference_size", self.reference_size, 0)
        if self.genotypes == "msprime":
            require(self.genome is not None, f"preset {self.name}: msprime genotypes need a genome")
            known = {p for p, _ in self.pool_sizes}
            require(
                known <= set(POPULATIONS),
                f"preset {self.name}: unknown pool population(s) {sorted(known - set(POPULATIONS))}",
            )
            for cohort in cohorts:
                unknown = {p for p, _ in cohort.ancestry} - known
                require(
                    not unknown,
                    f"cohort {cohort.name}: ancestry names population(s) {sorted(unknown)} "
                    "that the pool lacks",
                )
        else:
            require(
                self.sources is None,
                "near/far source traits need a simulated pool; "
                "the 1000g preset's source is its unused people (ancestry)",
            )


def _mix(russian: float, adyghe: float, turkic: float, kalmyk: float) -> tuple[tuple[str, float], ...]:
    return (("russian", russian), ("adyghe", adyghe), ("turkic", turkic), ("kalmyk", kalmyk))


#: Clinics of the Southern Federal District: (name, id prefix, size, case fraction, ancestry mix,
#: missing-call rate, share of panel variants their platform lacks).
#: Mixes are illustrative catchments, not census figures: Adygea and Kalmykia have their
#: titular peoples, Astrakhan and Crimea sizeable Turkic (Kazakh, Tatar, Crimean Tatar) shares.
_DISTRICT_CLINICS = (
    ("rostov", "ROS", 300, 0.35, _mix(0.86, 0.04, 0.07, 0.03), 0.002, 0.0),
    ("krasnodar", "KRA", 260, 0.40, _mix(0.80, 0.12, 0.06, 0.02), 0.005, 0.0),
    ("volgograd", "VOL", 200, 0.40, _mix(0.82, 0.02, 0.12, 0.04), 0.01, 0.0),
    ("astrakhan", "AST", 150, 0.45, _mix(0.55, 0.02, 0.38, 0.05), 0.02, 0.03),
    ("simferopol", "SIM", 120, 0.40, _mix(0.62, 0.02, 0.34, 0.02), 0.005, 0.05),
    ("maykop", "MAY", 80, 0.45, _mix(0.35, 0.60, 0.05, 0.00), 0.01, 0.0),
    ("elista", "ELI", 60, 0.50, _mix(0.30, 0.02, 0.08, 0.60), 0.015, 0.02),
    ("sevastopol", "SEV", 40, 0.40, _mix(0.88, 0.02, 0.08, 0.02), 0.003, 0.0),
    ("sochi", "SOC", 90, 0.35, _mix(0.75, 0.15, 0.08, 0.02), 0.005, 0.0),
)

#: Clinics whose laboratory exports PLINK 1 binary files rather than VCF.
_PLINK_CLINICS = {"simferopol": "plink"}

_DISTRICT_OFFSETS = (("russian", 0.0), ("adyghe", 0.15), ("turkic", 0.05), ("kalmyk", 0.25))


def _clinics(n: int, size_scale: float = 1.0) -> tuple[CohortSpec, ...]:
    return tuple(
        CohortSpec(
            name=name,
            n=max(40, round(size * size_scale)),
            case_fraction=frac,
            ancestry=mix,
            id_prefix=prefix,
            missing_rate=missing,
            untyped_fraction=untyped,
            genotype_format=_PLINK_CLINICS.get(name, "vcf"),
        )
        for name, prefix, size, frac, mix, missing, untyped in _DISTRICT_CLINICS[:n]
    )


def _many_clinics(count: int) -> tuple[CohortSpec, ...]:
    """`count` clinics cycling through the district's cities (rostov-01, krasnodar-01, ...)."""
    specs = []
    for k in range(count):
        name, prefix, size, frac, mix, missing, untyped = _DISTRICT_CLINICS[k % len(_DISTRICT_CLINICS)]
        index = k // len(_DISTRICT_CLINICS) + 1
        letters = "".join(chr(ord("A") + int(d)) for d in f"{index:02d}")
        specs.append(
            CohortSpec(
                name=f"{name}-{index:02d}",
                n=max(40, size // 2),
                case_fraction=frac,
                ancestry=mix,
                id_prefix=prefix + letters,
                missing_rate=missing,
                untyped_fraction=untyped,
            )
        )
    return tuple(specs)


_DISEASE = TraitSpec(prevalence=0.015, n_rare=5, n_common=100, population_offsets=_DISTRICT_OFFSETS)
_NEAR = TraitSpec(prevalence=0.05, n_rare=5, n_common=100, population_offsets=_DISTRICT_OFFSETS)
_FAR = TraitSpec(prevalence=0.25, n_rare=0, n_common=150, polygenic_variance=0.4)
_TEST_MIX = _mix(0.6, 0.13, 0.17, 0.10)

SMALL = Preset(
    name="small",
    genotypes="msprime",
    description="3 clinics (240 patients), ~500 variants: for tests, generates in seconds",
    genome=GenomeSpec(n_regions=3, region_length=40_000),
    pool_sizes=(("russian", 10_000), ("adyghe", 3_000), ("turkic", 4_000), ("kalmyk", 3_000)),
    disease=TraitSpec(prevalence=0.02, n_rare=3, n_common=30, population_offsets=_DISTRICT_OFFSETS),
    hospitals=(
        CohortSpec("rostov", 100, 0.4, _mix(0.9, 0.05, 0.05, 0.0), "ROS"),
        CohortSpec(
            "astrakhan", 80, 0.4, _mix(0.5, 0.0, 0.45, 0.05), "AST", missing_rate=0.01, untyped_fraction=0.03
        ),
        CohortSpec(
            "elista", 60, 0.4, _mix(0.25, 0.0, 0.1, 0.65), "ELI", missing_rate=0.005, genotype_format="plink"
        ),
    ),
    test=CohortSpec("test", 200, 0.4, _TEST_MIX, "TST"),
    sources=SourceSpec(
        n=1_000,
        near=TraitSpec(prevalence=0.05, n_rare=3, n_common=30, population_offsets=_DISTRICT_OFFSETS),
        far=TraitSpec(prevalence=0.25, n_rare=0, n_common=40, polygenic_variance=0.4),
    ),
    reference_size=200,
)

DEFAULT = Preset(
    name="default",
    genotypes="msprime",
    description="8 district clinics, ~20,000 variants on 6 chromosomes, pool of 105,000 people",
    genome=GenomeSpec(n_regions=6, region_length=900_000),
    pool_sizes=(("russian", 60_000), ("adyghe", 15_000), ("turkic", 20_000), ("kalmyk", 10_000)),
    disease=_DISEASE,
    hospitals=_clinics(8),
    test=CohortSpec("test", 600, 0.4, _TEST_MIX, "TST"),
    sources=SourceSpec(n=20_000, near=_NEAR, far=_FAR),
)

LARGE = Preset(
    name="large",
    genotypes="msprime",
    description="54 clinics, ~100,000 variants on 22 chromosomes: for scaling runs",
    genome=GenomeSpec(n_regions=22, region_length=1_300_000),
    pool_sizes=(("russian", 60_000), ("adyghe", 15_000), ("turkic", 20_000), ("kalmyk", 12_000)),
    disease=TraitSpec(prevalence=0.03, n_rare=8, n_common=200, population_offsets=_DISTRICT_OFFSETS),
    hospitals=_many_clinics(54),
    test=CohortSpec("test", 1000, 0.4, _TEST_MIX, "TST"),
    sources=SourceSpec(n=20_000, near=_NEAR, far=_FAR),
)

#: The transfer-learning experiment (simulations/experiments/transfer/run.py): four clinics of 400
#: patients, from which sites of 50-400 are drawn, the default disease and genome, and large
#: near/far sources.
TRANSFER = Preset(
    name="transfer",
    genotypes="msprime",
    description=(
        "4 clinics of 400 patients (sites of 50-400 are drawn from them) for the transfer-learning experiment"
    ),
    genome=DEFAULT.genome,
    pool_sizes=DEFAULT.pool_sizes,
    disease=_DISEASE,
    hospitals=tuple(replace(c, n=400, case_fraction=0.4) for c in _clinics(4)),
    test=CohortSpec("test", 600, 0.4, _TEST_MIX, "TST"),
    sources=SourceSpec(n=20_000, near=_NEAR, far=_FAR),
)

#: The synthetic-data utility experiment (simulations/experiments/synthetic_utility/run.py): the
#: transfer preset's clinics, disease and test cohort on a shorter genome (6 regions of 60 kb,
#: ~1,300 variants instead of ~20,000). Why: the experiment trains and validates hundreds of generators and
#: batches, and at 20,000 variants a VAE epoch alone takes ~1.5 s on 2 cores (the validation's
#: PCA, once V x V, now uses a randomized SVD there). Chosen for run time, not tuned on results.
SYNTHETIC = replace(
    TRANSFER,
    name="synthetic",
    description=(
        "the transfer preset's 4 clinics of 400 on a ~1,300-variant genome, "
        "for the synthetic-data utility experiment"
    ),
    genome=GenomeSpec(n_regions=6, region_length=60_000),
    # a larger Russian pool: on this genome the pool had too few unused Russian cases for the test cohort
    pool_sizes=(("russian", 120_000), ("adyghe", 15_000), ("turkic", 20_000), ("kalmyk", 10_000)),
    sources=None,
)

#: A second federation, for results the default one was never tuned on (the privacy-frontier
#: experiment, simulations/experiments/privacy_frontier): the default disease, genome, pool and
#: sources, but 6 other clinics of 60-220 patients with their own ancestry mixes, case fractions,
#: missing calls and platforms, and a test cohort of another mix. Simulated with another seed (7).
_HELDOUT_CLINICS = (
    ("taganrog", "TAG", 220, 0.30, _mix(0.90, 0.03, 0.05, 0.02), 0.003, 0.0, "vcf"),
    ("novorossiysk", "NOV", 180, 0.35, _mix(0.68, 0.22, 0.08, 0.02), 0.01, 0.02, "vcf"),
    ("stavropol", "STA", 150, 0.45, _mix(0.58, 0.10, 0.27, 0.05), 0.005, 0.0, "plink"),
    ("kamyshin", "KAM", 110, 0.50, _mix(0.74, 0.00, 0.21, 0.05), 0.02, 0.04, "vcf"),
    ("kerch", "KER", 80, 0.40, _mix(0.48, 0.02, 0.48, 0.02), 0.01, 0.0, "vcf"),
    ("lagan", "LAG", 60, 0.55, _mix(0.20, 0.00, 0.15, 0.65), 0.015, 0.0, "vcf"),
)

HELDOUT = Preset(
    name="heldout",
    genotypes="msprime",
    description=(
        "6 other clinics of 60-220 patients (own ancestry mixes and case fractions) on the default "
        "genome and disease: a federation no setting was tuned on"
    ),
    genome=DEFAULT.genome,
    pool_sizes=DEFAULT.pool_sizes,
    disease=_DISEASE,
    hospitals=tuple(
        CohortSpec(
            name=name,
            n=size,
            case_fraction=frac,
            ancestry=mix,
            id_prefix=prefix,
            missing_rate=missing,
            untyped_fraction=untyped,
            genotype_format=fmt,
        )
        for name, prefix, size, frac, mix, missing, untyped, fmt in _HELDOUT_CLINICS
    ),
    test=CohortSpec("test", 600, 0.4, _mix(0.50, 0.15, 0.20, 0.15), "TST"),
    sources=SourceSpec(n=20_000, near=_NEAR, far=_FAR),
)

#: 1000 Genomes: clinics each draw from one or two of the 26 populations. The pool is only
#: 2,504 people, so the disease is commoner (20 %) and clinics are barely enriched (20 % cases) to give
#: every clinic enough cases; its
#: "rare" causal SNPs are the rarest of the 805 (the panel holds few truly rare ones).
THOUSAND_GENOMES = Preset(
    name="1000g",
    genotypes="1000g",
    description="6 clinics on real 1000 Genomes genotypes (805 SNPs), split by population",
    disease=TraitSpec(
        prevalence=0.2,
        n_rare=3,
        n_common=40,
        rare_effect=1.0,
        rare_freq_range=(0.005, 0.05),
        population_offsets=(("AFR", 0.0), ("AMR", 0.1), ("EAS", 0.2), ("EUR", 0.3), ("SAS", 0.1)),
    ),
    hospitals=(
        CohortSpec("rostov", 60, 0.2, (("GBR", 0.5), ("CEU", 0.5)), "ROS"),
        CohortSpec("krasnodar", 60, 0.2, (("TSI", 0.5), ("IBS", 0.5)), "KRA"),
        CohortSpec("volgograd", 40, 0.2, (("FIN", 1.0),), "VOL"),
        CohortSpec("astrakhan", 60, 0.2, (("GIH", 0.5), ("PJL", 0.5)), "AST"),
        CohortSpec("elista", 60, 0.2, (("CHB", 0.5), ("CHS", 0.5)), "ELI"),
        CohortSpec("sochi", 60, 0.2, (("YRI", 1.0),), "SOC"),
    ),
    test=CohortSpec(
        "test",
        200,
        0.3,
        (
            ("JPT", 0.15),
            ("KHV", 0.1),
            ("BEB", 0.15),
            ("STU", 0.1),
            ("MXL", 0.1),
            ("PUR", 0.1),
            ("LWK", 0.1),
            ("ESN", 0.1),
            ("CLM", 0.1),
        ),
        "TST",
    ),
    # the pool is the 2,504 1000 Genomes people and --with-sources gives every unused one to the
    # ancestry source; experiments split the people with public_reference.split_1000g instead
    reference_size=0,
)

PRESETS: dict[str, Preset] = {
    p.name: p for p in (SMALL, DEFAULT, LARGE, THOUSAND_GENOMES, TRANSFER, SYNTHETIC, HELDOUT)
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
