"""What `genofed synth`'s generator reads from a site's cohort: missing calls filled, the
covariates, and the phase (`generator_input`). `client/synth.py` runs the rest (options, ledger,
training, validation, writing).

Missing calls are filled before the generator reads them. Under DP from public values only
(`impute_public`: the reference panel's most likely genotype at its ALT frequency, else 0/0): the
site's own most common genotype (`impute_mode`, kept without DP) is a statistic of all the patients,
and one patient flipping it changed every row with a missing call there, beyond what the charge
assumes (an audit). report.md says how many calls were filled and with what (`missing_calls_note`).

Under DP the generator's input has a public form (`generator_input`): what it models is fixed by
the options and the files' schema, never by the patients' values. Covariates are modelled iff the
phenotype table has sex and age columns, a missing cell drawn per patient from a public
distribution with secret randomness (`fill_covariates_public`); haplotypes iff `--phase phased`
(the hospital's statement that its VCF is phased; an unphased heterozygous call or a filled
missing call is phased at random per patient: `random_phase`), dosages under `--phase auto`.
Before, one patient lacking an age, or one unphased call, switched the model for all (an audit).
Why this matters: the DP mechanism's sensitivity is one patient's row, so every patient's row
may depend only on that patient's own data, public values and secret randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.readers import is_vcf
from genofed.common.data.readers.phenotypes import AGE_RANGE
from genofed.common.data.readers.vcf import read_vcf
from genofed.common.errors import GenofedError
from genofed.common.privacy.secret_noise import SecretNoise, noise_key_from
from genofed.common.synthetic.config_base import AGE_CENTER, AGE_SCALE
from genofed.common.synthetic.pipeline import private_split_for_generator, seeded_noise_source
from genofed.common.synthetic.reference_panel import ReferencePanel

#: Why `--phase auto` models dosages under DP: the run's note (validation.json's `generator.modelled`).
DP_AUTO_PHASE = (
    "under DP --phase auto models dosages: whether every call is phased is a fact about the patients; "
    "pass --phase phased for a phased VCF"
)


class InputOptions(Protocol):
    """The options `generator_input` reads (`synth.SynthOptions` is one): `epsilon` (inf: no DP)
    and `phase` ("auto", "phased" or "ignore")."""

    @property
    def epsilon(self) -> float: ...

    @property
    def phase(self) -> str: ...


@dataclass(frozen=True)
class GeneratorInput:
    """What the generator reads, and how it was made (validation.json records the counts). Under
    DP its form (covariates or not, dosages or haplotypes) is fixed by public facts only: the
    options and the files' schema (`generator_input` says why)."""

    dosages: np.ndarray  # (n, V) int8, every missing call filled (`fill_missing`)
    missing_calls: dict[str, Any]  # `fill_missing`'s record
    covariates: np.ndarray | None  # (n, 2) sex (0/1) and age, none missing; None: not modelled
    missing_covariates: dict[str, Any]  # `model_covariates`' record
    haplotypes: np.ndarray | None  # (n, V, 2) 0/1 summing to `dosages`; None: dosages are modelled
    phase_note: str  # what the generator models, for validation.json
    #: (train, holdout) indices under DP (`private_split_for_generator`: each patient's side from a
    #: keyed hash of its own id); None without DP (`split_for_generator`, by `--seed`)
    split: tuple[np.ndarray, np.ndarray] | None = None


def generator_input(
    genotypes: str | Path,
    cohort: Cohort,
    options: InputOptions,
    *,
    panel: ReferencePanel | None = None,
    noise_rng: np.random.Generator | None = None,
) -> GeneratorInput:
    """The generator's input: missing calls filled (`fill_missing`), the covariates
    (`model_covariates`) and the phase (`phase_for_generator`).

    Under DP (`options.epsilon` finite) every patient's row depends on that patient's own data,
    public values and secret randomness only, and what is modelled (which columns, how many states
    per variant) on the options and the files' schema only. Why: the DP mechanism's sensitivity is
    one patient's row. Before, covariates were modelled only when EVERY patient had sex and age,
    and haplotypes only when EVERY heterozygous call was phased: one patient lacking an age,
    or with one unphased call, switched the model for all, changing every other patient's row and
    the generator's shape (an exact yes/no fact about the patients next to a DP batch; an audit).
    Without DP the data decide as before (`phased_haplotypes`; covariates when nobody lacks one).
    Under DP the patients the generator trains on are chosen each by a keyed hash of its own id
    (`split`), not by a shuffle that one patient's joining or label reorders.

    `noise_rng` seeds the fills' secret draws (tests); default: the `seeded_dp_noise` block's
    source in a simulation, else 256 bits of the OS's secret randomness (`_fill_key`)."""
    private = not math.isinf(options.epsilon)
    dosages, missing_calls = fill_missing(cohort.dosages, private=private, panel=panel)
    key = _fill_key(noise_rng)
    covariates, missing_covariates = model_covariates(cohort, private=private, key=key)
    haplotypes, phase_note = phase_for_generator(
        genotypes, cohort, dosages, options.phase, private=private, key=key
    )
    split = _private_split(cohort.sample_ids, _fill_key(noise_rng), genotypes) if private else None
    return GeneratorInput(
        dosages, missing_calls, covariates, missing_covariates, haplotypes, phase_note, split
    )


