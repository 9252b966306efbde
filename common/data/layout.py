"""The on-disk layout of a federation folder: one sub-folder per hospital, an optional test
cohort, the panel.

A federation folder is any folder of hospital sub-folders, each holding one genotype file in any
format the readers take and one phenotype file. `simulate-cohorts` writes one the way clinics
hand data over; the simulation mode's virtual hospitals find their own folder in it; and reading
every cohort back through `load_site` (the hospital agent's own loader) proves simulated files
pass the checks real data must pass.

How a hospital folder's files are found (`site_files`; hidden files, starting with '.', and
sub-folders are never looked at):

1. The phenotype file is the one whose name starts with `pheno` and ends in .csv, .tsv or .txt
   (optionally .gz), e.g. `phenotypes.csv`, `pheno_2024.tsv`. When no file is named so, it is
   the only CSV/TSV/TXT whose header has `sample_id` and no variant column (chrom:pos:ref:alt).
2. The genotype file is the only one left that holds genotypes: a VCF or BCF (.vcf, .vcf.gz,
   .vcf.bgz, .bcf), a PLINK 1 .bed (with its .bim and .fam), a Parquet table, or a CSV/TSV/TXT
   table whose header has `sample_id` and variant columns.

A hospital folder's table whose header holds `sample_id` only when split on another separator (a
tab-separated .csv) is refused by name with the readers' separator advice when the folder lacks
that file (its genotypes or its phenotypes), instead of "no phenotype file" or a skipped folder.

A folder without a genotype file is not a hospital and is skipped (notes, `sources/` ...), unless
it holds a phenotype file and a file that looks like its genotypes but cannot be read (a table
with an `IID` column or rs-id columns, empty or starting with an empty line; a .bim/.fam without
its .bed): that stops the run with the reader's own error, as `data check` gives it, since
skipping would leave a hospital out of the run without a word. For the same reason a federation's
sub-folder with a file named as a phenotype file (pheno*) but no genotype file the rule finds is
refused, naming what it holds (a PLINK 2 fileset, a BGEN file or an archive, which genofed does not
read; a VCF in a sub-folder, where the rule does not look), and so is one with any phenotype table
beside such files. One with a genotype file and no
phenotype file, or with two candidates for either, is a DataError
naming the folder and the files, because guessing would train on the wrong data. `test/`,
`sources/` and `reference/` (a simulated federation's public reference panel, whose samples.tsv
would otherwise pass for a phenotype table) are never hospitals. With no `test/`, a hospital folder
whose name starts with `test` or is `holdout`/`heldout`/`held-out`/`held_out` (any case) is refused
(`_refuse_misnamed_test`): it is plainly the test cohort misnamed, and would be trained on. A run
that names its test cohort (`test_dir`, `--test-dir`) knows it, so no name is refused then; a
sub-folder that is that test cohort is not a hospital.

A folder `genofed synth` wrote (its `validation.json`, or a VCF whose header says `##source=genofed`
and whose samples are all `SYN` ids) is refused as a hospital, naming the folder: its records are
not patients, so an epsilon reported for it would be about the copy, while the real patients behind
a copy made without DP had no protection at all. Training on synthetic records goes through
`genofed simulate --synthetic-ratio`, where each hospital generates and charges its own.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from genofed.common.data.loading import SiteData, load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import VCF_SUFFIXES, read_genotypes
from genofed.common.data.readers._files import BOM, is_gzip, require_utf8_path
from genofed.common.data.readers.plink import BED_MAGIC
from genofed.common.data.readers.table import ID_COLUMN, check_separator, semicolon_separated, separator
from genofed.common.data.variants import parse_variant_id
from genofed.common.errors import DataError

#: The names `simulate-cohorts` writes (any name the discovery rule accepts works as well).
GENOTYPES = "genotypes.vcf.gz"
GENOTYPES_PLINK = "genotypes.bed"  # a clinic that exports PLINK 1 (.bed/.bim/.fam)
PHENOTYPES = "phenotypes.csv"
PANEL = "panel.tsv"
TRUTH = "truth.json"
#: A simulated federation's stand-in for a clinician's list of known disease genes (a BED file; a
#: file, not a folder, so never taken for a hospital).
GENE_LIST = "known_genes.bed"
TEST = "test"
#: A simulated federation's public reference panel (phased people in no hospital): not a hospital.
REFERENCE = "reference"
#: Folders of a federation directory that are not hospitals.
NOT_HOSPITALS = frozenset({TEST, "sources", REFERENCE})
#: What `genofed synth` writes next to its records (`genofed.client.synth.SUMMARY_FILE`), and
#: the sample ids of its VCF: a folder with either is a synthetic copy, not a hospital.
SYNTH_SUMMARY = "validation.json"
SYNTH_SAMPLE_ID = re.compile(r"SYN\d{6}")
#: Files that hold genotypes in a form genofed does not read (PLINK 2, BGEN, archives): beside a
#: phenotype file they make a folder a hospital whose genotypes need converting, not a folder to skip.
UNREAD_GENOTYPE_SUFFIXES = (
    ".pgen",
    ".pvar",
    ".psam",
    ".pvar.zst",
    ".bgen",
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".7z",
)
#: Text tables: phenotype files, and genotype tables with variant columns.
TEXT_TABLES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
#: A phenotype file's name starts with this (case-insensitive) and ends in a `TEXT_TABLES` suffix.
PHENOTYPE_PREFIX = "pheno"
#: `_kind`'s prefix for a table whose header has `sample_id` only when split on another separator.
MISSEPARATED = "separated otherwise: "
#: First columns that name samples in other tools' exports (PLINK's IID/FID ...): a table that starts
#: with one, beside a phenotype file, is taken for a genotype table the rule could not read (not
#: `id`, the first column of a panel.tsv).
SAMPLE_ID_NAMES = frozenset({ID_COLUMN, "iid", "fid", "sample", "sample_name", "sampleid"})
#: A dbSNP rs id as a column name (`rs2478269`, PLINK --recode A's `rs2478269_A`).
RS_ID = re.compile(r"(?i)rs\d+")
RULE_HINT = (
    "a hospital folder holds one genotype file (VCF/BCF, PLINK .bed/.bim/.fam, or a CSV/TSV/Parquet "
    "table with sample_id and chrom:pos:ref:alt columns) and one phenotype file (named pheno*.csv/tsv/txt, "
    "e.g. phenotypes.csv); files whose name starts with '.' are ignored"
)


@dataclass(frozen=True)
class SiteFolder:
    name: str
    genotypes: Path
    phenotypes: Path


def simulated_ledger_root(out_dir: str, data_dir: str | Path) -> Path:
    """Where a simulation's hospitals keep their privacy ledgers when its run config names no
    `ledger-dir`: `OUT/privacy-ledgers`, as `genofed simulate` does, or beside the data without an
    out-dir. One rule for the ClientApp that writes them (genofed.client.site) and the ServerApp's
    results.json, which recorded `ledger-dir` "" for a `flwr run` (an ML engineer's walkthrough)."""
    return Path(out_dir) / "privacy-ledgers" if out_dir else Path(data_dir) / ".ledgers"


def hospital_folders(federation_dir: str | Path, *, test_dir: str | Path | None = None) -> list[SiteFolder]:
    """Every hospital of a federation folder: its sub-folders that hold a genotype file, in name
    order (the order sets each simulated hospital's partition id).

    Args:
        federation_dir: the federation folder.
        test_dir: the run's named test cohort (`--test-dir`; None or "" = none named). Named, no
            hospital folder is refused for a name like a test cohort's (`_refuse_misnamed_test`:
            the test cohort is known), and a sub-folder that is the test cohort is no hospital.
    """
    root = Path(federation_dir)
    if not root.is_dir():
        raise DataError(
            root, "federation folder not found", hint="create one with `genofed simulate-cohorts --out DIR`"
        )
    require_utf8_path(root)
    folders = sorted(d for d in root.iterdir() if d.is_dir())
    for folder in folders:  # a name no worker, message or report could carry: before anything
        require_utf8_path(folder)
    sites = [
        site
        for d in folders
        if d.name not in NOT_HOSPITALS
        and not d.name.startswith(".")
        and not _is_test_dir(d, test_dir)
        and (site := _hospital_files(d)) is not None
    ]
    for site in sites:
        _refuse_synthetic(site.genotypes.parent, site)
    if not (root / TEST).is_dir() and not test_dir:
        _refuse_misnamed_test(root, sites)
    if not sites:
        raise DataError(
            root,
            "no hospital folders (sub-folders with a genotype file and a phenotype file)",
            hint=f"{RULE_HINT}; `genofed simulate-cohorts` writes such a folder",
        )
    return sites


def _is_test_dir(folder: Path, test_dir: str | Path | None) -> bool:
    """Whether `folder` is the run's named test cohort (`test_dir`), however the two are spelled."""
    if not test_dir:
        return False
    try:
        return folder.resolve() == Path(test_dir).resolve()
    except OSError:
        return False


def _refuse_misnamed_test(root: Path, sites: list[SiteFolder]) -> None:
    """In a federation folder with no `test/`, refuse a hospital folder whose name says it is the
    test cohort (`test_cohort`, `Test`, `testset`, `holdout`; `looks_like_test`): it would be
    trained on as a hospital, spending privacy budget on patients meant for evaluation, and the
    model would be evaluated on no test cohort (an outside walkthrough's run said only "no test
    cohort (DIR/test absent)")."""
    for site in sites:
        if looks_like_test(site.name):
            folder = site.genotypes.parent
            raise DataError(
                folder,
                f"{root.name}/ has no {TEST}/ folder, and {site.name}/ looks like the test cohort: only a "
                f"folder named exactly '{TEST}' is one, so {site.name}/ would be trained on as a hospital "
                "(its patients spend privacy budget, and the model is evaluated on no test cohort)",
                hint=f"if {site.name} is the held-out test cohort, rename it: mv {folder} {root / TEST} (or "
                f"give `genofed simulate` --test-dir {folder}); if it is a hospital, rename it so that its "
                "name does not start with 'test' or read 'holdout', or give `genofed simulate` the test "
                "cohort with --test-dir",
            )


#: Names of a held-out cohort that are not `test` (lower case); any name starting with "test" too.
HOLDOUT_NAMES = frozenset({"holdout", "heldout", "held-out", "held_out"})


def looks_like_test(name: str) -> bool:
    """Whether a folder named `name` (other than `test`) is plainly meant as the test cohort."""
    lower = name.lower()
    return name != TEST and (lower.startswith(TEST) or lower in HOLDOUT_NAMES)


def _hospital_files(folder: Path) -> SiteFolder | None:
    """`site_files` of a federation's sub-folder, refusing one that holds a phenotype file but no
    genotypes the rule finds (`_refuse_phenotypes_without_genotypes`)."""
    site = site_files(folder)
    if site is None:
        _refuse_phenotypes_without_genotypes(folder)
    return site


def _refuse_phenotypes_without_genotypes(folder: Path) -> None:
    """Refuse a federation's sub-folder with a file named as a phenotype file (pheno*), or a
    phenotype table beside genotypes in a form genofed does not read (PLINK 2, BGEN, an archive)
    or in a sub-folder, but no genotype file the rule finds: a hospital whose genotypes are
    missing or unreadable. Skipped, it would leave the run without a word (an outside walkthrough
    lost three hospitals so: a PLINK 2 fileset, a zipped VCF, a VCF one folder down). A phenotype
    table alone, not named pheno* (a visit list beside notes), still makes no hospital."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    kinds = {path: _kind(path) for path in files}
    named = [p for p, kind in kinds.items() if kind == "named phenotypes"]
    tables = [p for p, kind in kinds.items() if kind == "phenotype table"]
    if not named and not tables:
        return  # no phenotypes: no hospital (notes, an archive of runs), nothing more read
    unread = [p for p in files if p.name.lower().endswith(UNREAD_GENOTYPE_SUFFIXES)]
    nested = _nested_genotypes(folder)
    if not named and not (unread or nested):
        return
    found, advice = [], []
    if unread:
        found.append(f"{_names(unread)}, which genofed does not read")
        advice.append(_conversion_advice(unread))
    if nested:
        shown = ", ".join(str(p.relative_to(folder)) for p in nested[:3])
        found.append(f"{shown} in a sub-folder, where the rule does not look")
        advice.append(f"move the genotype file up into {folder.name}/")
    problem = f"{_names(named or tables)} but no genotype file genofed reads"
    raise DataError(
        folder,
        problem + (f" ({'; '.join(found)})" if found else ""),
        hint="; ".join([*advice, RULE_HINT])
        + (f"; if {folder.name} is no hospital, move {_names(named)} out of it" if named else ""),
    )


def _nested_genotypes(folder: Path) -> list[Path]:
    """Genotype files one level down (`vcf/calls.vcf.gz`), which the rule never looks at; a
    sub-folder that cannot be read is passed over (this only explains a refusal)."""
    found = []
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        try:
            found += [
                p
                for p in sub.iterdir()
                if p.is_file() and not p.name.startswith(".") and _kind(p) == "genotypes"
            ]
        except OSError:
            continue
    return sorted(found)


def _conversion_advice(unread: list[Path]) -> str:
    """What to do with the genotype files genofed does not read: the reader's own advice for the
    first that has one (PLINK 2's conversion), else unpacking or converting to VCF."""
    for path in unread:
        try:
            read_genotypes(path)
        except DataError as exc:
            if exc.hint and "convert" in exc.hint:
                return exc.hint
    return (
        "unpack an archive into the folder, or convert the genotypes to VCF (e.g. plink2 --bgen FILE "
        "ref-first --export vcf bgz --out genotypes)"
    )


def _refuse_synthetic(folder: Path, site: SiteFolder) -> None:
    """DataError when the hospital folder is a `genofed synth` output (see the module's docstring)."""
    why = _synthetic_evidence(folder, site.genotypes)
    if why:
        raise DataError(
            folder,
            f"a synthetic copy written by `genofed synth` ({why}), not a hospital: its records are not "
            "patients, and a copy made without DP carries its real patients unprotected, so no epsilon "
            "reported for it would hold",
            hint="take it out of the federation folder and put the real hospital's files there; to train "
            "on synthetic records, use `genofed simulate --synthetic-ratio R` (each hospital generates "
            "its own, charged to its ledger)",
        )


def _synthetic_evidence(folder: Path, genotypes: Path) -> str:
    """Why `folder` looks like a `genofed synth` output, or "" when it does not."""
    summary = folder / SYNTH_SUMMARY
    if summary.is_file():
        try:
            content = json.loads(summary.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            content = None
        if isinstance(content, dict) and {"records_generated", "validation"} <= content.keys():
            return f"its {SYNTH_SUMMARY}"
    if genotypes.name.lower().endswith(VCF_SUFFIXES) and not genotypes.name.lower().endswith(".bcf"):
        source, samples = _vcf_header(genotypes)
        if source == "genofed" and samples and all(SYNTH_SAMPLE_ID.fullmatch(s) for s in samples):
            return f"{genotypes.name} says ##source=genofed and its samples are {samples[0]}..."
    return ""


def _vcf_header(path: Path) -> tuple[str, list[str]]:
    """(the ##source= value, the sample ids) of a VCF's header; ("", []) when unreadable here (the
    readers report a broken file with more care)."""
    source = ""
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("##source="):
                    source = line[len("##source=") :].strip()
                elif line.startswith("#CHROM"):
                    return source, line.rstrip("\r\n").split("\t")[9:]
                elif not line.startswith("##"):
                    break
    except (OSError, EOFError, zlib.error):
        pass
    return source, []


def site_files(folder: str | Path) -> SiteFolder | None:
    """The genotype and phenotype files of one hospital (or test) folder, by the module's rule;
    None when the folder holds no genotype file.

    Raises:
        DataError: a genotype file but no phenotype file, or two candidates for either.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    kinds = {path: _kind(path) for path in files}
    genotypes = [p for p, kind in kinds.items() if kind == "genotypes"]
    if not genotypes:
        _refuse_misseparated(kinds, "genotypes")  # the folder's genotype table, but separated otherwise
        _refuse_unrecognised_genotypes(folder, kinds)
        return None
    if len(genotypes) > 1:
        raise DataError(
            folder,
            f"{len(genotypes)} genotype files ({_names(genotypes)}): cannot tell which is this hospital's",
            hint=f"keep one, or hide the others by starting their name with '.'; {RULE_HINT}",
        )
    named = [p for p, kind in kinds.items() if kind == "named phenotypes"]
    phenotypes = named or [p for p, kind in kinds.items() if kind == "phenotype table"]
    if not phenotypes:
        _refuse_misseparated(kinds, "phenotype table")
        raise DataError(
            folder,
            f"genotypes {genotypes[0].name} but no phenotype file",
            hint=f"add phenotypes.csv (sample_id, the label column, optional covariates); {RULE_HINT}",
        )
    if len(phenotypes) > 1:
        raise DataError(
            folder,
            f"{len(phenotypes)} files could be the phenotypes ({_names(phenotypes)})",
            hint="name the phenotype file phenotypes.csv (or pheno*.csv/tsv/txt) and give no other file "
            "such a name; hide the others by starting their name with '.'",
        )
    return SiteFolder(folder.name, genotypes[0], phenotypes[0])


def _refuse_misseparated(kinds: dict[Path, str], kind: str) -> None:
    """Raise the readers' separator error for a table of `kind` whose header has `sample_id` only
    when split on another separator: the user's file, which the rule would otherwise not see."""
    for path, found in kinds.items():
        if found == MISSEPARATED + kind:
            columns = table_columns(path)
            check_separator(path, columns, separator(path), header_text(path))


def _refuse_unrecognised_genotypes(folder: Path, kinds: dict[Path, str]) -> None:
    """In a folder with a phenotype file but no genotype file the rule recognises, raise the genotype
    reader's own error (the one `genofed data check` gives) for a file that looks like the
    genotypes: PLINK's .bim/.fam without their .bed, or a table with a sample id column (`IID`...),
    rs-id columns, or no header (empty, a blank first line, damaged). Skipping the folder instead
    would leave a hospital out of the run without a word. A folder with no phenotype file, or
    whose other files are prose (notes) or a gene list, is still no hospital and skipped."""
    named = [p for p, kind in kinds.items() if kind == "named phenotypes"]
    tables = [p for p, kind in kinds.items() if kind == "phenotype table"]
    # with no pheno* file, a sample_id table with rs-id columns is the genotypes, not the phenotypes
    phenotypes = named or [p for p in tables if not _has_rs_ids(p)]
    if not phenotypes:
        return
    candidates = sorted(
        (p for p in kinds if p not in phenotypes and _looks_like_genotypes(p)),
        key=lambda p: (not p.name.lower().endswith((".bim", ".fam")), p.name),
    )
    for path in candidates:
        try:
            read_genotypes(path)
        except DataError as exc:
            why = (
                f"hospital folder {folder} has {_names(phenotypes)} and no genotype file genofed reads, so "
                "this file is taken for its genotypes (hide one that is not by starting its name with '.')"
            )
            raise DataError(
                exc.file,
                exc.problem,
                location=exc.location,
                hint=f"{exc.hint}; {why}" if exc.hint else why,
            ) from None


def _looks_like_genotypes(path: Path) -> bool:
    """A file the discovery rule did not take for genotypes but that looks meant to be: see
    `_refuse_unrecognised_genotypes`."""
    name = path.name.lower()
    if name.endswith((".bim", ".fam")):
        return True  # their .bed would have been taken: it is missing
    if not name.endswith(TEXT_TABLES):
        return False
    columns = table_columns(path)
    if columns in ([], [""]):  # empty, a blank first line or unreadable: the reader says which
        return True
    cells = _cells(",".join(columns))
    return cells[0].lower().lstrip("#") in SAMPLE_ID_NAMES or any(
        _is_variant(c) or RS_ID.match(c) for c in cells
    )


def _has_rs_ids(path: Path) -> bool:
    return any(RS_ID.match(c) for c in table_columns(path))


def genotype_file(folder: Path) -> Path | None:
    """The genotype file of `folder` by the module's rule, or None when it holds none."""
    site = site_files(folder)
    return None if site is None else site.genotypes


def _kind(path: Path) -> str:
    """What a file is to the discovery rule: "genotypes", "named phenotypes", "phenotype table" or
    "other" (PLINK's .bim/.fam, the panel, notes: ignored); a table separated otherwise is its kind
    with the `MISSEPARATED` prefix."""
    name = path.name.lower()
    if name.endswith(VCF_SUFFIXES) or name.endswith(".parquet") or _is_plink_bed(path):
        return "genotypes"
    if not name.endswith(TEXT_TABLES):
        return "other"
    if name.startswith(PHENOTYPE_PREFIX):
        return "named phenotypes"
    line = header_text(path)
    columns, prefix = table_columns(path), ""
    if ID_COLUMN not in columns:
        one = len(columns) == 1 or semicolon_separated(line or "", separator(path))
        cells = _cells(line or "") if one else []
        if ID_COLUMN not in cells:
            return "other"
        columns, prefix = cells, MISSEPARATED  # a table of ours, separated otherwise (a tab-separated .csv)
    return prefix + (
        "genotypes" if any(_is_variant(c) for c in columns if c != ID_COLUMN) else "phenotype table"
    )


def _is_plink_bed(path: Path) -> bool:
    """A .bed that is PLINK's (its magic bytes, or a .bim/.fam beside it), not a BED of regions
    such as a clinician's gene list."""
    if path.suffix.lower() != ".bed":
        return False
    if path.with_suffix(".bim").exists() or path.with_suffix(".fam").exists():
        return True
    with path.open("rb") as handle:
        return handle.read(2) == BED_MAGIC


def table_columns(path: Path) -> list[str]:
    """The column names on the first line of a CSV/TSV/TXT table (gzip by content); [] if
    unreadable, so that a damaged file is reported by the reader that opens it, not here."""
    text = header_text(path)
    return [] if text is None else [c.strip().strip('"') for c in text.split(separator(path))]


def header_text(path: Path) -> str | None:
    """The first line of a CSV/TSV/TXT table as written (gzip by content); None if unreadable."""
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as handle:
            line = handle.readline()
    except (OSError, EOFError, zlib.error):  # zlib: a damaged gzip stream
        return None
    return line.removeprefix(BOM).decode("utf-8", errors="replace").rstrip("\r\n")


def _cells(line: str) -> list[str]:
    """A header line split on every separator a clinic's export might use, quotes stripped."""
    return [c.strip().strip('"') for c in re.split(r"[,;\t]", line)]


def _is_variant(column: str) -> bool:
    try:
        parse_variant_id(column)
    except ValueError:
        return False
    return True


def _names(paths: list[Path]) -> str:
    return ", ".join(p.name for p in paths)


def held_out_cohort_files(folder: str | Path) -> SiteFolder:
    """The held-out test cohort's two files in `folder`, found as a hospital folder's are
    (`site_files`): the one rule by which `simulate` reads the test cohort and `data check --test-dir`
    checks it, so what passes the check is what the run evaluates on.

    Raises:
        DataError: no genotype file in `folder`, or `site_files`' refusals.
    """
    files = site_files(folder)
    if files is None:
        raise DataError(folder, "the test cohort folder holds no genotype file", hint=RULE_HINT)
    return files


def held_out_label_refusal(refusal: DataError, label_column: str) -> DataError:
    """The refusal of a test cohort's phenotype file that lacks the run's label column, with the
    remedy for a test cohort: it is scored with the hospitals' column, so the reader's advice
    (`--label-column <the test file's column>`) would make every hospital fail; the test file's
    column is the one to rename."""
    return DataError(
        refusal.file,
        f"the test cohort has {refusal.problem}",
        location=refusal.location,
        hint=f"the test cohort's phenotype file must use the same label column as the hospitals: "
        f"rename its label column to '{label_column}' in {Path(refusal.file).name}; keep --label-column "
        f"{label_column}, which the hospitals' files use",
    )


def find_test_cohort(federation_dir: str | Path) -> SiteFolder | None:
    """The federation's test cohort (`test/`), or None: it is optional."""
    folder = Path(federation_dir) / TEST
    return _hospital_files(folder) if folder.is_dir() else None


def load_federation(
    federation_dir: str | Path, *, min_samples: int = 20, label_column: str = "label"
) -> dict[str, SiteData]:
    """Load and check every hospital and the test cohort when there is one, aligned to the
    federation's panel.tsv."""
    root = Path(federation_dir)
    panel = VariantPanel.load(root / PANEL)
    test = find_test_cohort(root)
    folders = [*hospital_folders(root), *([test] if test else [])]
    return {
        f.name: load_site(
            f.genotypes, f.phenotypes, panel=panel, label_column=label_column, min_samples=min_samples
        )
        for f in folders
    }
