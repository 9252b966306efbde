"""`genofed synth` under DP fills missing calls from public values only (`synth_input.impute_public`).

An audit (PoC 4) found the generator's input imputed with each variant's most common called
genotype AT THE SITE (`impute_mode`), a statistic of all the patients computed before the DP
mechanism: one patient joining the cohort flipped it at tied variants and so changed the row of
every patient with a missing call there. The reference generator's release then moved 4.79 noise
sd where its charge assumed 1 (epsilon 1.39 charged, 8.16 spent). Under DP the fill is now the
public panel's most likely genotype (mode of Binomial(2, p)) or 0/0 where no public frequency exists.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.synth_input import fill_missing, impute_mode, impute_public, public_genotypes
from genofed.common.data.cohort import MISSING
from genofed.common.data.readers.vcf import read_vcf
from genofed.common.data.writers import write_vcf
from genofed.common.synthetic.reference_panel import load_reference_panel
from genofed.common.synthetic.site_release import release_site

# --- the neighbouring-cohort check of the audit's PoC ----------------------------------------------

SIGMA = 3.0
TIED = [0, 1, 2]


def _neighbours() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The PoC's pair: D (80 patients, 20 variants, ~3 % missing calls; at variants 0-2 the other
    patients' called genotypes tie between 0 and 1) and D plus one heterozygous patient there.
    Returns (public ALT frequencies, D, D's labels, D', D''s labels)."""
    rng = np.random.default_rng(0)
    n_variants, n = 20, 80
    p = rng.uniform(0.05, 0.5, n_variants)
    dos = rng.binomial(2, p, size=(n, n_variants)).astype(np.int8)
    labels = rng.integers(0, 2, n)
    dos[rng.random((n, n_variants)) < 0.03] = MISSING
    for j in TIED:
        p[j] = 0.45
        dos[:, j] = rng.permutation(np.array([0] * 30 + [1] * 30 + [2] * 5 + [MISSING] * 15, dtype=np.int8))
    target = rng.binomial(2, p).astype(np.int8)
    target[TIED] = 1
    return p, dos, labels, np.vstack([dos, target]), np.append(labels, 1)


def _sigmas_apart(fill, p, d1, y1, d2, y2) -> float:
    """L2 distance of the two cohorts' releases (the same noise key: only the exact statistics
    differ) in units of the mechanism's noise at sensitivity 1 (each block's sd / SIGMA)."""

    def release(d, y):
        rng = np.random.default_rng(123)
        return release_site(fill(d), y, reference_freq=p, noise_multiplier=SIGMA, rng=rng)

    a, b = release(d1, y1), release(d2, y2)
    dg = (b.centred_sums - a.centred_sums) / a.noise_sd[0] * SIGMA
    dn = (b.class_counts - a.class_counts) / a.noise_sd[1] * SIGMA
    return math.sqrt(float((dg**2).sum() + (dn**2).sum()))


def test_one_patient_moves_the_dp_release_by_at_most_one_sigma_with_public_fills():
    p, d1, y1, d2, y2 = _neighbours()
    public = _sigmas_apart(lambda d: impute_public(d, p), p, d1, y1, d2, y2)
    assert public <= 1.0 + 1e-9
    # the fill the DP path used before: the patient flips the site's mode at the tied variants
    # (0 -> 1) for all 15 patients missing there, 4.79 sigma (so this check can fail)
    site_mode = _sigmas_apart(impute_mode, p, d1, y1, d2, y2)
    assert site_mode > 4.0
    assert [int(impute_mode(d1)[d1[:, j] == MISSING, j][0]) for j in TIED] == [0, 0, 0]
    assert [int(impute_mode(d2)[d2[:, j] == MISSING, j][0]) for j in TIED] == [1, 1, 1]


def test_each_patients_fill_depends_on_its_own_row_only():
    p, d1, _, d2, _ = _neighbours()
    assert np.array_equal(impute_public(d2, p)[:-1], impute_public(d1, p))
    assert np.array_equal(impute_public(d2)[:-1], impute_public(d1))


# --- the fill itself ----------------------------------------------------------------------------


def test_the_fill_is_the_panel_frequencys_most_likely_genotype_and_0_without_one():
    freq = np.array([0.0, 0.2, 1 / 3, 0.5, 2 / 3, 0.7, 1.0, np.nan])
    assert public_genotypes(freq, 8).tolist() == [0, 0, 1, 1, 1, 2, 2, 0]
    assert public_genotypes(None, 3).tolist() == [0, 0, 0]
    dosages = np.array([[MISSING, 2, MISSING, MISSING], [1, MISSING, 0, MISSING]], dtype=np.int8)
    filled = impute_public(dosages, np.array([0.9, 0.5, 0.1, np.nan]))
    assert filled.tolist() == [[2, 2, 0, 0], [1, 1, 0, 0]] and filled.dtype == np.int8
    assert impute_public(dosages).tolist() == [[0, 2, 0, 0], [1, 0, 0, 0]]
    assert (dosages == MISSING).sum() == 5  # the input is left as it was
    with pytest.raises(ValueError, match="shape"):
        public_genotypes(np.array([0.5]), 2)