#: The fewest patients a DP run's keyed split may leave on either side (training, holdout).
MIN_SPLIT_SIDE = 2


def _private_split(sample_ids: list[str], key: int, genotypes: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """`private_split_for_generator`, refused (before anything is charged) when it leaves fewer
    than `MIN_SPLIT_SIDE` patients to train on or to check the batch against: possible in a small
    cohort, where each patient's hash, not a count, decides the 20 %."""
    split = private_split_for_generator(sample_ids, key)
    train, holdout = (len(side) for side in split)
    if min(train, holdout) < MIN_SPLIT_SIDE:
        raise GenofedError(
            f"{genotypes}: the generator's split by each patient's id left {train} patients to train on "
            f"and {holdout} to check the batch against; each needs at least {MIN_SPLIT_SIDE}: the cohort "
            "is too small for a DP synthetic batch. Nothing was charged."
        )
    return split


def _fill_key(noise_rng: np.random.Generator | None) -> int:
    """The 256-bit key of the fills' draws (`secret_noise.noise_key_from`): secret, like the DP
    noise's, never `--seed` (public: whoever holds it would know every filled value, and could
    tell filled cells from real ones). A seeded source (a test's, or a simulation's
    `seeded_dp_noise`, so that its rerun is identical) gives a child stream (`spawn`), which leaves
    the numbers the generator's DP noise then draws from it as they were."""
    rng = noise_rng if noise_rng is not None else seeded_noise_source()
    if rng is not None:
        try:
            rng = rng.spawn(1)[0]
        except (TypeError, ValueError):  # a source with no seed sequence: draw the key from it
            pass
    return noise_key_from(rng)


def _patient_noise(key: int, what: str, sample_id: str) -> SecretNoise:
    """One patient's own stream of secret draws for `what`: keyed by the run's secret key and the
    patient's id alone, so no other patient (present, absent, or missing a value) changes them."""
    return SecretNoise(key, f"genofed synth {what}|{sample_id}")


def model_covariates(cohort: Cohort, *, private: bool, key: int) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(sex, age) per patient for the generator, or None, and what was missing (validation.json's
    `missing_covariates`).

    Under DP (`private`) the covariates are modelled iff the phenotype table has both a sex and an
    age column: its header, a schema the hospital configures (public). A missing cell is filled
    per patient (`fill_covariates_public`), never skipped for everyone. Without DP, as before:
    modelled only when every patient has both."""
    lowered = {str(c).lower(): c for c in cohort.covariates.columns}
    if "sex" not in lowered or "age" not in lowered:
        return None, {"modelled": False, "missing_sex": 0, "missing_age": 0, "filled": 0, "filled_with": None}
    values = cohort.covariates[[lowered["sex"], lowered["age"]]].to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    counts = missing.sum(axis=0)
    record: dict[str, Any] = {"missing_sex": int(counts[0]), "missing_age": int(counts[1])}
    if not private:
        modelled = not missing.any()
        record.update(modelled=modelled, filled=0, filled_with=None)
        return (values if modelled else None), record
    filled = fill_covariates_public(values, cohort.sample_ids, key)
    return filled, {**record, "modelled": True, "filled": int(missing.sum()), "filled_with": "public"}


def fill_covariates_public(values: np.ndarray, sample_ids: list[str], key: int) -> np.ndarray:
    """(n, 2) sex and age with every missing cell (NaN) filled by a draw from a PUBLIC
    distribution, from the patient's own secret stream (`_patient_noise`): sex 0 or 1 with
    probability 1/2 each; age Normal(AGE_CENTER, AGE_SCALE) = Normal(50, 20) years, clipped to the
    readers' range (0-120): the generators' own public scale for age.

    Why these: each filled row then depends on the patient's own values, public constants and
    secret randomness only, never on the other patients' (a median or mode of the site's ages
    would be a statistic of all of them, computed before the DP mechanism, as the site's most
    common genotype was for missing calls: `impute_public`). A draw rather than one constant
    (sex 0.5, age 50): a constant is no valid sex, and a spike of identical ages the generator
    would learn and reproduce; a draw spreads the filled rows over the public distribution."""
    out = np.array(values, dtype=np.float64, copy=True)
    low, high = AGE_RANGE
    for i in np.flatnonzero(np.isnan(out).any(axis=1)):
        noise = _patient_noise(key, "covariate fill", sample_ids[i])
        sex, age = float(noise.uniform(1)[0] < 0.5), AGE_CENTER + AGE_SCALE * float(noise.normal(1)[0])
        if np.isnan(out[i, 0]):
            out[i, 0] = sex
        if np.isnan(out[i, 1]):
            out[i, 1] = min(max(age, low), high)
    return out


def missing_covariates_note(record: dict[str, Any]) -> str:
    """One line on the covariate cells filled under DP (`model_covariates`' record), for report.md
    and, before the charge, the terminal."""
    sex, age = int(record.get("missing_sex", 0)), int(record.get("missing_age", 0))
    parts = [f"{sex} sex" if sex else "", f"{age} age" if age else ""]
    cells = "cell" if sex + age == 1 else "cells"
    return (
        f"{sex + age} missing covariate {cells} ({', '.join(p for p in parts if p)}) filled per patient from "
        "public values only: sex drawn 0 or 1 with probability 1/2, age drawn from Normal(50, 20) years "
        "clipped to 0-120, from this run's secret randomness; never from the other patients' values"
    )


def covariates_off_note(record: dict[str, Any]) -> str:
    """Without DP, one line when blank covariate cells switched sex and age off for every patient
    (`model_covariates`' record: not modelled, some cells missing), for report.md and the terminal;
    "" otherwise. Under DP the same blanks are filled and said so (`missing_covariates_note`); a
    walkthrough's run without DP, 53 of 160 ages blank, said nothing anywhere."""
    sex, age = int(record.get("missing_sex", 0)), int(record.get("missing_age", 0))
    if record.get("modelled") or not sex + age:
        return ""
    parts = [f"{sex} blank sex" if sex else "", f"{age} blank age" if age else ""]
    cells = "cell" if sex + age == 1 else "cells"
    return (
        f"{' and '.join(p for p in parts if p)} {cells}: without --epsilon sex and age are modelled only "
        "when every patient has both, so the generator models NEITHER for any patient (the synthetic "
        "phenotypes carry no sex or age). Fill the blanks in the phenotype file, or run under DP "
        "(--epsilon), where each blank is filled from public values"
    )


def phase_for_generator(
    genotypes: str | Path, cohort: Cohort, dosages: np.ndarray, phase: str, *, private: bool, key: int
) -> tuple[np.ndarray | None, str]:
    """The haplotypes the generator models, or None for dosages, and what it models.

    "ignore": dosages. "phased": the hospital's statement that its VCF is phased (its file,
    public), so haplotypes always (`declared_phased`). "auto": without DP, haplotypes when every
    heterozygous call is phased and no call is missing (`phased_haplotypes`, as before); under DP
    dosages, for that decision reads every patient's calls: one patient's unphased call would
    switch all patients to dosages."""
    if phase == "ignore":
        return None, "dosages (--phase ignore)"
    if phase == "phased":
        return declared_phased(genotypes, cohort, dosages, key)
    if private:
        return None, f"dosages ({DP_AUTO_PHASE})"
    return phased_haplotypes(genotypes, cohort)


def declared_phased(
    genotypes: str | Path, cohort: Cohort, dosages: np.ndarray, key: int
) -> tuple[np.ndarray, str]:
    """`--phase phased`: the VCF's haplotypes (samples and variants in the cohort's order), each
    call whose phase the file does not give made from the patient's own filled dosage
    (`random_phase`): a heterozygous call written unphased, and a missing call (its fill, from
    `fill_missing`). Which calls are written unphased the reader says, from the same pass that
    reads the calls (`GenotypeMatrix.unphased`). No count of either is kept in the note: it is a
    statistic of the patients."""
    matrix = read_vcf(genotypes, haplotypes=True)
    rows = pd.Index(matrix.sample_ids).get_indexer(cohort.sample_ids)
    cols = pd.Index(matrix.variant_ids).get_indexer(cohort.variant_ids)
    if (rows < 0).any() or (cols < 0).any():  # the cohort is read from this file: never expected
        raise GenofedError(f"internal: the calls of {genotypes} do not match the cohort read from it")
    unphased, records = matrix.unphased[rows][:, cols], matrix.variant_records[cols]
    haplotypes = random_phase(
        matrix.haplotypes[rows][:, cols], dosages, unphased, cohort.sample_ids, key, records=records
    )
    return haplotypes, (
        "phased haplotypes (--phase phased: 4 allele-pair states per variant; a heterozygous call written "
        "unphased, and a missing call once filled, are phased at random per patient)"
    )


def random_phase(
    haplotypes: np.ndarray,
    dosages: np.ndarray,
    unphased: np.ndarray,
    sample_ids: list[str],
    key: int,
    *,
    records: np.ndarray | None = None,
) -> np.ndarray:
    """(n, V, 2) int8: `haplotypes` where the call is phased; where it is missing (`MISSING`) or a
    heterozygous call written unphased (`unphased`), from the filled `dosages`: 0 -> (0, 0),
    2 -> (1, 1), 1 -> (0, 1) or (1, 0) with probability 1/2 each, drawn from the patient's own
    secret stream (`_patient_noise`: one draw per variant, used where needed), so each row depends
    on that patient's calls and secret randomness only. Not from `--seed`, which is public.

    `records` (per variant, the VCF record it came from; None: a record each): of two heterozygous
    variants of one split multi-allelic record (a '1/2'), the second takes the opposite
    orientation of the first, so the two ALTs sit on different haplotypes, as on a chromosome."""
    out = np.array(haplotypes, dtype=np.int8, copy=True)
    dosages = np.asarray(dosages)
    redo = (out == MISSING).any(axis=2) | (np.asarray(unphased, dtype=bool) & (dosages == 1))
    for i in np.flatnonzero(redo.any(axis=1)):
        cols = np.flatnonzero(redo[i])
        calls = dosages[i, cols].astype(np.int8)
        first = _patient_noise(key, "phase", sample_ids[i]).uniform(dosages.shape[1])[cols] < 0.5
        if records is not None:
            _opposite_within_records(first, calls, np.asarray(records)[cols])
        out[i, cols, 0] = np.where(calls == 1, first.astype(np.int8), calls // 2)
        out[i, cols, 1] = calls - out[i, cols, 0]
    return out


def _opposite_within_records(first: np.ndarray, calls: np.ndarray, records: np.ndarray) -> None:
    """In place: a heterozygous call (`calls` 1) whose record already had one among these takes the
    opposite of that one's orientation (`first`), so one record's ALTs are on opposite haplotypes."""
    earlier: dict[int, bool] = {}
    for k in np.flatnonzero(calls == 1):
        record = int(records[k])
        if record in earlier:
            first[k] = not earlier[record]
        else:
            earlier[record] = bool(first[k])


def phased_haplotypes(genotypes: str | Path, cohort: Cohort) -> tuple[np.ndarray | None, str]:
    """The cohort's haplotypes (samples and variants in the cohort's order) when its file is a
    VCF in which every heterozygous call is phased and no call is missing; else None and why."""
    if not is_vcf(genotypes):
        return None, "dosages (the input is not a VCF, so it carries no phase)"
    matrix = read_vcf(genotypes, haplotypes=True)
    if matrix.unphased_heterozygous:
        return None, f"dosages ({matrix.unphased_heterozygous} heterozygous calls are unphased)"
    rows = pd.Index(matrix.sample_ids).get_indexer(cohort.sample_ids)
    cols = pd.Index(matrix.variant_ids).get_indexer(cohort.variant_ids)
    if (rows < 0).any() or (cols < 0).any():
        return None, "dosages (the phased calls could not be matched to the cohort)"
    haps = matrix.haplotypes[rows][:, cols]
    if (haps == MISSING).any():
        return None, "dosages (phased, but with missing calls; haplotypes are not imputed)"
    return haps, "phased haplotypes (4 allele-pair states per variant)"


def impute_mode(dosages: np.ndarray) -> np.ndarray:
    """Missing calls -> the variant's most common called genotype at this site (the generator
    models observed genotypes; a 'missing' category would be synthesised as such)."""
    out = dosages.copy()
    missing = out == MISSING
    if missing.any():
        counts = np.stack([(dosages == g).sum(axis=0) for g in (0, 1, 2)])
        mode = counts.argmax(axis=0).astype(out.dtype)
        out[missing] = np.broadcast_to(mode, out.shape)[missing]
    return out


def impute_public(dosages: np.ndarray, public_freq: np.ndarray | None = None) -> np.ndarray:
    """Missing calls -> a genotype chosen from public values only, for a generator under DP: the
    most likely genotype under Hardy-Weinberg at the public panel's ALT frequency p of the variant
    (the mode of Binomial(2, p): 0 if p < 1/3, 1 if 1/3 <= p <= 2/3, 2 if p > 2/3), and 0 (0/0,
    homozygous REF, a public constant) where no public frequency exists (`public_freq` None, or
    NaN for a variant the panel lacks).

    Why not the site's own most common genotype (`impute_mode`): that is a statistic of all the
    patients computed BEFORE the DP mechanism, so one patient joining the cohort can flip it and so
    change the row of every other patient with a missing call at that variant; the per-patient
    sensitivity the ledger's charge assumes (one patient changes one row) no longer holds (an audit
    measured a reference release moving 4.8 noise sd where the charge assumed 1: epsilon 8.2
    spent, 1.4 charged). Here each patient's filled row depends on that patient's calls alone."""
    out = np.asarray(dosages).copy()
    missing = out == MISSING
    if missing.any():
        fill = public_genotypes(public_freq, out.shape[1]).astype(out.dtype)
        out[missing] = np.broadcast_to(fill, out.shape)[missing]
    return out


def public_genotypes(public_freq: np.ndarray | None, n_variants: int) -> np.ndarray:
    """(V,) int8: the fill `impute_public` uses per variant: the mode of Binomial(2, p) at the public
    frequency p, 0 where p is unknown (None or NaN)."""
    fill = np.zeros(n_variants, dtype=np.int8)
    if public_freq is None:
        return fill
    freq = np.asarray(public_freq, dtype=np.float64)
    if freq.shape != (n_variants,):
        raise ValueError(f"public_freq must have shape ({n_variants},), got {freq.shape}")
    known = ~np.isnan(freq)
    fill[known & (freq >= 1.0 / 3.0)] = 1
    fill[known & (freq > 2.0 / 3.0)] = 2
    return fill


def fill_missing(
    dosages: np.ndarray, *, private: bool, panel: ReferencePanel | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The dosages the generator reads, every missing call filled, and what was filled with what
    (validation.json's `missing_calls`; `missing_calls_note` words it). Under DP (`private`):
    `impute_public` with the public `panel`'s ALT frequencies (the reference generator's; None: 0/0
    everywhere); without DP the site's own most common genotype (`impute_mode`, as before: no
    guarantee is claimed, and the records carry the patients anyway)."""
    missing = np.asarray(dosages) == MISSING
    total = int(missing.sum())
    if not private:
        return impute_mode(dosages), {
            "missing_calls": total,
            "filled_with": "site_mode",
            "from_public_frequencies": 0,
            "with_hom_ref": 0,
            "with_site_mode": total,
        }
    freq = panel.alt_frequencies() if panel is not None else None
    known = np.zeros(missing.shape[1], dtype=bool) if freq is None else ~np.isnan(freq)
    from_panel = int(missing[:, known].sum())
    return impute_public(dosages, freq), {
        "missing_calls": total,
        "filled_with": "public",
        "from_public_frequencies": from_panel,
        "with_hom_ref": total - from_panel,
        "with_site_mode": 0,
        "panel": panel is not None,
    }


def missing_calls_note(filled: dict[str, Any]) -> str:
    """One line on how the missing calls were filled (`fill_missing`'s record), for report.md and,
    under DP, the terminal."""
    total = int(filled.get("missing_calls", 0))
    if not total:
        return "no missing calls to fill"
    calls = "missing call" if total == 1 else "missing calls"
    if filled.get("filled_with") == "site_mode":
        return (
            f"{total} {calls} filled with this site's most common genotype at each variant (without DP; "
            "under --epsilon they are filled from public values only)"
        )
    panel, ref = int(filled.get("from_public_frequencies", 0)), int(filled.get("with_hom_ref", 0))
    parts = []
    if panel:
        parts.append(
            f"{panel} from the reference panel's allele frequencies (public: the most likely genotype at "
            "each variant's panel frequency)"
        )
    if ref:
        where = " where the panel has no frequency" if filled.get("panel") else " (no public panel given)"
        parts.append(f"{ref} with 0/0 (homozygous REF, a public constant){where}")
    lead = f"{total} {calls} filled" if len(parts) == 1 else f"{total} {calls} filled:"
    return (
        f"{lead} {', '.join(parts)}; under DP each patient's fills depend on that patient's own calls "
        "and public values only, never on the other patients'"
    )
