"""`coordinator enroll` secure by default, and the coordinator's folder commands around it.

A deployment audit: a hospital enrolled without its declared size could declare up to 999,999
patients and take the FedAvg weight, widen its own update-norm bound and set every hospital's
SecAgg+ weight (docs/robust-aggregation.md, "Known gap: declared cohort sizes"), and `enroll`
took no size unless asked. Now the size is required, and enrolling without one is an explicit,
warned choice that `hospitals` and `status` show; registries written before keep working. Also:
`enroll` into a folder that lost its hospitals.json says which file and what to do, and
`renew-cert` takes new `--host` values and names a recorded host that is refused now.
"""

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
def federation(tmp_path, capsys) -> Path:
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    fed = tmp_path / "fed"
    args = ["coordinator", "init", str(fed), "--host", "localhost", "--panel", str(tmp_path / "panel.tsv")]
    assert main(args) == 0
    assert "--declared-size N" in capsys.readouterr().out  # init's "next:" line shows the size
    return fed


def _key(tmp_path: Path, stem: str) -> Path:
    from cryptography.hazmat.primitives.asymmetric import ec

    from genofed.common.deployment.keys import public_key_openssh

    path = tmp_path / f"{stem}.pub"
    path.write_text(public_key_openssh(ec.generate_private_key(ec.SECP384R1()).public_key(), "") + "\n")
    return path


def _enroll_args(federation: Path, name: str, key: Path) -> list[str]:
    return ["coordinator", "enroll", str(federation), "--name", name, "--public-key", str(key)]


def _registry(federation: Path) -> dict:
    return json.loads((federation / "hospitals.json").read_text())


# 1. the declared size is required; --no-declared-size is an explicit, warned choice


def test_enroll_without_a_size_is_refused_saying_what_the_number_is(federation, tmp_path, capsys):
    before = (federation / "hospitals.json").read_bytes()
    err = refused(_enroll_args(federation, "rostov", _key(tmp_path, "r")), capsys, max_lines=1)
    assert err.startswith("error: give --declared-size N: the cohort size the hospital declares public")
    assert '"declared public: N patients"' in err and "key's fingerprint" in err
    assert "--no-declared-size to enrol without one" in err and "unchecked" in err
    assert "999,999 patients" in err and "outweigh every other hospital" in err
    assert (federation / "hospitals.json").read_bytes() == before  # nothing enrolled


def test_a_size_and_no_size_together_are_refused(federation, tmp_path, capsys):
    args = _enroll_args(federation, "rostov", _key(tmp_path, "r"))
    err = refused([*args, "--declared-size", "100", "--no-declared-size"], capsys, max_lines=1)
    assert "--declared-size and --no-declared-size exclude each other" in err
    assert _registry(federation)["hospitals"] == []


def test_enroll_with_the_size_records_it(federation, tmp_path, capsys):
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "120"]) == 0
    captured = capsys.readouterr()
    assert "declared cohort size 120: the hospital must declare exactly this in every run" in captured.out
    assert captured.err == ""
    assert _registry(federation)["hospitals"][0]["declared_size"] == 120


def test_no_declared_size_enrols_without_one_and_warns(federation, tmp_path, capsys):
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--no-declared-size"]) == 0
    captured = capsys.readouterr()
    assert "enrolled hospital 'rostov'" in captured.out
    (warning,) = captured.err.splitlines()
    assert warning.startswith("warning: 'rostov' is enrolled without a declared size: the size it declares")
    assert "unchecked" in warning and "--declared-size N" in warning
    (entry,) = _registry(federation)["hospitals"]
    assert entry["name"] == "rostov" and "declared_size" not in entry


def test_the_python_api_has_no_silent_default(federation, tmp_path):
    from genofed.server.service.enrollment import enroll

    with pytest.raises(TypeError, match="declared_size"):
        enroll(federation, "rostov", _key(tmp_path, "r"))  # type: ignore[call-arg]
    assert "declared_size" not in enroll(federation, "rostov", _key(tmp_path, "r"), declared_size=None)


# 2. hospitals and status show which hospitals have no enrolled size


