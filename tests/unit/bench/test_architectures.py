"""bench/architectures.py: the simulated architectures change only the disease, a kept federation is
reused, and the study compares every design with the rule on the same draws."""

from __future__ import annotations

import dataclasses
import math
import sys

from helpers import load_bench_script
from helpers.bench import BENCH

from genofed.simulations.cohorts.presets import HELDOUT

sys.path.insert(0, str(BENCH))  # bench/architectures.py imports other bench scripts
architectures = load_bench_script("architectures")


def test_each_architecture_is_the_heldout_disease_with_other_causal_variants():
    for name, (disease, _seed) in architectures.ARCHITECTURES.items():
        changed = {
            field.name
            for field in dataclasses.fields(disease)
            if getattr(disease, field.name) != getattr(HELDOUT.disease, field.name)
        }
        assert changed <= {"n_rare", "n_common", "polygenic_variance", "rare_effect", "rare_freq_range"}, name
        assert disease.population_offsets == HELDOUT.disease.population_offsets


def test_a_kept_federation_is_reused_not_simulated_again(tmp_path, monkeypatch):
    kept = tmp_path / "strong-rare"
    kept.mkdir()
    (kept / "panel.tsv").write_text("kept\n")

    def refuse(*_args, **_kwargs):
        raise AssertionError("simulated again")

    monkeypatch.setattr(architectures, "simulate_cohorts", refuse)
    assert architectures.federation(tmp_path, "strong-rare") == kept


def test_the_study_scores_every_design_against_the_rule(simulated_cohorts, capsys):
    architectures.study(simulated_cohorts(3), [3.0, math.inf], seeds=[42], draws=1)
    out = capsys.readouterr().out
    assert "pooled non-private LR" in out
    width = 22  # the table's label column (`paired_table(..., "design", 22)`)
    rows = {line[:width].strip(): line[width:].split() for line in out.splitlines() if len(line) > width}
    for design in architectures.DESIGNS:
        cells = rows[design]
        assert all(0.0 <= float(auc) <= 1.0 for auc in cells[0::2]), (design, cells)
    assert rows["rule"][1::2] == ["(+0.000)", "(+0.000)"]  # the base row's own paired difference
