"""`genofed synth` (and `hospital variants --release dp`) on the real CLI path: five findings of an
outside audit of the synthetic-data commands, closed.

- 3: an existing empty `--out` that the finished batch cannot replace (a mount point, an immutable
  folder) is refused before anything is trained or charged; a failure after the charge says the
  epsilon was charged and that a rerun spends again;
- 4: an `--epsilon` too small for any noise to reach is refused as such, not as "privacy budget
  exhausted ... stop contributing", and the smallest one it names can be calibrated;
- 5: a ledger outside any site (`--state-dir DIR --budget B`) is shown by `hospital ledger DIR`,
  against the `--budget` recorded beside it, and `hospital audit DIR` points there;
- 2: a run WITHOUT DP tied to a site (its `--state-dir`, or its files bound to the site) is written
  to the site's audit log, charged nothing;
- 10: SIGTERM interrupts a run as Ctrl-C does, with the same line.

A third audit (the end of this module): `--out` the ledger's folder (or holding it) deleted the
ledger it had just charged; a larger `--budget` raised a bare ledger's recorded cap without a word;
`--budget` and `--state-dir` without DP were silently ignored.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import signal
from pathlib import Path

import pytest
from helpers.site_files import budgeted_site, synth_args, variants_args, write_small_site

import genofed.client.synth as synth_module
import genofed.client.synth_output as synth_output
from genofed.cli.main import main
from genofed.client.agent.audit import NO_DP_KIND, OUTPUT_LOST_KIND, RELEASE_TYPE, audit_line, read_audit
from genofed.client.agent.keys import init_site
from genofed.client.agent.ledger_report import BUDGET_FILE
from genofed.client.local_ledger import bound_state_dir
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "rostov")


def _charges(state: Path) -> list:
    path = state / LEDGER_FILE
    return PrivacyLedger(path).charges if path.is_file() else []


def _without_foreseen(err: str) -> str:
    """stderr without the warning a DP run at the test site's 40 patients gives before it trains
    (its checks cannot tell at that size; tested on its own below)."""
    lines = err.splitlines(keepends=True)
    foreseen = ("warning: at this size", "warning: --spend-anyway")  # and the override's own warning
    return "".join(line for line in lines if not line.startswith(foreseen))


def _releases(site: Path) -> list[dict]:
    log = site / "audit.jsonl"
    return [e for e in read_audit(log) if e["type"] == RELEASE_TYPE] if log.is_file() else []


def _never_trains(monkeypatch) -> None:
    def trained(*args, **kwargs):
        raise AssertionError("the generator trained before the refusal")

    monkeypatch.setattr(synth_module, "generate_validated", trained)


# --- 3. an --out that cannot be replaced: refused before the charge ---------------------------------


def test_an_empty_out_that_cannot_be_replaced_is_refused_before_anything_is_charged(
    files, tmp_path, monkeypatch, capsys
):
    """An empty mount point (EBUSY at the rename onto it, as an immutable folder gives EPERM) was
    refused only after the generator was trained and charged."""
    site = budgeted_site(tmp_path)
    out = tmp_path / "mounted"
    out.mkdir()
    rename = os.rename

    def busy(src, dst, *args, **kwargs):
        if Path(src) == out or Path(dst) == out:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(src))
        return rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", busy)
    _never_trains(monkeypatch)
    argv = synth_args(files, out, "--epsilon", "0.5", "--state-dir", str(site / "state"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: --out {out}: this existing folder cannot be replaced by the output (Device or resource "
        "busy: a mount point, or a folder that may be written into but not removed or renamed); give a new "
        f"folder's path instead, e.g. --out {out / 'batch'}"
    ]
    assert _charges(site / "state") == [] and _releases(site) == []
    assert out.is_dir() and sorted(p.name for p in tmp_path.iterdir() if ".probe" in p.name) == []


def test_an_empty_out_that_can_be_replaced_keeps_its_identity_through_the_check(files, tmp_path):
    """The check renames the folder away and back: the same folder (inode) stays at --out."""
    from genofed.common.util.atomic import require_replaceable_dir

    out = tmp_path / "empty"
    out.mkdir()
    inode = out.stat().st_ino
    assert require_replaceable_dir(out) == out
    assert out.stat().st_ino == inode and sorted(p.name for p in tmp_path.iterdir()) == ["empty", "rostov"]
    link = tmp_path / "link"
    link.symlink_to(out)
    with pytest.raises(Exception, match="is a symbolic link"):
        require_replaceable_dir(link)


def test_an_interrupt_during_the_check_puts_the_folder_back(tmp_path, monkeypatch):
    """Ctrl-C right after the folder was renamed away: it is renamed back all the same."""
    from genofed.common.util.atomic import require_replaceable_dir

    out = tmp_path / "empty"
    out.mkdir()
    inode, rename = out.stat().st_ino, os.rename

    def interrupted_after(src, dst, *args, **kwargs):
        rename(src, dst, *args, **kwargs)
        if Path(src) == out:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", interrupted_after)
    with pytest.raises(KeyboardInterrupt):
        require_replaceable_dir(out)
    assert out.stat().st_ino == inode and [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_a_failure_after_the_charge_says_the_epsilon_was_charged_and_a_rerun_spends_again(
    files, tmp_path, monkeypatch, capsys
):
    """The batch's final rename fails once the generator is charged (the folder filled up or was
    mounted over meanwhile): the line says the charge stands, not only "run again"."""
    site = budgeted_site(tmp_path)
    state, out = site / "state", tmp_path / "syn"
    rename = os.rename

    def busy(src, dst, *args, **kwargs):
        if str(src).endswith(".partial") and Path(dst) == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src), None, str(dst))
        return rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", busy)
    assert main(synth_args(files, out, "--epsilon", "0.5", "--state-dir", str(state))) == 2
    err = _without_foreseen(capsys.readouterr().err)
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "No space left on device" in err
    assert (
        f"nothing was written to {out}, but the generator's epsilon 0.5 WAS charged to the ledger in {state}"
        in err
    )
    assert err.rstrip().endswith("a rerun is a new release and spends epsilon again")
    assert _charges(state) and _releases(site)  # charged and audited before the write
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    # the audit log says the output its release entry named is not there (a second audit: a DPO
    # was sent to a report that was never written)
    released, lost = _releases(site)[-2:]
    assert released["kind"] == "train" and lost["kind"] == OUTPUT_LOST_KIND
    assert lost["plan_id"] == released["plan_id"] and lost["output"] == released["output"] == str(out)
    line = audit_line(lost)
    assert f"plan {released['plan_id']} NOT written to {out}" in line and "No space left on device" in line
    assert "its charge above stands" in line


# --- 4. a tiny --epsilon: too small, not "budget exhausted" -----------------------------------------


def test_a_tiny_epsilon_is_refused_as_too_small_and_the_one_it_names_can_be_calibrated(
    files, tmp_path, capsys
):
    site = budgeted_site(tmp_path, budget=5.0)
    state = site / "state"
    argv = synth_args(files, tmp_path / "o", "--epsilon", "1e-9", "--state-dir", str(state))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "exhausted" not in err and "stop contributing" not in err
    assert err.startswith(
        "error: --epsilon 1e-09 is too small to calibrate for this release: even at the largest noise "
        "genofed calibrates (noise multiplier 200), the vae generator's release is at epsilon "
    )
    assert err.rstrip().endswith("Nothing was computed, written or charged.")
    assert _charges(state) == [] and not (tmp_path / "o").exists()
    smallest = re.search(r"Give --epsilon (\S+) or more", err).group(1)
    assert main(synth_args(files, tmp_path / "o2", "--epsilon", smallest, "--state-dir", str(state))) in (
        0,
        1,
    )
    assert _charges(state)  # calibrated, trained and charged


def test_a_refused_run_binds_nothing_and_leaves_no_ledger_folder(files, tmp_path, capsys):
    """An audit: `synth --state-dir bare2 --budget 3 --epsilon 0.001`, refused as too small, had
    bound the patients to bare2, and the site's own `hospital check` was then refused ("a new
    ledger would forget the privacy already spent") although nothing was spent."""
    bare = tmp_path / "bare2"
    argv = synth_args(files, tmp_path / "o", "--epsilon", "1e-9", "--state-dir", str(bare), "--budget", "3")
    assert main(argv) == 2
    assert "is too small to calibrate" in capsys.readouterr().err
    assert not bare.exists()  # no binding, no lock file, no folder
    patients = [line.split(",")[0] for line in files[1].read_text().splitlines()[1:]]
    assert bound_state_dir(files[0]) is None and bound_state_dir(tmp_path / "x.vcf", patients) is None
    # the same files then go to another ledger unrefused, and a run that is charged binds them
    other = tmp_path / "other"
    argv = synth_args(files, tmp_path / "o2", "--epsilon", "3", "--state-dir", str(other), "--budget", "3")
    assert main(argv) in (0, 1)
    assert _charges(other) and bound_state_dir(files[0]) == other.resolve()