def test_hospitals_and_status_name_the_hospitals_without_a_size(federation, tmp_path, capsys):
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "120"]) == 0
    assert main([*_enroll_args(federation, "elista", _key(tmp_path, "e")), "--no-declared-size"]) == 0
    capsys.readouterr()
    assert main(["coordinator", "hospitals", str(federation)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["rostov", "elista"]
    assert lines[0].endswith(", size 120")
    assert lines[1].endswith(", no enrolled size (the size it declares is unchecked)")
    assert main(["coordinator", "status", str(federation)]) == 0
    out = capsys.readouterr().out
    assert "enrolled without a declared size (the sizes they declare are unchecked; " in out
    assert out.splitlines()[1].endswith("): elista")
    assert "rostov" not in out
    assert main(["coordinator", "status", str(federation), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["without_enrolled_size"] == ["elista"]


def test_status_says_nothing_when_every_hospital_has_its_size(federation, tmp_path, capsys):
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "120"]) == 0
    capsys.readouterr()
    assert main(["coordinator", "status", str(federation)]) == 0
    assert "without a declared size" not in capsys.readouterr().out


def test_a_registry_written_before_the_size_was_required_keeps_working(federation, tmp_path, capsys):
    """hospitals.json as `enroll` wrote it before: an entry with no declared_size."""
    from genofed.common.deployment.keys import fingerprint, load_public_key, public_key_openssh
    from genofed.server.service.enrollment import enrolled_sizes, hospitals

    key = _key(tmp_path, "old")
    loaded = load_public_key(key)
    old = {
        "name": "kazan",
        "public_key": public_key_openssh(loaded),
        "fingerprint": fingerprint(loaded),
        "curve": loaded.curve.name,
        "enrolled_at": "2024-01-01T00:00:00+00:00",
        "source_file": str(key),
    }
    registry = _registry(federation)
    registry["hospitals"].append(old)
    (federation / "hospitals.json").write_text(json.dumps(registry, indent=2) + "\n")

    assert [h["name"] for h in hospitals(federation)] == ["kazan"] and enrolled_sizes(federation) == {}
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "90"]) == 0
    assert _registry(federation)["hospitals"][0] == old  # left exactly as it was
    assert enrolled_sizes(federation) == {"rostov": 90}
    capsys.readouterr()
    assert main(["coordinator", "hospitals", str(federation)]) == 0
    assert "kazan" in capsys.readouterr().out
    assert main(["coordinator", "revoke", str(federation), "--name", "kazan"]) == 0
    assert [h["name"] for h in hospitals(federation)] == ["rostov"]


def _set_size_args(federation: Path, name: str, size: str) -> list[str]:
    return ["coordinator", "set-size", str(federation), "--name", name, "--declared-size", size]


def test_set_size_gives_a_hospital_without_one_its_size_and_keeps_the_history(federation, tmp_path, capsys):
    """A hospital enrolled without a size (or whose cohort grew) gets one without a new key: the
    refusal of a size mismatch advised re-enrolling, which a revoked key never allows."""
    from genofed.server.service.enrollment import enrolled_sizes, without_size

    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--no-declared-size"]) == 0
    capsys.readouterr()
    assert main(_set_size_args(federation, "rostov", "120")) == 0
    out = capsys.readouterr().out
    assert "hospital 'rostov' (key SHA256:" in out and "declared size none -> 120" in out
    assert "restart a running coordinator" in out
    assert enrolled_sizes(federation) == {"rostov": 120} and without_size(federation) == []
    # a finished federation is not run again: no restart applies it (an operator's walkthrough)
    (federation / "run").mkdir(exist_ok=True)
    (federation / "run" / "results.json").write_text("{}")
    assert main(_set_size_args(federation, "rostov", "150")) == 0
    out = capsys.readouterr().out
    assert "restart" not in out and "this federation's run has finished" in out
    (federation / "run" / "results.json").unlink()
    entry = _registry(federation)["hospitals"][0]
    assert entry["declared_size"] == 150
    assert [h["declared_size"] for h in entry["size_history"]] == [None, 120]
    assert all(h["until"] for h in entry["size_history"])
    capsys.readouterr()
    assert main(["coordinator", "hospitals", str(federation)]) == 0
    listed = capsys.readouterr().out
    assert ", size 150 (earlier: none until " in listed and ", 120 until " in listed


def test_set_size_of_a_revoked_hospital_says_it_was_revoked(federation, tmp_path, capsys):
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "120"]) == 0
    assert main(["coordinator", "revoke", str(federation), "--name", "rostov"]) == 0
    err = refused(_set_size_args(federation, "rostov", "150"), capsys)
    assert "hospital 'rostov' was revoked on " in err and "enrol a new key" in err


@pytest.mark.parametrize(
    ("name", "size", "said"),
    [
        ("kazan", "100", "no enrolled hospital named 'kazan' (enrolled: rostov)"),
        ("rostov", "1", "--declared-size 1: give the cohort size the hospital declares public"),
        ("rostov", "120", "hospital 'rostov' is already enrolled with size 120; nothing changed"),
    ],
)
def test_set_size_refuses_what_it_cannot_record(federation, tmp_path, name, size, said, capsys):
    assert main([*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "120"]) == 0
    before = (federation / "hospitals.json").read_bytes()
    err = refused(_set_size_args(federation, name, size), capsys)
    assert said in err
    assert (federation / "hospitals.json").read_bytes() == before


