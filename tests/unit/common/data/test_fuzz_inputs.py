"""Seeded fuzzing of every input format through the loader `genofed data check` uses (`load_site`).

A small valid site (24 samples, VCF / bgzip / gzip / PLINK / CSV / gzipped CSV genotypes and a
phenotype CSV) is mutated one file at a time: byte flips, truncation, deleted / duplicated /
swapped lines, deleted / added fields, non-UTF-8 bytes, control characters, huge or non-finite
numbers, an empty file, a byte-order mark, CRLF line endings, plain text under a .gz name. Every
case runs in a worker process under a time limit and ends as one of:

- refused: a GenofedError (DataError) whose message names the mutated file. Fine.
- accepted: the cohort must equal what two independent readings of the same bytes give: the
  tool clinics use (bcftools for VCF, plink2 for PLINK; tables and phenotypes have none) and a
  strict reference parse written here from the format specifications and genofed's documented
  rules (README "A hospital's data", docs/input-validation.md). If either reading refuses the
  file, or reads other content, the case fails. For the mutations that cannot change the content
  (BOM, CRLF, plain text named .gz) the file must be accepted and equal the unmutated site.
- crash (any other exception, or the worker process dying) or hang (over TIME_LIMIT_S): failures.

Deterministic: one seed, files built in code, so CI sees the same 570 cases every run. The
summary per format and mutation is printed (`pytest -s`) and is part of any failure message.
"""

from __future__ import annotations

import csv
import gzip
import math
import multiprocessing
import os
import re
import subprocess
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from helpers import bgzip, require_tool

#: CI runs the defaults; a deeper hunt:
#: GENOFED_FUZZ_SEED=7 GENOFED_FUZZ_CASES=50 pytest -s tests/unit/common/data/test_fuzz_inputs.py
SEED = int(os.environ.get("GENOFED_FUZZ_SEED", "20260611"))
CASES_PER_MUTATION = int(os.environ.get("GENOFED_FUZZ_CASES", "6"))
N_SAMPLES = 24
TIME_LIMIT_S = 30.0
BOM = b"\xef\xbb\xbf"
MAX_POS = 2**31 - 1
#: Missing-call spellings of a genotype table: pandas' defaults (which genofed keeps) and '.'.
TABLE_MISSING = {
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
    ".",
}
PHENOTYPE_MISSING = {"", "na", "nan", "n/a", "null", "none", "."}
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: 0 and 1 written as exact decimals (1.0, 0.00) are the codes 0 and 1 in label and sex columns.
WHOLE_DECIMAL = re.compile(r"([01])\.0+")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _code(value: str) -> str:
    """A label or sex value as the codings read it: lower case, and `1.0` as `1`."""
    value = value.lower()
    whole = WHOLE_DECIMAL.fullmatch(value)
    return whole.group(1) if whole else value


class Invalid(Exception):
    """The reference reading refuses the bytes."""


@dataclass
class Content:
    """What a genotype file holds: sample ids, variant ids and alt dosages (-1 missing)."""

    samples: list[str]
    variants: list[str]
    dosages: np.ndarray  # samples x variants
    #: PLINK: the .bed holds calls past the .fam's last sample (its padding bits are not 0).
    past_samples: bool = False

    def same(self, other: Content) -> bool:
        return (
            self.samples == other.samples
            and self.variants == other.variants
            and np.array_equal(self.dosages, other.dosages)
        )


# --- the valid site ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    samples: list[str]
    sites: list[tuple[str, int, str, list[str]]]  # chrom, pos, ref, alts
    calls: list[list[str]]  # per site, per sample: a VCF GT string
    labels: list[int]

    def variants(self) -> list[str]:
        return [f"{_chrom(c)}:{p}:{r}:{a}" for c, p, r, alts in self.sites for a in alts]


def make_site() -> Site:
    rng = np.random.default_rng(SEED)
    sites = [("1", 1000 + 150 * k, "ACGT"[k % 4], ["GTAC"[k % 4]]) for k in range(8)]
    sites.insert(4, ("2", 5000, "C", ["T", "G"]))
    calls = []
    for _, _, _, alts in sites:
        row = []
        for i in range(N_SAMPLES):
            a, b = rng.integers(0, len(alts) + 1, 2)
            if i < 2:  # every variant polymorphic and called: sample 0 homozygous REF, sample 1 ALT
                a = b = 0 if i == 0 else 1
            row.append(
                "./." if i > 2 and rng.random() < 0.08 else f"{a}{'|' if rng.random() < 0.5 else '/'}{b}"
            )
        calls.append(row)
    return Site([f"S{i:02d}" for i in range(N_SAMPLES)], sites, calls, [i % 2 for i in range(N_SAMPLES)])


