"""bench/measure.py: a measured child process that fails ends the bench with why (its stderr's
last lines); CalledProcessError alone said nothing (an ML engineer's walkthrough)."""

from __future__ import annotations

import pytest
from helpers import load_bench_script

measure = load_bench_script("measure")


def test_a_failing_child_ends_the_bench_with_its_last_lines():
    with pytest.raises(SystemExit, match=r"(?s)failed \(exit 1\).*ValueError: boom in the child"):
        measure.run_child('raise ValueError("boom in the child")')


def test_a_child_that_reports_returns_its_figures():
    figures = measure.run_child("report(x=1)")
    assert figures["x"] == 1 and figures["peak_rss_mb"] > 0
