"""`genofed synth`: a site's validated synthetic cohort, and the generator charged to its ledger."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import pytest
from helpers.site_files import spend_anyway

import genofed.client.synth as synth_module
import genofed.client.synth_output as synth_output
from genofed.cli.main import main
from genofed.common.data.readers import read_genotypes, read_phenotypes
from genofed.common.data.readers.vcf import read_vcf
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.synthetic.checks import Thresholds

PERMISSIVE = Thresholds(
    af_correlation_min=-1.0,
    ld_correlation_min=-1.0,
    aats_low=0.0,
    aats_high=1.0,
    privacy_loss_max=1.0,
    exact_copies_max=10**6,
    mia_auc_max=1.0,
    spurious_rate_max=1.0,
    association_recall_min=None,
    pca_mixing_min=None,
    fidelity_limits="fixed",  # no real-sample band either
)


@pytest.fixture(scope="module")
def site(simulated_cohorts) -> tuple[Path, Path]:
    fed = simulated_cohorts(5)  # read only: generated cohorts and ledgers go to tmp_path
    return fed / "rostov" / "genotypes.vcf.gz", fed / "rostov" / "phenotypes.csv"


def _args(site, out, *extra, epochs: str | None = "5") -> list[str]:
    defaults = [] if "--epochs" in extra or epochs is None else ["--epochs", epochs]
    return [
        "synth",
        "--genotypes",
        str(site[0]),
        "--phenotypes",
        str(site[1]),
        "--out",
        str(out),
        *defaults,
        *extra,
        *spend_anyway(extra),  # these sites cannot pass under DP: refused before the charge otherwise
    ]


def test_a_failed_batch_writes_the_report_but_no_records(site, tmp_path, capsys):
    """100 patients and 5 epochs cannot reproduce LD: the checks must say so, and nothing usable is
    written."""
    out = tmp_path / "out"
    assert main(_args(site, out)) == 1
    summary = json.loads((out / "validation.json").read_text())
    assert summary["passed"] is False and summary["failed_checks"] and summary["records_written"] == 0
    assert not (out / "genotypes.vcf.gz").exists() and not (out / "phenotypes.csv").exists()
    assert "NOT written" in (out / "report.md").read_text()
    assert "FAILED validation" in capsys.readouterr().out


def test_a_passing_batch_is_written_as_files_the_loaders_read(site, tmp_path, monkeypatch):
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=PERMISSIVE)
    )
    out = tmp_path / "out"
    assert main(_args(site, out, "--n", "50")) == 0
    summary = json.loads((out / "validation.json").read_text())
    genotypes = read_genotypes(out / "genotypes.vcf.gz")
    phenotypes = read_phenotypes(out / "phenotypes.csv")
    assert genotypes.n_samples == summary["records_written"] == 50 - summary["records_dropped_as_too_close"]
    assert phenotypes.sample_ids == genotypes.sample_ids and set(phenotypes.labels) <= {0, 1}
    assert genotypes.variant_ids == read_genotypes(site[0]).variant_ids
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    # the simulated hospital's VCF is fully phased: the generator modelled haplotypes and wrote them phased
    assert summary["generator"]["phased"] is True
    assert read_vcf(out / "genotypes.vcf.gz", haplotypes=True).unphased_heterozygous == 0


def test_phase_ignore_models_dosages_and_writes_unphased_calls(site, tmp_path, monkeypatch):
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=PERMISSIVE)
    )
    out = tmp_path / "out"
    assert main(_args(site, out, "--n", "30", "--phase", "ignore", "--temperature", "0.7")) == 0
    summary = json.loads((out / "validation.json").read_text())
    assert summary["generator"]["phased"] is False and "ignore" in summary["generator"]["modelled"]
    assert summary["generator"]["temperature"] == 0.7
    written = read_vcf(out / "genotypes.vcf.gz", haplotypes=True)
    assert written.unphased_heterozygous == int((written.dosages == 1).sum()) > 0


def test_dp_generator_is_charged_to_the_site_ledger_and_the_budget_is_enforced(site, tmp_path, capsys):
    state = tmp_path / "state"
    main(_args(site, tmp_path / "a", "--epsilon", "2", "--state-dir", str(state), "--budget", "8"))
    ledger = PrivacyLedger(state / LEDGER_FILE)
    assert ledger.charges and "generator" in ledger.charges[0].note
    spent = ledger.epsilon(1e-5)
    assert 1.5 < spent <= 2.0 + 1e-6
    capsys.readouterr()
    # a release of epsilon 2 on its own composes with the 2 spent to about 2.9 (RDP adds less than
    # 2): over a lifetime cap of 2.5, refused before training, nothing written, nothing charged
    assert (
        main(_args(site, tmp_path / "b", "--epsilon", "2", "--state-dir", str(state), "--budget", "2.5")) == 2
    )
    assert "would bring its total to" in (err := capsys.readouterr().err) and "exceed its budget" in err
    assert not (tmp_path / "b").exists()
    assert PrivacyLedger(state / LEDGER_FILE).epsilon(1e-5) == pytest.approx(spent)


def test_the_same_patients_in_a_fresh_state_folder_are_no_fresh_budget(site, tmp_path, capsys):
    """The ledger is bound to the files it paid for: a second folder would reset their budget."""
    main(
        _args(site, tmp_path / "a", "--epsilon", "2", "--state-dir", str(tmp_path / "state"), "--budget", "8")
    )
    capsys.readouterr()
    fresh = ["--epsilon", "2", "--state-dir", str(tmp_path / "fresh"), "--budget", "8"]
    assert main(_args(site, tmp_path / "b", *fresh)) == 2
    assert "already has a privacy ledger in" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "fresh" / LEDGER_FILE).exists()
    # the override is deliberate: a reason, and then the new ledger is the files' ledger (the tiny
    # generator's batch fails validation, exit 1: what matters here is that it trained and was charged)
    assert main(_args(site, tmp_path / "c", *fresh, "--new-ledger", "restored after disk loss")) == 1
    assert PrivacyLedger(tmp_path / "fresh" / LEDGER_FILE).charges


def test_dp_without_a_ledger_and_a_used_folder_are_refused(site, tmp_path, capsys):
    assert main(_args(site, tmp_path / "x", "--epsilon", "2")) == 2
    assert "--state-dir" in capsys.readouterr().err
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    assert main(_args(site, used)) == 2
    assert (used / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--n", "-1"], "--n must be"),
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--epsilon", "0", "--state-dir", "s"], "--epsilon must be > 0"),
        (["--temperature", "0"], "--temperature must be > 0"),
        (["--generator", "gan", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    ],
)
def test_bad_options_are_one_line_errors(site, tmp_path, capsys, option, message):
    assert main(_args(site, tmp_path / "o", *option)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def _reference_args(site, out, *extra) -> list[str]:
    """`genofed synth --generator reference` with the simulated federation's public panel (no
    default epochs: the reference generator trains none)."""
    panel = site[0].parent.parent / "reference"
    return _args(
        site,
        out,
        "--generator",
        "reference",
        "--reference",
        str(panel / "genotypes.vcf.gz"),
        "--reference-populations",
        str(panel / "samples.tsv"),
        *extra,
        epochs=None,
    )


def test_reference_generator_charges_one_release_and_writes_phased_mosaics(site, tmp_path, monkeypatch):
    """The reference generator's whole cost is one Gaussian release at the requested epsilon; its
    records are phased copies of the public panel, written when the (permissive) checks pass."""
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=PERMISSIVE)
    )
    state, out = tmp_path / "state", tmp_path / "out"
    cap = ["--budget", "8"]
    assert (
        main(_reference_args(site, out, "--epsilon", "3", "--state-dir", str(state), "--n", "40", *cap)) == 0
    )
    ledger = PrivacyLedger(state / LEDGER_FILE)
    assert [(c.sample_rate, c.steps) for c in ledger.charges] == [(1.0, 1)]
    assert 2.9 < ledger.epsilon(1e-5) <= 3.0 + 1e-6
    summary = json.loads((out / "validation.json").read_text())
    reference = summary["generator"]["reference"]
    assert reference["coverage"] == 1.0 and reference["panel_haplotypes"] > 0
    assert abs(sum(reference["population_mix"].values()) - 1) < 1e-9
    assert read_vcf(out / "genotypes.vcf.gz", haplotypes=True).unphased_heterozygous == 0

    # The same command again (another --out) is a new release with fresh noise: charged again,
    # never replacing the first one's charge (an audit saw a rerun at another epsilon whose noise
    # came out the same replace it, and the ledger undercount)
    args = ["--epsilon", "1", "--state-dir", str(state), "--n", "40", *cap]
    assert main(_reference_args(site, tmp_path / "again", *args)) == 0
    ledger = PrivacyLedger(state / LEDGER_FILE)
    assert len(ledger.charges) == 2 and len({c.plan_id for c in ledger.charges}) == 2
    assert ledger.epsilon(1e-5) > 3.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "3"], "--epochs"),
        (["--temperature", "0.7"], "--temperature applies to the VAE and GAN only"),
    ],
)
def test_reference_generator_refuses_options_it_cannot_honour(site, tmp_path, capsys, extra, message):
    assert main(_reference_args(site, tmp_path / "o", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_reference_options_need_each_other(site, tmp_path, capsys):
    assert main(_args(site, tmp_path / "o", "--generator", "reference")) == 2
    assert "--generator reference needs --reference" in capsys.readouterr().err
    assert main(_args(site, tmp_path / "o", "--reference", "panel.vcf.gz")) == 2
    assert "apply to --generator reference only" in capsys.readouterr().err


def _permissive(monkeypatch) -> None:
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=PERMISSIVE)
    )


def test_a_passing_batch_without_dp_says_it_has_no_privacy_bound_and_must_stay_inside(
    site, tmp_path, monkeypatch, capsys
):
    """An audit: "validation passed" and "Synthetic batch: PASSED" next to passing privacy checks
    read as "safe to share" although no DP was used."""
    _permissive(monkeypatch)
    out = tmp_path / "out"
    assert main(_reference_args(site, out, "--n", "30")) == 0
    printed = capsys.readouterr().out
    assert "validation passed" in printed and "NO differential privacy" in printed
    assert "no formal bound" in printed and "keep them inside the hospital" in printed
    report = (out / "report.md").read_text()
    header = report.split("Synthetic batch:")[0]  # said before the verdict and its table
    assert "NO differential privacy" in header and "inside the hospital" in header


def test_a_passing_dp_batch_states_the_epsilon_it_spent(site, tmp_path, monkeypatch, capsys):
    _permissive(monkeypatch)
    state, out = tmp_path / "state", tmp_path / "out"
    args = ["--epsilon", "3", "--state-dir", str(state), "--budget", "8", "--n", "30"]
    assert main(_reference_args(site, out, *args)) == 0
    printed = capsys.readouterr().out
    assert "differential privacy: the generator spent epsilon 3 (delta 1e-05)" in printed
    assert f"ledger in {state}" in printed and "NO differential privacy" not in printed
    header = (out / "report.md").read_text().split("Synthetic batch:")[0]
    assert "spent epsilon 3" in header and "NO differential privacy" not in header


def test_privacy_checks_that_cannot_tell_are_warned_of_in_the_terminal_and_the_report(
    site, tmp_path, monkeypatch, capsys
):
    """At the test site's size the privacy checks' standard errors exceed their margins
    (`checks.precision`): warned of, not refused, wherever the verdict is read."""
    defaults = Thresholds()  # the real privacy limits, whose margins the errors are judged by
    judged = dataclasses.replace(
        PERMISSIVE, privacy_loss_max=defaults.privacy_loss_max, mia_auc_max=defaults.mia_auc_max
    )
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=judged)
    )
    out = tmp_path / "out"
    assert main(_reference_args(site, out, "--n", "30")) in (0, 1)  # a pass or a fail: both warned
    summary = json.loads((out / "validation.json").read_text())
    assert any(not p["can_tell"] for p in summary["validation"]["precision"])
    err = capsys.readouterr().err
    assert "warning: too few patients for the privacy checks to tell at this size" in err
    assert "standard error" in err
    assert summary["warnings"] and "only redraws the noise" in summary["warnings"][0]
    assert "**Warning:** too few patients for the privacy checks to tell" in (out / "report.md").read_text()


def test_an_interrupt_during_training_says_nothing_was_written_or_charged(
    site, tmp_path, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_module, "generate_validated", interrupted)
    state, out = tmp_path / "state", tmp_path / "out"
    assert (
        main(_reference_args(site, out, "--epsilon", "3", "--state-dir", str(state), "--budget", "8")) == 130
    )
    err = capsys.readouterr().err
    assert (
        "interrupted: nothing was written" in err and f"nothing was charged to the ledger in {state}" in err
    )
    assert not out.exists()
    assert main(_reference_args(site, tmp_path / "plain")) == 130
    assert "no privacy ledger is involved without --epsilon" in capsys.readouterr().err


def test_an_interrupt_while_writing_says_the_charge_was_made(site, tmp_path, monkeypatch, capsys):
    """The charge is made under the ledger lock before anything is written: an interrupt then has
    still spent the epsilon, and says so."""
    _permissive(monkeypatch)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_output, "write_vcf", interrupted)
    state, out = tmp_path / "state", tmp_path / "out"
    args = ["--epsilon", "3", "--state-dir", str(state), "--budget", "8", "--n", "30"]
    assert main(_reference_args(site, out, *args)) == 130
    err = capsys.readouterr().err
    assert "nothing was written" in err and "WAS charged" in err
    assert not out.exists() and PrivacyLedger(state / LEDGER_FILE).charges


def test_the_site_s_own_file_as_the_panel_is_refused_before_any_charge(site, tmp_path, capsys):
    """Mosaics of the patients themselves would be near copies that the privacy checks, whose
    held-out patients would be in the panel too, cannot see; under DP the release's guarantee
    assumes a public panel. Refused before the generator is charged."""
    state = tmp_path / "state"
    args = [
        "--generator",
        "reference",
        "--reference",
        str(site[0]),
        "--epsilon",
        "2",
        "--state-dir",
        str(state),
        "--budget",
        "8",
    ]
    assert main(_args(site, tmp_path / "o", *args, epochs=None)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "sample ids of this site's patients" in err
    assert not (tmp_path / "o").exists()
    assert not (state / LEDGER_FILE).exists() or not PrivacyLedger(state / LEDGER_FILE).charges


def test_an_unwritable_out_is_refused_before_the_generator_is_charged(site, tmp_path, capsys, monkeypatch):
    from helpers.read_only import make_read_only

    mounted = tmp_path / "mounted"
    mounted.mkdir()
    make_read_only(monkeypatch, mounted)
    state = tmp_path / "state"
    assert (
        main(_args(site, mounted / "syn", "--epsilon", "2", "--state-dir", str(state), "--budget", "8")) == 2
    )
    assert "cannot write in" in capsys.readouterr().err
    assert not (state / LEDGER_FILE).exists() or not PrivacyLedger(state / LEDGER_FILE).charges
