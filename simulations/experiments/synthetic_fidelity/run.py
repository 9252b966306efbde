"""Experiment: fidelity and privacy of our synthetic genotypes on real genomes.

The shared 1000 Genomes README publishes reference figures for synthetic haplotypes (held-out
real, independent sites, per-population independent sites, a copy of the training data) on its
805 SNPs. This experiment recomputes those reference rows with OUR metric code, so that a
mismatch in protocol shows up before anyone trusts a generator row, and then puts our
generators (VAE, GAN; without DP and at a DP budget; several seeds) in the same table, each row
judged against the synthetic-data targets (`checks.Thresholds`).

Protocol (the README's, with the details it leaves open fixed here and stated in the report):

- People, not haplotypes, are split in two halves with a fixed seed (`split_seed`): training
  and test. A generator trains on every training person (phased states, `n_states=4`, one
  person per example as under DP; labels all 0, as no phenotype is involved).
- Per seed, three evaluation sets of whole people: T (training), E (test) and, for the held-out
  reference, H (other test people, disjoint from E). On the phased 805 SNPs each set is 500
  people = 1,000 haplotypes and records are haplotypes; on the unphased 162-SNP file records
  are people (dosages, `n_people` per set), as there is no phase to read (see `load_chr1_region`).
- Allele-frequency and LD correlations compare the synthetic set with ALL training records;
  LD is the Pearson correlation of the r^2 of every pair of polymorphic variants (the README's
  figures are reproduced only with all pairs; within-chromosome pairs are reported as well).
- AATS (Yale et al. 2020) with cityblock distances, AATS(train) on (T, S) and AATS(test) on
  (E, S), privacy loss = AATS(test) - AATS(train). Two tie conventions: ties count 1/2 (our
  `checks`, what the targets are judged on) and ties count as a miss (strict `>`, Yale's
  code, which reproduces the README's figures).
- Extra checks from `checks.privacy`: exact copies of training records (haplotypes, and
  genotypes of whole synthetic people), distance to closest record, membership-inference AUC.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from genofed.common.errors import GenofedError
from genofed.common.synthetic.checks import Thresholds, allele_frequencies, nearest_distances, r2_matrix
from genofed.common.synthetic.encoding import DOSAGE_STATES, PHASED_STATES, phased_states
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress, silent
from genofed.common.util.torch_threads import single_torch_thread
from genofed.server.results import json_default
from genofed.simulations.cohorts.real import load_1000g, load_chr1_region, shared_data_dir
from genofed.simulations.experiments.base import epsilon_key
from genofed.simulations.experiments.synthetic_fidelity.config import (
    PIECE_VERSION,
    README_FIGURES,
    REFERENCES,
    FidelityConfig,
)
from genofed.simulations.experiments.synthetic_fidelity.report import write_fidelity_report

#: The synthetic-data targets (the limits of `checks.Thresholds`).
TARGETS = Thresholds()


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """One panel of real people, with how its records (haplotypes or people) are built."""

    name: str
    title: str
    phased: bool  # records are haplotypes (2 per person) if True, dosage vectors of people if not
    alleles: np.ndarray  # people x variants x 2 if phased, people x variants (dosages) if not
    populations: np.ndarray  # per person
    chromosomes: np.ndarray  # per variant
    train: np.ndarray  # person indices, sorted
    test: np.ndarray

    @property
    def n_variants(self) -> int:
        return int(self.alleles.shape[1])

    @property
    def max_allele(self) -> int:
        """Largest value of a record entry: 1 for a haplotype, 2 for a dosage."""
        return 1 if self.phased else 2

    @property
    def n_states(self) -> int:
        return PHASED_STATES if self.phased else DOSAGE_STATES

    def records(self, people: np.ndarray) -> np.ndarray:
        """Rows of the people's records; phased: rows 2i and 2i+1 are the two haplotypes of person i."""
        x = self.alleles[np.asarray(people)]
        return (
            x.transpose(0, 2, 1).reshape(-1, self.n_variants).astype(np.int8)
            if self.phased
            else x.astype(np.int8)
        )

    def states(self, people: np.ndarray) -> np.ndarray:
        """What a generator trains on: phased states (0..3) or dosages (0..2), one row per person."""
        x = self.alleles[np.asarray(people)]
        return phased_states(x) if self.phased else x.astype(np.int8)

    def people_dosages(self, records: np.ndarray) -> np.ndarray:
        """Records -> one dosage row per person (consecutive haplotype pairs summed)."""
        return records.reshape(-1, 2, self.n_variants).sum(axis=1).astype(np.int8) if self.phased else records


