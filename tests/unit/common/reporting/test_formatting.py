"""The report's number formats: epsilon as people read it, whatever the budget."""

from __future__ import annotations

import math

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_epsilon


def test_epsilon_has_two_decimals_and_powers_of_ten_when_huge():
    assert fmt_epsilon(7.9612) == "7.96" and fmt_epsilon(999_999.0) == "999999.00"
    assert fmt_epsilon(1e308) == "1e+308" and fmt_epsilon(2_500_000.0) == "2.5e+06"
    assert fmt_epsilon(math.inf) == NOT_MEASURED and fmt_epsilon(None) == NOT_MEASURED
