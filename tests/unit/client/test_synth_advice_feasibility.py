"""The advice after a failed `genofed synth` batch suggests no DP batch that the check before the
charge (`synth_feasibility`) would refuse: an outside walkthrough's `--spend-anyway` batch was told
to try a larger epsilon and the other generator, both refused by `synth` itself."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.synth_advice import suggestions
from genofed.client.synth_feasibility import PublicFacts, cannot_pass
from genofed.common.synthetic.checks import Thresholds

#: No batch passes: allele-frequency correlation cannot reach 2.
FAILING = Thresholds(af_correlation_min=2.0, fidelity_limits="fixed")
#: No batch passes: fewer than 0 exact copies (a privacy check, the one DP is the remedy for).
COPIES_FAIL = Thresholds(exact_copies_max=-1)


def _summary(failed: list[str], *, epsilon: float | None, kind: str = "vae", patients: int = 100):
    return {
        "passed": False,
        "failed_checks": failed,
        "epsilon": epsilon,
        "delta": None if epsilon is None else 1e-5,
        "generator": {"kind": kind, "settings": {"epochs": 0 if kind == "reference" else 20}},
        "validation": {"checks": [], "n_train": patients * 4 // 5, "n_holdout": patients // 5},
    }


def _panel(variants: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(variants, 0.3), np.ones(variants, dtype=bool)


def test_a_spend_anyway_batch_is_offered_no_dp_batch_that_synth_refuses():
    # the rule: a VAE at twice the epsilon and a GAN at the same one are refused at 100 patients
    assert cannot_pass("vae", epsilon=4, declared_size=100) and cannot_pass(
        "gan", epsilon=2, declared_size=100
    )
    tips = suggestions(_summary(["ld_correlation"], epsilon=2.0))
    text = " ".join(tips)
    assert "a larger --epsilon for the generator" not in text and "--generator gan" not in text
    assert "only together with a larger --epsilon" not in text
    refused = [tip for tip in tips if tip.startswith("no DP batch that `genofed synth` would accept")]
    assert (
        len(refused) == 1 and "no DP vae batch was measured passing at a declared size of 100" in refused[0]
    )
    assert "a batch without DP (no --epsilon)" in refused[0] and "augmentation" in refused[0]
    # beyond the measured sizes the rule says nothing: both remedies are still offered
    large = " ".join(suggestions(_summary(["ld_correlation"], epsilon=2.0, patients=2000)))
    assert "a larger --epsilon for the generator, e.g. 4" in large and "--generator gan" in large


def test_a_smaller_epsilon_is_not_offered_where_this_one_is_refused():
    tips = suggestions(_summary(["mia_auc"], epsilon=4.0))
    assert not any("a smaller --epsilon" in tip for tip in tips)
    assert any("no DP batch that `genofed synth` would accept" in tip for tip in tips)
    assert any(
        "a smaller --epsilon" in tip for tip in suggestions(_summary(["mia_auc"], epsilon=4.0, patients=2000))
    )


def test_a_reference_batch_under_dp_is_judged_with_its_panel():
    freq, released = _panel(967)
    facts = PublicFacts(130, 1e-5, freq, released)
    assert facts.problem("reference", 6.0) is not None  # its noise per class frequency at 2 x epsilon
    tips = suggestions(_summary(["allele_frequency_correlation"], epsilon=3.0, kind="reference"), facts=facts)
    text = " ".join(tips)
    # the larger epsilon named is the smallest the pre-charge check accepts, as its refusal names it
    smallest = facts.smallest_accepted("reference", 3.0)
    assert smallest is not None and facts.problem("reference", smallest) is None
    assert (
        f"a larger --epsilon for the generator, e.g. {smallest:g}" in text and "--generator vae" not in text
    )
    quiet = PublicFacts(100_000, 1e-5, *_panel(5))  # few released variants, many patients
    assert quiet.problem("reference", 6.0) is None
    calm = suggestions(_summary(["allele_frequency_correlation"], epsilon=3.0, kind="reference"), facts=quiet)
    assert any("a larger --epsilon for the generator, e.g. 6" in tip for tip in calm)


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    return simulated_cohorts(5)  # read only


def test_the_advice_after_a_spend_anyway_run_names_no_refused_command(cohorts, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=FAILING)
    )
    rostov = cohorts / "rostov"
    argv = [
        "synth",
        "--genotypes",
        str(rostov / "genotypes.vcf.gz"),
        "--phenotypes",
        str(rostov / "phenotypes.csv"),
    ]
    extra = ["--epochs", "1", "--epsilon", "2", "--budget", "10", "--spend-anyway"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--state-dir", str(tmp_path / "s"), *extra]) == 1
    advice = capsys.readouterr().out.split("try next")[1]
    assert "--generator gan" not in advice and "a larger --epsilon for the generator" not in advice
    assert "no DP batch that `genofed synth` would accept" in advice


def test_a_reference_batch_without_dp_is_told_dp_only_where_its_noise_allows():
    noisy = PublicFacts(80, 1e-5, *_panel(491))
    tips = suggestions(_summary(["mia_auc"], epsilon=None, kind="reference", patients=80), facts=noisy)
    assert not any("turn privacy protection on" in tip for tip in tips)
    assert any(tip.startswith("privacy protection cannot make a passing batch here") for tip in tips)
    assert noisy.problem("reference", 8.0) is not None  # the rule synth refuses that command by
    quiet = PublicFacts(100_000, 1e-5, *_panel(5))
    calm = suggestions(_summary(["mia_auc"], epsilon=None, kind="reference", patients=80), facts=quiet)
    assert any("turn privacy protection on" in tip for tip in calm)


def test_synth_refuses_the_dp_reference_batch_its_advice_advised_against(
    cohorts, tmp_path, monkeypatch, capsys
):
    """End to end: the reference batch without DP fails, its advice says DP cannot make a passing
    batch, and the DP command it would have named is refused by synth before the charge."""
    elista, panel = cohorts / "elista", cohorts / "reference" / "genotypes.vcf.gz"
    argv = [
        "synth",
        "--genotypes",
        str(elista / "genotypes.bed"),
        "--phenotypes",
        str(elista / "phenotypes.csv"),
    ]
    argv += ["--generator", "reference", "--reference", str(panel)]
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=COPIES_FAIL)
    )
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 1
    advice = capsys.readouterr().out.split("try next")[1]
    assert "turn privacy protection on" not in advice
    assert "privacy protection cannot make a passing batch here: at epsilon 8" in advice
    dp = [
        "--epsilon",
        "8",
        "--budget",
        "10",
        "--state-dir",
        str(tmp_path / "s"),
        "--out",
        str(tmp_path / "dp"),
    ]
    assert main([*argv, *dp]) != 0
    assert "this DP batch cannot pass validation: at epsilon 8" in capsys.readouterr().err
