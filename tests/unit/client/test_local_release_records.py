"""What an outside audit found missing or wrong in a hospital's records of its local releases, fixed:

1. a `--new-ledger` that moves a site's data to a ledger in another folder is written to the audit
   log of the site it leaves, and its readable line names the ledger it replaces and what it spent;
2. an audit log that cannot be appended to (a folder in its place) is refused before anything is
   computed or charged (`os.access` passed it);
3. `hospital ledger` and `hospital audit` accept a site's state folder (SITE/state);
4. a `--budget` below the site's declared budget is named as the cap that binds;
5. a synthetic batch's audit entry says whether it passed validation;
6. a generator's input digest is labelled as what it is (not a file's SHA-256), beside the
   genotypes file's own;
7. a failed batch's advice suggests no more epsilon than the site has left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.site_files import budgeted_site, synth_args, variants_args, write_small_site

from genofed.cli.main import main
from genofed.client.agent.audit import (
    LEDGER_TYPE,
    RELEASE_TYPE,
    appendable_problem,
    audit_line,
    read_audit,
)
from genofed.client.agent.high_water import _audit_spent
from genofed.client.synth_advice import SiteBudget, budget_left, failure_message, suggestions
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.util.hashing import file_sha256


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "rostov")


def _dp(epsilon: str, state: Path, *extra: str) -> list[str]:
    return ["--release", "dp", "--epsilon", epsilon, "--state-dir", str(state), *extra]


# --- 1. an override that moves the data away is in the site's own audit log --------------------


def test_a_new_ledger_elsewhere_is_written_to_the_audit_log_of_the_site_it_leaves(files, tmp_path, capsys):
    site = budgeted_site(tmp_path)
    state, other = site / "state", tmp_path / "other3"
    assert main(variants_args(files[0], tmp_path / "a.tsv", *_dp("1.5", state))) == 0
    spent = PrivacyLedger(state / LEDGER_FILE).epsilon(1e-5)
    release_time = read_audit(site / "audit.jsonl")[-1]["time"]
    moved = _dp("2.5", other, "--budget", "100", "--new-ledger", "auditor test")
    assert main(variants_args(files[0], tmp_path / "b.tsv", *moved)) == 0
    assert not (other / "audit.jsonl").exists()  # a folder that is no site's has no log

    override = read_audit(site / "audit.jsonl")[-1]
    assert override["type"] == LEDGER_TYPE and override["event"] == "new-ledger"
    assert override["reason"] == "auditor test" and override["moved_away"] is True
    assert override["state_dir"] == str(other.resolve())
    left = [r for r in override["replaced"] if r["state_dir"] == str(state.resolve())]
    assert left and left[0]["spent"]["epsilon"] == pytest.approx(spent) and left[0]["spent"]["charges"] == 1
    capsys.readouterr()
    assert main(["hospital", "audit", str(site)]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert "ledger new-ledger (hospital variants): auditor test" in line
    assert f"replaces the ledger in {state.resolve()} (site rostov, had spent epsilon {spent:.3g}" in line
    assert f"ledger now in {other.resolve()}" in line
    assert line.count("replaces the ledger in") == 1 and ";" in line  # one per ledger, not per file role
    # what the site spent before its data left still counts as spent there
    assert _audit_spent(site / "audit.jsonl") == release_time

    # moving it back: the site's line names the other ledger and what it spent
    back = _dp("0.2", state, "--new-ledger", "back to site")
    assert main(variants_args(files[0], tmp_path / "c.tsv", *back)) == 0
    assert main(["hospital", "audit", str(site)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if "back to site" in x]
    other_spent = PrivacyLedger(other / LEDGER_FILE).epsilon(1e-5)
    assert (
        f"replaces the ledger in {other.resolve()} (site other3, had spent epsilon {other_spent:.3g}"
        in (lines[0])
    )


def test_an_override_that_cannot_be_written_to_the_site_it_leaves_is_refused(files, tmp_path, capsys):
    site = budgeted_site(tmp_path)
    state = site / "state"
    assert main(variants_args(files[0], tmp_path / "a.tsv", *_dp("1", state))) == 0
    (site / "audit.jsonl").rename(tmp_path / "kept.jsonl")
    (site / "audit.jsonl").mkdir()
    moved = _dp("1", tmp_path / "other", "--budget", "100", "--new-ledger", "x")
    assert main(variants_args(files[0], tmp_path / "b.tsv", *moved)) == 2
    assert "the site's audit log cannot be appended to" in capsys.readouterr().err
    assert not (tmp_path / "other" / LEDGER_FILE).exists() and not (tmp_path / "b.tsv").exists()


# --- 2. an audit log that cannot be appended to, refused first ----------------------------------


def test_appendable_problem_opens_the_log_rather_than_asking_os_access(tmp_path):
    log = tmp_path / "audit.jsonl"
    assert appendable_problem(log) is None and list(tmp_path.iterdir()) == []  # the trial file is gone
    log.write_text("")
    assert appendable_problem(log) is None and log.read_text() == ""  # nothing written
    other = tmp_path / "dir" / "audit.jsonl"
    other.mkdir(parents=True)
    assert "it is a folder, not a regular file" in appendable_problem(other)
    assert appendable_problem(tmp_path / "new" / "deeper" / "audit.jsonl") is None  # folders are made


def test_a_folder_in_the_audit_logs_place_refuses_a_synth_before_it_trains(files, tmp_path, capsys):
    site = budgeted_site(tmp_path)
    (site / "audit.jsonl").mkdir()
    argv = synth_args(files, tmp_path / "syn", "--epsilon", "1", "--state-dir", str(site / "state"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "this site's audit log cannot be appended to (it is a folder, not a regular file)" in err
    assert not (site / "state" / LEDGER_FILE).exists() and not (tmp_path / "syn").exists()


# --- 3. the state folder for the site folder --------------------------------------------------


def test_hospital_ledger_and_audit_accept_the_sites_state_folder(files, tmp_path, capsys):
    site = budgeted_site(tmp_path)
    assert main(variants_args(files[0], tmp_path / "a.tsv", *_dp("1", site / "state"))) == 0
    capsys.readouterr()
    for command in ("ledger", "audit"):
        assert main(["hospital", command, str(site)]) == 0
        by_site = capsys.readouterr().out
        assert main(["hospital", command, str(site / "state")]) == 0
        captured = capsys.readouterr()
        assert captured.out == by_site and "hospital init" not in captured.err
    # a folder named state with no site beside it is still no site folder
    lone = tmp_path / "lone" / "state"
    lone.mkdir(parents=True)
    assert main(["hospital", "ledger", str(lone)]) == 2
    assert "is not a site folder" in capsys.readouterr().err


# --- 4. the cap that binds ---------------------------------------------------------------------


def test_a_budget_below_the_sites_is_named_as_the_cap_that_binds(files, tmp_path, capsys):
    site = budgeted_site(tmp_path, budget=4.0)
    argv = variants_args(files[0], tmp_path / "a.tsv", *_dp("1.5", site / "state", "--budget", "1.2"))
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    declared = site / "hospital.json"
    assert f"The budget that binds is --budget 1.2, below the 4 that {declared} declares." in err
    assert not (tmp_path / "a.tsv").exists()
    argv = variants_args(files[0], tmp_path / "b.tsv", *_dp("5", site / "state"))
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"The budget is the 4 that {site / 'hospital.json'} declares." in err


# --- 5 and 6. a synthetic batch's entry: its verdict, and what its digest is of -----------------


def test_a_synth_entry_says_whether_the_batch_passed_and_what_its_digest_is_of(files, tmp_path, capsys):
    site = budgeted_site(tmp_path)
    out = tmp_path / "syn"
    assert main(synth_args(files, out, "--epsilon", "1", "--state-dir", str(site / "state"))) in (0, 1)
    summary = json.loads((out / "validation.json").read_text())
    entry = [e for e in read_audit(site / "audit.jsonl") if e["type"] == RELEASE_TYPE][-1]
    assert entry["validation"] == {
        "passed": summary["passed"],
        "failed_checks": summary["failed_checks"],
        "records_written": summary["records_written"] if summary["passed"] else 0,
    }
    assert entry["genotypes_sha256"] == file_sha256(files[0])
    assert entry["input_digest"] != entry["genotypes_sha256"] and "not a file" in entry["input_digest_of"]
    line = audit_line(entry)
    assert f"genotypes file sha256 {file_sha256(files[0])[:12]}" in line
    assert f"input digest {entry['input_digest'][:12]} (of the imputed dosages" in line
    assert ("batch passed validation" if summary["passed"] else "batch FAILED validation") in line


def test_the_synth_line_of_a_failed_batch_says_nothing_was_written():
    entry = {
        "time": "t",
        "type": RELEASE_TYPE,
        "command": "synth",
        "what": "synthetic-data generator (vae)",
        "kind": "train",
        "epsilon_spent": 1.0,
        "release_delta": 1e-6,
        "epsilon": 0.995,
        "delta": 1e-6,
        "plan_id": "synth-vae-x",
        "input_digest": "a3c337df1326" + "0" * 52,
        "output": "/s/syn_e1",
        "validation": {"passed": False, "failed_checks": ["ld_correlation", "mia_auc"], "records_written": 0},
    }
    line = audit_line(entry)
    assert "batch FAILED validation (ld_correlation, mia_auc): no records written" in line
    assert "charged all the same" in line and "to /s/syn_e1" not in line
    # an entry written before the fields existed: its digest is still not called a file's sha256
    old = {k: v for k, v in entry.items() if k != "validation"}
    assert "input sha256" not in audit_line(old) and "input digest a3c337df1326" in audit_line(old)
    variants = dict(old, command="hospital variants --release dp")
    assert "input sha256 a3c337df1326" in audit_line(variants)


# --- 7. the advice stays within what the site has left ------------------------------------------


def _failed(epsilon: float | None) -> dict:
    checks = [{"name": "mia_auc", "value": 0.71, "threshold": "<= 0.6", "passed": False}]
    return {
        "passed": False,
        "failed_checks": ["mia_auc"],
        "epsilon": epsilon,
        "delta": None if epsilon is None else 1e-5,
        "generator": {"kind": "reference", "settings": {"epochs": 0}},
        "validation": {"checks": checks},
    }


def test_the_advice_never_suggests_more_epsilon_than_the_site_has_left():
    site = SiteBudget("SITE/state", budget=3.0, left=1.384)
    tip = suggestions(_failed(None), site, state_dir="SITE/state")[0]
    assert "--epsilon 1.38 --state-dir SITE/state" in tip and "epsilon 1.38 of its budget of 3 is left" in tip
    assert "--epsilon 8" not in tip
    spent = SiteBudget("SITE/state", budget=3.0, left=0.004)
    tips = suggestions(_failed(None), spent)
    assert "no new batch here: this site's budget cannot pay for another DP batch" in tips[0]
    # another generator or more epochs would make a batch without DP, refused at a finite budget
    assert len(tips) == 2 and "augmentation" in tips[1] and "--epsilon" not in " ".join(tips)
    weak_spent = dict(_failed(1.0), failed_checks=["ld_correlation", "mia_auc"])
    assert "--generator" not in " ".join(suggestions(weak_spent, spent))
    # a smaller epsilon says how much is left when that is less than this run's
    smaller = suggestions(_failed(2.0), SiteBudget("S", budget=3.0, left=1.5))[0]
    assert "a smaller --epsilon for the generator than 2" in smaller
    assert "epsilon 1.5 of its budget of 3 is left" in smaller
    # below epsilon 1 left, no new batch at all (test_synth_advice_spent_budget.py)
    assert "no new batch here" in suggestions(_failed(1.0), SiteBudget("S", budget=3.0, left=0.5))[0]
    plenty = SiteBudget("SITE/state", budget=20.0, left=15.0)
    assert "--epsilon 8 --state-dir SITE/state" in suggestions(_failed(None), plenty)[0]
    # a larger epsilon for fidelity, within what is left
    weak = dict(_failed(1.0), failed_checks=["ld_correlation"])
    tips = " ".join(suggestions(weak, SiteBudget("S", budget=3.0, left=1.0)))
    assert "beyond this site's budget" in tips and "e.g. 2" not in tips
    vae = dict(weak, generator={"kind": "vae", "settings": {"epochs": 100}})
    closed = " ".join(suggestions(vae, SiteBudget("S", budget=3.0, left=1.0)))
    assert "beyond this site's budget" in closed
    assert "only together with a larger --epsilon" not in closed  # no remedy it just said is closed
    assert "only together with a larger --epsilon" in " ".join(suggestions(vae, SiteBudget("S", 3.0, 2.5)))
    assert "e.g. 1.5" in " ".join(suggestions(weak, SiteBudget("S", budget=3.0, left=1.5)))


def test_the_failure_message_reads_what_the_site_has_left(files, tmp_path):
    site = budgeted_site(tmp_path, budget=3.0)
    state = site / "state"
    assert main(variants_args(files[0], tmp_path / "a.tsv", *_dp("1.6", state))) == 0
    left = 3.0 - PrivacyLedger(state / LEDGER_FILE).epsilon(1e-5)
    assert budget_left(str(state)).left == pytest.approx(left)
    text = failure_message(_failed(None), "out", str(state))
    assert f"--epsilon {int(left * 100) / 100:g} --state-dir {state}" in text and "--epsilon 8" not in text
    assert budget_left("") is None and budget_left(str(tmp_path / "nosite")) is None


# --- rounded summaries: exact counts, and two roundings of one cohort --------------------------


def test_a_second_rounding_of_one_cohort_and_round_to_1_are_warned(files, tmp_path, caplog):
    """panel.md advises one rounded summary per cohort: two roundings, differenced, narrow each
    count, and --round-to 1 declares the exact counts public. An audit made both without a word."""
    site = budgeted_site(tmp_path)
    state = ("--state-dir", str(site / "state"))
    with caplog.at_level("WARNING"):
        assert main(variants_args(files[0], tmp_path / "r10.tsv", *state)) == 0
        assert "already declared public rounded" not in caplog.text and "rounds nothing" not in caplog.text
        assert main(variants_args(files[0], tmp_path / "r20.tsv", *state, "--round-to", "20")) == 0
        assert "summary was already declared public rounded to 10: with this one" in caplog.text
        caplog.clear()
        assert main(variants_args(files[0], tmp_path / "r1.tsv", *state, "--round-to", "1")) == 0
        assert (
            "--round-to 1 rounds nothing: this summary declares the exact allele counts public" in caplog.text
        )
        assert "already declared public rounded to 10, 20:" in caplog.text


def test_a_release_into_a_deleted_audit_log_says_the_old_one_is_missing(files, tmp_path, caplog):
    """An audit deleted SITE/audit.jsonl and made another release: a new, empty log was started
    without a word while the ledger still listed the earlier releases."""
    site = budgeted_site(tmp_path)
    state = site / "state"
    with caplog.at_level("WARNING"):
        assert main(variants_args(files[0], tmp_path / "a.tsv", *_dp("1", state))) == 0
        assert "is missing while the ledger" not in caplog.text  # the first release starts the log
        (site / "audit.jsonl").unlink()
        assert main(variants_args(files[0], tmp_path / "b.tsv", *_dp("1", state))) == 0
    assert f"{site / 'audit.jsonl'} is missing while the ledger in {state.resolve()} holds 1 earlier" in (
        caplog.text
    )
    assert len(read_audit(site / "audit.jsonl")) == 1  # the new log holds the new release