# 3. enroll into a federation folder that lost its hospitals.json


def test_enroll_into_a_folder_without_hospitals_json_names_the_file_and_what_to_do(
    federation, tmp_path, capsys
):
    (federation / "hospitals.json").unlink()
    args = [*_enroll_args(federation, "rostov", _key(tmp_path, "r")), "--declared-size", "100"]
    err = refused(args, capsys, max_lines=1)
    assert "not a federation folder" not in err
    assert f"{federation} is an incomplete federation folder: hospitals.json missing" in err
    assert "restore the missing file(s) from a backup" in err
    assert not (federation / "hospitals.json").exists()  # never made anew: the revocations would be lost
    for command in (["hospitals"], ["revoke", "--name", "rostov"]):  # the same words for the others
        err = refused(["coordinator", command[0], str(federation), *command[1:]], capsys)
        assert "hospitals.json missing" in err


def test_enroll_into_a_folder_init_never_made_is_still_no_federation(tmp_path, capsys):
    args = [*_enroll_args(tmp_path, "rostov", _key(tmp_path, "r")), "--declared-size", "100"]
    err = refused(args, capsys)
    assert "is not a federation folder (make one with `genofed coordinator init`)" in err


# 4. renew-cert: new --host values, and a recorded host that is refused now


def _record_hosts(federation: Path, hosts: list[str]) -> None:
    """federation.json as a folder made before the --host checks could hold it."""
    path = federation / "federation.json"
    config = json.loads(path.read_text())
    config["tls"]["hosts"] = hosts
    path.write_text(json.dumps(config, indent=2) + "\n")


