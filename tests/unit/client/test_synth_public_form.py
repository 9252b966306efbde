"""`genofed synth` under DP: the generator's input has a public form (`synth_input.generator_input`).

An audit found two decisions that read all the patients before the DP mechanism: covariates (sex,
age) were modelled only when EVERY patient had both, and `--phase auto` modelled haplotypes only
when EVERY heterozygous call was phased. One patient lacking an age, or with one unphased call,
switched the model for everyone: every other patient's row (and the generator's shape) changed,
beyond the one-row sensitivity the ledger's charge assumes. Under DP the covariates are now
modelled iff the phenotype table has sex and age columns (a missing cell drawn per patient from a
public distribution), haplotypes iff `--phase phased`, and `--phase auto` models dosages.

Each check compares two neighbouring cohorts (one patient's value differs) under the same secret
key (`seeded_dp_noise`), and stops the run where the generator would train (nothing is charged).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.site_files import synth_args

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.synth import SynthOptions, synthesize
from genofed.client.synth_input import DP_AUTO_PHASE, fill_covariates_public, random_phase
from genofed.common.data.cohort import MISSING
from genofed.common.data.readers.phenotypes import AGE_RANGE
from genofed.common.data.writers import write_plink
from genofed.common.errors import ConfigError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.synthetic.pipeline import seeded_dp_noise, split_for_generator

N_PATIENTS, N_VARIANTS = 30, 12
#: the patient whose value differs between the two neighbouring cohorts
ONE = 7
#: a patient missing one call in both cohorts (filled, then phased from the fill)
GAPPY, GAP_VARIANT = 3, 2


class _Stop(Exception):
    """Raised by the spy where the generator would train: the input was seen, nothing charged."""


def _haplotypes() -> np.ndarray:
    """(patients, variants, 2) 0/1 alleles; patient ONE heterozygous (1|0) at variant 0."""
    rng = np.random.default_rng(3)
    freq = rng.uniform(0.2, 0.6, N_VARIANTS)
    haps = rng.binomial(1, freq[None, :, None], size=(N_PATIENTS, N_VARIANTS, 2)).astype(np.int8)
    haps[ONE, 0] = (1, 0)
    return haps


def _write_vcf(
    path: Path, haps: np.ndarray, *, unphased: tuple[int, int] | None = None, gap: bool = True
) -> Path:
    """A phased VCF of `haps` ('|'), but for the call `unphased` (patient, variant), written '/',
    and (`gap`) GAPPY's call at GAP_VARIANT, missing ('.|.')."""
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"])
        + "".join(f"\tp{i}" for i in range(N_PATIENTS)),
    ]
    for j in range(N_VARIANTS):
        calls = []
        for i in range(N_PATIENTS):
            a, b = haps[i, j]
            sep = "/" if unphased == (i, j) else "|"
            calls.append(".|." if gap and (i, j) == (GAPPY, GAP_VARIANT) else f"{a}{sep}{b}")
        lines.append("\t".join(["1", str(1000 * (j + 1)), ".", "A", "G", ".", "PASS", ".", "GT", *calls]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _labels(flip_label_of: int | None = None) -> np.ndarray:
    """Every patient's label: alternating, but `flip_label_of`'s flipped."""
    labels = np.arange(N_PATIENTS) % 2
    if flip_label_of is not None:
        labels[flip_label_of] = 1 - labels[flip_label_of]
    return labels


def _write_phenotypes(
    path: Path, *, drop_age_of: int | None = None, flip_label_of: int | None = None
) -> Path:
    """sample_id,label,sex,age for every patient; `drop_age_of`'s age left empty, `flip_label_of`'s
    label flipped."""
    rows = ["sample_id,label,sex,age"]
    for i, label in enumerate(_labels(flip_label_of)):
        age = "" if i == drop_age_of else f"{30 + i}"
        rows.append(f"p{i},{label},{'MF'[i % 3 == 0]},{age}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _generator_input(
    tmp_path: Path, genotypes: Path, phenotypes: Path, *, phase: str = "auto"
) -> dict[str, Any]:
    """What `genofed synth --epsilon 3` hands the generator (its keyword arguments, dosages and the
    warnings said before the charge), the run stopped there; the same secret key each time (a
    seeded source). Not bound to the files (`bound_to_data`: a hospital's ledger would refuse the
    neighbouring cohort's second run); the input is prepared the same way."""
    seen: dict[str, Any] = {"warnings": []}

    def spy(dosages, labels, **kwargs):
        seen.update(kwargs, dosages=dosages, labels=labels)
        raise _Stop

    options = SynthOptions(
        epsilon=3.0,
        state_dir=str(tmp_path / "state"),
        budget=8.0,
        epochs=1,
        phase=phase,
        warn=seen["warnings"].append,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth_module, "generate_validated", spy)
        with seeded_dp_noise(np.random.default_rng(11)), pytest.raises(_Stop):
            synthesize(genotypes, phenotypes, tmp_path / "out", options)
    ledger = tmp_path / "state" / LEDGER_FILE
    assert not ledger.is_file() or not PrivacyLedger(ledger).charges  # stopped before the charge
    return seen


def _rows_apart(a: np.ndarray, b: np.ndarray) -> list[int]:
    """The patients whose rows differ between two inputs of the generator."""
    return [i for i in range(len(a)) if not np.array_equal(a[i], b[i])]


# --- (a) covariates: one patient's missing age changes that patient's row only ------------------------


def test_one_missing_age_changes_neither_the_covariate_decision_nor_other_rows(tmp_path):
    haps = _haplotypes()
    genotypes = _write_vcf(tmp_path / "genotypes.vcf", haps)
    full = _generator_input(tmp_path / "a", genotypes, _write_phenotypes(tmp_path / "full.csv"))
    gap_csv = _write_phenotypes(tmp_path / "gap.csv", drop_age_of=ONE)
    gap = _generator_input(tmp_path / "b", genotypes, gap_csv)
    # the old code modelled no covariates at all once one patient lacked an age
    assert full["covariates"] is not None and gap["covariates"] is not None
    assert full["covariates"].shape == gap["covariates"].shape == (N_PATIENTS, 2)
    assert _rows_apart(full["covariates"], gap["covariates"]) == [ONE]
    filled = gap["covariates"][ONE]
    assert filled[0] == full["covariates"][ONE, 0]  # the patient's own sex is kept
    assert AGE_RANGE[0] <= filled[1] <= AGE_RANGE[1] and not np.isnan(gap["covariates"]).any()
    said = "1 missing covariate cell (1 age) filled per patient from public values only"
    assert any(said in warning for warning in gap["warnings"])  # before the charge
    assert not any("covariate" in warning for warning in full["warnings"])


def test_the_public_fill_of_a_patient_depends_on_that_patient_alone():
    values = np.array([[0.0, 40.0], [1.0, np.nan], [np.nan, 70.0], [np.nan, np.nan]])
    ids = ["a", "b", "c", "d"]
    filled = fill_covariates_public(values, ids, key=5)
    assert np.array_equal(filled[:1], values[:1]) and filled[1, 0] == 1.0 and filled[2, 1] == 70.0
    assert set(filled[2:, 0]) <= {0.0, 1.0} and ((filled[:, 1] >= 0) & (filled[:, 1] <= 120)).all()
    # another patient's gap (or absence) changes nothing of d's fill
    alone = fill_covariates_public(values[[3]], ["d"], key=5)
    assert np.array_equal(alone[0], filled[3])
    other = values.copy()
    other[0, 1] = np.nan
    assert np.array_equal(fill_covariates_public(other, ids, key=5)[1:], filled[1:])
    # a new key, new draws (secret randomness, not a constant)
    draws = {tuple(fill_covariates_public(values, ids, key=k)[3]) for k in range(8)}
    assert len(draws) > 1


# --- (b) phase: one patient's unphased call changes neither the decision nor other rows ---------------


@pytest.mark.parametrize("phase", ["phased", "auto"])
def test_one_unphased_call_changes_neither_the_phase_decision_nor_other_rows(tmp_path, phase):
    haps = _haplotypes()
    # no missing call under auto: without DP the only difference would then decide the phase
    gap = phase == "phased"
    phased = _write_vcf(tmp_path / "phased.vcf", haps, gap=gap)
    one_unphased = _write_vcf(tmp_path / "unphased.vcf", haps, unphased=(ONE, 0), gap=gap)
    phenotypes = _write_phenotypes(tmp_path / "phenotypes.csv")
    a = _generator_input(tmp_path / "a", phased, phenotypes, phase=phase)
    b = _generator_input(tmp_path / "b", one_unphased, phenotypes, phase=phase)
    assert np.array_equal(a["dosages"], b["dosages"])
    if phase == "auto":  # under DP: dosages whatever the calls (the old code read them to decide)
        assert a["haplotypes"] is None and b["haplotypes"] is None
        return
    assert a["haplotypes"] is not None and b["haplotypes"] is not None
    assert _rows_apart(a["haplotypes"], b["haplotypes"]) in ([], [ONE])
    for got in (a, b):
        assert np.array_equal(got["haplotypes"].sum(axis=2), got["dosages"])
        kept = np.ones(haps.shape[:2], dtype=bool)
        kept[ONE], kept[GAPPY, GAP_VARIANT] = False, False
        assert (got["haplotypes"][kept] == haps[kept]).all()  # phased calls kept as written
    assert tuple(a["haplotypes"][ONE, 0]) == (1, 0)  # written 1|0
    assert sorted(b["haplotypes"][ONE, 0]) == [0, 1]  # written 1/0: phased at random
    assert tuple(a["haplotypes"][GAPPY, GAP_VARIANT]) == (0, 0)  # missing: the public fill 0/0


def test_random_phase_redoes_only_unphased_hets_and_missing_calls_from_the_patients_own_stream():
    haps = np.array([[[1, 0], [0, 1], [1, 1]], [[0, 1], [MISSING, MISSING], [0, 0]]], dtype=np.int8)
    dosages = np.array([[1, 1, 2], [1, 2, 0]], dtype=np.int8)  # the missing call filled with 2
    unphased = np.array([[False, True, True], [False, False, True]])
    out = random_phase(haps, dosages, unphased, ["a", "b"], key=9)
    assert np.array_equal(out.sum(axis=2), dosages)
    assert tuple(out[0, 0]) == (1, 0) and tuple(out[0, 2]) == (1, 1) and tuple(out[1, 0]) == (0, 1)
    assert tuple(out[1, 1]) == (1, 1) and tuple(out[1, 2]) == (0, 0)
    # patient a's draw is a's own: without patient b, the same
    assert np.array_equal(random_phase(haps[:1], dosages[:1], unphased[:1], ["a"], key=9)[0], out[0])
    # over keys, an unphased het takes both orders
    firsts = {int(random_phase(haps, dosages, unphased, ["a", "b"], key=k)[0, 1, 0]) for k in range(16)}
    assert firsts == {0, 1}


# --- (c) --phase phased on a PLINK input: refused before anything is read or charged -----------------


def test_phase_phased_on_plink_is_refused_before_anything_is_charged(tmp_path, capsys):
    haps = _haplotypes()
    prefix = tmp_path / "site"
    ids = [f"p{i}" for i in range(N_PATIENTS)]
    write_plink(prefix, haps.sum(axis=2), ids, [f"1:{1000 * (j + 1)}:A:G" for j in range(N_VARIANTS)])
    phenotypes = _write_phenotypes(tmp_path / "phenotypes.csv")
    state, out = tmp_path / "state", tmp_path / "out"
    state.mkdir()
    (state / LEDGER_FILE).write_text("")  # an existing ledger file: must stay as it is
    before = sorted(p.name for p in state.iterdir())
    argv = ["synth", "--genotypes", f"{prefix}.bed", "--phenotypes", str(phenotypes), "--out", str(out)]
    argv += ["--epsilon", "3", "--state-dir", str(state), "--budget", "8", "--phase", "phased"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--phase phased needs a phased VCF" in err and "Nothing was read, written or charged" in err
    assert sorted(p.name for p in state.iterdir()) == before and (state / LEDGER_FILE).read_text() == ""
    assert not out.exists()


@pytest.mark.parametrize("epsilon", [3.0, math.inf])
def test_phase_phased_is_refused_for_a_non_vcf_before_the_file_is_read(tmp_path, epsilon):
    options = SynthOptions(epsilon=epsilon, state_dir=str(tmp_path / "state"), budget=8.0, phase="phased")
    with pytest.raises(ConfigError, match="--phase phased needs a phased VCF"):  # not "file not found"
        synthesize(tmp_path / "absent.bed", tmp_path / "absent.csv", tmp_path / "out", options)
    assert not (tmp_path / "state").exists() and not (tmp_path / "out").exists()


# --- without DP the data decide as before; a DP run's files say what was filled ----------------------


def _plain_input(tmp_path: Path, genotypes: Path, phenotypes: Path) -> dict[str, Any]:
    """What `genofed synth` WITHOUT --epsilon hands the generator (the run stopped there)."""
    seen: dict[str, Any] = {}

    def spy(dosages, labels, **kwargs):
        seen.update(kwargs, dosages=dosages)
        raise _Stop

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth_module, "generate_validated", spy)
        with pytest.raises(_Stop):
            synthesize(genotypes, phenotypes, tmp_path / "out", SynthOptions(epochs=1))
    return seen


def test_without_dp_covariates_and_auto_phase_are_decided_as_before(tmp_path):
    haps = _haplotypes()
    phased = _write_vcf(tmp_path / "phased.vcf", haps, gap=False)
    one_unphased = _write_vcf(tmp_path / "unphased.vcf", haps, unphased=(ONE, 0), gap=False)
    full, gap = (
        _write_phenotypes(tmp_path / "full.csv"),
        _write_phenotypes(tmp_path / "gap.csv", drop_age_of=ONE),
    )
    a = _plain_input(tmp_path / "a", phased, full)
    assert a["covariates"] is not None and np.array_equal(a["haplotypes"], haps)
    b = _plain_input(tmp_path / "b", one_unphased, gap)
    assert b["covariates"] is None and b["haplotypes"] is None


def test_a_dp_run_reports_the_filled_covariates_and_the_declared_phase(tmp_path, capsys):
    haps = _haplotypes()
    genotypes = _write_vcf(tmp_path / "genotypes.vcf", haps, unphased=(ONE, 0))
    phenotypes = _write_phenotypes(tmp_path / "phenotypes.csv", drop_age_of=ONE)
    out, state = tmp_path / "out", tmp_path / "state"
    argv = ["synth", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--out", str(out)]
    argv += ["--epsilon", "3", "--state-dir", str(state), "--budget", "8", "--epochs", "1", "--spend-anyway"]
    assert main([*argv, "--phase", "phased"]) in (0, 1)  # passed or failed: the report is written
    said = "1 missing covariate cell (1 age) filled per patient from public values only"
    assert said in capsys.readouterr().err  # before the charge
    assert f"**Missing covariates:** {said}" in (out / "report.md").read_text()
    summary = json.loads((out / "validation.json").read_text())
    assert summary["missing_covariates"] == {
        "missing_sex": 0,
        "missing_age": 1,
        "modelled": True,
        "filled": 1,
        "filled_with": "public",
    }
    assert summary["generator"]["phased"] is True
    assert not any(c.isdigit() for c in summary["generator"]["modelled"].replace("4 allele", ""))
    # the same data with --phase auto: dosages, and the run's note says why
    assert main([*argv[:6], str(tmp_path / "auto"), *argv[7:]]) in (0, 1)
    generator = json.loads((tmp_path / "auto" / "validation.json").read_text())["generator"]
    assert generator["phased"] is False and generator["modelled"] == f"dosages ({DP_AUTO_PHASE})"


# --- (d) the generator's training patients: one patient's label moves no other patient ---------------


def test_one_patients_label_moves_no_other_patient_between_training_and_holdout(tmp_path):
    """Under DP each patient's side is a keyed hash of its own id (`private_split_for_generator`).
    The stratified shuffle by the public --seed used before moved others when one label changed."""
    genotypes = _write_vcf(tmp_path / "genotypes.vcf", _haplotypes())
    a = _generator_input(tmp_path / "a", genotypes, _write_phenotypes(tmp_path / "a.csv"))
    b = _generator_input(tmp_path / "b", genotypes, _write_phenotypes(tmp_path / "b.csv", flip_label_of=ONE))
    for side in (0, 1):
        assert np.array_equal(a["split"][side], b["split"][side])
    assert sorted([*a["split"][0], *a["split"][1]]) == list(range(N_PATIENTS))
    # the test can tell: the shuffle by --seed (42) moves other patients for the same change
    before = [set(split_for_generator(_labels(flip), 42)[0]) for flip in (None, ONE)]
    assert len((before[0] ^ before[1]) - {ONE}) > 1


def test_a_keyed_split_that_leaves_no_holdout_is_refused_before_the_charge(tmp_path, monkeypatch, capsys):
    """A small cohort's keyed split can leave (almost) nobody on one side: refused in words."""
    import genofed.client.synth_input as synth_input

    monkeypatch.setattr(
        synth_input,
        "private_split_for_generator",
        lambda ids, key: (np.arange(len(ids)), np.arange(0)),
    )
    genotypes = _write_vcf(tmp_path / "genotypes.vcf", _haplotypes())
    phenotypes = _write_phenotypes(tmp_path / "phenotypes.csv")
    state, out = tmp_path / "state", tmp_path / "out"
    argv = synth_args(
        (genotypes, phenotypes), out, "--epsilon", "3", "--budget", "8", "--state-dir", str(state)
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"left {N_PATIENTS} patients to train on and 0 to check the batch against" in err, err
    assert "Nothing was charged" in err and not out.exists()
    assert not (state / LEDGER_FILE).is_file() or not PrivacyLedger(state / LEDGER_FILE).charges


def test_the_two_alts_of_one_unphased_multiallelic_het_are_put_on_opposite_haplotypes():
    """A '1/2' is read as two variants, ALT1 and ALT2, each heterozygous and unphased: phased one by
    one, about half the patients got both ALTs on one haplotype (a reviewer: 97 of 200)."""
    n = 200
    haps = np.zeros((n, 3, 2), dtype=np.int8)
    haps[:, 0], haps[:, 1], haps[:, 2] = (1, 0), (0, 1), (1, 0)  # as read from '1/2', then a '0/1'
    dosages, unphased = np.ones((n, 3), dtype=np.int8), np.ones((n, 3), dtype=bool)
    ids = [f"p{i}" for i in range(n)]
    out = random_phase(haps, dosages, unphased, ids, key=12345, records=np.array([0, 0, 1]))
    assert (out[:, 0] != out[:, 1]).all() and np.array_equal(out.sum(axis=2), dosages)
    assert 0 < (out[:, 0, 0] == out[:, 2, 0]).sum() < n  # another record's het is drawn on its own
    apart = random_phase(haps, dosages, unphased, ids, key=12345)  # without records: as many draws
    assert (apart[:, 0] == apart[:, 1]).all(axis=1).any()
