"""A hospital's hand-run releases (`genofed synth --epsilon`, `genofed hospital variants`) obey what
its site declared in hospital.json, not only its budget (a DPO's audit: a DP variant summary took a
site's coalition epsilon from 5.99 to 7.12 over its cap of 6, and `--delta 0.01 --epsilon 3` took a
site to epsilon 11.45 at its own delta 1e-5 against a budget of 8):

- its coalition cap (`max_coalition_epsilon`): a local release counts in full against it;
- its delta: a larger `--delta` is refused, before anything is read;
- its declared cohort size is the `samples` line of its variant summary;
and a rounded variant summary without `--state-dir` is listed in the ledger its genotypes are
bound to, or warns that it is recorded in no ledger."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from helpers.site_files import synth_args, variants_args, write_small_site

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.budget import plan_round
from genofed.client.local_ledger import LocalLedger, local_ledger
from genofed.common.data.variant_summary import VariantSummary
from genofed.common.privacy.accountant import BudgetExhausted, epsilon_of
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.privacy.release import release_step
from genofed.common.synthetic.generators import planned_history


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "rostov")


def _site(tmp_path: Path, **data: float) -> Path:
    """A site folder whose hospital.json declares `data` (budget 8 at delta 1e-5 unless given)."""
    site = tmp_path / "site_rostov"
    site.mkdir()
    declared = {"epsilon_budget": 8.0, "delta": 1e-5, **data}
    (site / "hospital.json").write_text(json.dumps({"name": "rostov", "data": declared}))
    return site


def _distributed_run(state: Path) -> PrivacyLedger:
    """A distributed run like the audit's (m = 5, coalition cap 6; the run asks this site, whose
    budget is 8, for epsilon 3): epsilon 2.75 against the coordinator, 5.99 against the
    coordinator and the other sites colluding (the audit's run asked for 8: 2.17 and 5.99 while every
    site planned sqrt(m) x the cap's share, 4.48 and 5.99 beside four sites at the run's floor)."""
    state.mkdir(parents=True, exist_ok=True)
    ledger = PrivacyLedger(state / LEDGER_FILE)
    plan = {
        "plan_id": "run1",
        "num_rounds": 10,
        "sample_rate": 0.2,
        "steps_per_round": 10,
        "budget": 3.0,
        "run_epsilon": 3.0,
    }
    for r in range(1, 11):
        p = plan_round(
            ledger, server_round=r, delta=1e-5, noise_share_sites=5, max_coalition_epsilon=6.0, **plan
        )
        ledger.charge(
            Charge(
                "run1", r, p.noise_multiplier, 0.2, 10, p.epsilon_after, coalition_noise_multiplier=p.share
            )
        )
    assert ledger.epsilon(1e-5) == pytest.approx(2.75, abs=0.01)
    assert ledger.coalition_epsilon(1e-5) == pytest.approx(5.99, abs=0.01)
    return ledger


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_the_sites_declarations_are_read_from_hospital_json(tmp_path):
    site = _site(tmp_path, delta=1e-6, max_coalition_epsilon=6.0, declared_size=50)
    ledger = local_ledger(site / "state", None)
    assert (ledger.budget, ledger.delta, ledger.coalition_cap, ledger.declared_size) == (8.0, 1e-6, 6.0, 50)
    other = tmp_path / "other"
    other.mkdir()
    (other / "hospital.json").write_text(json.dumps({"name": "x", "data": {"epsilon_budget": 8.0}}))
    ledger = local_ledger(other / "state", None)  # checked by an older version, or no distributed DP
    assert ledger.delta is None and ledger.coalition_cap == float("inf") and ledger.declared_size is None
    assert local_ledger(tmp_path / "own", 3.0).delta == 1e-5  # no site's folder: the default's (at most)


def test_a_dp_variant_summary_over_the_coalition_cap_is_refused_before_anything_is_computed(
    files, tmp_path, capsys
):
    genotypes, _ = files
    site = _site(tmp_path, max_coalition_epsilon=6.0)
    _distributed_run(site / "state")
    before = sorted(p.name for p in (site / "state").iterdir())
    out = tmp_path / "v.tsv"
    state = ("--state-dir", str(site / "state"))
    argv = variants_args(genotypes, out, "--release", "dp", "--epsilon", "2", *state)
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert (
        "this site's epsilon against the coordinator and all other sites colluding is 5.99; 2 more for its "
        "variant summary would bring it to 6.43"
    ) in err and "over its cap of 6 (--max-coalition-epsilon of `genofed hospital check`, in " in err
    assert "Nothing was computed or written." in err and "The coalition cap (6) is the one" in err
    assert not out.exists() and len(PrivacyLedger(site / "state" / LEDGER_FILE).charges) == 10
    assert sorted(p.name for p in (site / "state").iterdir()) == before  # no binding either


def test_a_local_release_counts_in_full_against_the_coalition_cap(files, tmp_path, capsys):
    """Without distributed rounds the coalition epsilon is the epsilon: a cap below the budget caps
    local releases, refused once the composed total would pass it (each release's epsilon is its
    own: two of 3 compose to about 4.43, three to about 5.6)."""
    genotypes, _ = files
    site = _site(tmp_path, max_coalition_epsilon=5.0)
    state = ["--release", "dp", "--state-dir", str(site / "state")]
    assert main(variants_args(genotypes, tmp_path / "a.tsv", *state, "--epsilon", "3")) == 0
    assert main(variants_args(genotypes, tmp_path / "b.tsv", *state, "--epsilon", "3")) == 0  # 4.43 < 5
    capsys.readouterr()
    assert main(variants_args(genotypes, tmp_path / "c.tsv", *state, "--epsilon", "3")) == 2  # 5.6 > 5, < 8
    err = _one_line_error(capsys)
    assert "colluding is 4.43" in err and "3 more for its variant summary would bring it to 5.6" in err
    assert "over its cap of 5" in err and not (tmp_path / "c.tsv").exists()
    ledger = PrivacyLedger(site / "state" / LEDGER_FILE)
    assert len(ledger.charges) == 2 and "at delta 1e-05 on its own" in ledger.charges[0].note
    # the second release, on a ledger with history, got the first one's noise
    assert ledger.charges[1].noise_multiplier == pytest.approx(ledger.charges[0].noise_multiplier)
    assert ledger.coalition_epsilon(1e-5) <= 5.0


def test_the_exact_check_under_the_lock_adds_the_release_to_the_coalition_history(tmp_path):
    state = tmp_path / "site_rostov" / "state"
    ledger = _distributed_run(state)
    local = LocalLedger(state, 8.0, tmp_path / "site_rostov" / "hospital.json", coalition_cap=6.0)
    assert local.check_spend(ledger, 2.0, 1e-5, purpose="x", refused="No.") == pytest.approx(4.75, abs=0.01)
    with pytest.raises(
        BudgetExhausted, match=r"is 5\.99; 2 more for x would bring it to 7\.97, over its cap of 6 .*No\.$"
    ):
        local.check_coalition(ledger, [release_step(1.0)], 1e-5, epsilon=2.0, purpose="x", refused="No.")
    uncapped = LocalLedger(state, 8.0, None)
    assert uncapped.check_coalition(ledger, [release_step(1.0)], 1e-5, epsilon=2.0, purpose="x", refused="")
    assert uncapped.check_spend(ledger, 2.0, 1e-5, purpose="x", refused="") == pytest.approx(4.75, abs=0.01)


def test_synth_over_the_coalition_cap_is_refused_before_the_generator_trains(
    files, tmp_path, capsys, monkeypatch
):
    site = _site(tmp_path, max_coalition_epsilon=6.0)
    _distributed_run(site / "state")

    def no_training(*args, **kwargs):
        raise AssertionError("the generator trained")

    monkeypatch.setattr(synth_module, "generate_validated", no_training)
    out = tmp_path / "syn"
    assert main(synth_args(files, out, "--epsilon", "2", "--state-dir", str(site / "state"))) == 2
    err = _one_line_error(capsys)
    # the total depends on the generator's public training rows (32 of the 40 patients' size); its
    # noise is that of a release of epsilon 2 on its own, whatever the ledger holds
    assert re.search(r"colluding is 5\.99; 2 more for the generator would bring it to 6\.\d\d", err), err
    assert "over its cap of 6" in err and "Nothing was computed or written." in err
    assert not out.exists() and len(PrivacyLedger(site / "state" / LEDGER_FILE).charges) == 10


@pytest.mark.parametrize("generator", ["vae", "gan"])
def test_the_steps_synth_checks_are_the_steps_it_trains(files, tmp_path, generator, monkeypatch):
    """`planned_history`, checked against the cap before training, is what the training charges:
    both on the public training rows (the 40 patients' declared share, validation.json's
    `dp_sampling`), not the keyed split's actual count."""
    options = synth_module.SynthOptions(
        epsilon=3.0, state_dir=str(tmp_path / "s"), budget=8.0, epochs=2, generator=generator
    )
    summary = synth_module.synthesize(*files, tmp_path / "syn", options)
    charges = PrivacyLedger(tmp_path / "s" / LEDGER_FILE).charges
    rows = summary["dp_sampling"]["rows"]
    assert rows == 32
    count_noise, sigma = charges[0].noise_multiplier, charges[1].noise_multiplier
    planned = planned_history(generator, rows, options.settings(), sigma, count_noise)
    np.testing.assert_allclose(np.array([c.step for c in charges]), np.array(planned), rtol=1e-12)
    assert epsilon_of(planned, 1e-5) == pytest.approx(
        PrivacyLedger(tmp_path / "s" / LEDGER_FILE).epsilon(1e-5)
    )