def split_people(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves by person, fixed by `seed`, so every row of the table shares them."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def load_datasets(config: FidelityConfig) -> list[Dataset]:
    """The 805-SNP phased haplotypes and the 162-SNP VCF, split by person with `split_seed`."""
    out = []
    if "805" in config.datasets:
        pool = load_1000g()
        train, test = split_people(len(pool.haps), config.split_seed)
        chrom = np.array([v.split(":")[0] for v in pool.variant_ids])
        out.append(
            Dataset(
                "805",
                "805 ancestry SNPs, chromosomes 1-22 (phased haplotypes)",
                True,
                pool.haps,
                pool.populations,
                chrom,
                train,
                test,
            )
        )
    if "region" in config.datasets:
        region = load_chr1_region()
        samples = pd.read_csv(shared_data_dir() / "samples.tsv", sep="\t").set_index("sample_id")
        pops = samples.loc[region.sample_names, "population"].to_numpy(dtype=str)
        train, test = split_people(len(region.dosages), config.split_seed)
        n_chrom = len(set(region.chromosomes.tolist()))
        kind = "phased haplotypes" if region.phased else "unphased, so records are people (dosages)"
        title = (
            f"`chr1_region_162snp.vcf.gz`: {region.dosages.shape[1]} SNPs on {n_chrom} chromosome(s), {kind}"
        )
        alleles = region.haplotypes if region.phased else region.dosages
        out.append(Dataset("region", title, region.phased, alleles, pops, region.chromosomes, train, test))
    return out


@dataclass
class EvalSets:
    """Per seed: training people T, test people E, and other test people H (the held-out reference)."""

    train_people: np.ndarray
    test_people: np.ndarray
    heldout_people: np.ndarray


def eval_sets(ds: Dataset, config: FidelityConfig, seed: int) -> EvalSets:
    k = config.n_haplotypes // 2 if ds.phased else config.n_people
    if 2 * k > len(ds.test) or k > len(ds.train):
        raise GenofedError(
            f"{ds.name}: {k} people per set need {2 * k} test people, the half has {len(ds.test)}"
        )
    rng = np.random.default_rng([config.split_seed, seed])
    train = np.sort(rng.choice(ds.train, size=k, replace=False))
    test = rng.permutation(ds.test)
    return EvalSets(train, np.sort(test[:k]), np.sort(test[k : 2 * k]))


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def aats_from_distances(
    d_rs: np.ndarray, d_rr: np.ndarray, d_sr: np.ndarray, d_ss: np.ndarray, *, tie: float
) -> float:
    """AATS from the four nearest-neighbour distance vectors, ties weighted `tie` (1/2:
    `checks.adversarial_accuracy`; 0: Yale et al.'s strict `>`, which the README used).
    Integer distances tie often, so the two conventions differ by about 0.03."""
    return float(
        0.5 * (((d_rs > d_rr) + tie * (d_rs == d_rr)).mean() + ((d_sr > d_ss) + tie * (d_sr == d_ss)).mean())
    )


@dataclass
class Reference:
    """What every row of one dataset is compared with (computed once per dataset)."""

    train_all: np.ndarray  # all training records
    af: np.ndarray
    r2: np.ndarray
    train_people_dosages: np.ndarray


def reference(ds: Dataset) -> Reference:
    train_all = ds.records(ds.train)
    return Reference(
        train_all, allele_frequencies(train_all), r2_matrix(train_all), ds.people_dosages(train_all)
    )


def _pearson_pairs(
    r2_real: np.ndarray, r2_syn: np.ndarray, keep: np.ndarray, pairs: np.ndarray | None = None
) -> float:
    """Pearson r of the r^2 of variant pairs i < j with both variants in `keep` (and `pairs[i, j]`)."""
    iu = np.triu_indices(len(r2_real), k=1)
    mask = keep[iu[0]] & keep[iu[1]]
    if pairs is not None:
        mask &= pairs[iu]
    a, b = r2_real[iu][mask], r2_syn[iu][mask]
    return float(np.corrcoef(a, b)[0, 1]) if a.size > 1 and a.std() > 0 and b.std() > 0 else float("nan")


def measure(ds: Dataset, ref: Reference, sets: EvalSets, synthetic: np.ndarray) -> dict[str, float]:
    """Every metric of one synthetic set (records as rows), against the dataset's training half.
    DCR, exact copies and the membership-inference AUC follow `checks.privacy`: members = all
    training records, non-members = E, attack score = -distance to the nearest synthetic record."""
    s = np.asarray(synthetic, dtype=np.int8)
    t, e = ds.records(sets.train_people), ds.records(sets.test_people)
    polymorphic = ref.train_all.min(axis=0) != ref.train_all.max(axis=0)
    r2_syn = r2_matrix(s)
    same_chrom = ds.chromosomes[:, None] == ds.chromosomes[None, :]
    af_s = allele_frequencies(s)
    # Each distance vector once (the AATS of both tie conventions, DCR and MIA share them):
    # `checks.privacy` would recompute its own AATS on top, doubling the cost.
    nn = nearest_distances
    d_ss = nn(s, s, exclude_self=True)
    aats = {}
    for name, real in (("train", t), ("test", e)):
        d_rs, d_rr, d_sr = nn(real, s), nn(real, real, exclude_self=True), nn(s, real)
        for suffix, tie in (("", 0.5), ("_strict", 0.0)):
            aats[f"aats_{name}{suffix}"] = aats_from_distances(d_rs, d_rr, d_sr, d_ss, tie=tie)
        if name == "test":
            d_nonmembers = d_rs
    dcr_s, dcr_e = nn(s, ref.train_all), nn(e, ref.train_all)
    d_members = nn(ref.train_all, s)
    truth = np.r_[np.ones(len(d_members)), np.zeros(len(d_nonmembers))]
    mia = float(roc_auc_score(truth, -np.r_[d_members, d_nonmembers]))
    people = ds.people_dosages(s)
    genotype_copies = int((nn(people, ref.train_people_dosages) == 0).sum())
    return {
        "af_correlation": float(np.corrcoef(ref.af, af_s)[0, 1]) if af_s.std() > 0 else float("nan"),
        "af_mean_abs_diff": float(np.abs(ref.af - af_s).mean()),
        "ld_correlation": _pearson_pairs(ref.r2, r2_syn, polymorphic),
        "ld_correlation_within_chrom": _pearson_pairs(ref.r2, r2_syn, polymorphic, same_chrom),
        "mean_r2_real": float(ref.r2[np.triu_indices(len(ref.r2), 1)].mean()),
        "mean_r2_synthetic": float(r2_syn[np.triu_indices(len(r2_syn), 1)].mean()),
        **aats,
        "privacy_loss": aats["aats_test"] - aats["aats_train"],
        "privacy_loss_strict": aats["aats_test_strict"] - aats["aats_train_strict"],
        "exact_copies": int((dcr_s == 0).sum()),
        "exact_copies_genotypes": genotype_copies,
        "exact_copies_heldout_real": int((dcr_e == 0).sum()),
        "dcr_median": float(np.median(dcr_s)),
        "dcr_median_heldout_real": float(np.median(dcr_e)),
        "mia_auc": mia,
        "n_records": len(s),
    }


def targets(metrics: dict[str, Any]) -> dict[str, bool]:
    """The synthetic-data targets, on one row's (mean) metrics; AATS with ties = 1/2 (our checks)."""
    t = TARGETS

    def ok(value: Any, test: Callable[[float], bool]) -> bool:
        return value is not None and math.isfinite(float(value)) and bool(test(float(value)))

    return {
        "af": ok(metrics.get("af_correlation"), lambda v: v >= t.af_correlation_min),
        "ld": ok(metrics.get("ld_correlation"), lambda v: v >= t.ld_correlation_min),
        "aats": ok(metrics.get("aats_train"), lambda v: t.aats_low <= v <= t.aats_high),
        "privacy_loss": ok(metrics.get("privacy_loss"), lambda v: v < t.privacy_loss_max),
        "exact_copies": ok(metrics.get("exact_copies"), lambda v: v <= t.exact_copies_max)
        and ok(metrics.get("exact_copies_genotypes"), lambda v: v <= t.exact_copies_max),
        "mia_auc": ok(metrics.get("mia_auc"), lambda v: v <= t.mia_auc_max),
    }


# ---------------------------------------------------------------------------------------------
# Reference rows
# ---------------------------------------------------------------------------------------------


def reference_set(
    name: str, ds: Dataset, ref: Reference, sets: EvalSets, rng: np.random.Generator
) -> np.ndarray:
    """The README's reference generators, rebuilt from the training half only (except held-out)."""
    n = len(ds.records(sets.train_people))
    if name == "heldout":
        return ds.records(sets.heldout_people)
    if name == "memorised":
        return ds.records(sets.train_people).copy()
    if name == "naive":  # each site independently, at the training frequency (Hardy-Weinberg for dosages)
        return rng.binomial(ds.max_allele, ref.af * 2 / ds.max_allele, size=(n, ds.n_variants)).astype(
            np.int8
        )
    if name == "perpop":  # a population drawn as in training, then independent sites at its frequencies
        pops_train = ds.populations[ds.train]
        per = 2 if ds.phased else 1
        drawn = rng.choice(pops_train, size=n // per)
        out = np.empty((n, ds.n_variants), dtype=np.int8)
        rows = np.repeat(drawn, per)
        for pop in np.unique(rows):
            mask = rows == pop
            freq = allele_frequencies(ds.records(ds.train[pops_train == pop])) * 2 / ds.max_allele
            out[mask] = rng.binomial(ds.max_allele, freq, size=(int(mask.sum()), ds.n_variants))
        return out
    raise ValueError(f"unknown reference {name!r}")


# ---------------------------------------------------------------------------------------------
# Generator rows
# ---------------------------------------------------------------------------------------------


#: What each generator module must offer for its rows to be run.
GENERATOR_API = {
    "vae": ("train_vae", "dp_noise_for_budget", "VAESettings"),
    "gan": ("train_gan", "gan_noise_for_budget", "GANSettings"),
}


def generator_available(kind: str) -> str | None:
    """None if the generator can be imported and offers `GENERATOR_API[kind]`, else why not:
    a generator that fails to import must not stop the reference rows."""
    try:
        module = _generator_module(kind)
    except Exception as exc:  # a half-written generator module must not stop the reference rows
        return f"{kind}: not available ({type(exc).__name__}: {exc})"
    if module is None:
        return f"{kind}: not available (common/synthetic/{kind}.py does not exist)"
    missing = [name for name in GENERATOR_API[kind] if not hasattr(module, name)]
    name = f"genofed.common.synthetic.{kind}"
    return f"{kind}: not available ({name} lacks {', '.join(missing)})" if missing else None


def _generator_module(kind: str) -> Any:
    """The generator's module (torch loads with it), None for an unknown kind."""
    if kind == "vae":
        import genofed.common.synthetic.vae as vae

        return vae
    if kind == "gan":
        import genofed.common.synthetic.gan as gan

        return gan
    return None


def generator_rows(
    kind: str, epsilon: float, seed: int, ds: Dataset, ref: Reference, sets: EvalSets, config: FidelityConfig
) -> dict[float, dict[str, Any]]:
    """Train `kind` on the whole training half (DP-SGD at `epsilon` per person if finite), sample as
    many people as T holds at each of `config.temperatures`, and measure each sample. Labels are
    all 0: no phenotype is involved here."""
    from genofed.common.privacy.accountant import epsilon_of
    from genofed.common.synthetic.generators import generator_settings, noise_for_budget, train_generator

    settings = generator_settings(kind, seed=seed, epochs=config.epochs)
    x = ds.states(ds.train)
    labels = np.zeros(len(x), dtype=np.int8)
    sigma = (
        None
        if math.isinf(epsilon)
        else noise_for_budget(kind, len(x), settings, epsilon=epsilon, delta=config.delta)
    )
    with single_torch_thread():
        started = time.perf_counter()
        model = train_generator(
            kind, x, labels, settings=settings, noise_multiplier=sigma, n_states=ds.n_states
        )
        seconds = time.perf_counter() - started
    k = len(sets.train_people)
    history = list(getattr(model, "history", []) or [])
    facts = {
        "train_seconds": seconds,
        "noise_multiplier": sigma,
        "epsilon_spent": epsilon_of(history, config.delta) if history else None,
        "epochs": int(settings.epochs),
        "final_loss": _final_loss(model),
    }
    rows = {}
    for temperature in config.temperatures:
        sample = model.sample(
            k, labels=np.zeros(k, dtype=np.int8), seed=10_000 + seed, temperature=temperature
        )
        if ds.phased:
            if sample.haplotypes is None:
                raise GenofedError(f"{kind} trained on phased states returned no haplotypes")
            synthetic = sample.haplotypes.transpose(0, 2, 1).reshape(-1, ds.n_variants)
        else:
            synthetic = sample.genotypes
        rows[temperature] = {**measure(ds, ref, sets, synthetic), **facts, "temperature": temperature}
    return rows


def row_name(kind: str, temperature: float) -> str:
    """The table row of a generator sampled at `temperature` ("vae", "vae T=0.7")."""
    return kind if temperature == 1.0 else f"{kind} T={temperature:g}"


def _final_loss(model: Any) -> float | None:
    losses = getattr(model, "losses", None)
    if isinstance(losses, dict):  # a GAN may keep several curves
        return None
    return float(losses[-1]) if losses else None


def _piece_key(ds: Dataset, config: FidelityConfig, kind: str, seed: int) -> dict[str, Any]:
    """What a cached generator row depends on; a piece with another key is recomputed. The
    generator's full settings are part of it: a generator whose defaults change (the GAN's did
    while this experiment was first run) must not be reported with rows of its old version."""
    from genofed.common.synthetic.generators import generator_settings

    settings = asdict(generator_settings(kind, seed=seed, epochs=config.epochs))
    return {
        "version": PIECE_VERSION,
        "dataset": ds.name,
        "n_variants": ds.n_variants,
        "phased": ds.phased,
        "split_seed": config.split_seed,
        "n_haplotypes": config.n_haplotypes,
        "n_people": config.n_people,
        "epochs": config.epochs,
        "delta": config.delta,
        "settings": settings,
        "temperatures": list(config.temperatures),
    }


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------


def run_fidelity_experiment(config: FidelityConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or finish) the experiment in `config.out_dir`; writes synth_fidelity.json and report.md.
    Generator rows are cached one file per (dataset, generator, epsilon, seed) under OUT/pieces."""
    say = progress or silent
    started = time.perf_counter()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unavailable = {kind: why for kind in config.generators if (why := generator_available(kind))}
    for why in unavailable.values():
        say(why)
    rows: list[dict[str, Any]] = []
    datasets = load_datasets(config)
    for ds in datasets:
        ref = reference(ds)
        for seed in config.seeds:
            sets = eval_sets(ds, config, seed)
            rng = np.random.default_rng([config.split_seed, seed, 1])
            for name in REFERENCES:
                synthetic = reference_set(name, ds, ref, sets, rng)
                rows.append(_row(ds, name, "reference", math.inf, seed, measure(ds, ref, sets, synthetic)))
            say(f"{ds.name}: reference rows, seed {seed}")
        for kind in config.generators:
            if kind in unavailable:
                continue
            for epsilon in config.epsilons:
                seeds = config.seeds if math.isinf(epsilon) else config.seeds[: max(1, config.dp_seeds)]
                for seed in seeds:
                    rows.extend(_generator_piece(out, kind, epsilon, seed, ds, ref, config, say))
    results = summarise(rows, config, datasets, unavailable)
    results["wall_seconds"] = time.perf_counter() - started
    write_text_atomic(out / "synth_fidelity.json", json.dumps(results, indent=2, default=json_default) + "\n")
    results["report"] = str(write_fidelity_report(out, results))
    return results


def _generator_piece(
    out: Path,
    kind: str,
    epsilon: float,
    seed: int,
    ds: Dataset,
    ref: Reference,
    config: FidelityConfig,
    say: Progress,
) -> list[dict[str, Any]]:
    label = "inf" if math.isinf(epsilon) else f"{epsilon:g}"
    path = out / "pieces" / f"{ds.name}-{kind}-eps{label}-s{seed}.json"
    key = _piece_key(ds, config, kind, seed)
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            say(f"{ds.name}: {kind} epsilon {label} seed {seed}: reused {path.name}")
            return cached["rows"]
    if not config.train:
        say(f"{ds.name}: {kind} epsilon {label} seed {seed}: not run (no finished piece)")
        return [
            _row(
                ds,
                row_name(kind, t),
                "generator",
                epsilon,
                seed,
                {},
                error=f"not run (no {path.name} in OUT/pieces)",
            )
            for t in config.temperatures
        ]
    say(f"{ds.name}: training {kind}, epsilon {label}, seed {seed}")
    try:
        by_temperature = generator_rows(kind, epsilon, seed, ds, ref, eval_sets(ds, config, seed), config)
    except Exception as exc:  # one failing generator run is reported, not allowed to lose the table
        say(f"{ds.name}: {kind} epsilon {label} seed {seed} FAILED: {type(exc).__name__}: {exc}")
        return [
            _row(ds, row_name(kind, t), "generator", epsilon, seed, {}, error=f"{type(exc).__name__}: {exc}")
            for t in config.temperatures
        ]
    rows = [_row(ds, row_name(kind, t), "generator", epsilon, seed, m) for t, m in by_temperature.items()]
    write_text_atomic(path, json.dumps({"key": key, "rows": rows}, indent=1, default=json_default) + "\n")
    for t, m in by_temperature.items():
        say(
            f"{ds.name}: {kind} epsilon {label} seed {seed} T {t:g}: AF {m['af_correlation']:.3f}, LD "
            f"{m['ld_correlation']:.3f}, AATS {m['aats_train']:.3f}/{m['aats_test']:.3f} "
            f"({m['train_seconds']:.0f} s)"
        )
    return rows


def _row(
    ds: Dataset,
    name: str,
    kind: str,
    epsilon: float,
    seed: int,
    metrics: dict[str, Any],
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "dataset": ds.name,
        "phased": ds.phased,
        "row": name,
        "kind": kind,
        "epsilon": epsilon_key(epsilon),
        "seed": seed,
        "error": error,
        **metrics,
    }


METRICS = (
    "af_correlation",
    "ld_correlation",
    "ld_correlation_within_chrom",
    "aats_train",
    "aats_test",
    "privacy_loss",
    "aats_train_strict",
    "aats_test_strict",
    "privacy_loss_strict",
    "exact_copies",
    "exact_copies_genotypes",
    "exact_copies_heldout_real",
    "dcr_median",
    "dcr_median_heldout_real",
    "mia_auc",
    "mean_r2_real",
    "mean_r2_synthetic",
    "train_seconds",
    "noise_multiplier",
    "epsilon_spent",
    "epochs",
)


def summarise(
    rows: list[dict[str, Any]], config: FidelityConfig, datasets: list[Dataset], unavailable: dict[str, str]
) -> dict[str, Any]:
    """Mean and sd over seeds per (dataset, row, epsilon), with the targets judged on the means."""
    table = []
    frame = pd.DataFrame(rows)
    for (dataset, name, eps), group in frame.groupby(["dataset", "row", "epsilon"], sort=False):
        ok = group[group["error"].isna()]
        entry: dict[str, Any] = {
            "dataset": dataset,
            "row": name,
            "kind": group["kind"].iloc[0],
            "epsilon": eps,
            "phased": bool(group["phased"].iloc[0]),
            "seeds": [int(s) for s in ok["seed"]],
            "errors": [e for e in group["error"] if isinstance(e, str)],
        }
        for metric in METRICS:
            values = (
                pd.to_numeric(ok[metric], errors="coerce").dropna()
                if metric in ok
                else pd.Series(dtype=float)
            )
            entry[metric] = float(values.mean()) if len(values) else None
            entry[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else None
        entry["targets"] = targets(entry) if len(ok) else {}
        entry["passed"] = bool(entry["targets"]) and all(entry["targets"].values())
        table.append(entry)
    return {
        "config": {**asdict(config), "epsilons": [epsilon_key(e) for e in config.epsilons]},
        "datasets": [
            {
                "name": d.name,
                "title": d.title,
                "phased": d.phased,
                "n_variants": d.n_variants,
                "n_chromosomes": len(set(d.chromosomes.tolist())),
                "n_train_people": len(d.train),
                "n_test_people": len(d.test),
                "record": "haplotype" if d.phased else "person",
            }
            for d in datasets
        ],
        "unavailable": unavailable,
        "readme_figures": {
            k: dict(
                zip(
                    (
                        "af_correlation",
                        "ld_correlation",
                        "aats_train_strict",
                        "aats_test_strict",
                        "privacy_loss_strict",
                    ),
                    v,
                    strict=False,
                )
            )
            for k, v in README_FIGURES.items()
        },
        "targets": asdict(TARGETS),
        # generator training time summed over runs, cached ones included: what a cold rerun costs
        "train_seconds_total": float(sum(r.get("train_seconds") or 0.0 for r in rows)),
        "table": table,
        "rows": rows,
    }
