"""Three privacy-accounting gaps of a hospital's local releases (`genofed synth --epsilon`, `genofed
hospital variants`, and the numbers it declares public), closed:

- `--delta` defaults to the site's own delta (hospital.json, `hospital check --delta`) when
  `--state-dir` is a site's state folder, else 1e-5: a site that declared a smaller delta was
  refused the old default of 1e-5 unless its operator typed its delta again; a larger `--delta` is
  still refused;
- every ledger charge records the delta it was calibrated at (local releases, declared-public
  entries and the federated rounds), and a ledger written without it still loads;
- at a site, each local release is written to the site's audit log (SITE/audit.jsonl) beside the
  rounds, and `genofed hospital audit` lists it; outside a site's folder nothing is written to any
  audit log.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers.site_files import synth_args, variants_args, write_small_site

from genofed.cli.main import main
from genofed.client.agent.audit import RELEASE_TYPE, append_entry, read_audit
from genofed.client.agent.high_water import _audit_spent
from genofed.client.agent.keys import init_site
from genofed.client.local_ledger import DEFAULT_DELTA, default_delta
from genofed.client.synthetic_use import VERDICT_DIGEST, declare_verdict
from genofed.common.data.variant_summary import VariantSummary
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger

#: A round as the agent's audit mod logs it (client/agent/audit.py's `audit_entry`), for the log the
#: local releases are written beside.
ROUND = {
    "time": "2026-12-03T18:01:56.000+00:00",
    "run": 1,
    "round": 1,
    "type": "train",
    "reply_to": "m1",
    "destination": "coordinator",
    "status": "ok",
    "records": [{"name": "arrays", "kind": "arrays", "keys": 1, "bytes": 12, "sha256": "ab" * 32}],
    "bytes": 12,
    "sha256": "cd" * 32,
    "epsilon": 0.5,
}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "rostov")


def _site(tmp_path: Path, **data: float) -> Path:
    """A site folder as `hospital init` and `hospital check` leave it: budget 8 at delta 1e-5
    unless `data` says otherwise."""
    site = tmp_path / "site_rostov"
    init_site(site, "rostov")
    info = json.loads((site / "hospital.json").read_text())
    info["data"] = {"epsilon_budget": 8.0, "delta": 1e-5, **data}
    (site / "hospital.json").write_text(json.dumps(info))
    return site


def _ledger(state: Path) -> PrivacyLedger:
    return PrivacyLedger(state / LEDGER_FILE)


def _releases(site: Path) -> list[dict]:
    return [e for e in read_audit(site / "audit.jsonl") if e["type"] == RELEASE_TYPE]


# --- 1. --delta: the site's own by default -----------------------------------------------------


def test_a_local_release_without_delta_uses_the_sites_own(files, tmp_path, capsys):
    site = _site(tmp_path, delta=1e-6)
    state = ["--state-dir", str(site / "state")]
    out = tmp_path / "v.tsv"
    assert main(variants_args(files[0], out, "--release", "dp", "--epsilon", "1", *state)) == 0  # was refused
    assert VariantSummary.load(out).release.delta == 1e-6
    assert [c.delta for c in _ledger(site / "state").charges] == [1e-6]
    # 1: the batch failed validation (charged all the same)
    assert main(synth_args(files, tmp_path / "syn", "--epsilon", "1", *state)) in (0, 1)
    assert json.loads((tmp_path / "syn" / "validation.json").read_text())["delta"] == 1e-6
    assert {c.delta for c in _ledger(site / "state").charges} == {1e-6}
    capsys.readouterr()
    # an explicit larger delta is still refused, before anything is read
    argv = variants_args(files[0], tmp_path / "w.tsv", "--release", "dp", "--epsilon", "1", "--delta", "1e-5")
    assert main([*argv, *state]) == 2
    assert "--delta 1e-05 is above the delta this hospital accepts (1e-06" in capsys.readouterr().err
    assert not (tmp_path / "w.tsv").exists()


def test_outside_a_site_the_default_delta_is_1e_5(files, tmp_path):
    own = tmp_path / "own"
    argv = variants_args(files[0], tmp_path / "v.tsv", "--release", "dp", "--epsilon", "1", "--budget", "4")
    assert main([*argv, "--state-dir", str(own)]) == 0
    assert VariantSummary.load(tmp_path / "v.tsv").release.delta == DEFAULT_DELTA == 1e-5
    assert [c.delta for c in _ledger(own).charges] == [1e-5]
    assert default_delta("") == default_delta(own) == default_delta(tmp_path / "x" / "state") == 1e-5
    unchecked = tmp_path / "unchecked"
    init_site(unchecked, "kazan")  # a site folder whose hospital.json declares no delta yet
    assert default_delta(unchecked / "state") == 1e-5
    assert default_delta(_site(tmp_path, delta=2e-6) / "state") == 2e-6


@pytest.mark.parametrize("command", [["synth"], ["hospital", "variants"]])
def test_the_help_names_the_default_delta(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "DP delta (default: the site's own, declared in SITE/hospital.json by `genofed hospital check" in text
    )
    assert "when --state-dir is a site's state folder SITE/state; else 1e-5)" in text


# --- 2. every charge records its delta ---------------------------------------------------------


def test_a_charges_delta_is_written_and_read_back(tmp_path):
    path = tmp_path / LEDGER_FILE
    ledger = PrivacyLedger(path)
    charge = Charge("p", 1, 1.1, 0.1, 10, 1.5, time="t", note="n", input_digest="d", delta=1e-6)
    ledger.charge(charge)
    ledger.declare_public("public", note="exact", input_digest="e", delta=1e-5)
    stored = json.loads(path.read_text())["charges"]
    assert [c["delta"] for c in stored] == [1e-6, 1e-5]
    assert PrivacyLedger(path).charges[0] == charge
    assert PrivacyLedger(path).charges[1].delta == 1e-5


def test_a_ledger_written_before_charges_had_a_delta_still_loads(tmp_path):
    path = tmp_path / LEDGER_FILE
    old = {
        "plan_id": "p",
        "round": 1,
        "noise_multiplier": 1.1,
        "sample_rate": 0.1,
        "steps": 10,
        "epsilon_after": 1.5,
        "time": "2025-01-01T00:00:00+00:00",
        "note": "",
        "input_digest": "",
        "kind": "train",
    }
    path.write_text(json.dumps({"version": 1, "plans": {}, "charges": [old]}))
    ledger = PrivacyLedger(path)
    assert ledger.charges[0].delta is None and ledger.epsilon(1e-5) > 0
    ledger.charge(Charge("q", 1, 1.1, 0.1, 10, 2.0, delta=1e-5))
    stored = json.loads(path.read_text())["charges"]
    assert stored[0] == old  # not given a delta it never had
    assert stored[1]["delta"] == 1e-5


# --- 3. the site's audit log -------------------------------------------------------------------


def test_a_dp_variant_summary_is_in_the_sites_audit_log_beside_the_rounds(files, tmp_path, capsys):
    site = _site(tmp_path)
    (site / "state").mkdir()
    _ledger(site / "state").charge(Charge("run1", 1, 1.1, 0.1, 10, 0.5, delta=1e-5))  # the round's
    append_entry(site / "audit.jsonl", ROUND)
    out = tmp_path / "v.tsv"
    state = ("--state-dir", str(site / "state"))
    argv = variants_args(files[0], out, "--release", "dp", "--epsilon", "1.5", *state)
    assert main(argv) == 0
    _, charge = _ledger(site / "state").charges
    entries = read_audit(site / "audit.jsonl")
    assert [e["type"] for e in entries] == ["train", RELEASE_TYPE]
    release = entries[1]
    assert release["command"] == "hospital variants --release dp" and release["kind"] == "variants"
    assert release["plan_id"] == charge.plan_id and release["input_digest"] == charge.input_digest
    assert release["what"] == charge.note and release["output"] == str(out.resolve())
    assert release["epsilon_spent"] == 1.5 and release["release_delta"] == 1e-5 and release["delta"] == 1e-5
    assert release["epsilon"] == pytest.approx(_ledger(site / "state").epsilon(1e-5))
    assert release["run"] is None and release["records"] == [] and "coalition_epsilon" not in release
    capsys.readouterr()
    assert main(["hospital", "audit", str(site)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{ROUND['time']} run 1 round 1 train: arrays")
    assert "local release (hospital variants --release dp): variant summary (dp) of genotypes.vcf" in lines[1]
    assert (
        f"spent at most epsilon=1.500 at delta 1e-05; site epsilon={release['epsilon']:.3f} at delta 1e-05"
        in lines[1]
    )
    assert f"plan {charge.plan_id}, input sha256 {charge.input_digest[:12]}, to {out.resolve()}" in lines[1]
    assert main(["hospital", "audit", str(site), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[1] == release
    # a local release that spent privacy is evidence of the ledger, like a round that did
    assert _audit_spent(site / "audit.jsonl") == release["time"]


def test_a_generator_and_the_declared_public_numbers_are_in_the_sites_audit_log(files, tmp_path):
    site = _site(tmp_path)
    state = site / "state"
    assert main(variants_args(files[0], tmp_path / "r.tsv", "--state-dir", str(state))) == 0  # rounded
    out = tmp_path / "syn"
    assert main(synth_args(files, out, "--epsilon", "2", "--state-dir", str(state))) in (0, 1)
    by = "this hospital's configuration (genofed hospital check --synthetic)"
    passed = declare_verdict(out, state / LEDGER_FILE, delta=1e-5, by=by)
    # no --state-dir: the ledger the genotypes are bound to, the site's
    assert main(variants_args(files[0], tmp_path / "r2.tsv")) == 0
    rounded, generator, verdict, again = _releases(site)
    ledger = _ledger(state)
    spent = ledger.epsilon(1e-5)

    assert rounded["command"] == "hospital variants --release rounded" and rounded["kind"] == DECLARED_PUBLIC
    assert rounded["epsilon_spent"] == 0 and rounded["epsilon"] == 0
    public = {c.plan_id.split("-")[0]: c for c in ledger.charges if c.kind == DECLARED_PUBLIC}
    assert rounded["plan_id"] == public["variants"].plan_id and rounded["output"] == str((tmp_path / "r.tsv"))

    plan = json.loads((out / "validation.json").read_text())["ledger_plan"]
    assert generator["command"] == "synth" and generator["kind"] == "train" and generator["plan_id"] == plan
    assert generator["epsilon_spent"] == 2 and generator["epsilon"] == pytest.approx(spent)
    assert generator["input_digest"] == ledger.charges_of(plan, "train")[0].input_digest
    assert "synthetic-data generator (vae)" in generator["what"] and generator["output"] == str(out)

    assert verdict["command"] == "hospital check --synthetic" and verdict["kind"] == DECLARED_PUBLIC
    assert verdict["epsilon_spent"] == 0 and verdict["epsilon"] == pytest.approx(spent)
    assert ("(passed)" if passed else "(failed)") in verdict["what"] and verdict["output"] == str(out)
    assert verdict["plan_id"] == public["synthetic"].plan_id
    # its digest is validation.json's, and the entry says so (it said "the genotypes file")
    assert verdict["input_digest"] == hashlib.sha256((out / "validation.json").read_bytes()).hexdigest()
    assert verdict["input_digest_of"] == VERDICT_DIGEST == "the synthetic batch's validation.json"
    assert again["plan_id"] == rounded["plan_id"] and again["output"] == str(tmp_path / "r2.tsv")


def test_a_release_outside_a_sites_folder_writes_no_audit_log(files, tmp_path):
    dp = ["--release", "dp", "--epsilon", "1", "--budget", "4"]
    assert main(variants_args(files[0], tmp_path / "v.tsv", *dp, "--state-dir", str(tmp_path / "own"))) == 0
    assert main(variants_args(files[0], tmp_path / "r.tsv")) == 0  # rounded, listed in the bound ledger
    assert len(_ledger(tmp_path / "own").charges) == 2
    others = write_small_site(tmp_path / "kazan", patients=44)  # other patients: a ledger of their own
    state = tmp_path / "no-site" / "state"  # named like a site's, with no hospital.json beside it
    argv = synth_args(others, tmp_path / "syn", "--epsilon", "1", "--budget", "4", "--state-dir", str(state))
    assert main(argv) in (0, 1)
    assert len(_ledger(state).charges) >= 1
    assert list(tmp_path.rglob("audit.jsonl")) == []


def test_a_site_audit_log_that_cannot_be_appended_to_stops_the_release(files, tmp_path, capsys, monkeypatch):
    site = _site(tmp_path)
    state = ["--state-dir", str(site / "state")]
    argv = variants_args(files[0], tmp_path / "v.tsv", "--release", "dp", "--epsilon", "1", *state)

    # checked first, by opening it for append, before anything is read or charged: a folder in the
    # log's place passed `os.access` (and everything passes it for root)
    (site / "audit.jsonl").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{site / 'audit.jsonl'}: this site's audit log cannot be appended to (it is a folder" in err
    assert "Nothing was computed or written." in err and not (site / "state" / LEDGER_FILE).exists()

    # failing when the entry is appended (after the check passed: a disk filling up): the charge
    # stands, no file
    import genofed.client.local_ledger as local_ledger

    monkeypatch.setattr(local_ledger, "appendable_problem", lambda path: None)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{site / 'audit.jsonl'}: cannot append to this site's audit log" in err
    assert "was charged to the ledger" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v.tsv").exists() and len(_ledger(site / "state").charges) == 1
