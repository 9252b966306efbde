"""A site's privacy ledger is bound to its data: every refusal of `hospital check` and `hospital
start`, the audited overrides, and the durable writes (the agent's functions, no processes but
the CLI's one-line errors)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.site_check import check_args

from genofed.client.agent import launch
from genofed.client.agent.audit import append_entry, read_audit
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import AgentOptions, audit_lines, prepare_start, start_site
from genofed.client.agent.ledger_binding import BINDING_FILE, LedgerRefused, record_spent
from genofed.client.agent.ledger_indexes import INDEX_ENV, index_path, read_index
from genofed.common.data.layout import hospital_folders
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.util import atomic
from genofed.server.service.pki import write_pki
from genofed.simulations.local.loopback import GENOFED, free_port


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "home" / "ledgers.json"


def _site(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / f"site-{name}"
    init_site(folder, name)
    return folder


def _check(site: Path, cohorts: Path, which: int, index: Path, **overrides: str) -> dict:
    data = hospital_folders(cohorts)[which]
    return check_site(
        site, data.genotypes, data.phenotypes, cohorts / "panel.tsv", ledger_index=index, **overrides
    )


def _options(index: Path, ca: Path, new_ledger: str = "") -> AgentOptions:
    return AgentOptions(
        coordinator="localhost:9", ca=ca, local_port=free_port(), ledger_index=index, new_ledger=new_ledger
    )


def _start(site: Path, index: Path, ca: Path, new_ledger: str = "") -> None:
    prepare_start(site, _options(index, ca, new_ledger))  # checks its local port is free: 9094 may be taken


def _spend(site: Path) -> None:
    """What a first round leaves in the state folder: a ledger with a charge, and the noise secret."""
    PrivacyLedger(site / "state" / LEDGER_FILE).charge(Charge("plan", 1, 1.1, 0.2, 10, 0.5))
    (site / "state" / "secret.key").write_bytes(b"s" * 32)


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    write_pki(tmp_path / "pki", ["localhost"])
    return tmp_path / "pki" / "ca.pem"


def test_the_first_check_binds_the_ledger_to_the_data(tmp_path: Path, cohorts: Path, index: Path) -> None:
    site = _site(tmp_path, "rostov")
    bound = _check(site, cohorts, 0, index)
    assert bound["ledger"] == "bind"
    binding = json.loads((site / "state" / BINDING_FILE).read_text())
    files = json.loads((site / "hospital.json").read_text())["data"]["files"]
    cohort = binding["data"].pop("cohort")  # the patients' sample ids, whatever the files' bytes
    assert binding["data"] == {role: files[role]["sha256"] for role in ("genotypes", "phenotypes")}
    assert json.loads(index.read_text())["files"][cohort]["role"] == "cohort"
    entries = json.loads(index.read_text())["files"]
    assert {entries[files[r]["sha256"]]["state_dir"] for r in ("genotypes", "phenotypes")} == {
        str((site / "state").resolve())
    }
    assert _check(site, cohorts, 0, index)["ledger"] == "ok"  # checking again changes nothing


def test_a_ledger_from_before_bindings_is_adopted_not_reset(
    tmp_path: Path, cohorts: Path, index: Path
) -> None:
    site = _site(tmp_path, "rostov")
    (site / "state").mkdir(mode=0o700)
    _spend(site)  # a site folder from an earlier genofed: a ledger, no binding
    assert _check(site, cohorts, 0, index)["ledger"] == "adopt"
    assert PrivacyLedger(site / "state" / LEDGER_FILE).charges  # untouched
    assert json.loads((site / "state" / BINDING_FILE).read_text())["ledger_seen_at"]


def test_a_new_state_folder_for_data_that_has_a_ledger_is_refused(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    first = _site(tmp_path, "rostov")
    _check(first, cohorts, 0, index)
    _spend(first)
    second = _site(tmp_path, "rostov-again")
    with pytest.raises(LedgerRefused, match=f"already has a privacy ledger in {first.resolve()}/state"):
        _check(second, cohorts, 0, index)
    assert not (second / "state" / BINDING_FILE).exists() and "data" not in json.loads(
        (second / "hospital.json").read_text()
    )
    # the same at start: a copied hospital.json points the agent at a new, empty state folder
    shutil.copyfile(first / "hospital.json", second / "hospital.json")
    with pytest.raises(LedgerRefused, match="already has a privacy ledger"):
        _start(second, index, ca)
    _start(first, index, ca)  # the site with the ledger starts


def test_a_lost_ledger_is_refused(tmp_path: Path, cohorts: Path, index: Path, ca: Path) -> None:
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _start(site, index, ca)  # before the first round: no ledger yet, nothing lost
    _spend(site)
    _start(site, index, ca)  # the agent sees the ledger and records it in the binding
    assert json.loads((site / "state" / BINDING_FILE).read_text())["ledger_seen_at"]
    (site / "state" / LEDGER_FILE).unlink()
    (site / "state" / "secret.key").unlink()
    with pytest.raises(LedgerRefused, match="is gone .*restore"):
        _start(site, index, ca)
    shutil.rmtree(site / "state")  # the whole state folder: the index still knows it
    with pytest.raises(LedgerRefused, match="is gone"):
        _start(site, index, ca)
    with pytest.raises(LedgerRefused, match="is gone"):
        _check(site, cohorts, 0, index)


def _charge(site: Path, plan: str, round: int, noise: float = 1.1, steps: int = 10) -> None:
    """One more release, as the running agent charges it (the binding and the index are not told)."""
    PrivacyLedger(site / "state" / LEDGER_FILE).charge(Charge(plan, round, noise, 0.2, steps, 0.0))


def _reply(site: Path, epsilon: float | None, status: str = "ok") -> None:
    """A reply in the site's audit log, as the agent's audit mod writes it."""
    entry = {"time": "2026-01-02T03:04:05.000+00:00", "type": "train", "status": status, "epsilon": epsilon}
    append_entry(site / "audit.jsonl", dict(entry, run=1, round=1, records=[], bytes=0))


def test_a_ledger_deleted_alone_is_refused(tmp_path: Path, cohorts: Path, index: Path, ca: Path) -> None:
    """The agent's noise secret stays when only the ledger file is deleted: that used to give the site
    a fresh lifetime budget at the next start, silently (a data-protection audit)."""
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _start(site, index, ca)
    _spend(site)
    _start(site, index, ca)  # a start after a run: the ledger's high-water mark is recorded
    (site / "state" / LEDGER_FILE).unlink()
    assert (site / "state" / "secret.key").exists()
    held = r"is gone \(it held epsilon [\d.]+ in 1 charge on \S+, at delta 1e-05\): restore .* latest backup"
    with pytest.raises(LedgerRefused, match=held + ".*--new-ledger REASON"):
        _start(site, index, ca)
    with pytest.raises(LedgerRefused, match="is gone"):
        _check(site, cohorts, 0, index)
    with pytest.raises(LedgerRefused, match="is gone"):  # a data update carries the ledger over: none here
        _check(site, cohorts, 1, index, data_update="cohort refreshed")
    (site / "state" / BINDING_FILE).unlink()  # the binding too: the index keeps the mark
    with pytest.raises(LedgerRefused, match=held):
        _check(site, cohorts, 0, index)


def test_a_ledger_deleted_before_any_mark_is_refused_by_the_secret_or_the_audit_log(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    """A ledger the agent made and charged since the last start, deleted before any mark saw it."""
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _start(site, index, ca)  # before the first round: no ledger, no secret
    _spend(site)
    (site / "state" / LEDGER_FILE).unlink()
    (site / "audit.jsonl").write_text("not json\n")  # an audit log that cannot say it spent nothing
    with pytest.raises(LedgerRefused, match=r"is gone \(the agent's noise secret .*secret.key shows"):
        _start(site, index, ca)
    # nor can one that is not UTF-8 (it was a UnicodeDecodeError traceback)
    (site / "audit.jsonl").write_bytes(b'{"time": "\xff"}\n')
    with pytest.raises(LedgerRefused, match=r"is gone \(the agent's noise secret .*secret.key shows"):
        _start(site, index, ca)
    (site / "audit.jsonl").unlink()
    _reply(site, 0.74)
    (site / "state" / "secret.key").unlink()
    with pytest.raises(LedgerRefused, match=r"is gone \(the audit log .* records a reply that spent privacy"):
        _start(site, index, ca)


def test_a_secret_placed_before_the_first_start_is_no_evidence_of_a_ledger(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    """A secret without any audit log (simulations/local/loopback.py places one so that a deployed
    run draws what its simulation draws) does not make a missing ledger "gone"."""
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    (site / "state").mkdir(mode=0o700, exist_ok=True)
    (site / "state" / "secret.key").write_bytes(b"s" * 32)
    _start(site, index, ca)
    assert not (site / "state" / LEDGER_FILE).exists()


def test_a_site_whose_agent_spent_nothing_still_starts(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    """The secret comes with the first message, spent or not: a site without differential privacy
    (epsilon inf) or whose requests were refused has a secret and no ledger, and its audit log says so."""
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _start(site, index, ca)
    (site / "state" / "secret.key").write_bytes(b"s" * 32)
    _reply(site, float("inf"))
    _reply(site, None, status="error")
    _start(site, index, ca)
    assert not (site / "state" / LEDGER_FILE).exists()


def test_a_normal_start_after_runs_is_ok_and_raises_the_mark(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _start(site, index, ca)
    _spend(site)
    _reply(site, 0.74)
    _start(site, index, ca)
    _charge(site, "plan", 2)
    _charge(site, "plan", 1)  # a re-run of a round replaces its charge: the same release
    _start(site, index, ca)
    _check(site, cohorts, 0, index)
    mark = json.loads((site / "state" / BINDING_FILE).read_text())["high_water"]
    assert mark["charges"] == 2 and mark["delta"] == 1e-5
    assert mark["epsilon"] == pytest.approx(PrivacyLedger(site / "state" / LEDGER_FILE).epsilon(1e-5))
    indexed = json.loads(index.read_text())["high_water"][str((site / "state").resolve())]
    assert {k: indexed[k] for k in ("charges", "digest")} == {k: mark[k] for k in ("charges", "digest")}


def test_an_older_copy_of_the_ledger_is_refused(tmp_path: Path, cohorts: Path, index: Path, ca: Path) -> None:
    """A backup restored forgets every charge made after it: refused, naming the mark."""
    site = _site(tmp_path, "rostov")
    ledger = site / "state" / LEDGER_FILE
    _check(site, cohorts, 0, index)
    _spend(site)
    _start(site, index, ca)
    backup = ledger.read_bytes()
    _charge(site, "plan", 2)
    _start(site, index, ca)  # the mark: 2 charges
    ledger.write_bytes(backup)
    mark = r"this site had spent epsilon [\d.]+ in 2 charges on \S+; the ledger now holds [\d.]+ in 1 charge "
    with pytest.raises(LedgerRefused, match=r"holds less than this site has spent: " + mark):
        _start(site, index, ca)
    with pytest.raises(LedgerRefused, match=r"\(epsilon at delta 1e-05\).*--new-ledger REASON"):
        _check(site, cohorts, 0, index)
    # the same number of charges, other ones (an edited ledger)
    _charge(site, "forged", 9, noise=50.0, steps=1)
    with pytest.raises(LedgerRefused, match=r"now holds [\d.]+ in 2 charges \(other charges than it had\)"):
        _start(site, index, ca)
    # more charges, less epsilon: the costly one replaced by cheap ones
    ledger.unlink()
    for round in range(3):
        _charge(site, "cheap", round, noise=50.0, steps=1)
    with pytest.raises(LedgerRefused, match=r"in 2 charges on \S+; the ledger now holds [\d.]+ in 3 charges"):
        _start(site, index, ca)
    _start(site, index, ca, new_ledger="ledger restored from the 1 May backup; later rounds on paper")
    (entry,) = [e for e in read_audit(site / "audit.jsonl") if e["type"] == "ledger"]
    assert entry["event"] == "new-ledger" and entry["command"] == "hospital start"
    (forgotten,) = entry["replaced"]
    assert (
        forgotten["below_mark"]
        and forgotten["high_water"]["charges"] == 2
        and forgotten["now"]["charges"] == 3
    )
    _start(site, index, ca)  # the ledger as it is now is the mark
    assert json.loads((site / "state" / BINDING_FILE).read_text())["high_water"]["charges"] == 3


def test_an_older_backup_of_the_whole_state_folder_is_refused(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    """The binding goes back with the folder; the index's mark does not."""
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _spend(site)
    _start(site, index, ca)
    shutil.copytree(site / "state", tmp_path / "backup")
    _charge(site, "plan", 2)
    _start(site, index, ca)
    shutil.rmtree(site / "state")
    shutil.copytree(tmp_path / "backup", site / "state")
    older = r"had spent epsilon [\d.]+ in 2 charges .* now holds [\d.]+ in 1 charge"
    with pytest.raises(LedgerRefused, match=older):
        _start(site, index, ca)


