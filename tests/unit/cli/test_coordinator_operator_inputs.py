"""A coordinator's operator gives a wrong value to `coordinator init/status/enroll`: each is one
error naming what is wrong and what to do (a warning where the input may be right), never a
silent truncation, a misleading state or a folder made for a run that cannot start (an operator
audit found `min-nodes: 2.7` run as 2, "never started" for a folder without its certificates, an
empty --test-dir, panel positions 'abc' and 999.1.1.1 accepted at init, and a key made for
another hospital enrolled without a word)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli_refusal import refused

from genofed.cli.main import main

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


@pytest.fixture
def panel(tmp_path) -> Path:
    path = tmp_path / "panel.tsv"
    path.write_text(PANEL_TEXT)
    return path


@pytest.fixture
def federation(tmp_path, panel) -> Path:
    fed = tmp_path / "fed"
    assert main(["coordinator", "init", str(fed), "--host", "localhost", "--panel", str(panel)]) == 0
    return fed


def _refused(args: list[str], capsys) -> str:
    return refused(args, capsys)


def _set(fed: Path, key: str, value) -> None:
    path = fed / "federation.json"
    federation = json.loads(path.read_text())
    federation["settings"][key] = value
    path.write_text(json.dumps(federation))


# 1. integer settings: a fraction is refused, not truncated


@pytest.mark.parametrize("value", [2.7, True, 1e400])
def test_a_hand_edited_integer_setting_with_a_fraction_is_refused(federation, value, capsys):
    _set(federation, "min-nodes", value)
    err = _refused(["coordinator", "status", str(federation)], capsys)
    assert "federation.json" in err and "min-nodes" in err and "not a valid int" in err


def test_a_whole_float_in_federation_json_is_its_integer(federation, capsys):
    _set(federation, "min-nodes", 1.0)
    assert main(["coordinator", "status", str(federation)]) == 0


def test_init_refuses_a_fraction_for_an_integer_option(tmp_path, panel, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(
            ["coordinator", "init", str(tmp_path / "f"), "--host", "localhost", "--panel", str(panel)]
            + ["--min-hospitals", "2.7"]
        )
    assert exit_.value.code == 2 and "invalid int value: '2.7'" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


# 2. a folder with files missing is named incomplete, with what is missing and what to do


@pytest.mark.parametrize(
    ("removed", "said"),
    [
        (["ca.pem", "server.pem", "server.key"], "ca.pem, server.pem, server.key missing"),
        (["federation.json"], "federation.json missing"),
        (["hospitals.json", "panel.tsv"], "hospitals.json, panel.tsv missing"),
    ],
)
def test_status_of_a_folder_with_files_missing_says_which(federation, removed, said, capsys):
    for name in removed:
        (federation / name).unlink()
    for command in ("status", "start"):
        err = _refused(["coordinator", command, str(federation)], capsys)
        assert "never started" not in err
        assert f"{federation} is an incomplete federation folder: {said}" in err
        assert "restore the missing file(s) from a backup" in err and "coordinator init NEW_DIR" in err


def test_a_lost_server_certificate_points_to_renew_cert(federation, capsys):
    (federation / "server.key").unlink()
    err = _refused(["coordinator", "status", str(federation)], capsys)
    assert "server.key missing" in err and f"genofed coordinator renew-cert {federation}" in err
    assert main(["coordinator", "renew-cert", str(federation)]) == 0
    assert main(["coordinator", "status", str(federation)]) == 0
    assert "never started" in capsys.readouterr().out


def test_a_folder_init_never_made_is_no_federation(tmp_path, panel, capsys):
    err = _refused(["coordinator", "status", str(tmp_path)], capsys)  # a data folder: only a panel.tsv
    assert "is not a federation folder (make one with `genofed coordinator init`)" in err


# 3. --test-dir is read at init as the run reads it


def _test_cohort(folder: Path, variants: tuple[str, ...] = ("1:100:A:G", "1:200:C:T")) -> Path:
    folder.mkdir()
    people = [f"P{i}" for i in range(24)]
    (folder / "genotypes.csv").write_text(
        "sample_id,"
        + ",".join(variants)
        + "\n"
        + "".join(f"{p},{i % 3},{i % 2}\n" for i, p in enumerate(people))
    )
    (folder / "phenotypes.csv").write_text(
        "sample_id,label\n" + "".join(f"{p},{i % 2}\n" for i, p in enumerate(people))
    )
    return folder


def _init_with_test_dir(tmp_path: Path, panel: Path, test_dir: Path) -> list[str]:
    return ["coordinator", "init", str(tmp_path / "new"), "--host", "localhost", "--panel", str(panel)] + [
        "--test-dir",
        str(test_dir),
    ]


def test_a_test_cohort_the_run_can_read_is_accepted(tmp_path, panel):
    cohort = _test_cohort(tmp_path / "test")
    assert main(_init_with_test_dir(tmp_path, panel, cohort)) == 0
    federation = json.loads((tmp_path / "new" / "federation.json").read_text())
    assert federation["test_dir"] == str(cohort.resolve())


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda d: [p.unlink() for p in d.iterdir()], "the test cohort folder holds no genotype file"),
        (lambda d: (d / "phenotypes.csv").unlink(), "genotypes genotypes.csv but no phenotype file"),
        (lambda d: (d / "genotypes.csv").unlink(), "the test cohort folder holds no genotype file"),
    ],
)
def test_a_folder_that_is_no_test_cohort_is_refused_at_init(tmp_path, panel, spoil, said, capsys):
    cohort = _test_cohort(tmp_path / "test")
    spoil(cohort)
    err = _refused(_init_with_test_dir(tmp_path, panel, cohort), capsys)
    assert f"--test-dir {cohort}: the run could not evaluate on it" in err and said in err
    assert not (tmp_path / "new").exists()


def test_a_test_cohort_moved_after_init_stops_the_start_not_the_evaluation(tmp_path, panel, capsys):
    cohort = _test_cohort(tmp_path / "test")
    assert main(_init_with_test_dir(tmp_path, panel, cohort)) == 0
    cohort.rename(tmp_path / "moved")
    err = _refused(["coordinator", "start", str(tmp_path / "new")], capsys)
    assert f"the test cohort {cohort.resolve()} that init recorded" in err and "not a folder any more" in err


def test_a_run_whose_test_dir_is_gone_is_refused_not_run_without_it(tmp_path, panel):
    from genofed.common.data.panel import VariantPanel
    from genofed.common.errors import DataError
    from genofed.server.federation import load_test_cohort
    from genofed.server.settings import RunSettings

    settings = RunSettings.from_config({"test-dir": str(tmp_path / "gone")})
    with pytest.raises(DataError, match="not a folder any more"):
        load_test_cohort(settings, VariantPanel.load(panel))


def test_a_test_cohort_on_another_panel_is_refused_at_init(tmp_path, panel, capsys):
    cohort = _test_cohort(tmp_path / "test", variants=("2:100:A:G", "2:200:C:T"))
    err = _refused(_init_with_test_dir(tmp_path, panel, cohort), capsys)
    assert "genotypes.csv: covers only 0.0% of the federation's 2 panel variants" in err
    assert not (tmp_path / "new").exists()


# 4. the panel's pos column and order are checked at init (VariantPanel.load, so everywhere)

HEADER = "id\tchrom\tpos\tref\talt\talt_freq\n"


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        (
            ["1:100:A:G\t1\tabc\tA\tG\t0.1"],
            "line 2: pos 'abc' is not a position (a whole number from 1 to 2,147,483,647)",
        ),
        (
            ["1:100:A:G\t1\t100\tA\tG\t0.1", "1:200:C:T\t1\t-5\tC\tT\t0.3"],
            "line 3: pos '-5' is not a position",
        ),
        (["1:100:A:G\t1\t100.5\tA\tG\t0.1"], "line 2: pos '100.5' is not a position"),
        (["1:100:A:G\t1\t101\tA\tG\t0.1"], "line 2: pos 101 is not the position of the line's id (100)"),
        (
            ["1:200:C:T\t1\t200\tC\tT\t0.3", "1:100:A:G\t1\t100\tA\tG\t0.1"],
            "line 3: variant 1:100:A:G (position 100) comes after position 200 on chromosome 1",
        ),
        (
            ["1:100:A:G\t1\t100\tA\tG\t0.1", "2:50:C:T\t2\t50\tC\tT\t0.3", "1:300:A:G\t1\t300\tA\tG\t0.1"],
            "line 4: variant 1:300:A:G returns to chromosome 1 after chromosome 2",
        ),
    ],
)
def test_init_refuses_a_panel_with_bad_positions_naming_the_line(tmp_path, lines, said, capsys):
    panel = tmp_path / "bad.tsv"
    panel.write_text(HEADER + "".join(line + "\n" for line in lines))
    err = _refused(
        ["coordinator", "init", str(tmp_path / "f"), "--host", "localhost", "--panel", str(panel)], capsys
    )
    assert f"{panel}, {said}" in err
    assert not (tmp_path / "f").exists()


def test_a_panel_in_genomic_order_with_two_alleles_at_one_position_is_accepted(tmp_path):
    from genofed.common.data.panel import VariantPanel

    panel = tmp_path / "ok.tsv"
    panel.write_text(
        HEADER + "1:100:A:G\t1\t100\tA\tG\t0.1\n1:100:A:T\t1\t100\tA\tT\t0.1\n2:5:C:T\t2\t5\tC\tT\t0.2\n"
    )
    assert len(VariantPanel.load(panel)) == 3
    (tmp_path / "ids_only.tsv").write_text("id\talt_freq\n1:100:A:G\t0.1\n")  # no pos column: the id's
    assert len(VariantPanel.load(tmp_path / "ids_only.tsv")) == 1


# 5. --host: a dotted quad out of range is no DNS name; a URL or a port is told what to give


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("999.1.1.1", "an IPv4 address is four numbers 0-255"),
        ("1.2.3", "an IPv4 address is four numbers 0-255"),
        ("https://coord.example.org", "give the host name only: drop the scheme"),
        ("coord.example.org:9092", "the port goes in `coordinator start --fleet-address`"),
        ("[::1]", "give an IPv6 address without brackets: --host ::1"),
        ("coord.example.org/", "drop the path"),
    ],
)
def test_init_refuses_a_host_that_is_no_name_saying_what_to_give(tmp_path, panel, host, said, capsys):
    err = _refused(
        ["coordinator", "init", str(tmp_path / "f"), "--host", host, "--panel", str(panel)], capsys
    )
    assert f"--host {host!r} is neither an IP address nor a valid DNS name: " in err and said in err
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("host", ["192.0.2.10", "::1", "coord.example.org", "host1", "10-0-0-1.example.org"])
def test_init_takes_addresses_and_names(tmp_path, panel, host):
    assert main(["coordinator", "init", str(tmp_path / "f"), "--host", host, "--panel", str(panel)]) == 0


# 6. enroll warns when the key's comment names another hospital


def _key(tmp_path: Path, stem: str, comment: str) -> Path:
    from cryptography.hazmat.primitives.asymmetric import ec

    from genofed.common.deployment.keys import public_key_openssh

    path = tmp_path / f"{stem}.pub"
    path.write_text(public_key_openssh(ec.generate_private_key(ec.SECP384R1()).public_key(), comment) + "\n")
    return path


def _enroll(federation: Path, name: str, key: Path, capsys) -> str:
    args = ["coordinator", "enroll", str(federation), "--name", name, "--public-key", str(key)]
    assert main([*args, "--declared-size", "100"]) == 0
    captured = capsys.readouterr()
    assert f"enrolled hospital {name!r}" in captured.out
    return captured.err


def test_enroll_warns_when_hospital_init_made_the_key_for_another_hospital(federation, tmp_path, capsys):
    from genofed.client.agent.keys import init_site

    init_site(tmp_path / "astrakhan", "astrakhan")
    key = tmp_path / "astrakhan" / "supernode.pub"
    err = _enroll(federation, "rostov", key, capsys)
    assert err.startswith("warning: ") and err.count("\n") == 1
    assert "the key's comment 'genofed-hospital-astrakhan' names hospital 'astrakhan', not 'rostov'" in err


def test_enroll_warns_when_the_comment_names_another_hospital_of_the_federation(federation, tmp_path, capsys):
    assert _enroll(federation, "astrakhan", _key(tmp_path, "a", "genofed-hospital-astrakhan"), capsys) == ""
    err = _enroll(federation, "rostov", _key(tmp_path, "r", "astrakhan@hospital"), capsys)
    assert "'astrakhan@hospital' names hospital 'astrakhan', not 'rostov'" in err
    assert json.loads((federation / "hospitals.json").read_text())["hospitals"][-1]["name"] == "rostov"


@pytest.mark.parametrize(
    "comment", ["", "genofed-hospital-rostov", "admin@rostov", "astrakhan-backup rostov", "it@elista"]
)
def test_enroll_is_silent_when_the_comment_fits(federation, tmp_path, comment, capsys):
    _enroll(federation, "astrakhan", _key(tmp_path, "a", ""), capsys)
    assert _enroll(federation, "rostov", _key(tmp_path, "r", comment), capsys) == ""


def test_status_of_a_run_whose_rounds_follow_the_rule_shows_the_rules_count(federation, capsys):
    """`rounds: 0` in federation.json means the training rule's count; status showed "0 of 0"."""
    from genofed.server.training_rule import LOGISTIC_ROUNDS, NETWORK_RULE

    assert NETWORK_RULE.rounds == LOGISTIC_ROUNDS  # so "auto" needs no architecture to count
    _set(federation, "rounds", 0)
    assert main(["coordinator", "status", str(federation)]) == 0
    assert f"rounds: 0 of {LOGISTIC_ROUNDS} (the training rule's)" in capsys.readouterr().out
    _set(federation, "rounds", 4)
    assert main(["coordinator", "status", str(federation)]) == 0
    assert "rounds: 0 of 4\n" in capsys.readouterr().out
