"""The report says what is true of the run's mode: under DP no synthetic record is dropped as too
close to a patient (the report said they were), and under DP genotype augmentation cost no epsilon
(the Privacy section said nothing of it; the spec showed only in the run-facts table)."""

from __future__ import annotations

from genofed.server.report.privacy import privacy_section
from genofed.server.report.synthetic import synthetic_section


def _synthetic(epsilon: float | None) -> dict:
    record = {"passed": False, "failed": ["aats_train"], "generated": 14, "accepted": 0}
    return {
        "synthetic": {
            "generator": "vae",
            "ratio": 0.4,
            "generator_epsilon": epsilon,
            "sites": {"elista": record},
        },
        "sites": {"elista": {"synthetic": 0}},
    }


def test_under_dp_the_synthetic_section_says_no_record_was_dropped():
    text = synthetic_section(_synthetic(2.0))
    assert "records too close to a real patient were dropped" not in text
    assert "under DP no record was dropped as too close to a real patient" in text
    assert "records too close to a real patient were dropped" in synthetic_section(_synthetic(None))


def _dp_run(augment: str | None) -> dict:
    return {
        "epsilon_budget": 3.0,
        "delta": 1e-5,
        "epsilon": {"rostov": 2.98},
        "sites": {"rostov": {"samples": 300, "epsilon": 2.98}},
        "config": {"privacy": "local", "secagg": False, "clip": 1.0},
        "augment": augment,
    }


def test_the_privacy_section_says_augmentation_cost_no_epsilon():
    text = privacy_section(_dp_run("noise=0.01,mutate=0.005"), plot_written=False)
    assert "**Genotype augmentation** (noise=0.01,mutate=0.005) cost no epsilon" in text
    assert "Genotype augmentation" not in privacy_section(_dp_run(None), plot_written=False)