def test_a_delta_above_the_sites_is_refused_before_anything_is_read(files, tmp_path, capsys):
    genotypes, _ = files
    site = _site(tmp_path)
    state = ["--state-dir", str(site / "state")]
    missing = tmp_path / "none.vcf"  # not even read
    argv = variants_args(
        missing, tmp_path / "v.tsv", "--release", "dp", "--epsilon", "3", "--delta", "0.01", *state
    )
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert "--delta 0.01 is above the delta this hospital accepts (1e-05, declared in " in err
    assert "by `genofed hospital check --delta`" in err and "Give --delta 1e-05 or smaller." in err
    assert main(synth_args(files, tmp_path / "syn", "--epsilon", "3", "--delta", "0.01", *state)) == 2
    assert "--delta 0.01 is above the delta this hospital accepts" in _one_line_error(capsys)
    assert not (site / "state").exists() and not (tmp_path / "syn").exists()
    # a smaller delta checks the ledger more strictly: accepted; a rounded release spends nothing
    assert (
        main(
            variants_args(
                genotypes, tmp_path / "a.tsv", "--release", "dp", "--epsilon", "1", "--delta", "1e-6", *state
            )
        )
        == 0
    )
    assert main(variants_args(genotypes, tmp_path / "b.tsv", "--delta", "0.01", *state)) == 0


