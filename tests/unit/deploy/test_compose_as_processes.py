"""deploy/compose_as_processes.py on the real deploy/compose.yaml: volumes, paths, hosts and ports
(no process is started; the run itself is quoted in deploy/README.md, "Containers")."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose.yaml"
HOSPITALS = ("rostov", "krasnodar", "volgograd")


def _load():
    spec = importlib.util.spec_from_file_location(
        "compose_as_processes", ROOT / "deploy" / "compose_as_processes.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["compose_as_processes"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


cap = _load()


def _claim_from(offset: int):
    """Port claims without sockets: the wanted port + offset, then the next unused one."""
    taken: set[int] = set()

    def claim(port: int) -> int:
        port += offset
        while port in taken:
            port += 1
        taken.add(port)
        return port

    return claim


@pytest.fixture
def plan(tmp_path: Path):
    cohorts = tmp_path / "cohorts"
    for name in (*HOSPITALS, "test"):
        (cohorts / name).mkdir(parents=True)
    work = tmp_path / "work"
    services = cap.plan_services(
        COMPOSE, work, cohorts, claim=_claim_from(10000), base_env={"PATH": "/usr/bin:/bin"}
    )
    return services, work, cohorts


def _mounts(service) -> dict[str, tuple[str, Path]]:
    return {m.target: (m.kind, m.source) for m in service.mounts}


def test_named_volumes_are_work_folders_and_the_cohorts_bind_is_the_given_folder(plan):
    services, work, cohorts = plan
    setup = _mounts(services["setup"])
    assert setup["/var/lib/genofed"] == ("volume", work / "volumes" / "coordinator-state")
    assert setup["/federation-public"] == ("volume", work / "volumes" / "federation-public")
    assert setup["/cohorts"] == ("bind", cohorts)
    assert _mounts(services["coordinator"])["/cohorts/test"] == ("bind", cohorts / "test")
    assert _mounts(services["coordinator"])["/tmp"] == ("tmpfs", work / "tmpfs" / "coordinator")
    for name in HOSPITALS:
        hospital = _mounts(services[f"hospital-{name}"])
        assert (
            hospital[f"/sites/{name}"]
            == setup[f"/sites/{name}"]
            == ("volume", work / "volumes" / f"site-{name}")
        )
        assert hospital[f"/cohorts/{name}"] == ("bind", cohorts / name)
        assert "/cohorts" not in hospital  # its own cohort only
        assert [t for t in hospital if t.startswith(("/sites/", "/ledgers/"))] == [
            f"/sites/{name}",
            f"/ledgers/{name}",
        ]
        # the image's VOLUME, which no hospital mount covers: its own anonymous volume, not the coordinator's
        kind, source = hospital["/var/lib/genofed"]
        assert kind == "anonymous" and source == work / "volumes" / f"anonymous-hospital-{name}-0"


def test_setup_and_each_hospital_reach_the_same_files_through_their_own_roots(plan):
    services, work, cohorts = plan
    cap.materialize(services, work)
    setup = services["setup"]
    for name in HOSPITALS:
        hospital = services[f"hospital-{name}"]
        for path in (f"/sites/{name}", f"/ledgers/{name}", f"/cohorts/{name}", "/federation-public"):
            seen_by_setup = Path(setup.rewrite(path)).resolve()
            assert Path(hospital.rewrite(path)).resolve() == seen_by_setup, path
            assert seen_by_setup.is_relative_to(work / "volumes") or seen_by_setup.is_relative_to(cohorts)
    assert Path(services["coordinator"].rewrite("/var/lib/genofed/federation")).parent.resolve() == (
        work / "volumes" / "coordinator-state"
    )
    assert not (cohorts / "test" / "cohorts").exists()  # nothing is created inside a bound folder


def test_the_setup_script_gets_host_paths_and_keeps_its_shell_and_variables(plan):
    services, work, _ = plan
    root = work / "root" / "setup"
    shell, flag, script = services["setup"].argv
    assert (shell, flag) == ("/bin/sh", "-euc")  # not under a mount: unchanged
    assert "$$" not in script and '"$fed/ca.pem"' in script  # compose's $$ is a literal $
    assert f"fed={root}/var/lib/genofed/federation\n" in script
    assert f"site={root}/sites/$h\n" in script  # a path next to the mounted /sites/NAME folders
    ledgers = f"{root}/ledgers/$h"
    assert f'GENOFED_HOME="{ledgers}" GENOFED_INDEX_REGISTRY="{ledgers}/indexes.json"' in script
    assert f'--genotypes "{root}/cohorts/$h/genotypes.vcf.gz"' in script
    assert f"chmod 0700 {root}/sites/* {root}/ledgers/*" in script
    assert "--host coordinator --host localhost" in script  # certificate names, not addresses: kept
    assert "chown -R 10001:10001" in script  # compose.yaml's semantics unchanged; PATH has the stand-in
    assert services["setup"].env["PATH"].split(":")[0] == str(work / "bin")
    assert all(str(work / "bin") not in services[n].env["PATH"] for n in services if n != "setup")


def test_hospitals_reach_the_coordinator_on_localhost_at_the_port_it_got(plan):
    services, work, _ = plan
    coordinator = services["coordinator"]
    assert coordinator.argv[:3] == ["genofed", "coordinator", "start"]  # the images' ENTRYPOINT
    assert coordinator.ports == {9092: 19092, 9091: 19091}
    fleet = coordinator.argv[coordinator.argv.index("--fleet-address") + 1]
    assert fleet == "127.0.0.1:19092"  # 0.0.0.0 in its own container: loopback on a shared host
    assert coordinator.argv[coordinator.argv.index("--internal-address") + 1] == "127.0.0.1:19091"
    local_ports = set()
    for name in HOSPITALS:
        argv = services[f"hospital-{name}"].argv
        assert argv[argv.index("--coordinator") + 1] == "localhost:19092"
        assert argv[argv.index("--ca") + 1] == f"{work}/root/hospital-{name}/federation-public/ca.pem"
        local_ports.add(argv[argv.index("--local-port") + 1])
    assert len(local_ports) == 3  # 9094 in every container: three different ports on one host


def test_environment_follows_the_image_and_the_service(plan):
    services, work, _ = plan
    rostov = services["hospital-rostov"]
    root = work / "root" / "hospital-rostov"
    assert rostov.env["GENOFED_HOME"] == f"{root}/ledgers/rostov"
    assert rostov.env["GENOFED_INDEX_REGISTRY"] == f"{root}/ledgers/rostov/indexes.json"
    assert rostov.env["FLWR_HOME"] == f"{root}/var/lib/genofed/.flwr"
    assert rostov.env["MPLCONFIGDIR"] == f"{root}/tmp/matplotlib"
    assert rostov.env["PATH"] == f"{root}/opt/genofed/.venv/bin:/usr/bin:/bin"
    assert rostov.cwd == root / "var/lib/genofed"
    assert services["setup"].env["HOSPITALS"] == "rostov krasnodar volgograd"


def test_services_start_after_what_they_depend_on(plan):
    services, _, _ = plan
    order = list(services)
    assert order[:2] == ["setup", "coordinator"]
    assert sorted(order[2:]) == sorted(f"hospital-{name}" for name in HOSPITALS)
    assert services["hospital-rostov"].depends_on == {
        "setup": "service_completed_successfully",
        "coordinator": "service_started",
    }


def test_what_cannot_be_reproduced_is_refused():
    assert cap.unescape('a "$$h" b', "x") == 'a "$h" b'
    with pytest.raises(cap.ComposeError, match="interpolation"):
        cap.unescape("--rounds ${ROUNDS}", "setup.command")
    hosts = cap.host_rewriter("hospital-x", {("coordinator", 9092): 19092}, {"coordinator", "hospital-x"})
    assert hosts("coordinator:9092 10001:10001") == "localhost:19092 10001:10001"
    with pytest.raises(cap.ComposeError, match="does not listen on"):
        hosts("coordinator:9093")
    with pytest.raises(cap.ComposeError, match="cycle"):
        cap.start_order({"a": {"depends_on": {"b": {}}}, "b": {"depends_on": {"a": {}}}})


def test_dockerfiles_are_read_for_the_entrypoint_env_and_volumes():
    for name in ("coordinator", "hospital"):
        image = cap.read_dockerfile(ROOT / "deploy" / f"Dockerfile.{name}")
        assert image.entrypoint == ["genofed"]
        assert image.volumes == ["/var/lib/genofed"] and image.workdir == "/var/lib/genofed"
        assert image.code_dir == "/opt/genofed" and image.user == "genofed"
        assert image.env["PATH"] == "/opt/genofed/.venv/bin:$PATH"
        assert image.env["FLWR_HOME"] == "/var/lib/genofed/.flwr"