def test_without_dp_the_site_mode_is_kept_and_under_dp_it_is_never_used():
    dosages = np.array([[2, MISSING], [2, 1], [MISSING, 1]], dtype=np.int8)
    filled, record = fill_missing(dosages, private=False)
    assert filled.tolist() == [[2, 1], [2, 1], [2, 1]]
    assert record["missing_calls"] == 2 and record["with_site_mode"] == 2
    filled, record = fill_missing(dosages, private=True)
    assert filled.tolist() == [[2, 0], [2, 1], [0, 1]]
    assert record["with_hom_ref"] == 2 and record["with_site_mode"] == 0


# --- `genofed synth --epsilon ... --generator reference` on a cohort with missing calls ------------

N_VARIANTS, N_PATIENTS, N_PANEL = 24, 40, 15
#: the panel lacks the last 4 of the site's variants: their missing calls are filled with 0/0
COVERED = 20


def _files(folder: Path) -> tuple[Path, Path, Path, int, int]:
    """A site (genotypes with missing calls, phenotypes) and a public phased panel of other people
    covering the first COVERED variants; returns the three paths and the number of missing calls
    at covered and uncovered variants."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    ids = [f"1:{1000 * (j + 1)}:A:G" for j in range(N_VARIANTS)]
    freq = rng.uniform(0.05, 0.8, N_VARIANTS)
    dosages = rng.binomial(2, freq, size=(N_PATIENTS, N_VARIANTS)).astype(np.int8)
    missing = rng.random(dosages.shape) < 0.08
    dosages[missing] = MISSING
    samples = [f"p{i}" for i in range(N_PATIENTS)]
    write_vcf(folder / "genotypes.vcf", dosages, samples, ids)
    lines = [f"{s},{i % 2}" for i, s in enumerate(samples)]
    (folder / "phenotypes.csv").write_text("sample_id,label\n" + "\n".join(lines) + "\n")
    haplotypes = rng.binomial(1, freq[:COVERED, None], size=(N_PANEL, COVERED, 2)).astype(np.int8)
    write_vcf(folder / "panel.vcf", haplotypes, [f"ref{i}" for i in range(N_PANEL)], ids[:COVERED])
    covered = int(missing[:, :COVERED].sum())
    return (
        folder / "genotypes.vcf",
        folder / "phenotypes.csv",
        folder / "panel.vcf",
        covered,
        int(missing.sum()) - covered,
    )


def test_a_dp_reference_run_reports_how_many_missing_calls_it_filled_and_with_what(
    tmp_path, capsys, monkeypatch
):
    genotypes, phenotypes, panel, from_panel, with_ref = _files(tmp_path / "site")
    assert from_panel > 0 and with_ref > 0
    read = []  # what the generator was given
    real = synth_module.generate_validated

    def spy(dosages, *args, **kwargs):
        read.append(dosages)
        return real(dosages, *args, **kwargs)

    monkeypatch.setattr(synth_module, "generate_validated", spy)
    out, state = tmp_path / "out", tmp_path / "state"
    argv = ["synth", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--out", str(out)]
    argv += ["--generator", "reference", "--reference", str(panel)]
    argv += ["--epsilon", "3", "--state-dir", str(state), "--budget", "8", "--spend-anyway"]
    assert main(argv) in (0, 1)  # passed or failed validation: the report is written either way
    err = capsys.readouterr().err
    total = from_panel + with_ref
    said = f"{total} missing calls filled: {from_panel} from the reference panel's allele frequencies (public"
    assert said in err  # before the charge, in the terminal
    assert f"{with_ref} with 0/0 (homozygous REF, a public constant) where the panel has no frequency" in err
    report = (out / "report.md").read_text()
    assert f"**Missing calls:** {said}" in report
    summary = json.loads((out / "validation.json").read_text())
    assert summary["missing_calls"] == {
        "missing_calls": total,
        "filled_with": "public",
        "from_public_frequencies": from_panel,
        "with_hom_ref": with_ref,
        "with_site_mode": 0,
        "panel": True,
    }
    raw = read_vcf(genotypes)
    freq = load_reference_panel(panel, raw.variant_ids).alt_frequencies()
    assert np.array_equal(read[0], impute_public(raw.dosages, freq))  # the panel's modes, 0/0 past it
    assert (read[0][:, COVERED:][raw.dosages[:, COVERED:] == MISSING] == 0).all()


def test_a_run_without_dp_reports_the_site_mode_fill_in_its_report(tmp_path, capsys):
    genotypes, phenotypes, panel, from_panel, with_ref = _files(tmp_path / "site")
    out = tmp_path / "out"
    argv = ["synth", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--out", str(out)]
    assert main([*argv, "--generator", "reference", "--reference", str(panel)]) in (0, 1)
    assert "missing calls filled" not in capsys.readouterr().err  # no DP: nothing to tell before a charge
    report = (out / "report.md").read_text()
    assert f"{from_panel + with_ref} missing calls filled with this site's most common genotype" in report