def test_a_tiny_epsilon_of_a_dp_variant_summary_is_refused_as_too_small_before_binding(
    files, tmp_path, capsys
):
    state = tmp_path / "own"
    argv = variants_args(
        files[0], tmp_path / "v.tsv", "--release", "dp", "--epsilon", "1e-9", "--budget", "3"
    )
    assert main([*argv, "--state-dir", str(state)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --epsilon 1e-09 is too small to calibrate for this release") and (
        "the variant summary's one Gaussian release is at epsilon" in err and "on its own" in err
    )
    assert "exhausted" not in err and not state.exists() and not (tmp_path / "v.tsv").exists()
    smallest = re.search(r"Give --epsilon (\S+) or more", err).group(1)
    argv = variants_args(files[0], tmp_path / "v.tsv", "--release", "dp", "--epsilon", smallest)
    assert main([*argv, "--budget", "3", "--state-dir", str(state)]) == 0
    assert len(_charges(state)) == 1


# --- 5. a ledger outside any site: shown, against its --budget ---------------------------------------


def test_a_ledger_outside_a_site_is_shown_against_the_budget_it_was_given(files, tmp_path, capsys):
    ledger = tmp_path / "ledgerX"
    argv = synth_args(
        files, tmp_path / "syn", "--epsilon", "0.5", "--state-dir", str(ledger), "--budget", "4"
    )
    assert main(argv) in (0, 1)
    capsys.readouterr()
    record = json.loads((ledger / BUDGET_FILE).read_text())
    assert record["budget"] == 4.0 and record["delta"] == 1e-5 and record["command"] == "synth"
    assert main(["hospital", "ledger", str(ledger)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"the ledger in {ledger}: 2 release(s) in {ledger / LEDGER_FILE}"
    assert "a ledger outside any site folder" in lines[1]
    spent = PrivacyLedger(ledger / LEDGER_FILE).epsilon(1e-5)
    assert lines[-1].startswith(
        f"spent epsilon {spent:.3g} of budget epsilon 4 at delta 1e-05 (the --budget its last DP release "
        "was given, "
    ) and lines[-1].endswith(f"; left: {4 - spent:.3g}")
    assert main(["hospital", "ledger", str(ledger), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outside_a_site"] == str(ledger) and report["budget"]["epsilon"] == 4.0
    assert report["budget"]["source"] == "--budget" and len(report["releases"]) == 2
    assert report["spent"]["left"] == pytest.approx(4 - spent)
    # a later run given another cap replaces it, the earlier one kept
    argv = synth_args(
        files, tmp_path / "syn2", "--epsilon", "0.3", "--state-dir", str(ledger), "--budget", "3"
    )
    assert main(argv) in (0, 1)
    record = json.loads((ledger / BUDGET_FILE).read_text())
    assert record["budget"] == 3.0 and [e["budget"] for e in record["earlier"]] == [4.0]
    # the audit log: none there, and the pointer says where to look instead
    capsys.readouterr()
    assert main(["hospital", "audit", str(ledger)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {ledger} is a privacy ledger's folder outside any site (releases given --state-dir "
        f"{ledger} --budget B): no audit log is kept there, only the ledger; list its releases with "
        f"`genofed hospital ledger {ledger}`"
    )


def test_the_privacy_line_names_a_ledger_outside_a_site_as_such(tmp_path):
    summary = {"epsilon": 0.5, "delta": 1e-5, "ledger_plan": "synth-x"}
    bare = synth_module.privacy_statement(summary, str(tmp_path / "ledgerX"))
    assert f"charged to the privacy ledger in {tmp_path / 'ledgerX'} (outside any site folder)" in bare
    site = budgeted_site(tmp_path)
    at_site = synth_module.privacy_statement(summary, str(site / "state"))
    assert f"charged to the site's privacy ledger in {site / 'state'} (plan synth-x)" in at_site


def test_a_site_never_checked_shows_the_budget_its_releases_were_given(files, tmp_path, capsys):
    site = tmp_path / "unchecked"
    init_site(site, "kazan")  # hospital.json declares no budget yet
    argv = synth_args(files, tmp_path / "syn", "--epsilon", "0.5", "--state-dir", str(site / "state"))
    assert main([*argv, "--budget", "2"]) in (0, 1)
    capsys.readouterr()
    assert main(["hospital", "ledger", str(site)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("hospital kazan: 2 release(s)")
    assert "of budget epsilon 2 at delta 1e-05 (the --budget its last DP release was given" in out[-1]


# --- 2. a run without DP at a site: in its audit log ------------------------------------------------


def test_a_run_without_dp_given_the_sites_state_folder_is_audited_and_charged_nothing(
    files, tmp_path, capsys
):
    site = budgeted_site(tmp_path)
    out = tmp_path / "syn"
    assert main(synth_args(files, out, "--state-dir", str(site / "state"))) in (0, 1)
    summary = json.loads((out / "validation.json").read_text())
    (entry,) = _releases(site)
    assert entry["kind"] == NO_DP_KIND and entry["command"] == "synth" and entry["epsilon_spent"] == 0.0
    assert entry["plan_id"] == "" and entry["output"] == str(out.resolve())
    assert entry["validation"]["passed"] == summary["passed"]
    assert entry["validation"]["records_written"] == summary["records_written"] * summary["passed"]
    assert _charges(site / "state") == []  # nothing charged, no ledger made
    capsys.readouterr()
    assert main(["hospital", "audit", str(site)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split(" ", 1)[1].startswith(
        "local release (synth, no DP): synthetic-data generator (vae) on genotypes.vcf; no differential "
        "privacy: the records carry the real patients; nothing charged; site epsilon=0.000 at delta 1e-05 "
        "(unchanged); input sha256 "
    )
    assert str(out.resolve()) in line and "charged all the same" not in line


def test_a_run_without_dp_on_files_bound_to_a_site_is_audited_there(files, tmp_path, capsys):
    """No --state-dir: the site is found by the binding lookup a DP run uses (here bound by a DP
    variant summary at the site)."""
    site = budgeted_site(tmp_path)
    argv = variants_args(files[0], tmp_path / "v.tsv", "--release", "dp", "--epsilon", "1")
    assert main([*argv, "--state-dir", str(site / "state")]) == 0
    charges = len(_charges(site / "state"))
    assert main(synth_args(files, tmp_path / "syn")) in (0, 1)
    kinds = [e["kind"] for e in _releases(site)]
    assert kinds == ["variants", NO_DP_KIND] and len(_charges(site / "state")) == charges


def test_a_run_without_dp_tied_to_no_site_writes_no_audit_log(files, tmp_path):
    assert main(synth_args(files, tmp_path / "syn")) in (0, 1)
    # a --state-dir that is no site's is refused without DP (third audit, 3, below)
    assert main(synth_args(files, tmp_path / "syn2", "--state-dir", str(tmp_path / "own"))) == 2
    assert not list(tmp_path.rglob("audit.jsonl")) and not (tmp_path / "own").exists()


# --- 10. SIGTERM: as Ctrl-C -----------------------------------------------------------------------


def test_sigterm_during_the_run_says_what_it_leaves_behind_as_ctrl_c(files, tmp_path, monkeypatch, capsys):
    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the run")

    monkeypatch.setattr(synth_module, "generate_validated", terminated)
    before = signal.getsignal(signal.SIGTERM)
    state, out = tmp_path / "state", tmp_path / "syn"
    assert main(synth_args(files, out, "--epsilon", "0.5", "--state-dir", str(state), "--budget", "4")) == 130
    err = _without_foreseen(capsys.readouterr().err)
    assert err == f"interrupted: nothing was written to {out}; nothing was charged to the ledger in {state}\n"
    assert signal.getsignal(signal.SIGTERM) is before  # put back after the run
    assert not out.exists() and _charges(state) == []


# --- a second audit of these commands (stop 40) -----------------------------------------------------


def _failed_without_dp() -> dict:
    """A batch without DP that failed a precise membership check: the advice turns DP on."""
    check = {"name": "mia_auc", "value": 0.7, "threshold": "<= 0.55", "passed": False}
    return {
        "passed": False,
        "failed_checks": ["mia_auc"],
        "epsilon": None,
        "generator": {"kind": "vae", "settings": {"epochs": 100}},
        "validation": {"checks": [check], "precision": []},
    }


def test_the_advice_at_a_ledger_outside_a_site_is_capped_by_its_budget(files, tmp_path):
    """An audit was told `--epsilon 2` where 0.504 of a `--budget 1.5` was left, a run then refused.
    (At 0.504 left the advice is now "no new batch here", test_synth_advice_spent_budget.py: the cap
    is tested with 2 of 3 left.)"""
    from genofed.client.synth_advice import failure_message

    bare = tmp_path / "bare"
    argv = synth_args(files, tmp_path / "o", "--epsilon", "1", "--state-dir", str(bare), "--budget", "3")
    assert main(argv) in (0, 1)
    left = 3 - PrivacyLedger(bare / LEDGER_FILE).epsilon(1e-5)
    text = failure_message(_failed_without_dp(), "out", str(bare))
    most = math.floor(left * 100) / 100
    assert f"--epsilon {most:g} --state-dir {bare} --budget 3" in text and "that ledger" in text
    assert "--epsilon 8" not in text and "this site's" not in text
    again = ["--epsilon", f"{most:g}", "--state-dir", str(bare), "--budget", "3"]
    assert main(synth_args(files, tmp_path / "o2", *again)) in (0, 1)  # the suggested command is accepted


def test_a_hospitals_batch_of_fewer_than_20_records_is_refused_before_anything_runs(files, tmp_path, capsys):
    """`--n 1` was a traceback, and 2-19 records made checks that cannot tell and a batch no site
    may train with."""
    for n in ("1", "19"):
        assert main(synth_args(files, tmp_path / f"o{n}", "--n", n)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --n must be >= 20, got {n}") and "Traceback" not in err
        assert "omit --n for as many as the real cohort" in err and not (tmp_path / f"o{n}").exists()


def test_a_failed_batch_of_a_re_exported_file_is_advised_for_its_patients_site(files, tmp_path, monkeypatch):
    """The run found the site by the patients' ids (its audit line), the advice did not."""
    import genofed.client.synth_advice as advice

    given = {}

    def recorded(summary, out, state_dir="", **kwargs):
        given.update(kwargs)
        return "advice"

    monkeypatch.setattr(advice, "failure_message", recorded)
    monkeypatch.setattr(synth_module, "synthesize", lambda *args, **kwargs: _failed_without_dp())
    assert main(synth_args(files, tmp_path / "o")) == 1
    patients = [line.split(",")[0] for line in files[1].read_text().splitlines()[1:]]
    assert given["genotypes"] == str(files[0]) and list(given["sample_ids"]) == patients


def test_a_dp_run_whose_checks_cannot_tell_is_warned_of_before_anything_is_charged(
    files, tmp_path, monkeypatch, capsys
):
    """The checks' own warning came after the epsilon was spent (first synthetic audit, finding 8);
    mia_auc's and AA_TS's standard errors follow from the sizes alone. Said once the run is sure to
    train, so a refused run says only why it was refused."""
    seen = {}
    generate = synth_module.generate_validated

    def training(*args, **kwargs):  # what the operator had been told when the spending began
        seen["said"] = capsys.readouterr().err
        return generate(*args, **kwargs)

    monkeypatch.setattr(synth_module, "generate_validated", training)
    state = budgeted_site(tmp_path) / "state"
    main(synth_args(files, tmp_path / "o", "--epsilon", "2", "--state-dir", str(state)))
    # under DP the training patients are a secret keyed split: about 32 of the 40
    sizes = re.search(
        r"warning: at this size \((\d+) training and (\d+) held-out patients, 40 records\) "
        r"mia_auc \(standard error",
        seen["said"],
    )
    assert sizes and int(sizes[1]) + int(sizes[2]) == 40, seen["said"]
    assert "epsilon 2 is charged whatever it is" in seen["said"]
    assert "Ctrl-C before the training ends charges nothing" in seen["said"] and _charges(state)
    main(synth_args(files, tmp_path / "o2"))  # without DP nothing is charged: no such warning
    assert "warning: at this size" not in seen["said"] + capsys.readouterr().err


def test_the_foreseen_warning_is_silent_where_the_checks_can_tell():
    from genofed.common.synthetic.checks.precision import foreseen_warning

    assert foreseen_warning(800, 200, 1000, epsilon=3) == ""
    assert "aats_train" in foreseen_warning(800, 200, 30, epsilon=3)  # a small batch: AA_TS on 30 records


def test_the_foreseen_warning_follows_the_runs_own_limits():
    """A check the run does not judge (its limit None) is not foreseen either, and the margin
    named is the run's own."""
    from dataclasses import replace

    from genofed.common.synthetic.checks import Thresholds
    from genofed.common.synthetic.checks.precision import foreseen_warning

    small = foreseen_warning(48, 12, 60, epsilon=3)
    assert "mia_auc" in small and "aats_train" in small and "0.05 from no leak" in small
    unjudged = replace(Thresholds(), mia_auc_max=None, aats_low=None, aats_high=None)
    assert foreseen_warning(48, 12, 60, epsilon=3, thresholds=unjudged) == ""
    only_mia = foreseen_warning(48, 12, 60, epsilon=3, thresholds=replace(unjudged, mia_auc_max=0.6))
    assert "mia_auc" in only_mia and "aats_train" not in only_mia and "0.1 from no leak" in only_mia


# --- a third audit: the ledger beside --out, its recorded cap, options without DP -------------------


def _ledger_files(state: Path) -> set[str]:
    return {p.name for p in state.iterdir()} if state.is_dir() else set()


@pytest.mark.parametrize(("out", "state"), [("z3", "z3"), ("z4", "z4/state"), ("z5/out", "z5")])
def test_an_out_that_is_or_holds_or_sits_in_the_state_dir_is_refused_before_anything(
    files, tmp_path, capsys, out, state
):
    """`--out z3 --state-dir z3` charged the ledger, then the batch's write replaced z3 whole and
    deleted the ledger; `--out z4 --state-dir z4/state` the same. Refused before anything is read."""
    argv = synth_args(
        files, tmp_path / out, "--epsilon", "1", "--budget", "3", "--state-dir", str(tmp_path / state)
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {tmp_path / out} ") and "--state-dir" in err
    assert "would delete the privacy ledger" in err and "Nothing was read, written or charged." in err
    assert not (tmp_path / out).exists() and not (tmp_path / state).exists()
    assert bound_state_dir(files[0]) is None  # nothing bound either


def test_the_out_and_state_dir_check_sees_through_links_and_dots(files, tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    argv = synth_args(files, tmp_path / "link" / "x", "--epsilon", "1", "--budget", "3")
    assert main([*argv, "--state-dir", str(tmp_path / "real" / "x" / ".." / "x")]) == 2
    assert "is the same folder as --state-dir" in capsys.readouterr().err


def test_a_ledger_already_charged_survives_a_rerun_into_its_folder(files, tmp_path, capsys):
    """The auditor's sequence: charge a ledger, then give its folder (or its parent) as --out."""
    state = tmp_path / "z4" / "state"
    argv = synth_args(files, tmp_path / "syn", "--epsilon", "1", "--budget", "3", "--state-dir", str(state))
    assert main(argv) in (0, 1)
    before, charges = _ledger_files(state), _charges(state)
    assert {LEDGER_FILE, BUDGET_FILE, "data-binding.json"} <= before and charges
    for out in (state, tmp_path / "z4"):
        argv = synth_args(files, out, "--epsilon", "1", "--budget", "3", "--state-dir", str(state))
        assert main(argv) == 2
        assert _ledger_files(state) == before and _charges(state) == charges


def test_writing_the_batch_never_removes_a_folder_holding_a_ledger(tmp_path):
    """The last guard, whatever let a ledger into --out: the batch's write is refused, the files stay."""
    out = tmp_path / "z3"
    (out / "state").mkdir(parents=True)
    (out / "state" / LEDGER_FILE).write_text("{}")
    with pytest.raises(synth_module.GenofedError, match="holds a privacy ledger's files"):
        synth_output.write_batch(out, {"failed_checks": ["x"]}, "", [], None, False, False)
    assert (out / "state" / LEDGER_FILE).read_text() == "{}"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def _spend_most_of_a_bare_ledger(files: tuple[Path, Path], tmp_path: Path) -> Path:
    state = tmp_path / "st1"
    argv = synth_args(files, tmp_path / "a1", "--epsilon", "2", "--budget", "3", "--state-dir", str(state))
    assert main(argv) in (0, 1)
    return state


def test_a_larger_budget_does_not_raise_a_bare_ledgers_recorded_cap(files, tmp_path, capsys):
    state = _spend_most_of_a_bare_ledger(files, tmp_path)
    spent = list(_charges(state))
    capsys.readouterr()
    argv = synth_args(files, tmp_path / "a3", "--epsilon", "2", "--budget", "10", "--state-dir", str(state))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --budget 10 is above the lifetime cap recorded for the privacy ledger in ")
    assert "give --raise-budget as well; otherwise give --budget 3 or less" in err
    assert _charges(state) == spent and not (tmp_path / "a3").exists()
    assert json.loads((state / BUDGET_FILE).read_text())["budget"] == 3.0


def test_a_budget_below_what_is_spent_is_refused(files, tmp_path, capsys):
    state = _spend_most_of_a_bare_ledger(files, tmp_path)
    spent = list(_charges(state))
    capsys.readouterr()
    argv = synth_args(files, tmp_path / "a4", "--epsilon", "0.5", "--budget", "1", "--state-dir", str(state))
    assert main(argv) == 2
    assert "would exceed its budget of 1" in capsys.readouterr().err
    assert _charges(state) == spent and json.loads((state / BUDGET_FILE).read_text())["budget"] == 3.0


def test_the_command_line_raises_the_cap_with_raise_budget(files, tmp_path, capsys):
    state = _spend_most_of_a_bare_ledger(files, tmp_path)
    capsys.readouterr()
    argv = synth_args(
        files,
        tmp_path / "a5",
        "--epsilon",
        "2",
        "--budget",
        "10",
        "--state-dir",
        str(state),
        "--raise-budget",
    )
    assert main(argv) in (0, 1)  # a batch written, passing its checks or not
    assert "goes from 3 to 10" in capsys.readouterr().err
    assert json.loads((state / BUDGET_FILE).read_text())["budget"] == 10.0


def test_raising_the_cap_on_purpose_says_what_changed_and_keeps_the_earlier_one(files, tmp_path):
    state = _spend_most_of_a_bare_ledger(files, tmp_path)
    said: list[str] = []
    options = synth_module.SynthOptions(
        epsilon=2,
        budget=10,
        state_dir=str(state),
        epochs=1,
        bound_to_data=True,
        raise_budget=True,
        spend_anyway=True,  # 40 patients cannot pass under DP (test_synth_cannot_pass.py)
        warn=said.append,
    )
    synth_module.synthesize(*files, tmp_path / "a3", options)
    (line,) = [w for w in said if w.startswith("--raise-budget")]
    assert f"the lifetime cap of the privacy ledger in {state.resolve()} goes from 3 to 10" in line
    record = json.loads((state / BUDGET_FILE).read_text())
    assert record["budget"] == 10.0 and [e["budget"] for e in record["earlier"]] == [3.0]
    assert len({c.plan_id for c in _charges(state)}) == 2


@pytest.mark.parametrize(
    "extra", [("--budget", "3"), ("--epsilon", "inf", "--budget", "3", "--state-dir", "stq")]
)
def test_budget_without_dp_is_refused(files, tmp_path, capsys, monkeypatch, extra):
    monkeypatch.chdir(tmp_path)
    assert main(synth_args(files, tmp_path / "o1", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --budget applies only under differential privacy")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "stq").exists()


def test_a_state_dir_without_dp_is_refused_unless_it_is_a_sites(files, tmp_path, capsys):
    assert (
        main(synth_args(files, tmp_path / "o1", "--epsilon", "inf", "--state-dir", str(tmp_path / "stq")))
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: --state-dir {tmp_path / 'stq'} applies only under differential privacy")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "stq").exists()
    site = budgeted_site(tmp_path)  # a site's: it ties the run to the site's audit log, with a note
    assert main(synth_args(files, tmp_path / "o2", "--state-dir", str(site / "state"))) in (0, 1)
    notes = [line for line in capsys.readouterr().err.splitlines() if "no --epsilon" in line]
    assert notes == [
        f"warning: no --epsilon: nothing is charged to the ledger in {site / 'state'}; this run without DP "
        f"is written to the site's audit log ({(site / 'audit.jsonl').resolve()})"
    ]
