"""Markdown tables for the run report and the experiments' reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def _cell(text: Any) -> str:
    """A Markdown table cell: a pipe or newline in a site name or setting must not break the table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
