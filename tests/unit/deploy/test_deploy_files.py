"""Static checks of the deployment artefacts in deploy/ (no docker or systemd needed)."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]  # the repository root (tests/unit/deploy/ is three below)
DEPLOY = ROOT / "deploy"
HOSPITALS = ("rostov", "krasnodar", "volgograd")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def volume_mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of a service's volumes, short or long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            mounts.append((source, target, len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            mounts.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
    return mounts


def argv(command: object) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(str(command))


def test_compose_has_setup_coordinator_and_three_hospitals(compose: dict) -> None:
    services = compose["services"]
    assert {"setup", "coordinator", *(f"hospital-{name}" for name in HOSPITALS)} <= set(services)
    for name in ["coordinator", *(f"hospital-{h}" for h in HOSPITALS)]:
        assert services[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully", name
    assert argv(services["coordinator"]["command"])[:2] == ["coordinator", "start"]
    setup_script = (
        "\n".join(argv(services["setup"]["command"]))
        if isinstance(services["setup"]["command"], list)
        else ""
    )
    for step in ("coordinator init", "hospital init", "coordinator enroll", "hospital check"):
        assert f"genofed {step}" in setup_script, step


@pytest.mark.parametrize("name", HOSPITALS)
def test_each_hospital_sees_only_its_cohort_its_site_and_public_files(compose: dict, name: str) -> None:
    services = compose["services"]
    hospital = services[f"hospital-{name}"]
    coordinator_volumes = {source for source, _, _ in volume_mounts(services["coordinator"])}
    mounts = volume_mounts(hospital)
    sources = {source for source, _, _ in mounts}
    # its own cohort, read-only; no other hospital's cohort and not the whole cohorts folder
    cohorts = [(s, ro) for s, _, ro in mounts if "cohorts" in s]
    assert cohorts == [("../demo/cohorts/" + name, True)]
    # no volume of the coordinator's (ca.key, server.key) and no other hospital's site or ledger index
    assert not sources & coordinator_volumes
    assert not any(
        f"{kind}-{other}" in sources for other in HOSPITALS if other != name for kind in ("site", "ledgers")
    )
    assert f"site-{name}" in sources
    # the public volume only read-only, and it must not be where setup puts the coordinator folder
    for source, target, read_only in mounts:
        if source not in (f"site-{name}", f"ledgers-{name}") and "cohorts" not in source:
            assert read_only, (source, target)
    # its ledger index (GENOFED_HOME) on a volume of its own, outside the site folder
    targets = {source: target for source, target, _ in mounts}
    assert hospital["environment"]["GENOFED_HOME"] == targets[f"ledgers-{name}"]
    # and its list of indexes there too: one of its own, as on a machine of its own, on a volume
    # (the service user's home is none)
    registry = hospital["environment"]["GENOFED_INDEX_REGISTRY"]
    assert registry == f"{targets[f'ledgers-{name}']}/indexes.json"
    assert not targets[f"ledgers-{name}"].startswith(targets[f"site-{name}"])
    command = argv(hospital["command"])
    assert command[:2] == ["hospital", "start"]
    assert "--coordinator" in command and command[command.index("--coordinator") + 1].endswith(":9092")
    assert "ports" not in hospital and "network_mode" not in hospital


def test_setup_binds_cohorts_at_the_paths_the_hospitals_see(compose: dict) -> None:
    services = compose["services"]
    setup_targets = {source: target for source, target, _ in volume_mounts(services["setup"])}
    assert setup_targets["../demo/cohorts"] == "/cohorts"
    for name in HOSPITALS:
        mounts = {source: target for source, target, _ in volume_mounts(services[f"hospital-{name}"])}
        assert mounts[f"../demo/cohorts/{name}"] == f"/cohorts/{name}"
        assert mounts[f"site-{name}"] == setup_targets[f"site-{name}"]
        # `hospital check` in setup binds the ledger in the index the hospital's `start` reads
        assert mounts[f"ledgers-{name}"] == setup_targets[f"ledgers-{name}"] == f"/ledgers/{name}"
    setup = 'GENOFED_HOME="/ledgers/$$h" GENOFED_INDEX_REGISTRY="/ledgers/$$h/indexes.json" genofed hospital'
    assert setup in "\n".join(argv(services["setup"]["command"]))


def test_only_the_coordinator_publishes_a_port_and_it_is_9092(compose: dict) -> None:
    published = {
        name: service["ports"] for name, service in compose["services"].items() if service.get("ports")
    }
    assert list(published) == ["coordinator"]
    for port in published["coordinator"]:
        spec = str(port["target"] if isinstance(port, dict) else port)
        assert spec.split(":")[-1].split("/")[0] == "9092", spec


def test_compose_bind_mounts_exist_relative_to_the_compose_file(compose: dict) -> None:
    """Bind sources point at demo/cohorts of the repository (made by simulate-cohorts)."""
    for service in compose["services"].values():
        for source, _, _ in volume_mounts(service):
            if source.startswith((".", "/")):
                assert (DEPLOY / source).resolve().is_relative_to(ROOT / "demo" / "cohorts"), source


DOCKERFILES = ("Dockerfile.coordinator", "Dockerfile.hospital")


def dockerfile_instructions(name: str) -> list[tuple[str, str]]:
    text = (DEPLOY / name).read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfiles_reference_files_that_exist(name: str) -> None:
    instructions = dockerfile_instructions(name)
    assert instructions[0] == ("FROM", "python:3.11-slim")
    for keyword, args in instructions:
        if keyword in ("COPY", "ADD") and not args.startswith("--from"):
            for source in shlex.split(args)[:-1]:
                if not source.startswith("--"):
                    assert (ROOT / source).exists(), f"{name}: {keyword} {source}"
        if keyword == "RUN":
            for script in re.findall(r"(deploy/[\w./-]+)", args):
                assert (ROOT / script).exists(), f"{name}: RUN uses missing {script}"
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "deploy/install.sh" in runs
    user = [args for keyword, args in instructions if keyword == "USER"]
    assert user and user[-1] not in ("root", "0"), "the service must run as a non-root user"
    assert any(keyword == "ENTRYPOINT" and "genofed" in args for keyword, args in instructions)
    assert any(keyword == "VOLUME" for keyword, _ in instructions)
    exposed = [args for keyword, args in instructions if keyword == "EXPOSE"]
    assert exposed == (["9092"] if name == "Dockerfile.coordinator" else [])
    # the coordinator's hospital-facing address is nginx (server/service/fleet_proxy.py); a hospital
    # needs none
    assert ("apt-get install -y --no-install-recommends nginx" in runs) == (name == "Dockerfile.coordinator")


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "runs", "demo"} <= ignored


UNITS = {
    "genofed-hospital.service": ["hospital", "start"],
    "genofed-coordinator.service": ["coordinator", "start"],
}


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_systemd_units(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "systemd" / unit).read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    service = parser["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "genofed" and command[1:3] == UNITS[unit]
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["User"] not in ("root", "0")
    assert "/var/lib/genofed" in service["ReadWritePaths"].split()


def test_hospital_env_file_sets_what_the_unit_uses() -> None:
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "genofed-hospital.env").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert {"COORDINATOR", "CA", "SITE_DIR"} <= set(env)
    assert env["COORDINATOR"].endswith(":9092")
    unit = (DEPLOY / "systemd" / "genofed-hospital.service").read_text()
    for name in ("COORDINATOR", "CA", "SITE_DIR"):
        assert "${" + name + "}" in unit
