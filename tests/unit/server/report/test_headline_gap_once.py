"""The headline's gap to a reference and the paired interval beside it are one figure: computed
apart, a walkthrough's report said "0.048 above a plain DP logistic regression" and, in the same
paragraph, "+0.047" for the same difference (0.7135 - 0.6660 came to 0.04750000001, the paired
contrast to 0.04749999)."""

from __future__ import annotations

import re

from genofed.common.reporting.auc import AucDifference
from genofed.server.report.differences import AucDifferences, Contrast
from genofed.server.report.summary import headline

FEDERATED, PLAIN, POOLED = 0.7135416666666666, 0.6660416666666665, 0.8068


def _contrast(key: str, reference: float, difference: float) -> Contrast:
    paired = AucDifference(difference, difference - 0.063, difference + 0.064, 0.032, (FEDERATED, reference))
    return Contrast(key, key, reference, paired)


def test_the_gap_and_the_paired_difference_are_one_number():
    results = {"test_auc": FEDERATED, "plain_dp_logistic_auc": PLAIN, "pooled_auc": POOLED}
    differences = AucDifferences(
        pooled=_contrast("pooled", POOLED, FEDERATED - POOLED),
        plain_dp=_contrast("plain_dp_logistic", PLAIN, 0.04749999999999),
    )
    text = headline(results, differences)
    gap = re.search(r"(\d\.\d{3}) above a plain DP logistic regression", text).group(1)
    interval = re.search(r"federated minus the plain DP logistic regression \+(\d\.\d{3})", text).group(1)
    assert gap == interval == "0.047"
    # without a paired interval to agree with, the gap is the stated AUCs' own difference
    alone = headline(results, None)
    assert "0.048 above a plain DP logistic regression" in alone and "federated minus" not in alone
