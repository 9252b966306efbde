"""Checks for settings: one way to refuse a setting, with one error class, `ConfigError`.

Every settings dataclass (`RunSettings`, a hospital's node config, `PretrainSettings`,
`SynthOptions`, `TrainSettings`, the augmentation spec) validates its values with these checks,
in its `__post_init__` or where it reads a value. A check names the setting as the user writes
it (`local-epochs`, `--delta`), says what it must be and what it got:

    require_positive("epsilon", 0.0, hint="use inf for no differential privacy")
    ConfigError: epsilon must be > 0, got 0; use inf for no differential privacy

Every check takes two optional keywords: `hint` appends what to do (after "; "), and `message`
replaces the sentence where its words are part of a contract (a refusal that a coordinator
logs, a message a test or the docs quote). The comparisons are written so that NaN fails every
range check. The checks return the value they checked, so a conversion and its check read as one
line. `require` is the general form, for a rule that ties several settings together.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real
from pathlib import Path
from typing import Any, TypeVar

from genofed.common.errors import ConfigError

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "require",
    "require_at_least",
    "require_choice",
    "require_finite",
    "require_in_range",
    "require_int",
    "require_path",
    "require_positive",
    "to_float",
    "to_int",
]


def require(condition: bool, message: str) -> None:
    """Raise ConfigError(`message`) unless `condition` holds: the general form of every check.

    Args:
        condition: the rule the settings must satisfy.
        message: the whole sentence the user sees: what is wrong and what to do about it.
    """
    if not condition:
        raise ConfigError(message)


def require_choice(
    name: str, value: T, choices: Collection[Any], *, hint: str = "", message: str | None = None
) -> T:
    """`value` must be one of `choices`: "strategy must be one of fedavg, fedprox, got 'x'".

    Args:
        name: the setting as the user writes it.
        value: what the user gave.
        choices: the accepted values, listed in that order in the message.
        hint: what to do, appended after "; ".
        message: the sentence that replaces the default one.
    """
    listed = ", ".join(str(choice) for choice in choices)
    _check(value in choices, message or f"{name} must be one of {listed}, got {_shown(value)}", hint)
    return value


def require_positive(name: str, value: T, *, hint: str = "", message: str | None = None) -> T:
    """`value` must be > 0 (NaN is not): "lr must be > 0, got 0"."""
    _check(value > 0, message or f"{name} must be > 0, got {_shown(value)}", hint)  # type: ignore[operator]
    return value


def require_at_least(name: str, value: T, minimum: float, *, hint: str = "", message: str | None = None) -> T:
    """`value` must be >= `minimum` (NaN is not): "rounds must be >= 1, got 0"."""
    _check(
        value >= minimum,  # type: ignore[operator]
        message or f"{name} must be >= {_shown(minimum)}, got {_shown(value)}",
        hint,
    )
    return value


def require_in_range(
    name: str,
    value: T,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
    message: str | None = None,
) -> T:
    """`value` must lie between `low` and `high` (NaN does not): "delta must be in (0, 1), got 2".

    Args:
        low, high: the bounds, included unless `low_open` / `high_open`.
        name, value, hint, message: as for `require_choice`.
    """
    above = value > low if low_open else value >= low  # type: ignore[operator]
    below = value < high if high_open else value <= high  # type: ignore[operator]
    interval = f"{'(' if low_open else '['}{_shown(low)}, {_shown(high)}{')' if high_open else ']'}"
    _check(above and below, message or f"{name} must be in {interval}, got {_shown(value)}", hint)
    return value


def require_finite(name: str, value: T, *, hint: str = "", message: str | None = None) -> T:
    """`value` must be a finite real number (not a bool, NaN or inf): "alpha must be a finite
    number, got nan"."""
    real = isinstance(value, Real) and not isinstance(value, bool)
    _check(
        real and math.isfinite(value),  # type: ignore[arg-type]
        message or f"{name} must be a finite number, got {_shown(value)}",
        hint,
    )
    return value


def require_int(
    name: str, value: T, *, minimum: int | None = None, hint: str = "", message: str | None = None
) -> T:
    """`value` must be an integer (not a bool, nor a float), at least `minimum` when given:
    "segment must be a whole number >= 1, got 2.5"."""
    whole = isinstance(value, Integral) and not isinstance(value, bool)
    enough = minimum is None or (whole and value >= minimum)  # type: ignore[operator]
    bound = "" if minimum is None else f" >= {minimum}"
    _check(whole and enough, message or f"{name} must be a whole number{bound}, got {_shown(value)}", hint)
    return value


def require_path(
    name: str, value: str, *, folder: bool = False, hint: str = "", message: str | None = None
) -> str:
    """`value` must name an existing file (or folder, with `folder`): "pretrained: no such file
    'x.pt'". Checked before a long job starts, so that a typo fails in a second, not after it."""
    path = Path(value)
    found = path.is_dir() if folder else path.is_file()
    kind = "folder" if folder else "file"
    if not found and path.exists():
        message = message or f"{name} {value!r} is not a {kind}"
    _check(found, message or f"{name}: no such {kind} {value!r}", hint)
    return value


def to_int(name: str, value: object, *, hint: str = "", message: str | None = None) -> int:
    """`int(value)` for a setting read as text or a number (a node config entry, a CLI option, a
    JSON file); ConfigError "max-evaluations must be a whole number, got 'x'" when it is none. A
    number with a fraction (2.7, from a hand-edited JSON file) is refused, not truncated to 2, and
    so is a bool (JSON `true`); a whole float (3.0) is its integer."""
    fraction = isinstance(value, float) and not value.is_integer()
    if isinstance(value, bool) or fraction:
        raise _error(message or f"{name} must be a whole number, got {value!r}", hint)
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise _error(message or f"{name} must be a whole number, got {value!r}", hint) from None


#: How a yes/no setting may be written (a TOML or JSON bool, or one of these words in any case).
#: Anything else is refused: `secagg='on'` once ran without secure aggregation, without a word,
#: when every word but true/yes/1 read as false.
BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def to_bool(key: str, value: object, *, kind: str = "") -> bool:
    """A yes/no setting read as a bool or as text (`BOOL_WORDS`); ConfigError naming it otherwise
    ("run setting secagg='on' is neither true nor false; write secagg=true or secagg=false", where
    `kind` is "run setting ")."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in BOOL_WORDS:
        raise _error(f"{kind}{key}={value!r} is neither true nor false", f"write {key}=true or {key}=false")
    return BOOL_WORDS[word]


def to_float(name: str, value: object, *, hint: str = "", message: str | None = None) -> float:
    """`float(value)` for a setting read as text or a number; ConfigError "synthetic-ratio must
    be a number, got 'x'" when it is none. "inf" and "nan" convert: check the range after."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _error(message or f"{name} must be a number, got {value!r}", hint) from None


def _check(condition: bool, message: str, hint: str) -> None:
    if not condition:
        raise _error(message, hint)


def _error(message: str, hint: str) -> ConfigError:
    return ConfigError(f"{message}; {hint}" if hint else message)


def _shown(value: object) -> str:
    """A number as the user would write it (0.5, 1e-05, inf), anything else as its repr."""
    if isinstance(value, Real) and not isinstance(value, Integral):
        return f"{float(value):g}"
    if isinstance(value, Integral) and not isinstance(value, bool):
        return str(int(value))
    return repr(value)
