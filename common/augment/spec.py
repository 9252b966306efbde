"""Which augmentations a run (or a site) uses: `AugmentSpec`, and `parse_augment` for the CLI
string (`--augment "noise=0.01,mutate=0.005,mix=0.3"`) or a TOML / JSON file with the same keys.

Keys (a rate is a probability in [0, 1]; see `transforms.py` for what each one means):

    mix=RATE        SegmentMix     mix-segment=N     variants per segment (default 20)
    mutate=RATE     Mutation       mutate-causal=yes also at known-causal variants (default no)
    noise=RATE      CallNoise      noise-model=adjacent|uniform (default adjacent)
    missing=RATE    Missingness
    mixup=RATE      Mixup          mixup-alpha=A     Beta(A, A) mixing weight (default 0.4)

`_` and `-` are interchangeable in keys. A sub-parameter without its transform's rate is an
error (it would silently do nothing). A file holds the same keys at its top level (or inside an
`[augment]` table), and may override them per site in `[sites.NAME]` tables, e.g.

    noise = 0.01
    mutate = 0.005
    [sites.small_clinic]
    mix = 0.3

`parse_augment(path, site="small_clinic")` then gives that site noise, mutate AND mix.

Only the operator's own spec may be a file (the CLI's `--augment`, a hospital's node config
`augment`). `parse_augment(text, inline_only=True)` is for a spec someone else sends (a
coordinator's train message): it reads the key=value syntax only and never touches the disk, so
neither the spec nor its errors depend on which files exist or what they hold.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.augment.transforms import CallNoise, Missingness, Mixup, Mutation, SegmentMix
from genofed.common.errors import ConfigError
from genofed.common.util.checks import require, require_in_range

#: rate key -> (spec field, transform class), in the fixed order of application.
_RATE_KEYS: dict[str, tuple[str, type]] = {
    "mix": ("mix", SegmentMix),
    "mutate": ("mutate", Mutation),
    "noise": ("noise", CallNoise),
    "missing": ("missing", Missingness),
    "mixup": ("mixup", Mixup),
}
#: sub-parameter key -> (its rate key, the transform's field, kind of value)
_SUB_KEYS: dict[str, tuple[str, str, str]] = {
    "mix-segment": ("mix", "segment", "int"),
    "mutate-causal": ("mutate", "allow_causal", "bool"),
    "noise-model": ("noise", "model", "str"),
    "mixup-alpha": ("mixup", "alpha", "float"),
}
KNOWN_KEYS = tuple(_RATE_KEYS) + tuple(_SUB_KEYS)
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}
_NONE = {"", "none", "off", "no"}


@dataclass(frozen=True)
class AugmentSpec:
    """The transforms of one run or site, each None when not used.

    Order of application (fixed, whatever the order of the keys): mix, mutate, noise, missing,
    mixup. The first two change the genome (recombination, then mutation), the next two the
    measurement of it (genotyping error, then calls dropped), and mixup, which produces
    non-integer dosages, comes last so every other transform sees genotype calls.
    """

    mix: SegmentMix | None = None
    mutate: Mutation | None = None
    noise: CallNoise | None = None
    missing: Missingness | None = None
    mixup: Mixup | None = None

    def __post_init__(self) -> None:
        for field, cls in _RATE_KEYS.values():
            value = getattr(self, field)
            if value is not None and not isinstance(value, cls):
                raise TypeError(
                    f"AugmentSpec.{field} must be a {cls.__name__} or None, got {type(value).__name__}"
                )

    @property
    def transforms(self) -> tuple[Any, ...]:
        """The transforms that do something (rate > 0), in the order of application."""
        chosen = (getattr(self, field) for field, _ in _RATE_KEYS.values())
        return tuple(t for t in chosen if t is not None and t.rate > 0.0)

    @property
    def is_identity(self) -> bool:
        return not self.transforms

    @property
    def mixes_patients(self) -> bool:
        """True when an example may carry two patients (mix or mixup with rate > 0): DP-SGD's
        per-patient accounting does not cover that, so the trainer refuses such a spec under DP."""
        return any(t.mixes_patients for t in self.transforms)

    @property
    def output_dtype(self) -> np.dtype:
        """int8 dosages (MISSING = -1), or float32 dosages (NaN = no call) when mixup is on."""
        return np.dtype(np.float32) if self.mixup is not None and self.mixup.rate > 0 else np.dtype(np.int8)

    def to_dict(self) -> dict[str, Any]:
        """The spec in parser keys (every used transform with all its parameters): a valid file."""
        out: dict[str, Any] = {}
        for key, (field, _) in _RATE_KEYS.items():
            t = getattr(self, field)
            if t is None:
                continue
            out[key] = float(t.rate)
            for sub, (rate_key, attr, _kind) in _SUB_KEYS.items():
                if rate_key == key:
                    value = getattr(t, attr)
                    out[sub] = (
                        int(value)
                        if isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                        else value
                    )
        return out

    def describe(self) -> str:
        """One line for a report, e.g. "call noise 1% of calls (adjacent), mutation 0.5% ..."."""
        parts = []
        for t in self.transforms:
            pct = f"{t.rate * 100:g}%"
            if isinstance(t, SegmentMix):
                parts.append(f"segment mix {pct} of records (segments of {t.segment} variants)")
            elif isinstance(t, Mutation):
                causal = "known-causal included" if t.allow_causal else "known-causal protected"
                parts.append(f"mutation {pct} of calls ({causal})")
            elif isinstance(t, CallNoise):
                parts.append(f"call noise {pct} of calls ({t.model})")
            elif isinstance(t, Missingness):
                parts.append(f"missingness {pct} of calls")
            elif isinstance(t, Mixup):
                parts.append(f"mixup {pct} of records (alpha {t.alpha:g})")
        return ", ".join(parts) if parts else "no augmentation"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "augment") -> AugmentSpec:
        """A spec from parser keys; ConfigError (one line, naming `source`) for anything wrong."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected key = value pairs, got {type(data).__name__}")
        values: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = _canonical(raw_key)
            if key not in KNOWN_KEYS:
                raise ConfigError(f"{source}: unknown key {raw_key!r} (known: {', '.join(KNOWN_KEYS)})")
            if key in values:
                raise ConfigError(f"{source}: key {key!r} given twice")
            values[key] = value
        params: dict[str, dict[str, Any]] = {}
        for key in _RATE_KEYS:
            if key in values:
                params[key] = {"rate": _convert(source, key, values[key], "rate")}
        for sub, (rate_key, attr, kind) in _SUB_KEYS.items():
            if sub not in values:
                continue
            if rate_key not in params:
                raise ConfigError(f"{source}: {sub} is given but {rate_key} is not (add {rate_key}=RATE)")
            params[rate_key][attr] = _convert(source, sub, values[sub], kind)
        built: dict[str, Any] = {}
        for key, kwargs in params.items():
            field, transform = _RATE_KEYS[key]
            try:
                built[field] = transform(**kwargs)
            except ValueError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        return cls(**built)


