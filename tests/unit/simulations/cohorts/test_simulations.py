"""Simulated federations: layout, determinism, and a truth that matches the written files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import read_genotypes, read_phenotypes
from genofed.simulations.cohorts import build as cohorts
from genofed.simulations.cohorts.build import OutputExists, simulate_cohorts
from genofed.simulations.cohorts.disease import AGE_CENTER, AGE_SCALE
from genofed.simulations.cohorts.presets import SMALL

HOSPITALS = [h.name for h in SMALL.hospitals]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "small"
    simulate_cohorts(out, preset="small", seed=7)
    return out


@pytest.fixture(scope="module")
def truth(small) -> dict:
    return json.loads((small / "truth.json").read_text())


def test_layout(small):
    from genofed.common.data.layout import hospital_folders

    assert [f.name for f in hospital_folders(small)] == sorted(HOSPITALS)
    formats = {f.name: "".join(f.genotypes.suffixes) for f in hospital_folders(small)}
    assert formats == {"rostov": ".vcf.gz", "astrakhan": ".vcf.gz", "elista": ".bed"}
    for folder in [*HOSPITALS, "test"]:
        assert (small / folder / "phenotypes.csv").is_file()
    assert (small / "test" / "genotypes.vcf.gz").is_file()
    assert (small / "test" / "true_risk.csv").is_file()
    assert (small / "panel.tsv").is_file() and (small / "truth.json").is_file()
    columns = pd.read_csv(small / "rostov" / "phenotypes.csv").columns.tolist()
    assert columns == ["sample_id", "label", "sex", "age"]  # no ancestry: clinics don't record it


def test_sample_ids_unique_across_folders(small):
    ids = [i for f in [*HOSPITALS, "test"] for i in read_phenotypes(small / f / "phenotypes.csv").sample_ids]
    assert len(ids) == len(set(ids))


def test_same_seed_same_bytes_other_seed_other_data(small, tmp_path):
    again = tmp_path / "again"
    simulate_cohorts(again, preset="small", seed=7)
    for path in sorted(p.relative_to(small) for p in small.rglob("*") if p.is_file()):
        assert (small / path).read_bytes() == (again / path).read_bytes(), path
    other = tmp_path / "other"
    simulate_cohorts(other, preset="small", seed=8)
    assert (small / "rostov" / "genotypes.vcf.gz").read_bytes() != (
        other / "rostov" / "genotypes.vcf.gz"
    ).read_bytes()


def test_causal_variants_are_in_panel_and_vcfs(small, truth):
    panel = VariantPanel.load(small / "panel.tsv")
    causal = [v["id"] for v in truth["model"]["causal_variants"]]
    assert set(causal) <= set(panel.variant_ids)
    assert read_genotypes(small / "rostov" / "genotypes.vcf.gz").variant_ids == panel.variant_ids
    kinds = {v["kind"] for v in truth["model"]["causal_variants"]}
    assert kinds == {"rare", "common"}
    rare = [v for v in truth["model"]["causal_variants"] if v["kind"] == "rare"]
    assert all(min(v["alt_freq"], 1 - v["alt_freq"]) < 0.01 for v in rare)


def test_realised_prevalence_near_target(truth):
    n = truth["pool_size"]
    target = truth["prevalence_target"]
    assert abs(truth["prevalence_realised"] - target) < 4 * np.sqrt(target * (1 - target) / n)


def test_bayes_auc_recomputable_from_files(small, truth):
    risk = pd.read_csv(small / "test" / "true_risk.csv")
    phenotypes = read_phenotypes(small / "test" / "phenotypes.csv")
    assert risk["sample_id"].tolist() == phenotypes.sample_ids
    assert roc_auc_score(phenotypes.labels, risk["true_risk"]) == pytest.approx(truth["bayes_auc"])


def test_true_risk_recomputable_from_genotypes_and_model(small, truth):
    model = truth["model"]
    genotypes = read_genotypes(small / "test" / "genotypes.vcf.gz")
    phenotypes = pd.read_csv(small / "test" / "phenotypes.csv")
    risk = pd.read_csv(small / "test" / "true_risk.csv")
    column = {v: j for j, v in enumerate(genotypes.variant_ids)}
    causal = model["causal_variants"]
    dosages = genotypes.dosages[:, [column[v["id"]] for v in causal]].astype(float)
    mean = (
        dosages @ np.array([v["effect"] for v in causal])
        + model["sex_effect"] * (phenotypes["sex"] == "M")
        + model["age_effect"] * (phenotypes["age"] - AGE_CENTER) / AGE_SCALE
        + risk["population"].map(model["population_offsets"])
    )
    recomputed = norm.cdf((mean - model["threshold"]) / model["sigma_e"])
    assert np.allclose(recomputed, risk["true_risk"], rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def sites(small) -> dict:
    """Every cohort read back through the clinic loaders, aligned to the panel."""
    from genofed.common.data.layout import load_federation

    return load_federation(small)


def _freqs(dosages: np.ndarray) -> np.ndarray:
    """Alt allele frequency per variant, missing calls ignored."""
    called = np.where(dosages >= 0, dosages, np.nan)
    return np.nanmean(called, axis=0) / 2


def test_hospitals_are_not_iid(sites, truth):
    """Allele frequencies differ more between clinics of different ancestry than between two
    random halves of one clinic."""
    mixes = {h["name"]: h["ancestry"] for h in truth["hospitals"]}
    assert mixes["rostov"].get("russian", 0) > mixes["elista"].get("russian", 0)
    between = np.abs(_freqs(sites["rostov"].cohort.dosages) - _freqs(sites["elista"].cohort.dosages)).mean()
    rostov = sites["rostov"].cohort.dosages
    halves = np.abs(_freqs(rostov[::2]) - _freqs(rostov[1::2])).mean()
    assert between > 1.3 * halves


def test_linkage_disequilibrium_is_local(small):
    matrix = read_genotypes(small / "test" / "genotypes.vcf.gz")
    dosages = matrix.dosages.astype(float)
    chrom = np.array([v.split(":")[0] for v in matrix.variant_ids])
    pos = np.array([int(v.split(":")[1]) for v in matrix.variant_ids])
    keep = dosages.std(axis=0) > 0
    dosages, chrom, pos = dosages[:, keep], chrom[keep], pos[keep]
    r2 = np.corrcoef(dosages.T) ** 2
    i, j = np.triu_indices(len(pos), k=1)
    same = chrom[i] == chrom[j]
    near = same & (np.abs(pos[i] - pos[j]) < 2_000)
    far = ~same
    assert r2[i[near], j[near]].mean() > 2 * r2[i[far], j[far]].mean()


def test_refuses_to_overwrite(small):
    with pytest.raises(OutputExists):
        simulate_cohorts(small, preset="small", seed=7)


def test_force_replaces_earlier_cohorts_only_never_a_folder_of_other_files(tmp_path):
    """A fuzzing review: `simulate-cohorts --out mine --force` deleted mine/notes.txt."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("important")
    with pytest.raises(OutputExists, match="not cohorts of `genofed simulate-cohorts` \\(no truth.json\\)"):
        simulate_cohorts(mine, preset="small", seed=7, overwrite=True)
    assert (mine / "notes.txt").read_text() == "important"


