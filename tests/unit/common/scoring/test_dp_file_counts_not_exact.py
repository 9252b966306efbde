"""Whether a model file's figures were read from exact counts is decided once
(`operating.exact_counts`, of the whole file: its threshold, its risk distribution and its recorded
settings), and `predict`'s percentile words and `inspect-model`'s agree with its threshold's words.

A DP run whose hospitals' replies named no noise records `noise_per_count` 0, as a run without DP
does, and its distribution says "exact counts"; the threshold's words checked the run's settings
(a finite epsilon: noisy) while the percentiles' did not, so one file's percentiles were read off
"65 validation patients (exact counts)" beside a noisy threshold."""

from __future__ import annotations

from dataclasses import replace

from helpers.model_files import HISTOGRAM, model_file, write_people

from genofed.cli.inspect_model import describe_lines
from genofed.common.scoring.operating import exact_counts, risk_distribution
from genofed.common.scoring.percentile_words import reference_population
from genofed.common.scoring.predict import predict_file

ADAPTED = "the hospital's own validation patients, exact counts (nothing released)"


def _run(distribution: dict, epsilon: float | str) -> object:
    """`model_file()` as a federated run with `epsilon` writes it, with `distribution`."""
    model = model_file()
    return replace(
        model,
        provenance={"kind": "federated", "settings": {"epsilon": epsilon}},
        operating={**model.operating, "risk_distribution": distribution},
    )


def _adapted(distribution: dict) -> object:
    """`model_file()` as `genofed adapt` writes it: its records say "exact", no run settings."""
    model = model_file()
    point = {**model.operating["threshold"], "source": ADAPTED}
    return replace(
        model,
        provenance={"kind": "adapted", "source": "adapted to people.vcf"},
        operating={
            **model.operating,
            "threshold": point,
            "risk_distribution": {**distribution, "source": ADAPTED},
        },
    )


def _percentile_line(model) -> str:
    return next(line for line in describe_lines(model, parameters=32) if line.startswith("percentiles:"))


def test_one_rule_reads_the_whole_file():
    zero_noise = risk_distribution(HISTOGRAM * 2, round_=3)  # noise_per_count 0, "exact counts"
    assert "exact counts" in zero_noise["source"]
    dp, plain = _run(zero_noise, 8.0), _run(zero_noise, "inf")
    assert not exact_counts(dp.operating, dp.provenance)
    assert exact_counts(plain.operating, plain.provenance)
    adapted = _adapted(zero_noise)
    assert exact_counts(adapted.operating, adapted.provenance)
    noisy = risk_distribution(HISTOGRAM * 2, round_=3, noise_per_count=0.5)
    assert not exact_counts({"risk_distribution": noisy}, {"kind": "federated"})


def test_predict_does_not_call_a_dp_files_percentiles_exact(tmp_path):
    genotypes, phenotypes = write_people(tmp_path)
    few = _run(risk_distribution(HISTOGRAM, round_=3), 8.0)  # 65 people: withheld
    result = predict_file(few, genotypes, phenotypes=phenotypes)
    (said,) = [note for note in result.notes if note.startswith("percentiles not shown")]
    assert "exact" not in said and "To get them" not in said, said
    assert said.startswith(
        "percentiles not shown: the training population's risk distribution rests on about 65 noisy "
        "validation patients, whose DP noise the model file does not record"
    ), said
    # 130 people would do for exact counts, but this noise is not known: not shown (a reviewer)
    enough = _run(risk_distribution(HISTOGRAM * 2, round_=3), 8.0)
    assert reference_population(enough) is None
    withheld = predict_file(enough, genotypes, phenotypes=phenotypes)
    assert withheld.reference is None
    assert any("whose DP noise the model file does not record" in note for note in withheld.notes)
    recorded = _run(risk_distribution(HISTOGRAM * 20, round_=3, noise_per_count=0.5), 8.0)  # its noise known
    assert reference_population(recorded) is not None
    # the same file without DP: exact counts, as before
    plain = reference_population(_run(risk_distribution(HISTOGRAM * 2, round_=3), "inf"))
    assert plain is not None and plain.startswith("the federation's validation patients (exact counts): 130")


def test_inspect_model_does_not_call_a_dp_files_count_exact():
    few = risk_distribution(HISTOGRAM, round_=3)
    line = _percentile_line(_run(few, 8.0))
    assert "65 validation patients (a noisy count)" in line, line
    assert "the DP noise, which the file does not record" in line and "alone" not in line, line
    assert "(a noisy count)" not in _percentile_line(_run(few, "inf"))


def test_an_adapted_file_stays_exact(tmp_path):
    adapted = _adapted(risk_distribution(HISTOGRAM * 2, round_=3))
    reference = reference_population(adapted)
    assert reference is not None and reference.startswith(
        "the hospital's own validation patients (exact counts): 130 people"
    ), reference
    assert "(a noisy count)" not in _percentile_line(adapted)
    few = _adapted(risk_distribution(HISTOGRAM, round_=3))
    genotypes, phenotypes = write_people(tmp_path)
    (said,) = [
        note
        for note in predict_file(few, genotypes, phenotypes=phenotypes).notes
        if note.startswith("percentiles not shown")
    ]
    assert said.startswith(
        "percentiles not shown: the risk distribution was read off 65 validation patients (exact"
    )


def test_a_dp_runs_distribution_is_not_labelled_exact_counts() -> None:
    """The run writes the distribution's `source`: a DP run whose replies named no noise (0) is not
    labelled "exact counts" in the model file, whatever reads it later."""
    private = risk_distribution(HISTOGRAM * 2, round_=3, private=True)
    assert "exact" not in private["source"] and "named no noise" in private["source"]
    assert "exact counts" in risk_distribution(HISTOGRAM * 2, round_=3)["source"]