def vcf_bytes(site: Site) -> bytes:
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1>",
        "##contig=<ID=2>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *site.samples]),
    ]
    for (chrom, pos, ref, alts), calls in zip(site.sites, site.calls, strict=False):
        lines.append("\t".join([chrom, str(pos), ".", ref, ",".join(alts), ".", "PASS", ".", "GT", *calls]))
    return ("\n".join(lines) + "\n").encode()


def biallelic_dosages(site: Site) -> tuple[list[str], np.ndarray]:
    """Ids and dosages of the biallelic sites (PLINK and tables hold one ALT per variant)."""
    ids, columns = [], []
    for (chrom, pos, ref, alts), calls in zip(site.sites, site.calls, strict=False):
        if len(alts) == 1:
            ids.append(f"{chrom}:{pos}:{ref}:{alts[0]}")
            columns.append([_gt_dosage(call, 1) for call in calls])
    return ids, np.array(columns, dtype=np.int8).T


def plink_files(site: Site) -> dict[str, bytes]:
    ids, dosages = biallelic_dosages(site)
    bim = "".join(
        f"{v.split(':')[0]}\tv{k}\t0\t{v.split(':')[1]}\t{v.split(':')[3]}\t{v.split(':')[2]}\n"
        for k, v in enumerate(ids)
    )
    fam = "".join(f"F{i} {s} 0 0 0 -9\n" for i, s in enumerate(site.samples))
    code = {2: 0b00, -1: 0b01, 1: 0b10, 0: 0b11}  # genotype code of the count of A1 (= ALT)
    bed = bytearray(b"\x6c\x1b\x01")
    for column in dosages.T:
        for start in range(0, len(column), 4):
            bed.append(sum(code[int(d)] << (2 * k) for k, d in enumerate(column[start : start + 4])))
    return {"g.bed": bytes(bed), "g.bim": bim.encode(), "g.fam": fam.encode()}


def table_bytes(site: Site) -> bytes:
    ids, dosages = biallelic_dosages(site)
    rows = ["sample_id," + ",".join(ids)]
    for sample, row in zip(site.samples, dosages, strict=False):
        rows.append(
            sample + "," + ",".join(("", "NA")[i % 2] if d < 0 else str(d) for i, d in enumerate(row))
        )
    return ("\n".join(rows) + "\n").encode()


def phenotype_bytes(site: Site) -> bytes:
    sexes = ["M", "F", "0", "1", "male", "female"]
    rows = ["sample_id,label,sex,age,pc1"]
    for i, (sample, label) in enumerate(zip(site.samples, site.labels, strict=False)):
        rows.append(
            f"{sample},{('control', 'case')[label] if i % 5 == 0 else label},{sexes[i % 6]},"
            f"{18 + 2 * i},{(i - 12) / 100:.3f}"
        )
    return ("\n".join(rows) + "\n").encode()


