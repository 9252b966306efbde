"""What a hospital releases about its variants so that the federation can build its panel.

A panel needs, per variant, whether each site has it and how often its alleles are called and
carried. Each site computes that from its own genotypes and releases only counts: the variant ids
as the site has them (`chrom:pos:ref:alt`), its number of patients, and per variant the number of
called alleles (2 per called genotype) and of alt alleles among them. Nothing per patient.

Two release modes (the file's header says which):

- `rounded` (default): every count rounded to a multiple of `round_to` alleles (default 10).
  This is NOT differential privacy. The hospital declares the rounded counts public by running
  `genofed hospital variants` in this mode, as it declares its rounded cohort size public. One
  patient moves a count by at most 2 alleles, inside a bin of 10, while a pooled frequency over a
  few hundred alleles per site moves by less than a percent. The rounding does NOT hide a patient
  from a reader who differences two releases of cohorts that differ by that patient: every count
  the patient's alleles push across a bin edge changes, and a changed alt count names a variant
  the patient carries (about 13 % of them at 10 alleles on the demo cohorts:
  `bench/rounded_release_differencing.py`, docs/panel.md). A cohort's summary is released once.
  Variant ids are
  treated as public, like a genotyping array's manifest: every variant the site typed is listed,
  even one whose rounded alt or ref count is 0. A hospital whose variant list itself is sensitive
  (e.g. private variants from sequencing) must not release it.
- `dp`: every count (the patient count and both counts of every variant) plus Gaussian noise of
  standard deviation `noise_multiplier x sensitivity`. Under add/remove-one-patient, one patient
  changes the patient count by 1 and each of the V variants' called and alt counts by up to 2,
  so the L2 sensitivity of the whole vector is sqrt(1 + V * (2^2 + 2^2)) = sqrt(1 + 8 V). The
  noise multiplier is calibrated and charged by the hospital side (`genofed.client.
  variant_release`), one Gaussian release as one step at sample rate 1 in the site's ledger.

The file is a TSV (`id`, `called`, `alt`, and `rsid` where the genotype file names any variant by
its dbSNP rsID: `genofed.common.data.variant_names`) after a commented header (`# key: value`
lines); see docs/panel.md. Reading it back checks every line and raises DataError with the line number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genofed.common.data.cohort import MISSING, GenotypeMatrix
from genofed.common.data.readers import read_genotypes
from genofed.common.data.variant_names import RSID, read_variant_names
from genofed.common.data.variants import parse_variant_id
from genofed.common.errors import DataError
from genofed.common.privacy.secret_noise import SecretNoise, gaussian, noise_key_from
from genofed.common.util.atomic import write_text_atomic

FORMAT = "genofed-variant-summary/1"
COLUMNS = ("id", "called", "alt")
#: The optional last column: each variant's rsID as the site's genotype file names it (empty where
#: it names none). Public like the id (`variant_names`).
NAME_COLUMN = "rsid"
RELEASES = ("rounded", "dp")
#: Default rounding: 10 alleles, i.e. 5 patients' genotypes. One patient moves a count by at most
#: 2 alleles, and the pooled frequency of a federation of a few hundred alleles per site moves by
#: well under 1 %% (docs/panel.md). Two releases around one patient still differ at about 1 to 2 in
#: 10 of the variants that patient carries (`bench/rounded_release_differencing.py`).
DEFAULT_ROUND_TO = 10
#: The L2 sensitivity's per-variant terms: one patient changes a variant's called-allele count by
#: up to 2 and its alt count by up to 2.
PER_VARIANT_SQUARED_SENSITIVITY = 2**2 + 2**2


@dataclass(frozen=True)
class Release:
    """How the counts were released: `rounded` (to `round_to`, declared public) or `dp` (Gaussian
    noise of sd `noise_sd` per count, at `epsilon`, `delta`, charged to the site's ledger)."""

    mode: str = "rounded"
    round_to: int = DEFAULT_ROUND_TO
    epsilon: float = 0.0
    delta: float = 0.0
    noise_multiplier: float = 0.0
    noise_sd: float = 0.0

    def header(self) -> dict[str, str]:
        if self.mode == "rounded":
            return {
                "release": "rounded",
                "round_to": str(self.round_to),
                "privacy": (
                    "declared public by the hospital (rounded counts; not differential privacy, epsilon 0)"
                ),
            }
        return {
            "release": "dp",
            "epsilon": f"{self.epsilon:g}",
            "delta": f"{self.delta:g}",
            "noise_multiplier": f"{self.noise_multiplier:.6g}",
            "noise_sd": f"{self.noise_sd:.6g}",
            "privacy": "Gaussian mechanism, charged to the hospital's privacy ledger",
        }


@dataclass
class VariantSummary:
    """One site's released variant counts.

    Args:
        site: the hospital's name in the federation.
        variant_ids: `chrom:pos:ref:alt` as the site has them (its own REF/ALT orientation).
        called: called alleles per variant (2 per called genotype); float, since DP counts are.
        alt: alt alleles among the called ones, per variant.
        samples: the site's patient count (rounded or noisy like the counts), or the cohort size
            the site declared public (`hospital check --declared-size`) when it declared one.
        release: how the counts were released.
        names: {variant id: rsID} for the variants the site's genotype file names
            (`variant_names.read_variant_names`); written as the `rsid` column when there are any.
    """

    site: str
    variant_ids: list[str]
    called: np.ndarray
    alt: np.ndarray
    samples: float
    release: Release = field(default_factory=Release)
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.called = np.asarray(self.called, dtype=np.float64)
        self.alt = np.asarray(self.alt, dtype=np.float64)
        if not (len(self.variant_ids) == len(self.called) == len(self.alt)):
            raise ValueError("one called and one alt count per variant id is required")

    def __len__(self) -> int:
        return len(self.variant_ids)

    def save(self, path: str | Path) -> None:
        """Write the documented TSV atomically (the caller decides whether it may overwrite)."""
        if self.release.mode not in RELEASES:
            raise ValueError(
                f"only {' or '.join(RELEASES)} summaries are released, not {self.release.mode!r}"
            )
        decimals = 0 if self.release.mode == "rounded" else 1
        header = {"format": FORMAT, "site": self.site, "samples": _number(self.samples, decimals)}
        header |= self.release.header()
        header["variants"] = str(len(self))  # a copy cut at a line end is seen on load (`_read`)
        lines = [f"# {key}: {value}" for key, value in header.items()]
        named = bool(self.names)
        lines.append("\t".join(COLUMNS + ((NAME_COLUMN,) if named else ())))
        lines += [
            f"{vid}\t{_number(c, decimals)}\t{_number(a, decimals)}"
            + (f"\t{self.names.get(vid, '')}" if named else "")
            for vid, c, a in zip(self.variant_ids, self.called, self.alt, strict=True)
        ]
        write_text_atomic(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> VariantSummary:
        """Read a summary file; a damaged one raises DataError naming the line."""
        return _read(Path(path))


def summarize_genotypes(
    site: str, genotypes: str | Path, *, round_to: int = DEFAULT_ROUND_TO
) -> VariantSummary:
    """The default (`rounded`) release of a site's genotype file, in any format genofed reads:
    what `genofed hospital variants` writes, and what the simulation mode computes for each
    hospital when the federation folder has no panel."""
    summary = rounded_summary(site, read_genotypes(genotypes), round_to)
    summary.names = read_variant_names(genotypes, summary.variant_ids)
    return summary


def exact_counts(genotypes: GenotypeMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(called alleles, alt alleles) per variant, exact, from a dosage matrix (MISSING ignored)."""
    called_mask = genotypes.dosages != MISSING
    called = 2 * called_mask.sum(axis=0, dtype=np.int64)
    alt = np.where(called_mask, genotypes.dosages, 0).sum(axis=0, dtype=np.int64)
    return called.astype(np.float64), alt.astype(np.float64)


def round_counts(values: np.ndarray | float, round_to: int) -> np.ndarray:
    """Counts rounded to the nearest multiple of `round_to` (halves up, so never negative)."""
    return np.floor(np.asarray(values, dtype=np.float64) / round_to + 0.5) * round_to


def dp_sensitivity(n_variants: int) -> float:
    """L2 sensitivity of (patients, called and alt per variant) under add/remove-one-patient."""
    return math.sqrt(1 + PER_VARIANT_SQUARED_SENSITIVITY * n_variants)


def rounded_summary(
    site: str, genotypes: GenotypeMatrix, round_to: int = DEFAULT_ROUND_TO, *, samples: int | None = None
) -> VariantSummary:
    """The `rounded` release of a site's genotypes (every count to a multiple of `round_to`).

    `samples`: the cohort size the site has already declared public (`hospital check
    --declared-size`), released as the patient count instead of its own count rounded."""
    if round_to < 1:
        raise ValueError(f"round_to must be at least 1, got {round_to}")
    called, alt = exact_counts(genotypes)
    return VariantSummary(
        site,
        list(genotypes.variant_ids),
        round_counts(called, round_to),
        round_counts(alt, round_to),
        float(round_counts(genotypes.n_samples, round_to) if samples is None else samples),
        Release("rounded", round_to=round_to),
    )


def noisy_summary(
    site: str,
    genotypes: GenotypeMatrix,
    *,
    noise_multiplier: float,
    epsilon: float,
    delta: float,
    rng: np.random.Generator | None = None,
    samples: int | None = None,
) -> VariantSummary:
    """The `dp` release: exact counts + N(0, (noise_multiplier x sensitivity)^2) each. The caller
    (`genofed.client.variant_release`) calibrates `noise_multiplier` and charges the ledger.
    `samples`: the cohort size the site has already declared public, released as the patient
    count instead of its own noisy count (the sensitivity still counts it: a bound, not tight).
    `rng` seeds the noise's key (`secret_noise.noise_key_from`; tests and benchmarks pass a seeded
    one), default the OS's secret randomness."""
    if not noise_multiplier > 0:
        raise ValueError(f"the noise multiplier must be positive, got {noise_multiplier}")
    called, alt = exact_counts(genotypes)
    sd = noise_multiplier * dp_sensitivity(len(called))
    noise = SecretNoise(noise_key_from(rng), "variant summary")
    noisy_called = called + gaussian(noise, sd, called.shape)
    noisy_alt = alt + gaussian(noise, sd, alt.shape)
    return VariantSummary(
        site,
        list(genotypes.variant_ids),
        noisy_called,
        noisy_alt,
        float(genotypes.n_samples + gaussian(noise, sd, 1)[0]) if samples is None else float(samples),
        Release("dp", epsilon=epsilon, delta=delta, noise_multiplier=noise_multiplier, noise_sd=sd),
    )


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _read(path: Path) -> VariantSummary:
    if not path.is_file():
        raise DataError(
            path,
            "variant summary not found",
            hint="each hospital writes one with `genofed hospital variants`",
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read the variant summary ({exc})", hint=_REWRITE) from exc
    header, start, named = _header(path, lines)
    release = _release(path, header)
    samples = _float(path, header["samples"], "the header's samples line")
    ids: list[str] = []
    called: list[float] = []
    alt: list[float] = []
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        vid, c, a, name = _row(path, line, number, named)
        if vid in seen:
            raise DataError(
                path,
                f"variant {vid} appears twice (lines {seen[vid]} and {number})",
                location=f"line {number}",
                hint=_REWRITE,
            )
        seen[vid] = number
        if release.mode == "rounded" and not 0 <= a <= c:
            raise DataError(
                path,
                f"rounded counts must satisfy 0 <= alt <= called, got called {c:g}, alt {a:g}",
                location=f"line {number}",
                hint=_REWRITE,
            )
        if release.mode == "rounded" and (c % release.round_to or a % release.round_to):
            # what the hospital declared public is counts rounded to round_to: an exact count here
            # was never declared (a fuzzing review's hand-edited alt count 25 under round_to 10 passed)
            raise DataError(
                path,
                f"called {c:g} and alt {a:g} are not both multiples of {release.round_to}, which the header "
                "says every count was rounded to: the file was edited",
                location=f"line {number}",
                hint=_REWRITE,
            )
        ids.append(vid)
        called.append(c)
        alt.append(a)
        if name:
            names[vid] = name
    _check_complete(path, header, len(ids))
    return VariantSummary(header["site"], ids, np.array(called), np.array(alt), samples, release, names)


def _check_complete(path: Path, header: dict[str, str], rows: int) -> None:
    """A summary cut at a line end reads as a valid, shorter one: its header's variant count tells
    them apart (a file written before the count existed has none and cannot be checked)."""
    if "variants" not in header:
        return
    declared = header["variants"]
    if not (declared.isascii() and declared.isdigit()) or int(declared) != rows:
        raise DataError(
            path,
            f"it holds {rows} variant lines where its header says {declared}: the file is incomplete "
            "(copied or sent only in part) or was edited",
            location="header",
            hint="copy the hospital's file again, or have it written again (`genofed hospital variants`)",
        )


_REWRITE = "write the summary again with `genofed hospital variants`; do not edit it by hand"


def _header(path: Path, lines: list[str]) -> tuple[dict[str, str], int, bool]:
    """The `# key: value` lines, the index of the first data line (after the column line) and
    whether the rows carry the `rsid` column."""
    header: dict[str, str] = {}
    for index, line in enumerate(lines):
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if not sep:
                raise DataError(
                    path,
                    f"header line {line!r} is not '# key: value'",
                    location=f"line {index + 1}",
                    hint=_REWRITE,
                )
            header[key.strip()] = value.strip()
            continue
        if header.get("format") != FORMAT:
            raise DataError(
                path,
                f"not a genofed variant summary (format {header.get('format')!r}, expected {FORMAT!r})",
                location="line 1",
                hint=_REWRITE,
            )
        columns = tuple(line.split("\t"))
        if columns not in (COLUMNS, (*COLUMNS, NAME_COLUMN)):
            raise DataError(
                path,
                f"the column line is {line!r}, expected {' '.join(COLUMNS)} (tab-separated), "
                f"optionally followed by {NAME_COLUMN}",
                location=f"line {index + 1}",
                hint=_REWRITE,
            )
        missing = [k for k in ("site", "samples", "release") if not header.get(k)]
        if missing:
            raise DataError(path, f"the header lacks {', '.join(missing)}", location="header", hint=_REWRITE)
        return header, index + 1, len(columns) > len(COLUMNS)
    raise DataError(
        path,
        "no column line: the file is empty or has only a header",
        location=f"line {len(lines) + 1}",
        hint=_REWRITE,
    )


def _release(path: Path, header: dict[str, str]) -> Release:
    mode = header["release"]
    if mode not in RELEASES:
        raise DataError(
            path,
            f"unknown release {mode!r} (expected one of {', '.join(RELEASES)})",
            location="header",
            hint=_REWRITE,
        )
    if mode == "rounded":
        return Release(
            "rounded", round_to=int(_float(path, header.get("round_to", ""), "the header's round_to line"))
        )
    values = {
        k: _float(path, header.get(k, ""), f"the header's {k} line")
        for k in ("epsilon", "delta", "noise_multiplier", "noise_sd")
    }
    return Release("dp", round_to=0, **values)


def _row(path: Path, line: str, number: int, named: bool) -> tuple[str, float, float, str]:
    fields = line.split("\t")
    where = f"line {number}"
    columns = (*COLUMNS, NAME_COLUMN) if named else COLUMNS
    if len(fields) != len(columns):
        raise DataError(
            path,
            f"{len(fields)} fields, expected {len(columns)} ({' '.join(columns)})",
            location=where,
            hint=_REWRITE,
        )
    name = fields[3] if named else ""
    if name and not RSID.fullmatch(name):
        raise DataError(
            path, f"{name!r} is not an rsID (rs followed by a number)", location=where, hint=_REWRITE
        )
    try:
        vid = parse_variant_id(fields[0]).id
    except ValueError as exc:
        raise DataError(path, str(exc), location=where, hint=_REWRITE) from None
    called = _float(path, fields[1], where)
    alt = _float(path, fields[2], where)
    return vid, called, alt, name


def _float(path: Path, text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"{text!r} is not a number", location=where, hint=_REWRITE) from None
    if not math.isfinite(value):
        raise DataError(path, f"{text!r} is not a finite number", location=where, hint=_REWRITE)
    return value