def test_outside_a_site_a_ledger_keeps_the_delta_of_its_first_release(files, tmp_path, capsys):
    """A bare ledger (--state-dir DIR --budget 3) took releases at delta 0.3 and 0.5, each checked
    at its own delta where the history is worth less: epsilon 10.6 at 1e-5 against the cap of 3,
    and one at 0.9 recorded a negative epsilon that made the ledger unreadable (a privacy review).
    The ledger's smallest delta now holds for every later release, as a site's declared one does."""
    genotypes, _ = files
    state = ["--state-dir", str(tmp_path / "bare"), "--budget", "3"]
    first = variants_args(genotypes, tmp_path / "a.tsv", "--release", "dp", "--epsilon", "1", *state)
    assert main(first) == 0
    capsys.readouterr()
    for delta in ("0.3", "0.9"):
        out = tmp_path / f"{delta}.tsv"
        later = variants_args(genotypes, out, "--release", "dp", "--epsilon", "1", "--delta", delta, *state)
        assert main(later) == 2
        err = _one_line_error(capsys)
        assert f"--delta {delta} is above the delta this ledger holds (1e-05" in err
        assert "Give --delta 1e-05 or smaller." in err and not out.exists()
    ledger = PrivacyLedger(tmp_path / "bare" / LEDGER_FILE)
    assert len(ledger.charges) == 1 and ledger.epsilon(1e-5) <= 3.0


