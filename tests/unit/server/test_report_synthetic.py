"""The report's synthetic-data section says how each hospital made its records: a generator it
trained (VAE, GAN) or reference-based records, and what validation did with them."""

from __future__ import annotations

from genofed.server.report.synthetic import synthetic_section


def _results(generator: str) -> dict:
    record = {"passed": False, "failed": ["aats_train"], "generated": 14, "accepted": 0}
    return {
        "synthetic": {
            "generator": generator,
            "ratio": 0.4,
            "generator_epsilon": 2.0,
            "sites": {"elista": record},
        },
        "sites": {"elista": {"synthetic": 0}},
    }


def test_reference_records_are_not_called_a_trained_generator():
    text = synthetic_section(_results("reference"))
    assert "made reference-based records (a public panel's haplotypes" in text
    assert "trained a REFERENCE" not in text
    assert "| elista |" in text


def test_a_trained_generator_is_named():
    assert "Each hospital trained a GAN on its own patients" in synthetic_section(_results("gan"))
