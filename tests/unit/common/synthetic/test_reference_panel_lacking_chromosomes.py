"""A reference panel covering too few of the site's variants is refused naming the chromosomes the
site has that the panel lacks, and no longer advises "lower min_coverage", which no command offers
(a walkthrough's panel of chromosomes 1-5 against a site on 1-22)."""

from __future__ import annotations

import pytest

from genofed.common.errors import DataError
from genofed.common.synthetic.reference_panel import _chromosomes_words, _lacking, _require_overlap


def test_the_chromosomes_the_panel_lacks_are_named_with_the_site_count():
    site = ["1:1:A:G", "chr2:5:C:T", "6:1:A:G", "7:1:A:G", "8:2:A:G", "8:3:A:G", "X:9:A:G"]
    panel = ["chr1:1:A:G", "2:5:C:T"]
    assert _lacking(panel, site) == {"6": 1, "7": 1, "8": 2, "X": 1}
    assert _chromosomes_words(["6", "7", "8", "X"]) == "6-8 and X"
    assert _chromosomes_words(["6"]) == "6" and _chromosomes_words(["3", "5"]) == "3 and 5"


def test_low_coverage_names_the_missing_chromosomes_and_no_python_argument():
    lacking = {str(c): 40 for c in range(6, 23)}
    with pytest.raises(DataError) as error:
        _require_overlap("panel_chr1to5.vcf.gz", 277, 967, 0.5, lacking)
    text = f"{error.value.message} {error.value.hint}"
    assert "covers only 28.6% of the site's 967 variants (277); the minimum is 50%" in text
    assert "it has no variant on chromosomes 6-22, where the site has 680 of its variants" in text
    assert "min_coverage" not in text and "covering every chromosome the site has" in text