def test_outside_a_site_a_first_release_keeps_the_default_delta_and_a_smaller_one_holds(
    files, tmp_path, capsys
):
    """A first release at delta 0.9 alone would reach epsilon 30 at 1e-5 under a cap of 3 (a review
    of the fix above): a ledger outside a site takes at most the default delta; and once its
    releases used a smaller one, a release given no --delta uses that, not a refused default."""
    genotypes, _ = files
    fresh = ["--state-dir", str(tmp_path / "fresh"), "--budget", "3"]
    first = variants_args(
        genotypes, tmp_path / "f.tsv", "--release", "dp", "--epsilon", "1", "--delta", "0.9"
    )
    assert main([*first, *fresh]) == 2
    assert "--delta 0.9 is above the delta this ledger holds (1e-05" in _one_line_error(capsys)
    # a ledger whose releases used a smaller delta gives it to a release given none
    smaller = variants_args(
        genotypes, tmp_path / "s.tsv", "--release", "dp", "--epsilon", "1", "--delta", "1e-6"
    )
    assert main([*smaller, *fresh]) == 0
    capsys.readouterr()
    assert (
        main([*variants_args(genotypes, tmp_path / "d.tsv", "--release", "dp", "--epsilon", "1"), *fresh])
        == 0
    )
    deltas = [c.delta for c in PrivacyLedger(tmp_path / "fresh" / LEDGER_FILE).charges]
    assert deltas == [1e-6, 1e-6]


def test_no_history_has_a_negative_epsilon():
    assert epsilon_of([(0.744, 1.0, 1), (2.0, 1.0, 1)], 0.9) >= 0.0


def test_the_summary_states_the_sites_declared_size(files, tmp_path, monkeypatch):
    genotypes, _ = files
    site = _site(tmp_path, declared_size=50)  # 40 patients; declared public: 50
    assert main(variants_args(genotypes, tmp_path / "a.tsv", "--state-dir", str(site / "state"))) == 0
    assert VariantSummary.load(tmp_path / "a.tsv").samples == 50
    # the genotypes bound to no site: an index and a registry of their own (another GENOFED_HOME
    # alone reads this one's bindings: tests/unit/client/agent/test_ledger_indexes.py)
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "another-index"))
    monkeypatch.setenv("GENOFED_INDEX_REGISTRY", str(tmp_path / "another-index" / "indexes.json"))
    assert main(variants_args(genotypes, tmp_path / "b.tsv")) == 0  # its own count, rounded
    assert VariantSummary.load(tmp_path / "b.tsv").samples == 40


def test_a_rounded_summary_without_state_dir_goes_to_its_genotypes_ledger_or_says_it_is_in_none(
    files, tmp_path, caplog
):
    genotypes, _ = files
    caplog.set_level(logging.WARNING, logger="genofed.client.variant_release")
    assert main(variants_args(genotypes, tmp_path / "a.tsv")) == 0  # bound to no ledger yet
    assert "this variant summary is recorded in no privacy ledger" in caplog.text
    assert "--state-dir SITE/state" in caplog.text
    caplog.clear()

    site = _site(tmp_path, declared_size=50)
    dp = ["--release", "dp", "--epsilon", "1", "--state-dir", str(site / "state")]
    assert main(variants_args(genotypes, tmp_path / "b.tsv", *dp)) == 0  # binds the genotypes to site/state
    caplog.clear()
    assert main(variants_args(genotypes, tmp_path / "c.tsv")) == 0
    assert "listed in the privacy ledger these genotypes are bound to, in" in caplog.text
    assert str(site / "state") in caplog.text and "no privacy ledger" not in caplog.text
    kinds = [c.kind for c in PrivacyLedger(site / "state" / LEDGER_FILE).charges]
    assert kinds == ["variants", DECLARED_PUBLIC]
    assert VariantSummary.load(tmp_path / "c.tsv").samples == 50  # the site's declared size
