"""A simulation's SuperNodes against its hospital folders (audit of `flwr run .`, finding 3).

A simulated SuperNode serves the hospital folder of its partition id, so with Flower's default of 2
SuperNodes on a 3-hospital cohort the third hospital was never asked, and nothing said so; with 4,
the extra node refused and the report counted a phantom hospital. The ServerApp now refuses both
before it asks anyone, and says which `num-supernodes` to give; `genofed simulate` starts one
SuperNode per folder, so it is never refused. A deployed run (no data-dir) is not concerned.
"""

from __future__ import annotations

import math
import time

import pytest
from flwr.app import ConfigRecord, Error, Message, MetricRecord, RecordDict

from genofed.common.data.layout import hospital_folders
from genofed.common.errors import GenofedError
from genofed.server import federation, sites
from genofed.server.settings import RunSettings

pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(autouse=True)
def _short_settle(monkeypatch):
    monkeypatch.setattr(sites, "SIMULATION_SETTLE_SECONDS", 0.3)


class SimulatedGrid:
    """Flower's simulation grid as the ServerApp sees it: `count` nodes, partition i serving the
    i-th hospital folder (the nodes past the folders would refuse); notes every message sent."""

    def __init__(self, hospitals: list[str], count: int) -> None:
        self.names = {1000 + i: hospitals[i] if i < len(hospitals) else None for i in range(count)}
        self.sent: list[Message] = []

    def get_node_ids(self) -> list[int]:
        return list(self.names)

    def send_and_receive(self, messages, timeout=None):
        messages = list(messages)
        self.sent += messages
        replies = []
        for message in messages:
            node, name = message.metadata.dst_node_id, self.names[message.metadata.dst_node_id]
            if name is None:  # what client/site.py answers for a partition past the folders
                reply = Message(Error(code=0, reason="partition 3 but ... has only 3"), reply_to=message)
            else:
                sizes = MetricRecord({"train": 80, "validation": 20, "variants": 480, "synthetic": 0})
                content = RecordDict({"site": ConfigRecord({"name": name}), "sizes": sizes})
                reply = Message(content, reply_to=message)
            reply.metadata._src_node_id = node
            replies.append(reply)
        return replies


class EnrolledGrid(SimulatedGrid):
    """A deployed coordinator's grid: it knows its nodes' enrolled names."""

    def enrolled_names(self) -> dict[int, str]:
        return {node: name for node, name in self.names.items() if name}


def _settings(data_dir, tmp_path, **more) -> RunSettings:
    return RunSettings(
        data_dir=str(data_dir),
        out_dir=str(tmp_path / "run"),
        rounds=1,
        epsilon=math.inf,
        model="logistic",
        site_evaluations=0,
        quiet=True,
        **more,
    )


@pytest.fixture
def cohort(simulated_cohorts):
    data_dir = simulated_cohorts(5)
    return data_dir, [folder.name for folder in hospital_folders(data_dir)]


def test_fewer_supernodes_than_hospital_folders_is_refused_before_anyone_is_asked(cohort, tmp_path):
    data_dir, hospitals = cohort
    assert len(hospitals) == 3
    grid = SimulatedGrid(hospitals, 2)  # Flower's default num-supernodes
    with pytest.raises(GenofedError) as refused:
        federation.run_federation(grid, _settings(data_dir, tmp_path))
    message = str(refused.value)
    assert f"2 SuperNode(s) for the 3 hospital folders of {data_dir}" in message
    assert f"{hospitals[2]} would never be asked" in message
    assert hospitals[0] not in message.split("folders of")[1].split("would")[0]
    assert '--federation-config "num-supernodes=3"' in message
    assert grid.sent == []


def test_more_supernodes_than_hospital_folders_is_refused_with_no_phantom_hospital(cohort, tmp_path):
    data_dir, hospitals = cohort
    grid = SimulatedGrid(hospitals, 4)
    with pytest.raises(GenofedError) as refused:
        federation.run_federation(grid, _settings(data_dir, tmp_path))
    message = str(refused.value)
    assert "4 SuperNodes for the 3 hospital folders" in message
    assert "1 of them would serve no hospital" in message
    assert '--federation-config "num-supernodes=3"' in message
    assert grid.sent == []


def test_one_supernode_per_hospital_folder_asks_every_hospital_at_once(cohort, tmp_path):
    data_dir, hospitals = cohort
    grid = SimulatedGrid(hospitals, 3)
    simulated = federation.simulated_hospitals(_settings(data_dir, tmp_path), grid)
    assert simulated is not None and list(simulated.names) == hospitals
    started = time.monotonic()
    found, asked = sites.describe_sites(grid, 2, timeout=5, simulated=simulated)
    assert time.monotonic() - started < sites.SIMULATION_SETTLE_SECONDS  # no settling wait
    assert sorted(s.name for s in found.values()) == sorted(hospitals)
    assert asked == set(grid.names)


def test_a_count_that_reaches_the_folders_while_the_engine_starts_is_taken(cohort, tmp_path):
    """Flower registers its SuperNodes as its engine starts, which may be after the ServerApp's
    first look: a count that grows to the folders' is waited for, not refused."""
    data_dir, hospitals = cohort
    grid = SimulatedGrid(hospitals, 3)
    looks = iter([[], [1000], [1000, 1001]])
    grid.get_node_ids = lambda: next(looks, list(grid.names))  # type: ignore[method-assign]
    simulated = sites.SimulatedHospitals(str(data_dir), tuple(hospitals))
    assert sorted(sites.wait_for_simulated_nodes(grid, simulated, timeout=5)) == sorted(grid.names)


def test_a_deployed_run_is_not_held_to_any_hospital_folders(cohort, tmp_path):
    data_dir, hospitals = cohort
    assert (
        federation.simulated_hospitals(_settings("", tmp_path, panel=str(data_dir / "panel.tsv")), None)
        is None
    )
    # a deployed coordinator's grid knows its nodes by enrolment, whatever data-dir says
    assert federation.simulated_hospitals(_settings(data_dir, tmp_path), EnrolledGrid(hospitals, 2)) is None
    found, _ = sites.describe_sites(SimulatedGrid(hospitals[:2], 2), 2, timeout=5, grace=0)
    assert len(found) == 2


def test_genofed_simulate_starts_one_supernode_per_hospital_folder(cohort, tmp_path, monkeypatch):
    """What `genofed simulate` gives Flower's engine is the count the ServerApp holds it to."""
    import flwr.simulation

    from genofed.simulations.local import simulate

    data_dir, _ = cohort
    started: dict[str, int] = {}

    class Started(Exception):
        pass

    def run_simulation(*, num_supernodes, **_):
        started["num_supernodes"] = num_supernodes
        raise Started

    monkeypatch.setattr(flwr.simulation, "run_simulation", run_simulation)
    settings = _settings(data_dir, tmp_path)
    with pytest.raises(Started):
        simulate.simulate(settings, references=False)
    expected = federation.simulated_hospitals(settings, SimulatedGrid([], 0))
    assert expected is not None and started["num_supernodes"] == len(expected.names)
