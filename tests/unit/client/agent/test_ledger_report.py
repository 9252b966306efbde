"""`genofed hospital ledger DIR` (client/agent/ledger_report.py): every release in the site's ledger,
one row each, and the totals at the site's delta against the budget and coalition cap its
hospital.json records; the exact releases it declared public listed as such; `--json`; a folder
that is not a (checked) site folder refused in one line, a site that has spent nothing said so."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger
from tests.helpers.cli_refusal import refused

DELTA = 1e-5
PLAN = "3f2a9c0d1e4b5a6978812233445566ff"  # a coordinator's plan id (uuid4 hex)
#: A charge of a ledger written before charges recorded their delta (no `delta` in the file).
TRAIN = Charge(PLAN, 1, 1.17, 0.125, 8, 2.8, time="2026-12-03T18:01:56+00:00", note="DP-SGD fine-tuning")
EVALUATE = Charge(
    PLAN,
    1,
    17.9,
    1.0,
    1,
    2.81,
    time="2026-12-03T18:01:57+00:00",
    note="evaluation: noisy score histogram of the validation patients",
    kind="evaluate",
    delta=1e-6,  # the coordinator's, smaller than the site's
)
#: A distributed-DP round: the coordinator faces noise 2.4 (the sum of the sites' shares), the
#: coordinator with every other site colluding only this site's own share, 1.39.
DISTRIBUTED = Charge(
    "9b1c", 1, 2.4, 0.125, 8, 3.0, time="2026-12-04T09:12:00+00:00", coalition_noise_multiplier=1.39
)


def _site(tmp_path: Path, *, budget: float = 8.0, cap: float | None = 6.0, charges: bool = True) -> Path:
    """A site folder as `hospital init` and `hospital check` leave it (the budget fields of
    hospital.json's "data"), with a ledger of a training, an evaluation, a distributed round and a
    declared-public release."""
    site = tmp_path / "site-rostov"
    init_site(site, "rostov")
    info = json.loads((site / "hospital.json").read_text())
    info["data"] = {"epsilon_budget": budget, "delta": DELTA, "max_coalition_epsilon": cap}
    (site / "hospital.json").write_text(json.dumps(info))
    if charges:
        (site / "state").mkdir()
        ledger = PrivacyLedger(site / "state" / LEDGER_FILE)
        for charge in (TRAIN, EVALUATE, DISTRIBUTED):
            ledger.charge(charge)
        ledger.declare_public(
            "synthetic-verdict",
            note="that synthetic batch /data/synth passed validation (passed)",
            input_digest="ab" * 32,
            delta=DELTA,
        )
    return site


def _ledger(site: Path) -> PrivacyLedger:
    return PrivacyLedger(site / "state" / LEDGER_FILE)


def test_the_ledger_lists_every_release_and_the_totals_at_the_sites_delta(tmp_path, capsys):
    site = _site(tmp_path)
    assert main(["hospital", "ledger", str(site)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"hospital rostov: 4 release(s) in {site / 'state' / LEDGER_FILE}"
    header, rows = lines[1].split(), lines[2:6]
    assert header[:4] == ["time", "kind", "plan", "round"] and header[-1] == "note"
    train, evaluate, distributed, public = rows
    steps = [TRAIN.step]
    assert train.split()[:5] == ["2026-12-03T18:01:56+00:00", "training", "3f2a9...2233445566ff", "1", "1.17"]
    assert train.split()[5:9] == ["0.125", "8", "-", f"{epsilon_of(steps, DELTA):.3g}"]  # no delta recorded
    assert train.endswith("DP-SGD fine-tuning")
    steps.append(EVALUATE.step)
    assert evaluate.split()[1:3] == ["evaluation", "3f2a9...2233445566ff"] and " 17.9 " in evaluate
    assert evaluate.split()[7] == "1e-06"  # the delta it was calibrated at
    assert f" {epsilon_of(steps, DELTA):.3g}  " in evaluate
    assert evaluate.endswith("evaluation: noisy score histogram of the vali...")  # shortened
    assert "2.4 (own 1.39)" in distributed  # what the coordinator faces, and the site's own share
    spent = _ledger(site).epsilon(DELTA)
    # declared public: exact, no sample rate, no steps, nothing added to the total
    assert public.split()[1:5] == ["declared", "public", "synthetic-verdict", "0"]
    assert public.split()[5:10] == ["exact", "-", "0", "1e-05", f"{spent:.3g}"]  # the site's delta
    assert "(passed)" not in public and "that synthetic batch /data/synth passed valid..." in public
    assert "declared public: 1 exact release(s)" in "\n".join(lines[6:])
    assert "delta: the one the release was calibrated at (-: an older entry recorded none)" in lines[6]
    coalition = _ledger(site).coalition_epsilon(DELTA)
    assert coalition > spent  # the site's own share is smaller than the sum the coordinator faces
    assert lines[-1] == (
        f"spent epsilon {spent:.3g} of budget 8 at delta 1e-05; against the coordinator and all other "
        f"hospitals colluding: {coalition:.3g} (cap 6); left: {8 - spent:.3g}"
    )


def test_a_long_ledger_lists_its_latest_releases_unless_told_all(tmp_path, capsys):
    """A federation that runs for months: 60 training rounds and the site's four releases. The totals
    are of every release either way; the declared-public release, among the first, is counted."""
    site = _site(tmp_path)
    ledger = _ledger(site)
    for round_ in range(2, 62):
        ledger.charge(replace(TRAIN, round=round_, time=f"2026-12-05T10:{round_ - 2:02d}:00+00:00"))
    assert main(["hospital", "ledger", str(site)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1] == (
        "  the latest 50 of 64 releases (`genofed hospital ledger --all` lists every one; the totals below "
        "are of them all)"
    )
    rows = [line for line in shown if line.startswith("2026-")]
    assert len(rows) == 50 and rows[-1].startswith("2026-12-05T10:59:00")
    assert "declared public: 1 exact release(s)" in "\n".join(shown)
    assert main(["hospital", "ledger", str(site), "--all"]) == 0
    every = capsys.readouterr().out.splitlines()
    assert len([line for line in every if line.startswith("2026-")]) == 64 and every[-1] == shown[-1]
    assert f"spent epsilon {ledger.epsilon(DELTA):.3g} of budget 8" in every[-1]


@pytest.mark.parametrize(
    ("cap", "words"),
    [(None, "distributed DP refused"), (math.inf, "no cap"), (4.5, "cap 4.5")],
)
def test_the_totals_name_the_sites_coalition_cap(tmp_path, capsys, cap, words):
    assert main(["hospital", "ledger", str(_site(tmp_path, cap=cap))]) == 0
    assert (
        f"colluding: {_ledger(tmp_path / 'site-rostov').coalition_epsilon(DELTA):.3g} ({words});"
        in (capsys.readouterr().out.splitlines()[-1])
    )


def test_a_coalition_cap_below_what_was_spent_is_said_to_be_exceeded(tmp_path, capsys):
    """A cap set below what the site had spent against a coalition (as `hospital check` allowed
    before it refused it) is never shown as if it held."""
    site = _site(tmp_path, cap=1.5)
    coalition = _ledger(site).coalition_epsilon(DELTA)
    assert coalition > 1.5
    assert main(["hospital", "ledger", str(site)]) == 0
    assert (
        f"colluding: {coalition:.3g} (cap 1.5, EXCEEDED: further releases are refused);"
        in capsys.readouterr().out.splitlines()[-1]
    )


def test_a_ledger_over_its_budget_says_so(tmp_path, capsys):
    site = _site(tmp_path, budget=2.0)
    assert main(["hospital", "ledger", str(site)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert f"left: {2 - _ledger(site).epsilon(DELTA):.3g} (OVER the budget)" in last


def test_the_ledger_as_json(tmp_path, capsys):
    site = _site(tmp_path, budget=math.inf, cap=math.inf)
    assert main(["hospital", "ledger", str(site), "--json"]) == 0

    def strict(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    report = json.loads(capsys.readouterr().out, parse_constant=strict)
    ledger = _ledger(site)
    assert report["site"] == "rostov" and report["ledger"] == str(site / "state" / LEDGER_FILE)
    assert report["budget"] == {
        "epsilon": "inf",
        "delta": DELTA,
        "max_coalition_epsilon": "inf",
        "distributed_dp": "no cap",
    }
    assert report["spent"]["epsilon"] == pytest.approx(ledger.epsilon(DELTA))
    assert report["spent"]["coalition_epsilon"] == pytest.approx(ledger.coalition_epsilon(DELTA))
    assert report["spent"]["left"] == "inf" and report["nothing_spent"] is False
    releases = report["releases"]
    assert [r["kind"] for r in releases] == ["train", "evaluate", "train", DECLARED_PUBLIC]
    assert [r["declared_public"] for r in releases] == [False, False, False, True]
    assert releases[0] == {
        "time": TRAIN.time,
        "kind": "train",
        "label": "training",  # a generator's release: "generator" (test_check_spent_budget.py)
        "plan_id": PLAN,
        "round": 1,
        "noise_multiplier": 1.17,
        "coalition_noise_multiplier": None,
        "sample_rate": 0.125,
        "steps": 8,
        "delta": None,  # an older entry: none recorded
        "declared_public": False,
        "epsilon_after": 2.8,
        "epsilon_total": pytest.approx(epsilon_of([TRAIN.step], DELTA)),
        "note": "DP-SGD fine-tuning",
    }
    assert releases[1]["delta"] == 1e-6 and releases[3]["delta"] == DELTA
    assert releases[2]["coalition_noise_multiplier"] == 1.39
    assert releases[3]["note"] == "that synthetic batch /data/synth passed validation (passed)"  # whole
    assert releases[3]["epsilon_total"] == pytest.approx(ledger.epsilon(DELTA))


def test_a_site_that_has_spent_nothing_says_so(tmp_path, capsys):
    site = _site(tmp_path, budget=3.0, charges=False)
    assert main(["hospital", "ledger", str(site)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"hospital rostov: nothing spent yet: {site / 'state' / LEDGER_FILE} does not exist yet (it is "
        "written at the site's first release); budget epsilon 3 at delta 1e-05, all of it left"
    ]
    assert main(["hospital", "ledger", str(site), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nothing_spent"] is True and report["releases"] == [] and report["spent"]["left"] == 3.0


def test_a_simulated_hospitals_ledger_says_where_its_budget_was(tmp_path, capsys):
    """`genofed hospital ledger RUN/privacy-ledgers/rostov` (a simulation's ledger, no budget file
    beside it): it said the releases "predate the record of --budget; the next one records it",
    which no next release of a finished simulation will (an upgrade walkthrough)."""
    folder = tmp_path / "run" / "privacy-ledgers" / "rostov"
    folder.mkdir(parents=True)
    PrivacyLedger(folder / LEDGER_FILE).charge(TRAIN)
    assert main(["hospital", "ledger", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "budget not recorded beside this ledger" in out and "its run's epsilon" in out
    assert "predate" not in out


@pytest.mark.parametrize("what", ["missing", "a file", "a folder"])
def test_a_folder_that_is_not_a_site_is_refused_in_one_line(tmp_path, capsys, what):
    target = tmp_path / "target"
    if what == "a file":
        target.write_text("x")
    elif what == "a folder":
        target.mkdir()
    err = refused(["hospital", "ledger", str(target)], capsys, max_lines=1)
    assert f"{target} is not a site folder" in err and "genofed hospital init" in err


def test_a_site_never_checked_is_refused(tmp_path, capsys):
    init_site(tmp_path / "site", "rostov")
    err = refused(["hospital", "ledger", str(tmp_path / "site")], capsys, max_lines=1)
    assert "records no privacy budget yet" in err and "--epsilon-budget" in err


def test_a_corrupt_ledger_is_refused_never_read_as_empty(tmp_path, capsys):
    site = _site(tmp_path)
    (site / "state" / LEDGER_FILE).write_text("{not json")
    err = refused(["hospital", "ledger", str(site)], capsys)
    assert "unreadable or corrupt" in err and "nothing spent" not in err


def test_reading_the_ledger_imports_no_flower(tmp_path):
    """A DPO's read of the ledger needs no federation stack: nothing of torch, Opacus or Flower for a
    site that spent nothing, and never Flower (the accountant imports Opacus once a release spent)."""
    empty = _site(tmp_path / "empty", charges=False)
    spent = _site(tmp_path / "spent")
    script = (
        "import sys\n"
        "from genofed.cli.main import main\n"
        "heavy = lambda: sorted(m for m in ('torch', 'opacus', 'flwr') if m in sys.modules)\n"
        f"assert main(['hospital', 'ledger', {str(empty)!r}]) == 0\n"
        "print(heavy())\n"
        f"assert main(['hospital', 'ledger', {str(spent)!r}]) == 0\n"
        "print(heavy())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "nothing spent yet" in lines[0] and lines[1] == "[]", result.stdout
    assert lines[-2].startswith("spent epsilon") and "flwr" not in lines[-1], result.stdout


def test_times_read_in_one_format_and_plan_ids_keep_their_ends():
    """An audit saw two time formats (+0000 from local releases) and two roundings of one summary
    shown as the same plan id, cut at its start."""
    from genofed.client.agent.ledger_report import _shortened, _time

    assert (
        _time("2026-12-03T18:01:56+0000")
        == _time("2026-12-03T18:01:56.250+00:00")
        == ("2026-12-03T18:01:56+00:00")
    )
    assert _time("yesterday") == "yesterday"
    ten, twenty = (f"variants-0123456789abcdef-rounded-{r}" for r in (10, 20))
    assert _shortened(ten, 20, keep_end=True) != _shortened(twenty, 20, keep_end=True)
    assert (
        _shortened(ten, 20, keep_end=True).endswith("rounded-10")
        and len(_shortened(ten, 20, keep_end=True)) == 20
    )


# --- an edited or damaged ledger or hospital.json is refused in one line, never shown at face value


def _edit_ledger(site: Path, edit) -> None:
    path = site / "state" / LEDGER_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        pytest.param(lambda d: d.update(charges={}), "'charges' is a dict, not a list", id="charges-dict"),
        pytest.param(lambda d: d["charges"][0].update(steps=-5), "steps is -5", id="negative-steps"),
        pytest.param(
            lambda d: d["charges"][0].update(noise_multiplier=-1), "noise_multiplier is -1", id="neg"
        ),
        pytest.param(
            lambda d: d["charges"][0].update(noise_multiplier="x"), "noise_multiplier is 'x'", id="x"
        ),
        pytest.param(lambda d: d["charges"][1].update(delta="x"), "delta is 'x'", id="delta-x"),
        pytest.param(lambda d: d["charges"][0].update(sample_rate=2), "sample_rate is 2", id="rate"),
    ],
)
def test_an_edited_charge_is_refused_naming_the_file(tmp_path, monkeypatch, capsys, edit, words) -> None:
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))
    site = _site(tmp_path)
    _edit_ledger(site, edit)
    err = refused(["hospital", "ledger", str(site)], capsys)
    assert LEDGER_FILE in err and words in err and "restore it" in err


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d.update(charges=[]), id="emptied"),
        pytest.param(lambda d: d["charges"][-2].update(noise_multiplier=1e6), id="noise-raised"),
    ],
)
def test_a_ledger_below_its_high_water_mark_is_refused(tmp_path, monkeypatch, capsys, edit) -> None:
    from genofed.client.agent.ledger_binding import DataHashes, bind_ledger

    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))
    site = _site(tmp_path)
    bind_ledger(site / "state", DataHashes("a" * 64, "b" * 64), site="rostov", command="check", delta=DELTA)
    assert main(["hospital", "ledger", str(site)]) == 0  # the ledger as the mark recorded it
    capsys.readouterr()
    _edit_ledger(site, edit)
    err = refused(["hospital", "ledger", str(site)], capsys, max_lines=1)
    assert "holds less than this site has spent" in err
    (site / "state" / LEDGER_FILE).unlink()
    assert "is gone" in refused(["hospital", "ledger", str(site)], capsys, max_lines=1)


def test_a_budget_that_is_not_a_number_is_refused(tmp_path, capsys) -> None:
    site = _site(tmp_path)
    info = json.loads((site / "hospital.json").read_text())
    info["data"]["epsilon_budget"] = "three"
    (site / "hospital.json").write_text(json.dumps(info))
    err = refused(["hospital", "ledger", str(site)], capsys, max_lines=1)
    assert "hospital.json: its epsilon_budget 'three' is not a valid value" in err
