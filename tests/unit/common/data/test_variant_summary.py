"""A site's variant summary: exact, rounded and noisy counts, the file round trip, damaged files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from genofed.common.data.cohort import MISSING, GenotypeMatrix
from genofed.common.data.variant_summary import (
    VariantSummary,
    dp_sensitivity,
    exact_counts,
    noisy_summary,
    rounded_summary,
    summarize_genotypes,
)
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError

IDS = ["1:100:A:G", "1:200:C:T", "2:50:G:A"]
DOSAGES = np.array(
    [[0, 2, 1], [1, MISSING, 1], [2, 2, MISSING], [0, 0, 1]] * 4,  # 16 patients
    dtype=np.int8,
)


def _matrix() -> GenotypeMatrix:
    return GenotypeMatrix(DOSAGES.copy(), [f"p{i}" for i in range(len(DOSAGES))], list(IDS))


def test_exact_counts_ignore_missing_calls():
    called, alt = exact_counts(_matrix())
    np.testing.assert_array_equal(called, [32, 24, 24])  # 2 alleles per called genotype
    np.testing.assert_array_equal(alt, [12, 16, 12])


def test_rounded_summary_rounds_every_count_and_keeps_zero_count_variants(tmp_path: Path):
    dosages = DOSAGES.copy()
    dosages[:, 0] = 0  # no alt allele at all: still listed (ids are public)
    write_vcf(tmp_path / "g.vcf", dosages, [f"p{i}" for i in range(16)], IDS)
    summary = summarize_genotypes("rostov", tmp_path / "g.vcf")
    assert summary.variant_ids == IDS
    np.testing.assert_array_equal(summary.called, [30, 20, 20])
    np.testing.assert_array_equal(summary.alt, [0, 20, 10])
    assert summary.samples == 20  # 16 rounded to 10
    assert summary.release.mode == "rounded" and summary.release.round_to == 10


def test_round_trip_rounded_and_dp(tmp_path: Path):
    rounded = rounded_summary("rostov", _matrix(), round_to=4)
    rounded.save(tmp_path / "r.tsv")
    back = VariantSummary.load(tmp_path / "r.tsv")
    assert (back.site, back.variant_ids, back.samples, back.release) == (
        "rostov",
        IDS,
        16,
        rounded.release,
    )
    np.testing.assert_array_equal(back.alt, rounded.alt)
    text = (tmp_path / "r.tsv").read_text()
    assert "not differential privacy" in text and text.startswith("# format: genofed-variant-summary/1")

    noisy = noisy_summary(
        "elista", _matrix(), noise_multiplier=0.5, epsilon=3, delta=1e-5, rng=np.random.default_rng(0)
    )
    noisy.save(tmp_path / "d.tsv")
    back = VariantSummary.load(tmp_path / "d.tsv")
    assert back.release.mode == "dp" and back.release.epsilon == 3
    assert back.release.noise_sd == pytest.approx(0.5 * math.sqrt(1 + 8 * 3), rel=1e-5)
    np.testing.assert_allclose(back.called, noisy.called, atol=0.05)  # one decimal in the file


def test_dp_sensitivity_and_noise_scale():
    assert dp_sensitivity(20_000) == pytest.approx(math.sqrt(160_001))
    genotypes = GenotypeMatrix(
        np.zeros((10, 2000), np.int8), [f"p{i}" for i in range(10)], [f"1:{i + 1}:A:G" for i in range(2000)]
    )
    noisy = noisy_summary(
        "x", genotypes, noise_multiplier=2.0, epsilon=1, delta=1e-5, rng=np.random.default_rng(1)
    )
    expected = 2.0 * math.sqrt(1 + 8 * 2000)
    assert np.std(noisy.alt) == pytest.approx(expected, rel=0.05)
    assert np.mean(noisy.called) == pytest.approx(20, abs=5 * expected / math.sqrt(2000))


def _damaged(tmp_path: Path, replace: tuple[str, str]) -> Path:
    path = tmp_path / "s.tsv"
    rounded_summary("rostov", _matrix()).save(path)
    text = path.read_text()
    assert replace[0] in text
    path.write_text(text.replace(replace[0], replace[1], 1))
    return path


@pytest.mark.parametrize(
    ("replace", "problem", "location"),
    [
        (("1:200:C:T\t20\t20", "1:200:C:T\t20\tmany"), "'many' is not a number", "line 10"),
        (("1:200:C:T\t20\t20", "1:200:C:T\t20"), "2 fields, expected 3", "line 10"),
        (("1:200:C:T\t20\t20", "1:200:C:T\t10\t20"), "0 <= alt <= called", "line 10"),
        (("1:200:C:T", "1:100:A:G"), "appears twice", "line 10"),
        (("2:50:G:A", "2-50-G-A"), "not of the form chrom:pos:ref:alt", "line 11"),
        (("id\tcalled\talt", "id\tcalled"), "the column line", "line 8"),
        (
            ("# format: genofed-variant-summary/1", "# format: something"),
            "not a genofed variant summary",
            "line 1",
        ),
        (("# release: rounded", "# release: exact"), "unknown release", "header"),
    ],
)
def test_damaged_files_name_the_line(tmp_path: Path, replace, problem, location):
    path = _damaged(tmp_path, replace)
    with pytest.raises(DataError) as err:
        VariantSummary.load(path)
    assert problem in err.value.problem
    assert err.value.location == location
    assert "genofed hospital variants" in (err.value.hint or "")


def test_missing_and_empty_files(tmp_path: Path):
    with pytest.raises(DataError, match="not found"):
        VariantSummary.load(tmp_path / "nope.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(DataError, match="no column line"):
        VariantSummary.load(tmp_path / "empty.tsv")


def test_a_summary_cut_at_a_line_end_is_refused(tmp_path):
    """Cut between two lines, the rest reads as a valid, shorter summary: the header's variant
    count tells (a coordinator's operator audit found such a file accepted into the panel)."""
    path = tmp_path / "s.tsv"
    VariantSummary("rostov", ["1:100:A:G", "1:200:C:T", "2:50:G:A"], [40, 40, 40], [0, 10, 20], 20).save(path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    with pytest.raises(DataError, match="holds 2 variant lines where its header says 3"):
        VariantSummary.load(path)
    path.write_text("".join(line.replace(": 3", ": ³") for line in lines))  # a fuzzing review's traceback
    with pytest.raises(DataError, match="holds 3 variant lines where its header says ³"):
        VariantSummary.load(path)
    path.write_text("".join(line for line in lines if not line.startswith("# variants:")))
    assert len(VariantSummary.load(path)) == 3  # a file from before the count: read as it is


def test_a_rounded_summary_with_a_count_not_rounded_is_refused_by_line(tmp_path):
    """A fuzzing review: an alt count of 25 under `round_to: 10` went into the panel. What the
    hospital declared public is counts rounded to 10; an exact count was never declared."""
    path = tmp_path / "s.tsv"
    VariantSummary("rostov", ["1:100:A:G", "1:200:C:T"], [40, 40], [10, 20], 20).save(path)
    assert len(VariantSummary.load(path)) == 2
    path.write_text(path.read_text().replace("\t20\n", "\t25\n"))
    with pytest.raises(DataError, match="called 40 and alt 25 are not both multiples of 10"):
        VariantSummary.load(path)