def test_a_new_ledger_for_a_lost_one_is_recorded_and_then_kept(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _spend(site)
    _reply(site, 0.74)
    _start(site, index, ca)
    (site / "state" / LEDGER_FILE).unlink()
    _start(site, index, ca, new_ledger="disk lost; 0.74 spent, on paper")
    (entry,) = [e for e in read_audit(site / "audit.jsonl") if e["type"] == "ledger"]
    assert entry["event"] == "new-ledger" and entry["reason"] == "disk lost; 0.74 spent, on paper"
    (lost,) = entry["replaced"]
    assert lost["lost"] and lost["high_water"]["charges"] == 1
    assert "ledger new-ledger (hospital start): disk lost" in "\n".join(audit_lines(site))
    _start(site, index, ca)  # the secret and the old replies stay: the reset is on record, not refused again
    _charge(site, "plan-2", 1)
    _start(site, index, ca)
    (site / "state" / LEDGER_FILE).unlink()
    with pytest.raises(LedgerRefused, match="is gone"):  # the new ledger is guarded as the old one was
        _start(site, index, ca)


def test_the_agent_records_the_mark_when_it_stops(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the agent charged while it ran is in the mark once it stops: a copy of the ledger from
    before the run is refused at the next start."""
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _spend(site)
    _start(site, index, ca)
    backup = (site / "state" / LEDGER_FILE).read_bytes()

    def run(folder, launched, options, lock, say, check_ca=None) -> int:  # the SuperNode's run:
        # two rounds charged
        _charge(site, "plan", 2)
        _charge(site, "plan", 3)
        return 0

    monkeypatch.setattr(launch, "serve", run)
    assert start_site(site, _options(index, ca), say=lambda message: None) == 0
    assert json.loads((site / "state" / BINDING_FILE).read_text())["high_water"]["charges"] == 3
    (site / "state" / LEDGER_FILE).write_bytes(backup)
    assert not record_spent(site / "state", index_file=index)  # a mark is never lowered
    with pytest.raises(LedgerRefused, match="in 3 charges on .* now holds [\\d.]+ in 1 charge"):
        _start(site, index, ca)


def test_a_ledger_spent_on_other_data_is_refused_unless_declared_an_update(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _spend(site)
    with pytest.raises(LedgerRefused, match="was spent on other data .*--data-update REASON"):
        _check(site, cohorts, 1, index)
    bound = _check(site, cohorts, 1, index, data_update="cohort refreshed with 2026 recruits")
    assert bound["ledger"] == "data-update"
    binding = json.loads((site / "state" / BINDING_FILE).read_text())
    assert binding["previous"][0]["reason"] == "cohort refreshed with 2026 recruits"
    assert len(json.loads(index.read_text())["files"]) == 6  # the old files and patients stay bound here
    (entry,) = read_audit(site / "audit.jsonl")
    assert (
        entry["type"] == "ledger" and entry["event"] == "data-update" and entry["command"] == "hospital check"
    )
    # a state folder swapped in from another site: start refuses the mismatch
    other = _site(tmp_path, "elista")
    _check(other, cohorts, 2, index)
    shutil.rmtree(site / "state")
    shutil.copytree(other / "state", site / "state")
    with pytest.raises(LedgerRefused, match="run `genofed hospital check` again"):
        _start(site, index, ca)


def test_a_new_ledger_only_on_request_and_audited(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path
) -> None:
    first = _site(tmp_path, "rostov")
    _check(first, cohorts, 0, index)
    _spend(first)
    second = _site(tmp_path, "rostov-restored")
    with pytest.raises(LedgerRefused, match="needs a reason"):
        _check(second, cohorts, 0, index, new_ledger="   ")
    bound = _check(
        second, cohorts, 0, index, new_ledger="old server lost, ledger backed up on paper: 0.5 spent"
    )
    assert bound["ledger"] == "new-ledger"
    (entry,) = read_audit(second / "audit.jsonl")
    assert entry["event"] == "new-ledger" and entry["reason"].startswith("old server lost")
    assert {r["state_dir"] for r in entry["replaced"]} == {str((first / "state").resolve())}
    assert "ledger new-ledger (hospital check): old server lost" in audit_lines(second)[0]
    entries = json.loads(index.read_text())["files"].values()
    assert all(e["state_dir"] == str((second / "state").resolve()) and e["replaced"] for e in entries)
    with pytest.raises(LedgerRefused, match=f"already has a privacy ledger in {second.resolve()}/state"):
        _start(first, index, ca)  # the old ledger is superseded, not a second live one
    _start(second, index, ca)


def test_the_cli_refuses_in_one_line_and_offers_new_ledger(tmp_path: Path, cohorts: Path, ca: Path) -> None:
    env = dict(os.environ, **{INDEX_ENV: str(tmp_path / "home")})
    for name in ("rostov", "copy"):
        _site(tmp_path, name)
    first = subprocess.run(
        [GENOFED, *check_args(tmp_path / "site-rostov", cohorts, "--epsilon-budget", "8")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        first.returncode == 0
        and "privacy ledger" in first.stdout
        and (tmp_path / "home" / "ledgers.json").exists()
    )
    refused = subprocess.run(
        [GENOFED, *check_args(tmp_path / "site-copy", cohorts, "--epsilon-budget", "8")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "already has a privacy ledger" in refused.stderr and "--new-ledger REASON" in refused.stderr
    shutil.copyfile(tmp_path / "site-rostov" / "hospital.json", tmp_path / "site-copy" / "hospital.json")
    start = [
        GENOFED,
        "hospital",
        "start",
        str(tmp_path / "site-copy"),
        "--coordinator",
        "localhost:9",
        "--ca",
        str(ca),
    ]
    refused = subprocess.run(start, capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "already has a privacy ledger" in refused.stderr
    assert (
        "--new-ledger"
        in subprocess.run([GENOFED, "hospital", "start", "--help"], capture_output=True, text=True).stdout
    )


def test_the_index_lives_in_genofed_home_or_the_users_own_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(INDEX_ENV, str(tmp_path / "g"))
    assert index_path() == tmp_path / "g" / "ledgers.json"
    monkeypatch.delenv(INDEX_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))  # an operator's sudo may keep their own $HOME
    assert (
        index_path()
        == Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".local" / "state" / "genofed" / "ledgers.json"
    )


def test_ledger_writes_are_fsynced_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", record)
    ledger = tmp_path / "state" / LEDGER_FILE
    PrivacyLedger(ledger).charge(Charge("plan", 1, 1.1, 0.2, 10, 0.5))
    assert any(".privacy-ledger.json." in path for path in synced)  # the data, before the rename
    assert synced[-1] == str(ledger.parent)  # the folder, after it


def test_a_re_exported_file_of_the_same_patients_is_no_fresh_ledger(
    tmp_path: Path, cohorts: Path, index: Path
) -> None:
    """New bytes for the same patients (the VCF unzipped, one blank line added to the phenotype
    file) used to bind a fresh ledger in a new site folder: the patients' sample ids bind it too."""
    import gzip

    data = hospital_folders(cohorts)[0]
    _check(_site(tmp_path, "rostov"), cohorts, 0, index)
    copy = tmp_path / "re-export"
    copy.mkdir()
    genotypes = copy / "genotypes.vcf"
    with gzip.open(data.genotypes, "rb") as packed:
        genotypes.write_bytes(packed.read())
    (copy / "phenotypes.csv").write_text(data.phenotypes.read_text() + "\n")
    with pytest.raises(LedgerRefused, match=r"these patients \(the same sample ids, in other files\)"):
        check_site(
            _site(tmp_path, "again"),
            genotypes,
            copy / "phenotypes.csv",
            cohorts / "panel.tsv",
            ledger_index=index,
        )


def test_a_rotated_key_keeps_the_sites_ledger_and_the_agent_starts_with_it(
    tmp_path: Path, cohorts: Path, index: Path, ca: Path, capsys
) -> None:
    """An operator's walkthrough followed the old advice for a leaked key (revoke it, `hospital init` a
    new folder): the new folder's check was refused for the data's ledger and offered `--new-ledger`,
    a fresh budget for patients who had spent theirs. `hospital rotate-key` replaces the pair in place."""
    from genofed.cli.main import main
    from genofed.client.agent.keys import require_site_key
    from genofed.client.agent.site_lock import hold_site

    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    _start(site, index, ca)
    _spend(site)
    _reply(site, 0.74)
    spent = PrivacyLedger(site / "state" / LEDGER_FILE).epsilon(1e-5)
    old = json.loads((site / "hospital.json").read_text())["fingerprint"]
    old_public = (site / "supernode.pub").read_text()
    old_private = (site / "supernode.key").read_bytes()
    assert main(["hospital", "rotate-key", str(site)]) == 0
    printed = capsys.readouterr()
    recorded = json.loads((site / "hospital.json").read_text())
    new = recorded["fingerprint"]
    assert new != old and recorded["rotated"][0]["fingerprint"] == old
    assert printed.out.strip() == (site / "supernode.pub").read_text().strip() != old_public.strip()
    assert f"revokes the old key ({old})" in printed.err and new in printed.err
    assert (site / "supernode.key").read_bytes() != old_private  # the retired private key is gone
    assert (site / recorded["rotated"][0]["public_key"]).read_text() == old_public
    require_site_key(site, recorded)  # the new pair is the site's own
    assert PrivacyLedger(site / "state" / LEDGER_FILE).epsilon(1e-5) == pytest.approx(spent)
    _start(site, index, ca)  # the same ledger, binding and mark: no --new-ledger
    assert _check(site, cohorts, 0, index)["ledger"] == "ok"
    assert any(
        f"site key rotated (hospital rotate-key): fingerprint {old} -> {new}" in line
        for line in audit_lines(site)
    )
    with hold_site(site):  # a running agent's SuperNode holds the key: refused, nothing changed
        assert main(["hospital", "rotate-key", str(site)]) == 2
    assert "authenticates with the key being replaced" in capsys.readouterr().err
    assert json.loads((site / "hospital.json").read_text())["fingerprint"] == new


def test_a_binding_of_another_users_is_said_to_be_theirs_not_lost(
    tmp_path: Path, cohorts: Path, index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit ran `hospital check` as a user other than the state folder's owner and was told to
    restore the binding from a backup. (Root reads every file: the refusal is simulated.)"""
    from genofed.client.agent import ledger_binding

    site = _site(tmp_path, "rostov")
    _check(site, cohorts, 0, index)
    real_read = Path.read_text

    def refused(path: Path, *args, **kwargs) -> str:
        if path.name in (BINDING_FILE, index.name):
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refused)
    for read in (
        lambda: ledger_binding.read_binding(site / "state"),
        lambda: read_index(index),
    ):
        with pytest.raises(LedgerRefused) as raised:
            read()
        message = str(raised.value)
        owner = pwd.getpwuid(os.geteuid()).pw_name
        assert f"may not read it (it belongs to {owner})" in message and "restore" not in message
