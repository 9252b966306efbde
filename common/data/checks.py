"""Cross-file checks: does a site's genotype file match its phenotype file, and is the cohort usable?

Errors stop a run whose results would be meaningless (no cases, a sample without a label);
warnings flag what a statistician should look at but that does not by itself invalidate training
(some missingness, a monomorphic variant, imbalance). Both name examples, so a user can find them.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from genofed.common.data.cohort import MISSING, Cohort, GenotypeMatrix, Phenotypes
from genofed.common.data.readers._files import examples
from genofed.common.data.readers.phenotypes import SEXES, covariate_range
from genofed.common.data.variants import HAPLOID_EVERYWHERE
from genofed.common.errors import DataError, DataWarning


def join_cohort(genotypes: GenotypeMatrix, phenotypes: Phenotypes) -> Cohort:
    """The samples of the genotype file, in its order, with labels and covariates aligned.

    Every genotyped sample must have a phenotype row: training on genotypes with no label, or
    dropping them, would change a small rare-disease cohort without anyone noticing (and when most
    lack one, the files name the same people differently, `_renamed`). A phenotype row without
    genotypes is accepted and left out: a hospital's registry export lists more patients than were
    genotyped (`phenotypes_without_genotypes` is the warning that counts them), unless its id differs
    from a genotyped one only in Unicode form, Cyrillic look-alike letters or surrounding
    whitespace (`_look_alikes`): then it is the same person written otherwise, and refused.
    """
    duplicated = [sample for sample, count in Counter(genotypes.sample_ids).items() if count > 1]
    if duplicated:
        raise DataError(
            genotypes.source,
            f"{len(duplicated)} sample id(s) appear more than once: {examples(duplicated)}",
            hint="keep one genotype column/row per sample",
        )
    repeated = [variant for variant, count in Counter(genotypes.variant_ids).items() if count > 1]
    if repeated:
        raise DataError(
            genotypes.source,
            f"{len(repeated)} variant id(s) appear more than once: {examples(repeated)}",
            hint="remove duplicate records, e.g. `bcftools norm -d exact`",
        )
    in_phenotypes = set(phenotypes.sample_ids)
    in_genotypes = set(genotypes.sample_ids)
    no_label = [s for s in genotypes.sample_ids if s not in in_phenotypes]
    if no_label:
        raise _unmatched(
            phenotypes.source,
            f"{len(no_label)} sample(s) of {genotypes.source} have no row here: {examples(no_label)}",
            _renamed(no_label, phenotypes.sample_ids, genotypes.source, phenotypes.source)
            or f"add them to {phenotypes.source} or remove them from the genotypes "
            "(e.g. bcftools view -S keep.txt)",
            _look_alikes(no_label, phenotypes.sample_ids),
            genotypes.source,
        )
    no_genotypes = [s for s in phenotypes.sample_ids if s not in in_genotypes]
    if no_genotypes and genotypes.calls_past_samples:
        raise DataError(
            genotypes.source,
            f"{len(no_genotypes)} sample(s) of {phenotypes.source} have no genotypes here "
            f"({examples(no_genotypes)}), and this .bed holds calls past the last sample of its .fam: "
            "the .fam may have lost a line, which gives every later sample its neighbour's genotypes",
            hint="copy all three PLINK files again from the same export; if the .fam is complete, rewrite "
            "the fileset with plink2 --bfile PREFIX --make-bed --out NEWPREFIX",
        )
    look_alikes = _look_alikes(no_genotypes, genotypes.sample_ids)
    if look_alikes:  # the same people written otherwise, not extra rows of the registry
        raise _unmatched(
            genotypes.source,
            f"{len(no_genotypes)} sample(s) of {phenotypes.source} have no genotypes here: "
            f"{examples(no_genotypes)}",
            f"add their genotypes or remove their rows from {phenotypes.source}",
            look_alikes,
            phenotypes.source,
        )
    order = pd.Index(phenotypes.sample_ids).get_indexer(genotypes.sample_ids)
    return Cohort(
        dosages=genotypes.dosages,
        sample_ids=list(genotypes.sample_ids),
        variant_ids=list(genotypes.variant_ids),
        labels=np.asarray(phenotypes.labels)[order],
        covariates=phenotypes.covariates.loc[genotypes.sample_ids],
        genotype_source=genotypes.source,
        phenotype_source=phenotypes.source,
    )


def phenotypes_without_genotypes(
    genotype_ids: Sequence[str], genotype_source: str, phenotypes: Phenotypes
) -> list[DataWarning]:
    """The warning for phenotype rows whose sample has no genotypes (`join_cohort` leaves them
    out: they are counted nowhere, as samples, cases or controls), or none: a hospital's registry
    export usually lists more patients than were genotyped, which is no error, but a user should
    see how many were left out and who, in case a genotype file is incomplete."""
    genotyped = set(genotype_ids)
    extra = [s for s in phenotypes.sample_ids if s not in genotyped]
    if not extra:
        return []
    return [
        DataWarning(
            "phenotypes_without_genotypes",
            f"{len(extra)} phenotype row(s) of {phenotypes.source} have no genotypes in {genotype_source}: "
            f"{examples(extra, limit=3)}; they are not used",
        )
    ]


#: Cyrillic letters drawn like Latin ones, which a Russian keyboard layout types into an id
#: (`NА19307` with a Cyrillic А), mapped to the Latin letter they look like.
CYRILLIC_LOOKALIKES = str.maketrans("АВЕКМНОРСТХУІаеорсухі", "ABEKMHOPCTXYIaeopcyxi")


def _look_alikes(unmatched: list[str], others: list[str]) -> list[tuple[str, str]]:
    """(id, the other file's id) for each unmatched id that equals one of `others` once both are
    stripped of surrounding whitespace, put in Unicode NFC form and their Cyrillic look-alike
    letters read as Latin: ids a user cannot tell apart on screen (`José` typed in one file, `Jose`
    + combining accent exported in the other; `NA19307` and `NА19307`, a Cyrillic А).

    Only to explain a refusal: ids are never normalised, since the ledger, the predictions and the
    other file match them exactly."""
    by_key = {_id_key(other): other for other in others}
    return [(sample, by_key[_id_key(sample)]) for sample in unmatched if _id_key(sample) in by_key]


def _renamed(unmatched: list[str], others: list[str], source: str, other_source: str) -> str | None:
    """Advice when most of a file's ids miss the other file's in one systematic way, or None: then
    the files name the same people differently, and the usual advice (remove the unmatched samples)
    would delete the cohort. Two ways are recognised: PLINK's FID_IID pasted into one id, in either
    file (`HG00329_HG00329`, `FAM1_NA19307`, `0_NA19307` against `NA19307`), and leading zeros lost
    (`000123` vs `123`, as a spreadsheet saves a numeric column)."""
    if len(unmatched) < max(2, len(others) // 2):
        return None
    known = set(others)
    stripped = {other.lstrip("0"): other for other in others}
    pasted_by_suffix = {suffix: other for other in others for suffix in _after_underscores(other)}
    pasted = [
        (s, next((x for x in _after_underscores(s) if x in known), None) or pasted_by_suffix.get(s))
        for s in unmatched
    ]
    pasted = [(s, theirs) for s, theirs in pasted if theirs is not None]
    zeros = [(s, stripped[s.lstrip("0")]) for s in unmatched if s.lstrip("0") in stripped]
    for found, how in (
        (pasted, "PLINK's family and individual ids pasted into one (FID_IID)"),
        (zeros, "leading zeros lost in one file (a spreadsheet saves such ids as numbers)"),
    ):
        if len(found) >= len(unmatched) // 2:
            mine, theirs = found[0]
            return (
                f"do not remove them: {len(found)} of the {len(unmatched)} ids match the other file's once "
                f"read as {how}, e.g. {mine!r} in {source} and {theirs!r} in {other_source}; write both "
                "files' ids the same way (plink2 --export vcf ... id-paste=iid writes the individual id "
                "alone; format a spreadsheet's id column as text)"
            )
    return None


def _after_underscores(sample: str) -> list[str]:
    """What follows each `_` of an id: the individual id, if it is PLINK's FID_IID."""
    return [sample[i + 1 :] for i, char in enumerate(sample) if char == "_" and sample[i + 1 :]]


def _id_key(sample: str) -> str:
    return unicodedata.normalize("NFC", sample.strip()).translate(CYRILLIC_LOOKALIKES)


def _unmatched(
    source: str, problem: str, hint: str, pairs: list[tuple[str, str]], other_source: str
) -> DataError:
    """The refusal, about `source`, of ids found only in `other_source`; when some differ from an id
    of `source` only in Unicode form, Cyrillic look-alike letters or surrounding whitespace (`pairs`,
    from `_look_alikes`), it says
    so and shows both spellings escaped, since on screen they look the same. Pairs are counted by
    how they differ, so that an id with only a trailing space is not counted as a Unicode one."""
    if not pairs:
        return DataError(source, problem, hint=hint)
    by_kind: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for pair in pairs:
        by_kind.setdefault(tuple(_differences(*pair)), []).append(pair)
    hint = "write both files' ids the same way: genofed matches ids exactly, as its ledger and predictions do"
    differing = {kind for kinds in by_kind for kind in kinds}
    if any(kind.startswith("Unicode form") for kind in differing):
        hint += (
            "; for the Unicode form, convert both to NFC (accents as single characters), e.g. with "
            "Python's unicodedata.normalize('NFC', id)"
        )
    if any(kind.startswith("Cyrillic") for kind in differing):
        hint += "; retype the Cyrillic letters in Latin (switch the keyboard layout to English)"
    said = [
        f"{len(same)} of them differ from an id here only in {' and '.join(kinds)}, "
        f"e.g. {ascii(same[0][0])} in {other_source} and {ascii(same[0][1])} here"
        for kinds, same in by_kind.items()
    ]
    return DataError(source, f"{problem}; {'; '.join(said)}", hint=hint)


def _differences(one: str, other: str) -> list[str]:
    """How two ids with the same `_id_key` differ: Cyrillic letters drawn like Latin ones, Unicode
    form, surrounding whitespace, or several."""
    kinds = []
    one_nfc, other_nfc = (unicodedata.normalize("NFC", s.strip()) for s in (one, other))
    if one_nfc != other_nfc:
        letters = sorted({c for c in one_nfc + other_nfc if c.translate(CYRILLIC_LOOKALIKES) != c})
        kinds.append(
            "Cyrillic letters that look Latin ("
            + ", ".join(f"{ascii(c)} {unicodedata.name(c, 'a Cyrillic letter')}" for c in letters)
            + ")"
        )
    if one.strip() != other.strip() and one_nfc == other_nfc:
        kinds.append(
            f"Unicode form ({_form(one.strip())} vs {_form(other.strip())}: e.g. an accent stored "
            "as its own combining character in one file and within the letter in the other)"
        )
    if one != one.strip() or other != other.strip():
        kinds.append("surrounding whitespace")
    return kinds


def _form(sample: str) -> str:
    """`NFC`, `NFD`, or `mixed form`: which Unicode normal form an id is written in."""
    for form in ("NFC", "NFD"):
        if unicodedata.is_normalized(form, sample):
            return form
    return "mixed form"


def check_cohort(
    cohort: Cohort,
    *,
    min_samples: int = 20,
    max_missing_rate: float = 0.10,
    imbalance_ratio: float = 0.10,
) -> list[DataWarning]:
    """Raise DataError if the cohort cannot be trained on; return warnings about what looks off.

    Args:
        min_samples: below this a local model (and its validation split) is noise and its update
            mostly differential-privacy noise; 20 still admits the small rare-disease sites
            federated learning is for.
        max_missing_rate: 10% per variant or per sample is the usual QC threshold (plink
            --geno/--mind 0.1); above it a call rate problem is more likely than biology.
        imbalance_ratio: a minority class under 10% makes accuracy meaningless and per-site
            gradients dominated by one class; worth a look, not a stop (rare diseases are rare).
    """
    _check_variants(cohort)
    _check_size(cohort, min_samples)
    _check_classes(cohort)
    _check_covariates(cohort)
    missing = cohort.dosages == MISSING
    _check_empty_variants(cohort, missing)
    return [
        *_missingness_warnings(cohort, missing, max_missing_rate),
        *_monomorphic_warning(cohort, missing),
        *_imbalance_warning(cohort, imbalance_ratio),
        *_covariate_warnings(cohort),
        *_haploid_chromosome_warning(cohort, missing),
    ]


def summarize_cohort(cohort: Cohort) -> dict:
    """Counts a site can share or print: plain ints/floats only, no sample ids, JSON-ready."""
    return {
        "samples": int(cohort.n_samples),
        "cases": cohort.n_cases,
        "controls": cohort.n_controls,
        "variants": int(cohort.n_variants),
        "missing_rate": float(cohort.missing_rate()),
        "monomorphic": int(_monomorphic(cohort.dosages, cohort.dosages == MISSING).sum()),
        "covariates": [str(c) for c in cohort.covariates.columns],
    }


def _check_size(cohort: Cohort, min_samples: int) -> None:
    if cohort.n_samples < min_samples:
        raise DataError(
            cohort.genotype_source,
            f"only {cohort.n_samples} samples; at least {min_samples} are needed",
            hint="a model or a synthetic batch trained and checked on fewer patients is noise: use a larger "
            "cohort",
        )


def _check_variants(cohort: Cohort) -> None:
    if cohort.n_variants == 0:
        raise DataError(
            cohort.genotype_source,
            "no variants: the genotype file holds samples but no genotypes",
            hint="check the export; a region, filter or subset step may have removed every variant",
        )


def _check_covariates(cohort: Cohort) -> None:
    """Covariates within the documented ranges (see `genofed.common.data.readers.phenotypes`),
    whoever built them.

    The phenotype reader already refuses values outside them with the file's line; this repeats the
    check for cohorts assembled in code, because one infinite age makes DP-SGD send NaN weights.
    """
    for column in cohort.covariates.columns:
        values = pd.to_numeric(cohort.covariates[column], errors="coerce").to_numpy(dtype=float)
        if str(column).lower() == "sex":
            rule, allowed = "0 or 1", np.isin(values, sorted(set(SEXES.values())))
        else:
            low, high = covariate_range(str(column))
            rule, allowed = f"{low:g} to {high:g}", (values >= low) & (values <= high)
        bad = np.flatnonzero(~np.isnan(values) & ~allowed)
        if len(bad):
            sample = cohort.sample_ids[bad[0]]
            raise DataError(
                cohort.phenotype_source,
                f"covariate {column} is {values[bad[0]]:g}, outside its "
                f"documented range ({rule}; finite), in {len(bad)} sample(s)",
                location=f"sample {sample}",
                hint="fix or empty these values in the phenotype file",
            )


def _check_classes(cohort: Cohort) -> None:
    for count, name, other in (
        (cohort.n_cases, "cases", "1/case"),
        (cohort.n_controls, "controls", "0/control"),
    ):
        if count == 0:
            raise DataError(
                cohort.phenotype_source,
                f"no {name} among the {cohort.n_samples} samples",
                hint=f"a disease model needs both classes; check the label column ({other})",
            )


def _check_empty_variants(cohort: Cohort, missing: np.ndarray) -> None:
    empty = np.flatnonzero(missing.all(axis=0)) if cohort.n_samples else np.array([], dtype=int)
    if len(empty):
        names = [cohort.variant_ids[i] for i in empty]
        raise DataError(
            cohort.genotype_source,
            f"{len(empty)} variant(s) have no called genotype in any sample: {examples(names)}",
            hint="remove them, e.g. bcftools view -e 'F_MISSING=1' in.vcf.gz -Oz -o out.vcf.gz",
        )


def _missingness_warnings(cohort: Cohort, missing: np.ndarray, threshold: float) -> list[DataWarning]:
    warnings = []
    for axis, kind, names, fix in (
        (0, "variant", cohort.variant_ids, "--geno"),
        (1, "sample", cohort.sample_ids, "--mind"),
    ):
        rates = missing.mean(axis=axis)
        high = np.flatnonzero(rates > threshold)
        if len(high):
            shown = [f"{names[i]} ({rates[i]:.0%})" for i in high]
            warnings.append(
                DataWarning(
                    f"high_missing_{kind}",
                    f"{len(high)} {kind}(s) have more than {threshold:.0%} missing calls: "
                    f"{examples(shown)}; consider plink {fix} {threshold}",
                )
            )
    return warnings


def _monomorphic(dosages: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Variants whose called genotypes are all the same: they carry no information to learn from."""
    called_max = np.where(missing, -1, dosages).max(axis=0, initial=-1)
    called_min = np.where(missing, 3, dosages).min(axis=0, initial=3)
    return called_max == called_min


def _monomorphic_warning(cohort: Cohort, missing: np.ndarray) -> list[DataWarning]:
    mono = np.flatnonzero(_monomorphic(cohort.dosages, missing))
    if not len(mono):
        return []
    names = [cohort.variant_ids[i] for i in mono]
    return [
        DataWarning(
            "monomorphic",
            f"{len(mono)} variant(s) have the same genotype in every sample: "
            f"{examples(names)}; they add nothing locally (harmless in a federation)",
        )
    ]


def _imbalance_warning(cohort: Cohort, ratio: float) -> list[DataWarning]:
    share = min(cohort.n_cases, cohort.n_controls) / cohort.n_samples
    if share >= ratio:
        return []
    return [
        DataWarning(
            "class_imbalance",
            f"{cohort.n_cases} cases and {cohort.n_controls} controls: the "
            f"minority class is {share:.1%} of samples (below {ratio:.0%}); "
            "look at balanced metrics, not accuracy",
        )
    ]


def _covariate_warnings(cohort: Cohort) -> list[DataWarning]:
    warnings = []
    for column in cohort.covariates.columns:
        values = cohort.covariates[column]
        missing = values.index[values.isna()].tolist()
        if missing:
            warnings.append(
                DataWarning(
                    "missing_covariate",
                    f"covariate {column} is missing for {len(missing)} "
                    f"sample(s): {examples([str(s) for s in missing])}",
                )
            )
        note = zero_ages_note(str(column), values)
        if note:
            warnings.append(DataWarning("constant_age", note))
    return warnings


#: Chromosome X's pseudo-autosomal regions, diploid in males too: inside PAR1 or PAR2 on GRCh37 or
#: GRCh38 (PAR1 ends at 2,699,520 / 2,781,479; PAR2 starts at 154,931,044 / 155,701,383).
PAR1_END, PAR2_START = 2_781_479, 154_931_044


def _haploid_chromosome_warning(cohort: Cohort, missing: np.ndarray) -> list[DataWarning]:
    """A warning for calls that are haploid in life but diploid in the file: chromosome X outside
    the pseudo-autosomal regions in males (by the sex column), Y and MT in everyone. A VCF that
    writes them as 0/0 and 1/1 (some array-to-VCF converters do) passes the reader, and each
    counts as 0 or 2 copies where a person has 0 or 1: the bias the PLINK reader refuses male X
    for (an array-scale walkthrough found such a VCF trained without a word)."""
    # ids as the readers write them (`make_variant_id`: chromosome normalised), so a split suffices
    chrom_pos = [variant.split(":", 2)[:2] for variant in cohort.variant_ids]
    on_x = np.array([c == "X" and PAR1_END < int(p) < PAR2_START for c, p in chrom_pos], dtype=bool)
    on_y_or_mt = np.array([c in HAPLOID_EVERYWHERE for c, _ in chrom_pos], dtype=bool)
    sex_column = next((c for c in cohort.covariates.columns if str(c).lower() == "sex"), None)
    males = (
        (pd.to_numeric(cohort.covariates[sex_column], errors="coerce") == SEXES["male"]).to_numpy()
        if sex_column is not None
        else np.zeros(cohort.n_samples, dtype=bool)
    )
    called = ~missing
    x_calls = int(called[np.ix_(males, on_x)].sum())
    other_calls = int(called[:, on_y_or_mt].sum())
    if not x_calls and not other_calls:
        return []
    parts = []
    if x_calls:
        hets = int((cohort.dosages[np.ix_(males, on_x)] == 1).sum())
        parts.append(
            f"{x_calls} call(s) of {int(males.sum())} male patient(s) on chromosome X outside its "
            f"pseudo-autosomal regions ({hets} of them heterozygous, which a male X cannot be)"
        )
    if other_calls:
        parts.append(f"{other_calls} call(s) on chromosome Y or MT")
    return [
        DataWarning(
            "haploid_as_diploid",
            f"{' and '.join(parts)}: haploid in life, so each call counts 0 or 2 copies where the person "
            "has 0 or 1, which biases the model; keep the autosomes (e.g. bcftools view -t "
            "^X,Y,MT,chrX,chrY,chrM,chrMT), as the PLINK reader requires for male X",
        )
    ]


def zero_ages_note(column: str, values: pd.Series) -> str | None:
    """The warning for an age column whose every known value is 0 (an export that wrote unknown
    ages as 0), or None."""
    known = pd.to_numeric(values, errors="coerce").dropna()
    if column.lower() != "age" or len(known) < 2 or not (known == 0).all():
        return None
    return (
        f"covariate {column} is 0 for all {len(known)} samples with an age: did an export write "
        "unknown ages as 0? leave an unknown age empty, or the model reads newborns"
    )
