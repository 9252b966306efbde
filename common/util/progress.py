"""The one type of every progress callback: a function that takes one line of text.

Long jobs (simulating cohorts, a federation, an experiment) report what they are doing through a
`Progress`; the CLI passes `print`, tests pass a list's `append` or nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def silent(_line: str) -> None:
    """A `Progress` that says nothing."""