def test_failed_run_leaves_no_folder(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = cohorts.write_vcf

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(cohorts, "write_vcf", failing)
    with pytest.raises(RuntimeError):
        simulate_cohorts(tmp_path / "broken", preset="small", seed=1)
    assert not (tmp_path / "broken").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind either


def test_sources_share_the_panel(tmp_path):
    out = tmp_path / "src"
    simulate_cohorts(out, preset="small", seed=3, with_sources=True)
    from bed_reader import open_bed

    panel = VariantPanel.load(out / "panel.tsv")
    for name in ("near", "far"):
        with open_bed(out / "sources" / name / "genotypes.bed") as bed:
            assert list(bed.sid) == panel.variant_ids
            assert bed.iid_count == SMALL.sources.n
        assert (out / "sources" / name / "phenotypes.csv").is_file()
    near = json.loads((out / "sources" / "near" / "truth.json").read_text())
    far = json.loads((out / "sources" / "far" / "truth.json").read_text())
    assert near["shared_causal_variants_with_disease"] and not far["shared_causal_variants_with_disease"]


def test_1000g_preset_splits_hospitals_by_population(tmp_path, thousand_genomes):
    out = tmp_path / "kg"
    simulate_cohorts(out, preset="1000g", seed=1)
    truth = json.loads((out / "truth.json").read_text())
    ancestry = {h["name"]: set(h["ancestry"]) for h in truth["hospitals"]}
    assert ancestry["rostov"] <= {"GBR", "CEU"} and ancestry["elista"] <= {"CHB", "CHS"}
    assert read_genotypes(out / "rostov" / "genotypes.vcf.gz").n_variants == 805
    assert 0.5 < truth["bayes_auc"] <= 1.0


def test_clinic_genotyping_quality_goes_through_the_clinic_loaders(small, truth, sites):
    """Missing calls and untyped panel variants are written as a real clinic's would be, and
    the hospital loader reads them back: missing calls kept as missing, absent variants imputed."""
    assert set(sites) == {*HOSPITALS, "test"}
    spec = {h.name: h for h in SMALL.hospitals}["astrakhan"]
    written = {h["name"]: h for h in truth["hospitals"]}["astrakhan"]
    astrakhan = sites["astrakhan"]
    n_panel = len(VariantPanel.load(small / "panel.tsv"))
    assert written["untyped"] == astrakhan.alignment.absent > 0
    assert astrakhan.alignment.coverage == pytest.approx(1 - written["untyped"] / n_panel)
    assert astrakhan.alignment.coverage == pytest.approx(1 - spec.untyped_fraction, abs=0.02)
    # the site's own calls: missing at the clinic's rate; after alignment absent variants add to it
    assert astrakhan.summary()["missing_rate"] == pytest.approx(spec.missing_rate, abs=0.004)
    assert astrakhan.summary()["variants"] == n_panel - written["untyped"]
    assert astrakhan.cohort.missing_rate() > astrakhan.summary()["missing_rate"]
    assert sites["test"].alignment.coverage == 1.0 and sites["test"].cohort.missing_rate() == 0.0


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        # LCT lactase persistence (rs4988235, G>A): A common in North Europeans, absent in East Asia
        # and Africa
        ("2:136608646:G:A", {"CEU": (0.6, 0.85), "CHB": (0.0, 0.02), "YRI": (0.0, 0.02)}),
        # SLC24A5 (rs1426654, A>G): the reference A is nearly fixed in Europeans; G dominates elsewhere
        ("15:48426484:A:G", {"CEU": (0.0, 0.03), "CHB": (0.9, 1.0), "YRI": (0.9, 1.0)}),
    ],
)
def test_1000g_alt_dosage_orientation_matches_known_biology(variant, expected, thousand_genomes):
    """The data README says 0 = minor allele; the file really codes 1 = a1 = ALT. Known
    population frequencies of well-studied SNPs pin the orientation we read."""
    from genofed.simulations.cohorts.real import load_1000g

    pool = load_1000g(thousand_genomes)
    column = pool.variant_ids.index(variant)
    alt_dosage = pool.haplotypes(np.arange(len(pool.populations)), np.array([column])).sum(axis=2)[:, 0]
    for population, (low, high) in expected.items():
        freq = alt_dosage[pool.populations == population].mean() / 2
        assert low <= freq <= high, (population, freq)


def test_plink_clinic_has_minor_allele_a1_and_aligns_back(small, sites):
    """elista exports PLINK 1 with A1 = its minor allele (as plink 1.9 does): REF/ALT come out
    swapped wherever the ALT is common there, and alignment must flip them back."""
    assert (small / "elista" / "genotypes.bed").is_file()
    assert not (small / "elista" / "genotypes.vcf.gz").exists()
    elista = sites["elista"]
    assert elista.alignment.swapped > 0 and elista.alignment.coverage == 1.0
    # after the flip, the clinic's allele frequencies track the panel's, not 1 - panel's
    panel = VariantPanel.load(small / "panel.tsv")
    assert np.corrcoef(_freqs(elista.cohort.dosages), panel.alt_freq)[0, 1] > 0.9
