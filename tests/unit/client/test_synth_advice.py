"""A failed `genofed synth` says which checks failed, whether privacy protection was on, and what
to try next, derived from which checks failed."""

from __future__ import annotations

from genofed.client.synth_advice import failure_message, suggestions


def _summary(failed: list[str], *, epsilon: float | None, kind: str = "vae", epochs: int = 200, aats=0.6):
    values = {
        "ld_correlation": (0.41, ">= 0.6"),
        "mia_auc": (0.71, "<= 0.6"),
        "aats_train": (aats, "in [0.45, 0.55]"),
    }
    checks = [
        {"name": n, "value": v, "threshold": t, "passed": n not in failed} for n, (v, t) in values.items()
    ]
    return {
        "passed": False,
        "failed_checks": failed,
        "epsilon": epsilon,
        "delta": None if epsilon is None else 1e-5,
        "generator": {"kind": kind, "settings": {"epochs": epochs}},
        "validation": {"checks": checks},
    }


def test_a_weak_copy_without_dp_says_privacy_was_off_and_suggests_training_more():
    text = failure_message(_summary(["ld_correlation"], epsilon=None), "out")
    assert "FAILED validation" in text and "out/report.md" in text
    assert "ld_correlation 0.41 (needs >= 0.6)" in text
    assert "privacy protection was OFF" in text
    assert "--epochs 400 (this run: 200)" in text and "--generator gan" in text
    assert "--epsilon" not in text.split("try next")[1]  # no privacy knob to loosen without DP
    assert "augment" in text


def test_under_dp_the_message_names_epsilon_the_ledger_charge_and_a_larger_budget():
    text = failure_message(_summary(["ld_correlation"], epsilon=2.0, kind="gan"), "out", "state")
    assert "privacy protection was ON" in text and "epsilon 2" in text and "ledger in state" in text
    assert "a larger --epsilon for the generator, e.g. 4" in text and "--generator vae" in text


def test_memorised_samples_ask_for_privacy_protection_or_less_training():
    tips = " ".join(suggestions(_summary(["mia_auc"], epsilon=None)))
    # no site known: no epsilon named that a site's budget might refuse (an audit: --epsilon 8 at budget 3)
    assert "turn privacy protection on: --epsilon E --state-dir SITE/state, with E at most" in tips
    assert "`genofed hospital ledger SITE`" in tips and "--epsilon 8" not in tips and "--epochs 100" in tips
    assert "--epochs 400" not in tips
    under_dp = " ".join(suggestions(_summary(["mia_auc"], epsilon=4.0)))
    assert "a smaller --epsilon for the generator than 4" in under_dp


def test_aats_counts_by_the_side_of_its_band_it_fell():
    too_close = " ".join(suggestions(_summary(["aats_train"], epsilon=None, aats=0.3)))
    too_far = " ".join(suggestions(_summary(["aats_train"], epsilon=None, aats=0.8)))
    assert "turn privacy protection on" in too_close and "--epochs 400" not in too_close
    assert "--epochs 400" in too_far and "turn privacy protection on" not in too_far


def test_a_linkage_failure_points_to_the_reference_generator_once():
    assert any(
        "--generator reference --reference" in tip
        for tip in suggestions(_summary(["ld_correlation"], epsilon=None))
    )
    assert not any("reference" in tip for tip in suggestions(_summary(["mia_auc"], epsilon=None)))
    own = suggestions(_summary(["ld_correlation"], epsilon=3.0, kind="reference", epochs=0))
    assert not any("--generator reference" in tip for tip in own)
    assert any("other generators: --generator vae or --generator gan (this run: reference)" in t for t in own)
    assert not any("--epochs" in tip for tip in own)  # it trains no epochs


def test_a_batch_both_too_close_and_too_weak_gets_privacy_first_and_no_knob_pulled_both_ways():
    """An audit saw "--epochs 400" next to "--epochs 100", and a larger next to a smaller --epsilon."""
    for epsilon in (None, 3.0):
        tips = suggestions(_summary(["ld_correlation", "mia_auc"], epsilon=epsilon))
        text = " ".join(tips)
        assert tips[0].startswith("first the privacy checks")
        assert "--epochs" not in text  # neither more nor less training
        assert not ("a larger --epsilon" in text and "a smaller --epsilon" in text)
        assert "a larger --epsilon" not in text  # fidelity is not bought by loosening privacy
        assert any(
            tip.startswith("then, if fidelity still fails") and "--generator gan" in tip for tip in tips
        )
    assert (
        "turn privacy protection on" in suggestions(_summary(["mia_auc", "ld_correlation"], epsilon=None))[0]
    )
    assert (
        "a smaller --epsilon for the generator than 3"
        in suggestions(_summary(["mia_auc", "ld_correlation"], epsilon=3.0))[0]
    )


def test_more_epochs_under_dp_says_it_means_more_noise_per_step_at_the_same_epsilon():
    tips = suggestions(_summary(["ld_correlation"], epsilon=2.0))
    assert tips[0].startswith("a larger --epsilon")  # the direct remedy for DP's noise comes first
    epochs = [tip for tip in tips if "--epochs" in tip]
    assert len(epochs) == 1 and "only together with a larger --epsilon" in epochs[0]
    assert "more noise" in epochs[0]
    assert not any(tip.startswith("more training: --epochs") for tip in tips)  # never bare


def test_the_message_numbers_the_tips_in_order_of_preference():
    text = failure_message(_summary(["ld_correlation"], epsilon=None), "out")
    assert "try next (most preferred first):" in text
    assert "    1. more training: --epochs 400" in text and "    2. the other generator" in text


def test_a_privacy_failure_that_cannot_tell_at_this_size_says_so_first():
    """Judged by the check's standard error (`checks.precision`), not by the held-out count."""
    loose = {"name": "mia_auc", "value": 0.71, "standard_error": 0.06, "margin": 0.05, "can_tell": False}
    small = _summary(["mia_auc"], epsilon=None, kind="reference")
    small["validation"].update(precision=[loose], n_train=16, n_holdout=4)
    tips = suggestions(small)
    assert tips[0].startswith("read mia_auc as undecided")  # first: it qualifies the remedies after it
    assert "turn privacy protection on" in tips[1] and "may fail again by chance" in tips[1]
    large = _summary(["mia_auc"], epsilon=None)
    large["validation"]["precision"] = [{**loose, "standard_error": 0.02, "can_tell": True}]
    assert not any("undecided" in tip for tip in suggestions(large))
    weak = _summary(["ld_correlation"], epsilon=None)
    weak["validation"]["precision"] = [loose]
    assert not any("undecided" in tip for tip in suggestions(weak))  # only failed privacy checks


def test_turning_dp_on_is_not_advised_where_synth_would_refuse_the_dp_batch():
    """A failed batch without DP was told "turn privacy protection on: --epsilon 8 ...", which
    `synth` then refuses before any charge at a hospital's size (`synth_feasibility.cannot_pass`):
    the advice says so instead; a cohort larger than the measured sizes is still advised DP."""
    small = _summary(["mia_auc"], epsilon=None)
    small["validation"].update(n_train=104, n_holdout=26)
    tips = suggestions(small)
    assert not any("turn privacy protection on" in tip for tip in tips)
    assert any(tip.startswith("privacy protection cannot make a passing batch here") for tip in tips)
    assert any("--spend-anyway" in tip and "augmentation" in tip for tip in tips)
    large = _summary(["mia_auc"], epsilon=None)
    large["validation"].update(n_train=1600, n_holdout=400)
    assert any("turn privacy protection on" in tip for tip in suggestions(large))
