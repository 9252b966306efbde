"""How a number looks in every report, and what a missing one looks like ("not measured").

Every value a report shows may be missing (a baseline that was skipped, a metric undefined on a
one-class split); the formatters say so instead of failing, because a run that took hours must
never lose its report to one absent number.
"""

from __future__ import annotations

import math
from typing import Any

NOT_MEASURED = "not measured"


def finite_number(value: Any) -> float | None:
    """A finite float, or None for None/NaN/inf/non-numbers: all of which mean 'not measured'."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def fmt_auc(value: Any) -> str:
    """AUC with 3 decimals: differences between methods are often in the second decimal."""
    number = finite_number(value)
    return NOT_MEASURED if number is None else f"{number:.3f}"


def fmt_epsilon(value: Any) -> str:
    """Two decimals; from a million up in powers of ten (a budget of 1e308 was printed as 309
    digits)."""
    number = finite_number(value)
    if number is None:
        return NOT_MEASURED
    return f"{number:.2f}" if abs(number) < 1e6 else f"{number:.3g}"


def fmt_float(value: Any, digits: int = 3) -> str:
    number = finite_number(value)
    return NOT_MEASURED if number is None else f"{number:.{digits}f}"


def fmt_percent(value: Any) -> str:
    """A proportion as a percentage: what a clinician reads sensitivity and specificity in."""
    number = finite_number(value)
    return NOT_MEASURED if number is None else f"{100 * number:.1f}%"


def fmt_int(value: Any) -> str:
    number = finite_number(value)
    return NOT_MEASURED if number is None else f"{int(round(number)):,}"


def fmt_delta(value: Any) -> str:
    """Delta in the same short form the CLI takes (1e-05), not 0.00."""
    number = finite_number(value)
    return NOT_MEASURED if number is None else f"{number:g}"


def fmt_duration(seconds: Any) -> str:
    """Seconds as a person would say them: 42.1 s, 3 min 05 s, 2 h 07 min."""
    number = finite_number(seconds)
    if number is None:
        return NOT_MEASURED
    if number < 60:
        return f"{number:.1f} s"
    if number < 3600:
        minutes, secs = divmod(int(round(number)), 60)
        return f"{minutes} min {secs:02d} s"
    hours, rest = divmod(int(round(number)), 3600)
    return f"{hours} h {rest // 60:02d} min"


def fmt_bytes(value: Any) -> str:
    """Bytes in binary units with the exact count, so that a network admin can budget links."""
    number = finite_number(value)
    if number is None:
        return NOT_MEASURED
    size, unit = number, "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    shown = f"{int(number)} B" if unit == "B" else f"{size:.2f} {unit}"
    return shown if unit == "B" else f"{shown} ({int(number):,} bytes)"
