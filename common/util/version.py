"""The installed genofed's version, as the files it writes record it (results.json, a model's
provenance, the predictions' provenance file, the deployed app bundle)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def genofed_version(fallback: str = "unknown") -> str:
    """The installed genofed's version; `fallback` when run from a source tree not installed."""
    try:
        return version("genofed")
    except PackageNotFoundError:
        return fallback