def _certificate_hosts(federation: Path) -> list[str]:
    from cryptography import x509

    from genofed.server.service.pki import load_cert

    names = load_cert(federation / "server.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return [str(name.value) for name in names.value]


def test_renew_cert_names_a_recorded_host_refused_now_and_how_to_replace_it(federation, capsys):
    _record_hosts(federation, ["999.1.1.1", "localhost", "127.0.0.1"])
    before = (federation / "server.pem").read_bytes()
    err = refused(["coordinator", "renew-cert", str(federation)], capsys, max_lines=1)
    assert "federation.json records host(s) for the certificate that are refused now" in err
    assert "'999.1.1.1' is neither an IP address nor a valid DNS name" in err
    assert f"genofed coordinator renew-cert {federation} --host NAME_OR_IP" in err
    assert "they replace the recorded 999.1.1.1, localhost, 127.0.0.1;" in err
    assert (federation / "server.pem").read_bytes() == before  # nothing issued


def test_renew_cert_takes_new_hosts_which_replace_the_recorded_ones(federation, capsys):
    from genofed.server.service.federation_folder import read_federation_file
    from genofed.server.service.pki import check_folder_pki

    _record_hosts(federation, ["999.1.1.1", "localhost", "127.0.0.1"])
    args = ["coordinator", "renew-cert", str(federation), "--host", "192.0.2.10", "--host", "FL.example.org"]
    assert main(args) == 0
    assert (
        "new server certificate for 192.0.2.10, fl.example.org, localhost, 127.0.0.1"
        in capsys.readouterr().out
    )
    assert _certificate_hosts(federation) == ["192.0.2.10", "fl.example.org", "localhost", "127.0.0.1"]
    assert read_federation_file(federation)["tls"]["hosts"] == [
        "192.0.2.10",
        "fl.example.org",
        "localhost",
        "127.0.0.1",
    ]
    check_folder_pki(federation)  # signed by the same CA, with its key
    assert main(["coordinator", "renew-cert", str(federation)]) == 0  # the new hosts are recorded
    assert _certificate_hosts(federation)[:2] == ["192.0.2.10", "fl.example.org"]


def test_renew_cert_refuses_a_new_host_as_init_does(federation, capsys):
    before = (federation / "server.pem").read_bytes()
    err = refused(["coordinator", "renew-cert", str(federation), "--host", "https://fl.example.org"], capsys)
    assert "--host 'https://fl.example.org' is neither an IP address nor a valid DNS name" in err
    assert (federation / "server.pem").read_bytes() == before


@pytest.mark.parametrize("tls", [None, "localhost", ["localhost"]])
def test_renew_cert_on_a_hand_broken_tls_entry_is_an_error_or_a_repair_never_a_traceback(
    federation, tls, capsys
):
    """A federation.json whose "tls" entry was deleted (None here) is repaired by --host; one that
    holds something other than an object is refused, naming the file, before anything is issued."""
    path = federation / "federation.json"
    config = json.loads(path.read_text())
    original = dict(config["tls"])
    if tls is None:
        del config["tls"]
    else:
        config["tls"] = tls
    path.write_text(json.dumps(config, indent=2) + "\n")
    before = (federation / "server.pem").read_bytes()
    args = ["coordinator", "renew-cert", str(federation), "--host", "fl.example.org"]
    if tls is None:  # the whole entry comes back, the CA's fingerprint included
        assert main(args) == 0
        repaired = json.loads(path.read_text())["tls"]
        assert repaired["hosts"] == ["fl.example.org", "localhost", "127.0.0.1"]
        assert {k: repaired[k] for k in original if k not in ("hosts", "server_valid_until")} == {
            k: v for k, v in original.items() if k not in ("hosts", "server_valid_until")
        }
        return
    err = refused(args, capsys)
    assert f"{path}: its 'tls' entry is {type(tls).__name__}, not an object" in err
    assert (federation / "server.pem").read_bytes() == before


# hand-edited or damaged state files: one error naming the file, entry and field; nothing written


def _hand_edited(federation: Path, tmp_path: Path, drop: str) -> bytes:
    """hospitals.json with an enrolled hospital 'x' (and a revoked 'y') whose entry lacks `drop`."""
    assert main([*_enroll_args(federation, "x", _key(tmp_path, "x")), "--declared-size", "50"]) == 0
    assert main([*_enroll_args(federation, "y", _key(tmp_path, "y")), "--declared-size", "50"]) == 0
    assert main(["coordinator", "revoke", str(federation), "--name", "y"]) == 0
    registry = _registry(federation)
    del registry["hospitals"][0][drop]
    (federation / "hospitals.json").write_text(json.dumps(registry) + "\n")
    return (federation / "hospitals.json").read_bytes()


@pytest.mark.parametrize("drop", ["fingerprint", "public_key", "name", "enrolled_at"])
@pytest.mark.parametrize(
    "command",
    [
        ["hospitals"],
        ["status"],
        ["revoke", "--name", "x"],
        ["set-size", "--name", "x", "--declared-size", "60"],
    ],
)
def test_a_hospital_entry_missing_a_field_is_refused_before_any_command_writes(
    federation, tmp_path, capsys, drop, command
):
    before = _hand_edited(federation, tmp_path, drop)
    capsys.readouterr()
    err = refused(["coordinator", command[0], str(federation), *command[1:]], capsys, max_lines=2)
    assert str(federation / "hospitals.json") in err and "'hospitals' entry 1" in err
    assert f"field {drop!r} is missing" in err
    assert (federation / "hospitals.json").read_bytes() == before  # revoke/set-size wrote nothing


def test_the_literal_audit_case_revoke_leaves_the_file_unchanged(federation, capsys):
    path = federation / "hospitals.json"
    path.write_text('{"format":"genofed-hospitals/1","hospitals":[{"name":"x"}],"revoked":[]}')
    before = path.read_bytes()
    for command in (["hospitals"], ["revoke", "--name", "x"], ["status"]):
        err = refused(["coordinator", command[0], str(federation), *command[1:]], capsys, max_lines=2)
        assert "'hospitals' entry 1 ('x')" in err and "field " in err
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("registry", "said"),
    [
        ({"hospitals": {}, "revoked": []}, "'hospitals' must be a list"),
        ({"hospitals": ["x"], "revoked": []}, "the entry is a text, not an object"),
        (
            {"hospitals": [], "revoked": [{"name": "y", "fingerprint": "f", "enrolled_at": "t"}]},
            "'revoked_at'",
        ),
        (
            {
                "hospitals": [{"name": "x", "public_key": "k", "fingerprint": 3, "enrolled_at": "t"}],
                "revoked": [],
            },
            "field 'fingerprint' is the number 3, not a non-empty text",
        ),
        (
            {
                "hospitals": [
                    {
                        "name": "x",
                        "public_key": "k",
                        "fingerprint": "f",
                        "enrolled_at": "t",
                        "declared_size": "9",
                    }
                ],
                "revoked": [],
            },
            "field 'declared_size' is a text, not a whole number",
        ),
    ],
)
def test_hospitals_json_of_the_wrong_shape_is_one_error(federation, capsys, registry, said):
    (federation / "hospitals.json").write_text(json.dumps({"format": "genofed-hospitals/1", **registry}))
    err = refused(["coordinator", "hospitals", str(federation)], capsys, max_lines=2)
    assert str(federation / "hospitals.json") in err and said in err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[]", "not an object"),
        ('{"pid": 1}', "field 'state' is missing"),
        ('{"state": "running", "hospitals": {"x": {}}}', "'hospitals' entry 'x'"),
    ],
)
def test_a_damaged_coordinator_json_is_one_error_in_status(federation, capsys, text, said):
    (federation / "coordinator.json").write_text(text)
    err = refused(["coordinator", "status", str(federation)], capsys, max_lines=2)
    assert str(federation / "coordinator.json") in err and said in err
