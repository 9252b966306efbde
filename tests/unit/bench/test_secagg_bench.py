"""bench/secagg.py: how it reports who took part in each round."""

from __future__ import annotations

import sys

from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/secagg.py imports bench/measure.py
secagg = load_bench_script("secagg")


def test_every_hospital_in_every_round_prints_the_counts():
    run = {"participants": [["a", "b", "c"]] * 3, "refused": [[]] * 3}
    assert secagg.participation(run, 3) == "participants per round (of 3): 3 3 3"


def test_a_missing_hospital_is_seen_with_who_took_part_and_who_refused():
    run = {"participants": [["a", "b"], ["a", "b", "c"]], "refused": [["c"], []]}
    assert secagg.participation(run, 3) == "participants per round (of 3): 2[a,b; refused c] 3"
