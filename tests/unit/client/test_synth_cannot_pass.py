"""A DP batch that cannot pass validation is refused before anything is charged (`synth_feasibility`).

A new user's walkthrough at a 130-patient hospital spent its whole budget of 3 on DP VAE, GAN and
reference batches whose fidelity was noise; before each charge the tool only said the privacy checks
"cannot tell".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.site_files import synth_args, write_small_site

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.local_ledger import bound_state_dir
from genofed.client.synth_feasibility import (
    EPSILON_STEPS,
    REFERENCE_NOISE_LIMIT,
    PublicFacts,
    cannot_pass,
    class_frequency_noise,
    refusal,
)
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "krasnodar")


def test_network_generators_under_dp_are_ruled_out_at_a_hospitals_size_and_epsilon():
    assert "cannot learn the cohort" in cannot_pass("vae", epsilon=2, declared_size=130)
    assert cannot_pass("gan", epsilon=8, declared_size=1252) is not None
    # beyond what was measured, the rule says nothing
    assert cannot_pass("vae", epsilon=2, declared_size=5000) is None
    assert cannot_pass("gan", epsilon=9, declared_size=130) is None


def test_the_reference_rule_is_the_noise_sd_of_a_class_frequency():
    freq, released = np.full(967, 0.3), np.ones(967, dtype=bool)
    # sigma C / (2 w n_class), C = 1.25 sqrt(sum 2p(1-p)), w = sqrt(0.7), n_class = 104 / 2
    expected = 2.08 * 1.25 * np.sqrt(967 * 2 * 0.3 * 0.7) / (2 * np.sqrt(0.7) * 52)
    assert class_frequency_noise(2.08, 130, freq, released) == pytest.approx(expected)
    noisy = cannot_pass(
        "reference",
        epsilon=1,
        declared_size=130,
        noise_multiplier=2.08,
        reference_freq=freq,
        released=released,
    )
    assert noisy is not None and f"above {REFERENCE_NOISE_LIMIT:g}" in noisy
    quiet = cannot_pass(
        "reference",
        epsilon=50,
        declared_size=130,
        noise_multiplier=0.1,
        reference_freq=freq,
        released=released,
    )
    assert quiet is None


def test_a_dp_batch_that_cannot_pass_is_refused_before_the_charge(files, tmp_path, monkeypatch, capsys):
    def trained(*args, **kwargs):
        raise AssertionError("the generator trained before the refusal")

    monkeypatch.setattr(synth_module, "generate_validated", trained)
    state, out = tmp_path / "kstate", tmp_path / "syn"
    argv = synth_args(files, out, "--epsilon", "2", "--state-dir", str(state), "--budget", "3")
    code = main([arg for arg in argv if arg != "--spend-anyway"])  # the helper's override, taken off
    err = capsys.readouterr().err
    assert code != 0
    assert "this DP batch cannot pass validation" in err and "declared size of 40" in err
    assert "augmentation" in err and "costs no privacy" in err
    assert "a batch without DP (no --epsilon), which stays inside the hospital" in err
    assert "--spend-anyway" in err
    # the larger epsilon it names is one the same check accepts (it had said "a larger --epsilon")
    assert (
        "No larger --epsilon is known to help: no DP vae batch was measured passing at a declared size "
        "of 40 (this check refuses every epsilon up to 8; none above was measured)" in err
    )
    # nothing charged, nothing bound, no folder left
    assert not state.exists() and not out.exists()
    assert bound_state_dir(files[0]) is None


def test_spend_anyway_charges_with_a_warning(files, tmp_path, capsys):
    state, out = tmp_path / "kstate", tmp_path / "syn"
    argv = synth_args(
        files, out, "--epsilon", "2", "--state-dir", str(state), "--budget", "3", "--spend-anyway"
    )
    main(argv)
    err = capsys.readouterr().err
    assert "warning: --spend-anyway: a DP vae generator at epsilon 2" in err
    assert PrivacyLedger(state / LEDGER_FILE).charges
    assert bound_state_dir(files[0]) == state.resolve()


def test_spend_anyway_without_dp_is_refused(files, tmp_path, capsys):
    assert main(synth_args(files, tmp_path / "syn", "--spend-anyway")) != 0
    assert "--spend-anyway applies under DP only" in capsys.readouterr().err


def test_the_smallest_epsilon_the_check_accepts():
    """What a refusal names instead of "a larger --epsilon": the smallest step this very check
    accepts, or that none does."""
    # past the measured epsilons the network generators' rule is silent: no epsilon is named
    assert PublicFacts(130, 1e-5).smallest_accepted("vae", 2) is None
    assert PublicFacts(5000, 1e-5).smallest_accepted("gan", 2) == 3  # beyond what was measured
    freq, released = np.full(967, 0.3), np.ones(967, dtype=bool)
    small = PublicFacts(130, 1e-5, freq, released)
    found = small.smallest_accepted("reference", 1)
    assert found is not None and small.problem("reference", found) is None
    below = [e for e in EPSILON_STEPS if 1 < e < found]
    assert all(small.problem("reference", e) is not None for e in below)
    tiny = PublicFacts(10, 1e-5, np.full(50_000, 0.3), np.ones(50_000, dtype=bool))
    assert tiny.smallest_accepted("reference", 1) is None
    words = refusal(
        "why", ledger="L", left=3.0, budget=3.0, smallest=None, no_larger=tiny.no_larger_words("reference")
    )
    assert "No larger --epsilon is known to help: this check refuses every one up to 64" in words
    words = refusal("why", ledger="L", left=2.5, budget=3.0, smallest=3.0)
    assert "the smallest this check accepts, 3, is more than the 2.5 left of the site's budget of 3" in words
    words = refusal("why", ledger="L", left=12.0, budget=20.0, smallest=10.0)
    assert "--epsilon 10 or more, the smallest this check accepts" in words
    assert "epsilon 12 of the budget of 20 is left" in words