def gzip_plain(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def stored_plain(data: bytes) -> bytes:
    return data


# --- formats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """One way a site hands over its data: files by name, which to pass as genotypes, how each is
    compressed."""

    name: str
    kind: str  # vcf, plink, table, phenotypes: which oracle reads it
    files: Callable[[Site], dict[str, bytes]]  # uncompressed content of each file
    genotypes: str
    compress: Callable[[bytes], bytes] = stored_plain
    mutable: tuple[str, ...] = ()  # files a mutation may hit (default: the genotype file)

    def targets(self) -> tuple[str, ...]:
        return self.mutable or (self.genotypes,)


FORMATS = [
    Format("vcf", "vcf", lambda s: {"g.vcf": vcf_bytes(s)}, "g.vcf"),
    Format("vcf.gz bgzip", "vcf", lambda s: {"g.vcf.gz": vcf_bytes(s)}, "g.vcf.gz", bgzip),
    Format("vcf.gz gzip", "vcf", lambda s: {"g.vcf.gz": vcf_bytes(s)}, "g.vcf.gz", gzip_plain),
    Format("plink", "plink", plink_files, "g.bed", mutable=("g.bed", "g.bim", "g.fam")),
    Format("csv", "table", lambda s: {"g.csv": table_bytes(s)}, "g.csv"),
    Format("csv.gz", "table", lambda s: {"g.csv.gz": table_bytes(s)}, "g.csv.gz", gzip_plain),
    Format("phenotypes", "phenotypes", lambda s: {"g.vcf": vcf_bytes(s)}, "g.vcf", mutable=("ph.csv",)),
]


# --- mutations --------------------------------------------------------------------------------
# Each takes (rng, bytes) and returns the damaged bytes. "raw" mutations hit the bytes as stored
# (compressed ones included); "text" mutations hit the uncompressed content, which is then
# compressed again the file's own way, so the damage survives into a well-formed stream.

TOKENS = ["0", "1", "2", "0/1", "", "x", "NA", "S99"]
NUMBERS = [
    "1e400",
    "inf",
    "-inf",
    "nan",
    "NaN",
    "1e308",
    "99999999999999999999",
    "-1",
    "3",
    "1e-400",
    "2.0",
    "-0",
    "0x1F",
    "1,5",
    "121",
    "-9",
]
NON_UTF8 = [b"\xff", b"\xfe", b"\xc3", b"\xe9", b"\x80", "Иванов".encode("cp1251"), b"\xed\xa0\x80"]
CONTROLS = [b"\x00", b"\r", b"\x1b", b"\x0c", b"\x7f", b"\x0b"]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _pick(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def byte_flip(rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        out[int(rng.integers(len(out)))] ^= int(rng.integers(1, 256))
    return bytes(out)


def truncate(rng, data: bytes) -> bytes:
    return data[: int(rng.integers(1, len(data)))]


def delete_line(rng, data: bytes) -> bytes:
    lines = _lines(data)
    del lines[int(rng.integers(len(lines) - 1))]
    return b"\n".join(lines)


def duplicate_line(rng, data: bytes) -> bytes:
    lines = _lines(data)
    at = int(rng.integers(len(lines) - 1))
    return b"\n".join(lines[: at + 1] + lines[at:])


def swap_lines(rng, data: bytes) -> bytes:
    lines = _lines(data)
    a, b = (int(x) for x in rng.choice(len(lines) - 1, 2, replace=False))
    lines[a], lines[b] = lines[b], lines[a]
    return b"\n".join(lines)


def _separator(line: bytes) -> bytes:
    return next((sep for sep in (b"\t", b",", b" ") if sep in line), b"\t")


def delete_field(rng, data: bytes) -> bytes:
    lines = _lines(data)
    at = int(rng.integers(len(lines) - 1))
    sep = _separator(lines[at])
    fields = lines[at].split(sep)
    del fields[int(rng.integers(len(fields)))]
    lines[at] = sep.join(fields)
    return b"\n".join(lines)


def add_field(rng, data: bytes) -> bytes:
    lines = _lines(data)
    at = int(rng.integers(len(lines) - 1))
    sep = _separator(lines[at])
    fields = lines[at].split(sep)
    fields.insert(int(rng.integers(len(fields) + 1)), _pick(rng, TOKENS).encode())
    lines[at] = sep.join(fields)
    return b"\n".join(lines)


def _insert(rng, data: bytes, piece: bytes) -> bytes:
    at = int(rng.integers(len(data)))
    return data[:at] + piece + data[at:]


def non_utf8(rng, data: bytes) -> bytes:
    return _insert(rng, data, _pick(rng, NON_UTF8))


def control_char(rng, data: bytes) -> bytes:
    return _insert(rng, data, _pick(rng, CONTROLS))


def stray_quote(rng, data: bytes) -> bytes:
    return _insert(rng, data, b'"')


def add_spaces(rng, data: bytes) -> bytes:
    """Spaces around one field, as a hand edit in a spreadsheet leaves them."""
    separators = [m.start() for m in re.finditer(rb"[\t,\n]", data)]
    at = _pick(rng, separators)
    return data[:at] + b" " + data[at : at + 1] + b" " + data[at + 1 :]


def change_case(rng, data: bytes) -> bytes:
    lines = _lines(data)
    at = int(rng.integers(len(lines) - 1))
    lines[at] = lines[at].upper() if rng.random() < 0.5 else lines[at].lower()
    return b"\n".join(lines)


def huge_number(rng, data: bytes) -> bytes:
    matches = list(re.finditer(rb"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", data))
    chosen = _pick(rng, matches)
    return data[: chosen.start()] + _pick(rng, NUMBERS).encode() + data[chosen.end() :]


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable
    level: str  # "raw" or "text"
    keeps_content: bool = False  # the file must then be accepted and read as the unmutated one
    only_compressed: bool = False


RANDOM_MUTATIONS = [
    Mutation("byte flip", byte_flip, "raw"),
    Mutation("truncate", truncate, "raw"),
    Mutation("delete line", delete_line, "text"),
    Mutation("duplicate line", duplicate_line, "text"),
    Mutation("swap lines", swap_lines, "text"),
    Mutation("delete field", delete_field, "text"),
    Mutation("add field", add_field, "text"),
    Mutation("non-UTF-8 bytes", non_utf8, "text"),
    Mutation("control character", control_char, "text"),
    Mutation("huge number", huge_number, "text"),
    Mutation("stray quote", stray_quote, "text"),
    Mutation("spaces around a field", add_spaces, "text"),
    Mutation("upper/lower-case line", change_case, "text"),
]
FIXED_MUTATIONS = [
    Mutation("empty file", lambda rng, data: b"", "raw"),
    Mutation("BOM", lambda rng, data: BOM + data, "text", keeps_content=True),
    Mutation("CRLF", lambda rng, data: data.replace(b"\n", b"\r\n"), "text", keeps_content=True),
    Mutation("plain named .gz", lambda rng, data: data, "plain", keeps_content=True, only_compressed=True),
]


@dataclass
class Case:
    number: int
    format: Format
    mutation: Mutation
    target: str
    files: dict[str, bytes] = field(default_factory=dict)  # as written to disk


def build_cases(site: Site) -> list[Case]:
    rng = np.random.default_rng(SEED)
    cases: list[Case] = []
    for fmt in FORMATS:
        for mutation in RANDOM_MUTATIONS + FIXED_MUTATIONS:
            if mutation.only_compressed and fmt.compress is stored_plain:
                continue
            repeats = CASES_PER_MUTATION if mutation in RANDOM_MUTATIONS else 1
            for _ in range(repeats):
                target = _target(rng, fmt, mutation)
                cases.append(_mutated(len(cases), fmt, mutation, target, site, rng))
    return cases


def _target(rng, fmt: Format, mutation: Mutation) -> str:
    targets = fmt.targets()
    if mutation.level == "text" or mutation.keeps_content:
        targets = tuple(t for t in targets if not t.endswith(".bed")) or targets  # .bed is binary
    return _pick(rng, list(targets))


def _mutated(number: int, fmt: Format, mutation: Mutation, target: str, site: Site, rng) -> Case:
    content = {**fmt.files(site), "ph.csv": phenotype_bytes(site)}
    stored = {name: (fmt.compress(data) if name == fmt.genotypes else data) for name, data in content.items()}
    if mutation.level == "raw":
        stored[target] = mutation.apply(rng, stored[target])
    elif mutation.level == "plain":
        stored[target] = content[target]
    else:
        damaged = mutation.apply(rng, content[target])
        stored[target] = fmt.compress(damaged) if target == fmt.genotypes else damaged
    return Case(number, fmt, mutation, target, stored)


# --- running a case ---------------------------------------------------------------------------


def _worker(connection) -> None:
    """Loads sites until told to stop; one process for all cases, replaced after a hang or a crash."""
    from genofed.common.data.loading import load_site
    from genofed.common.errors import GenofedError

    while (job := connection.recv()) is not None:
        try:
            cohort = load_site(*job).cohort
            connection.send(
                (
                    "accepted",
                    {
                        "samples": list(cohort.sample_ids),
                        "variants": list(cohort.variant_ids),
                        "dosages": np.asarray(cohort.dosages),
                        "labels": np.asarray(cohort.labels),
                        "covariates": {
                            str(c): cohort.covariates[c].to_numpy(dtype=float) for c in cohort.covariates
                        },
                    },
                )
            )
        except GenofedError as exc:
            connection.send(("refused", str(exc)))
        except Exception:
            connection.send(("crash", traceback.format_exc()))


class Runner:
    """A worker process and its pipe; a case that overruns TIME_LIMIT_S kills it."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.process = None

    def run(self, genotypes: Path, phenotypes: Path) -> tuple[str, object]:
        if self.process is None:
            self.connection, child = self.context.Pipe()
            self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
            self.process.start()
            child.close()
        self.connection.send((str(genotypes), str(phenotypes)))
        if not self.connection.poll(TIME_LIMIT_S):
            self._stop(kill=True)
            return "hang", f"no answer within {TIME_LIMIT_S:.0f} s"
        try:
            return self.connection.recv()
        except EOFError:
            code = self.process.exitcode
            self._stop(kill=True)
            return "crash", f"the worker process died (exit code {code}, e.g. a segfault in a C library)"

    def _stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.connection.send(None)
        self.process.join(10)
        self.process = None

    def close(self) -> None:
        self._stop()


# --- reference readings -----------------------------------------------------------------------


def _chrom(chrom: str) -> str:
    return chrom[3:] if chrom.lower().startswith("chr") else chrom


def _vid(chrom: str, pos: str, ref: str, alt: str) -> str:
    return f"{_chrom(chrom)}:{int(pos)}:{ref.upper()}:{alt.upper()}"


def _gt_dosage(call: str, alt: int) -> int:
    alleles = re.split(r"[/|]", call)
    return -1 if "." in alleles else sum(int(a) == alt for a in alleles)


def strict_text(data: bytes) -> list[str]:
    """The lines of a text file under genofed's documented text rules, or Invalid."""
    if data[:2] == b"\x1f\x8b":
        if data[12:14] == b"BC":
            _check_bgzf(data)
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise Invalid(f"gzip: {exc}") from None
    data = data.removeprefix(BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"not UTF-8: {exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    for number, line in enumerate(lines, start=1):
        if CONTROL.search(line):
            raise Invalid(f"control character on line {number}")
    if not lines:
        raise Invalid("empty")
    return lines


def _check_bgzf(data: bytes) -> None:
    offset = 0
    while offset < len(data):
        header = data[offset : offset + 18]
        if len(header) < 18 or header[:4] != b"\x1f\x8b\x08\x04" or header[10:16] != b"\x06\x00BC\x02\x00":
            raise Invalid(f"bgzip block at {offset}")
        offset += int.from_bytes(header[16:18], "little") + 1
    if offset != len(data) or not data.endswith(
        bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    ):
        raise Invalid("bgzip end")


def reference_vcf(data: bytes) -> Content:
    """A strict VCF reading: the VCF 4.x text rules plus genofed's (diploid GT, unique ids, >= 1 variant)."""
    lines = strict_text(data)
    at = 0
    if not lines[0].startswith("##fileformat=VCF"):
        raise Invalid("first line")
    while at < len(lines) and lines[at].startswith("##"):
        at += 1
    if at == len(lines):
        raise Invalid("no #CHROM line")
    columns = lines[at].split("\t")
    if columns[:9] != ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]:
        raise Invalid("#CHROM columns")
    samples = columns[9:]
    if not samples or len(set(samples)) != len(samples) or any(not s.strip() for s in samples):
        raise Invalid("samples")
    variants, rows = [], []
    for line in lines[at + 1 :]:
        for variant, row in _vcf_record(line, len(samples)):
            variants.append(variant)
            rows.append(row)
    if not variants or len(set(variants)) != len(variants):
        raise Invalid("no variants or a repeated variant")
    return Content(samples, variants, np.array(rows, dtype=np.int8).T)


def _vcf_record(line: str, n_samples: int) -> list[tuple[str, list[int]]]:
    fields = line.split("\t")
    if len(fields) != 9 + n_samples or line.startswith("#"):
        raise Invalid("record shape")
    chrom, pos, _, ref, alt = fields[:5]
    if not chrom or " " in chrom or not re.fullmatch(r"[0-9]+", pos) or int(pos) > MAX_POS:
        raise Invalid("CHROM/POS")
    if not re.fullmatch(r"[A-Za-z]+", ref) or not alt or " " in alt:
        raise Invalid("REF/ALT")
    keys = fields[8].split(":")
    if "GT" not in keys:
        raise Invalid("no GT")
    calls = [_vcf_call(value, keys.index("GT")) for value in fields[9:]]
    if alt == ".":
        return []
    alts = alt.split(",")
    if any(a > len(alts) for call in calls for a in call):
        raise Invalid("allele index beyond ALT")
    return [
        (_vid(chrom, pos, ref, a), [-1 if -1 in call else call.count(k) for call in calls])
        for k, a in enumerate(alts, start=1)
    ]


def _vcf_call(value: str, index: int) -> tuple[int, ...]:
    parts = value.split(":")
    gt = parts[index] if index < len(parts) else "."
    if gt == ".":
        return (-1, -1)
    if not re.fullmatch(r"(\d+|\.)[/|](\d+|\.)", gt):
        raise Invalid(f"GT {gt!r}")
    return tuple(-1 if a == "." else int(a) for a in re.split(r"[/|]", gt))


def bcftools_vcf(path: Path, data: bytes) -> Content:
    """What bcftools reads from the same bytes (handed the text past a BOM, which htslib cannot skip)."""
    bcftools = require_tool("bcftools")
    if _uncompressed(data).startswith(BOM):
        path = path.with_name("bcftools-input.vcf")
        path.write_bytes(_uncompressed(data)[len(BOM) :])
    samples = _run([bcftools, "query", "-l", str(path)]).splitlines()
    out = _run([bcftools, "query", "-f", "%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n", str(path)])
    variants, rows = [], []
    for line in out.splitlines():
        chrom, pos, ref, alt, *calls = line.split("\t")
        for k, a in enumerate(alt.split(","), start=1):
            if a != ".":
                variants.append(_vid(chrom, pos, ref, a))
                rows.append([_gt_dosage(call, k) for call in calls])
    return Content(samples, variants, np.array(rows, dtype=np.int8).reshape(len(rows), len(samples)).T)


def _uncompressed(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or "[E::" in result.stderr:
        raise Invalid(f"{Path(command[0]).name}: {result.stderr.strip()[:200]}")
    return result.stdout


def reference_plink(files: dict[str, bytes]) -> Content:
    """A strict PLINK 1 reading: 6 whitespace-separated columns, unique ids, the .bed decoded by hand."""
    fam = [line.split() for line in strict_text(files["g.fam"])]
    bim = [line.split() for line in strict_text(files["g.bim"])]
    if any(len(f) != 6 for f in fam + bim):
        raise Invalid(".bim/.fam columns")
    samples = [f[1] for f in fam]
    if any(not (p.isascii() and p.isdigit()) or int(p) > MAX_POS for _, _, _, p, _, _ in bim):
        raise Invalid(".bim position")
    if any(not NUMBER.fullmatch(cm) or not math.isfinite(float(cm)) for _, _, cm, _, _, _ in bim):
        raise Invalid(".bim cM")
    numeric = [
        (NUMBER.fullmatch(f[5]) and math.isfinite(float(f[5]))) or f[5].lower() in ("na", "nan") for f in fam
    ]
    if any(numeric) and not all(numeric):
        raise Invalid(".fam phenotype column")
    variants = [_vid(c, p, a2, a1) for c, _, _, p, a1, a2 in bim]
    runs = [
        chrom
        for k, chrom in enumerate(_chrom(b[0]).upper() for b in bim)
        if k == 0 or chrom != _chrom(bim[k - 1][0]).upper()
    ]
    if len(runs) != len(set(runs)):
        raise Invalid("split chromosome")
    if len(set(samples)) != len(samples) or len(set(variants)) != len(variants):
        raise Invalid("repeated id")
    bed, width = files["g.bed"], math.ceil(len(samples) / 4)
    if bed[:3] != b"\x6c\x1b\x01" or len(bed) != 3 + width * len(variants):
        raise Invalid(".bed size or magic")
    codes = np.frombuffer(bed[3:], dtype=np.uint8).reshape(len(variants), width)
    genotypes = (codes[:, :, None] >> np.array([0, 2, 4, 6], dtype=np.uint8)) & 3
    dosages = np.array([2, -1, 1, 0], dtype=np.int8)[genotypes.reshape(len(variants), -1)[:, : len(samples)]]
    past = bool(genotypes.reshape(len(variants), -1)[:, len(samples) :].any())
    return Content(samples, variants, dosages.T, past_samples=past)


def plink2_plink(case_dir: Path, files: dict[str, bytes]) -> Content:
    """What plink2 reads: it counts A2 in --export A, so the A1 dosage is 2 minus that."""
    plink2 = require_tool("plink2")
    _run(
        [
            plink2,
            "--bfile",
            str(case_dir / "g"),
            "--allow-extra-chr",
            "--export",
            "A",
            "--out",
            str(case_dir / "plink2"),
            "--threads",
            "1",
            "--memory",
            "640",
        ]
    )
    rows = (case_dir / "plink2.raw").read_text().splitlines()
    samples = [row.split("\t")[1] for row in rows[1:]]
    counts = np.array(
        [[-1 if v == "NA" else 2 - int(v) for v in row.split("\t")[6:]] for row in rows[1:]], dtype=np.int8
    )
    return Content(samples, reference_plink(files).variants, counts.reshape(len(samples), -1))


def _csv_rows(lines: list[str], sep: str) -> list[tuple[int, list[str]]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append((number, next(csv.reader([line], delimiter=sep, strict=True), [])))
        except csv.Error:
            raise Invalid(f"csv line {number}") from None
    return rows


def reference_table(data: bytes) -> Content:
    """A strict genotype-table reading: sample_id once, chrom:pos:ref:alt columns, values 0/1/2 or missing."""
    (_, header), *rows = _csv_rows(strict_text(data), ",")
    if header.count("sample_id") != 1:
        raise Invalid("sample_id column")
    variants = []
    for name in header:
        parts = name.split(":")
        if name == "sample_id":
            continue
        if len(parts) != 4 or not re.fullmatch(r"[0-9]+", parts[1]) or not parts[2] or not parts[3]:
            raise Invalid(f"column {name!r}")
        variants.append(_vid(*parts))
    if not variants or len(set(variants)) != len(variants):
        raise Invalid("variant columns")
    samples, dosages = [], []
    for _, fields in rows:
        if fields == []:
            continue
        if len(fields) != len(header):
            raise Invalid("row shape")
        record = dict(zip(header, fields, strict=False))
        samples.append(record.pop("sample_id"))
        dosages.append([_table_value(value) for value in record.values()])
    if any(s in TABLE_MISSING or not s.strip() for s in samples) or len(set(samples)) != len(samples):
        raise Invalid("sample ids")
    return Content(samples, variants, np.array(dosages, dtype=np.int8).reshape(len(samples), len(variants)))


def _table_value(value: str) -> int:
    if value in TABLE_MISSING:
        return -1
    if not NUMBER.fullmatch(value.strip()) or float(value) not in (0.0, 1.0, 2.0):
        raise Invalid(f"value {value!r}")
    return int(float(value))


@dataclass
class PhenotypeRow:
    label: int
    covariates: dict[str, float]


#: The only covariate columns genofed reads; any other column (pc1 here) is left unread.
MODEL_COVARIATES = ("sex", "age")


def reference_phenotypes(data: bytes) -> dict[str, PhenotypeRow]:
    """A strict phenotype reading under the codings and ranges of genofed.common.data.readers.phenotypes."""
    (_, header), *rows = _csv_rows(strict_text(data), ",")
    header = [name.strip() for name in header]
    if (
        any(not n for n in header)
        or len(set(header)) != len(header)
        or not {"sample_id", "label"} <= set(header)
    ):
        raise Invalid("phenotype header")
    out: dict[str, PhenotypeRow] = {}
    for _, fields in rows:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise Invalid("phenotype row shape")
        record = {name: value.strip() for name, value in zip(header, fields, strict=False)}
        sample = record.pop("sample_id")
        label = {"0": 0, "control": 0, "1": 1, "case": 1}.get(_code(record.pop("label")))
        if not sample or sample in out or label is None:
            raise Invalid("sample id or label")
        covariates = {name: value for name, value in record.items() if name.lower() in MODEL_COVARIATES}
        out[sample] = PhenotypeRow(
            label, {name: _covariate(name, value) for name, value in covariates.items()}
        )
    return out


def _covariate(name: str, value: str) -> float:
    if value.lower() in PHENOTYPE_MISSING:
        return math.nan
    if name.lower() == "sex":
        sexes = {"m": 0.0, "male": 0.0, "0": 0.0, "f": 1.0, "female": 1.0, "1": 1.0}
        if _code(value) in ("u", "unknown", "неизвестно"):  # written unknown: missing, as empty
            return math.nan
        if _code(value) not in sexes:
            raise Invalid(f"sex {value!r}")
        return sexes[_code(value)]
    if not NUMBER.fullmatch(value):
        raise Invalid(f"covariate {value!r}")
    number = float(value)
    low, high = (0.0, 120.0) if name.lower() == "age" else (-1e6, 1e6)
    if not low <= number <= high:
        raise Invalid(f"{name} {value!r} out of range")
    return number


def expected_cohort(case: Case, case_dir: Path, with_tools: bool) -> dict:
    """The cohort the mutated files hold by the reference readings (and the tools, when asked)."""
    kind = case.format.kind
    if kind == "plink":
        genotypes = reference_plink(case.files)
        if with_tools and not genotypes.same(plink2_plink(case_dir, case.files)):
            raise Invalid("plink2 reads other genotypes")
    elif kind == "table":
        genotypes = reference_table(case.files[case.format.genotypes])
    else:
        data = case.files[case.format.genotypes]
        genotypes = reference_vcf(data)
        if with_tools and not genotypes.same(bcftools_vcf(case_dir / case.format.genotypes, data)):
            raise Invalid("bcftools reads other genotypes")
    phenotypes = reference_phenotypes(case.files["ph.csv"])
    # a phenotype row without genotypes is left out (a registry lists more patients than were
    # genotyped), unless a .bed holds calls past its .fam: then the .fam lost that sample's line
    if not genotypes.samples:
        raise Invalid("no genotyped sample")
    if not set(genotypes.samples) <= set(phenotypes):
        raise Invalid("a genotyped sample has no phenotype row")
    if genotypes.past_samples and set(phenotypes) - set(genotypes.samples):
        raise Invalid("rows without genotypes beside calls past the .fam's last sample")
    rows = [phenotypes[s] for s in genotypes.samples]
    return {
        "samples": genotypes.samples,
        "variants": genotypes.variants,
        "dosages": genotypes.dosages,
        "labels": np.array([r.label for r in rows]),
        "covariates": {name: np.array([r.covariates[name] for r in rows]) for name in rows[0].covariates},
    }


def same_cohort(got: dict, expected: dict) -> bool:
    return (
        got["samples"] == expected["samples"]
        and got["variants"] == expected["variants"]
        and np.array_equal(got["dosages"], expected["dosages"])
        and np.array_equal(got["labels"], expected["labels"])
        and got["covariates"].keys() == expected["covariates"].keys()
        and all(
            np.array_equal(got["covariates"][c], expected["covariates"][c], equal_nan=True)
            for c in got["covariates"]
        )
    )


# --- the test ---------------------------------------------------------------------------------


def judge(case: Case, case_dir: Path, outcome: str, detail, base: dict) -> str:
    """One word for the summary; words that start with FAIL fail the test."""
    if outcome in ("crash", "hang"):
        return f"FAIL {outcome}"
    if outcome == "refused":
        named = any(name in detail for name in case.files if name.split(".")[0] == case.target.split(".")[0])
        if not named:
            return "FAIL refused without naming the file"
        if case.mutation.keeps_content:
            return "FAIL refused a file whose content is unchanged"
        try:
            expected_cohort(case, case_dir, with_tools=True)
        except Invalid:
            return "refused"
        return "refused (the oracles read it)"  # stricter than the oracles: counted, not a failure
    if case.mutation.keeps_content:
        return "accepted, unchanged content" if same_cohort(detail, base) else "FAIL accepted other content"
    try:
        expected = expected_cohort(case, case_dir, with_tools=True)
    except Invalid as invalid:
        return f"FAIL accepted an invalid file ({str(invalid)[:60]})"
    return "accepted, equals the oracles" if same_cohort(detail, expected) else "FAIL accepted other content"


def summary(results: list[tuple[Case, str, str]]) -> str:
    counts = Counter((case.format.name, case.mutation.name, verdict) for case, verdict, _ in results)
    lines = [f"{len(results)} cases; outcome per format and mutation:"]
    for (fmt, mutation, verdict), count in sorted(counts.items()):
        lines.append(f"  {fmt:14s} {mutation:22s} {count:3d} x {verdict}")
    totals = Counter(
        verdict.split(" (")[0] if verdict.startswith("FAIL") else verdict for _, verdict, _ in results
    )
    lines.append("totals: " + ", ".join(f"{count} {verdict}" for verdict, count in sorted(totals.items())))
    failures = [(c, v, d) for c, v, d in results if v.startswith("FAIL")]
    for case, verdict, detail in failures[:15]:
        lines.append(
            f"case {case.number} ({case.format.name}, {case.mutation.name}, {case.target}): {verdict}\n"
            f"    {str(detail)[:600]}"
        )
    return "\n".join(lines)


def test_fuzzed_inputs_are_refused_clearly_or_read_correctly(tmp_path):
    require_tool("bcftools")
    require_tool("plink2")
    site = make_site()
    cases = build_cases(site)
    assert len(cases) >= 250
    runner = Runner()
    results = []
    start = time.perf_counter()
    try:
        bases = {fmt.name: _unmutated(runner, fmt, site, tmp_path) for fmt in FORMATS}
        for case in cases:
            outcome, detail = _run_case(runner, case, tmp_path)
            verdict = judge(case, _case_dir(tmp_path, case), outcome, detail, bases[case.format.name])
            results.append((case, verdict, detail))
    finally:
        runner.close()
    report = summary(results) + f"\nwall time {time.perf_counter() - start:.1f} s"
    print(report)
    assert not any(verdict.startswith("FAIL") for _, verdict, _ in results), report


def _unmutated(runner: Runner, fmt: Format, site: Site, root: Path) -> dict:
    """The format's valid site, read by the loader and checked against the oracles: the baseline."""
    files = {**fmt.files(site), "ph.csv": phenotype_bytes(site)}
    files[fmt.genotypes] = fmt.compress(files[fmt.genotypes])
    unchanged = Mutation("none", lambda rng, data: data, "raw")
    case = Case(-1 - FORMATS.index(fmt), fmt, unchanged, fmt.targets()[0], files)
    outcome, cohort = _run_case(runner, case, root)
    assert outcome == "accepted", (fmt.name, cohort)
    assert same_cohort(cohort, expected_cohort(case, _case_dir(root, case), with_tools=True)), fmt.name
    return cohort


def _case_dir(root: Path, case: Case) -> Path:
    return root / (f"case-{case.number:03d}" if case.number >= 0 else f"base{case.number}")


def _run_case(runner: Runner, case: Case, root: Path) -> tuple[str, object]:
    case_dir = _case_dir(root, case)
    case_dir.mkdir()
    for name, data in case.files.items():
        (case_dir / name).write_bytes(data)
    return runner.run(case_dir / case.format.genotypes, case_dir / "ph.csv")