def parse_augment(
    text: str | Path | None, *, site: str | None = None, inline_only: bool = False
) -> AugmentSpec:
    """`"noise=0.01,mutate=0.005,mix=0.3"`, or the path of a .toml / .json file with those keys.

    Empty, None or "none" gives the identity spec. `site` picks a file's `[sites.NAME]`
    overrides (a site without its own table gets the file's defaults; ignored for a string).
    Every problem is a one-line ConfigError naming the string or file.

    `inline_only`: the spec comes from someone who must not learn about this machine's disk (a
    coordinator's train message). It is read as key=value pairs only, never as a path: nothing is
    opened or even looked up, and every error is a function of `text` alone (a path gets "... is
    not key=value" whether or not that file exists). A `Path` is refused.
    """
    if text is None:
        return AugmentSpec()
    if inline_only:
        if isinstance(text, Path):
            raise ConfigError(
                "augment: this augmentation must be given inline as key=value pairs (e.g. noise=0.01), "
                "not as a file"
            )
    elif isinstance(text, Path) or _looks_like_file(str(text)):
        return _parse_file(Path(text), site)
    stripped = str(text).strip()
    if stripped.lower() in _NONE:
        return AugmentSpec()
    source = f"augment {stripped!r}" if inline_only else f"--augment {stripped!r}"
    pairs: dict[str, str] = {}
    for item in stripped.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source}: {item!r} is not key=value (e.g. noise=0.01)")
        key = _canonical(key)
        if key in pairs:
            raise ConfigError(f"{source}: key {key!r} given twice")
        pairs[key] = value.strip()
    return AugmentSpec.from_dict(pairs, source)


def _looks_like_file(text: str) -> bool:
    stripped = text.strip()
    if Path(stripped).suffix.lower() in (".toml", ".json"):
        return True
    return "=" not in stripped and stripped.lower() not in _NONE and Path(stripped).is_file()


def _parse_file(path: Path, site: str | None) -> AugmentSpec:
    source = str(path)
    if not path.is_file():
        raise ConfigError(f"{source}: augmentation file not found")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            doc = tomllib.loads(text)
        elif suffix == ".json":
            doc = json.loads(text)
        else:
            raise ConfigError(f"{source}: an augmentation file must be .toml or .json")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{source}: cannot read the augmentation file: {first}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a table of key = value pairs")
    if set(doc) == {"augment"} and isinstance(doc["augment"], dict):
        doc = doc["augment"]
    doc = dict(doc)
    sites = doc.pop("sites", {})
    if not isinstance(sites, dict) or not all(isinstance(v, dict) for v in sites.values()):
        raise ConfigError(f"{source}: 'sites' must hold one table per site ([sites.NAME])")
    defaults = {_canonical(k): v for k, v in doc.items()}
    spec = AugmentSpec.from_dict(defaults, source)
    chosen = spec
    for name, overrides in sites.items():  # every site's table is checked, not only the one asked for
        merged = {**defaults, **{_canonical(k): v for k, v in overrides.items()}}
        site_spec = AugmentSpec.from_dict(merged, f"{source}, [sites.{name}]")
        if name == site:
            chosen = site_spec
    return chosen


def _canonical(key: Any) -> str:
    return str(key).strip().lower().replace("_", "-")


def _convert(source: str, key: str, value: Any, kind: str) -> Any:
    """A string (CLI) or a native TOML/JSON value -> the transform's parameter type."""
    bad = f"{source}: {key} must be "
    if kind in ("rate", "float"):
        number = _number(value)
        require(number is not None and math.isfinite(number), bad + f"a number, got {value!r}")
        if kind == "rate":
            require_in_range(key, number, 0.0, 1.0, message=bad + f"a rate in [0, 1], got {value!r}")
        return number
    if kind == "int":
        number = _number(value)
        whole = number is not None and math.isfinite(number) and number == int(number)
        require(whole, bad + f"a whole number, got {value!r}")
        return int(number)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        require(word in _TRUE or word in _FALSE, bad + f"yes or no, got {value!r}")
        return word in _TRUE
    require(isinstance(value, str), bad + f"a word, got {value!r}")
    return value.strip().lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
