"""In the simulation a hospital that cannot take part is named by its folder, with the file that
failed and where its reason is, in the coordinator's warning, its error, results.json and the
report, never only by the random node id Flower draws; and no sample id reaches the coordinator.

The replies come from the real ClientApp on a real federation folder (one hospital's genotype file
truncated, another's phenotype file with a bad label); the coordinator's side is the real
`describe_sites`. Only Flower's transport is a stand-in: a grid that hands each message to the
ClientApp in this process.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Iterable
from pathlib import Path

import pytest
from flwr.app import Context, Error, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from helpers.mixed_federation import write_mixed_federation

from genofed.client.app import make_client_app
from genofed.client.site import load_site_tensors, resolve_site
from genofed.common.data.layout import hospital_folders
from genofed.common.errors import DataError, GenofedError
from genofed.server.sites import describe_sites
from genofed.simulations.local.site_names import NamedRefusals, NamingGrid, SiteNames, tagged

BROKEN = "omsk"  # its genotype file is cut short
BAD_LABEL = "kazan"  # a label 'maybe' on its first patient, whose sample id the check names
#: Flower's node ids are random 64-bit numbers; these stand for them.
NODES = {8676823047852620954: 0, 12042397288594932939: 1, 2270363451258006446: 2, 1248855238130602760: 3}


pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(scope="module")
def federation(tmp_path_factory) -> Path:
    """Four hospitals (label column `disease`); omsk's bgzipped VCF is cut short, and kazan's first
    patient has the label 'maybe'."""
    root = tmp_path_factory.mktemp("names") / "hospitals"
    written = write_mixed_federation(root, bcf=False)
    genotypes = written[BROKEN][0]
    assert gzip.open(genotypes).read()  # whole before it is cut
    data = genotypes.read_bytes()
    genotypes.write_bytes(data[: len(data) // 2])
    phenotypes = written[BAD_LABEL][1]
    lines = phenotypes.read_text().splitlines()
    lines[1] = ",".join([lines[1].split(",")[0], "maybe", *lines[1].split(",")[2:]])
    phenotypes.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def hospitals(federation) -> list[str]:
    return [folder.name for folder in hospital_folders(federation)]


def _config(federation: Path, tmp_path: Path) -> dict:
    return {
        "data-dir": str(federation),
        "label-column": "disease",
        "ledger-dir": str(tmp_path / "l"),
        "seed": 3,
    }


def _site_error(federation: Path, tmp_path: Path, partition: int) -> DataError:
    """What the data check says at that hospital, read without any ClientApp: the oracle."""
    with pytest.raises(DataError) as raised:
        load_site_tensors(resolve_site({"partition-id": partition}, _config(federation, tmp_path)), 1)
    return raised.value


def _expected_reason(federation: Path, error: DataError) -> str:
    shown = Path(error.file).resolve().relative_to(federation.resolve())
    return (
        f"the site's data failed validation ({shown}); the reason is in the simulation's log, on the "
        "hospital's 'refusing:' line (or run `genofed data check` on its files)"
    )


class _InProcessGrid(Grid):
    """Flower's transport, reduced to handing each message to the ClientApp of its node."""

    def __init__(self, app, nodes: dict[int, int]) -> None:
        self._app, self._nodes = app, nodes

    def get_node_ids(self) -> Iterable[int]:
        return list(self._nodes)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        replies = []
        for message in messages:
            node = message.metadata.dst_node_id
            context = Context(1, node, {"partition-id": self._nodes[node]}, RecordDict(), {})
            replies.append(self._app(message, context))
        return replies

    def set_run(self, run) -> None: ...

    @property
    def run(self):
        raise NotImplementedError

    def create_message(self, *args, **kwargs):
        raise NotImplementedError

    def push_messages(self, messages):
        raise NotImplementedError

    def pull_messages(self, message_ids):
        raise NotImplementedError


def test_a_refusal_names_the_hospital_its_file_and_where_the_reason_is(federation, hospitals, tmp_path):
    app = NamedRefusals(make_client_app(_config(federation, tmp_path)), hospitals, federation)
    query = Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=5)
    for name in (BROKEN, BAD_LABEL):
        partition = hospitals.index(name)
        reply = app(query, Context(1, 5, {"partition-id": partition}, RecordDict(), {}))
        error = _site_error(federation, tmp_path, partition)
        assert reply.has_error() and reply.error.reason == tagged(name, _expected_reason(federation, error))
    sample_id = (federation / BAD_LABEL / "phenotypes.csv").read_text().splitlines()[1].split(",")[0]
    assert sample_id in str(error) and sample_id not in reply.error.reason  # the check's words stay home
    fine = app(query, Context(1, 5, {"partition-id": hospitals.index("tomsk")}, RecordDict(), {}))
    assert not fine.has_error() and fine.content["site"]["name"] == "tomsk"


def test_the_worker_process_quiets_flower_as_the_simulation_does(federation, hospitals, tmp_path):
    """The level reaches the process that runs the app (a Ray worker), where Flower logs each
    worker's end at WARNING."""
    flower = logging.getLogger("flwr")
    before = flower.level
    try:
        app = NamedRefusals(
            make_client_app(_config(federation, tmp_path)), hospitals, federation, logging.ERROR
        )
        query = Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=5)
        flower.setLevel(logging.INFO)
        app(query, Context(1, 5, {"partition-id": hospitals.index("tomsk")}, RecordDict(), {}))
        assert flower.level == logging.ERROR
    finally:
        flower.setLevel(before)


def test_the_coordinator_names_a_hospital_that_cannot_take_part(federation, hospitals, tmp_path, caplog):
    app = NamedRefusals(make_client_app(_config(federation, tmp_path)), hospitals, federation)
    names = SiteNames(hospitals)
    grid = NamingGrid(_InProcessGrid(app, NODES), names)
    reason = _expected_reason(federation, _site_error(federation, tmp_path, hospitals.index(BROKEN)))
    node_of = {hospitals[partition]: node for node, partition in NODES.items()}

    with caplog.at_level(logging.WARNING, logger="genofed.server.sites"), names.naming_logs():
        sites, asked = describe_sites(grid, min_nodes=2, timeout=5)
    assert sorted(site.name for site in sites.values()) == sorted(set(hospitals) - {BROKEN, BAD_LABEL})
    assert asked == set(NODES) and names.by_node == {node_of[BROKEN]: BROKEN, node_of[BAD_LABEL]: BAD_LABEL}
    assert f"hospital {BROKEN} cannot take part: {reason}" in caplog.text
    assert not any(str(node) in caplog.text for node in NODES)

    with pytest.raises(GenofedError) as raised, names.naming_logs():
        try:
            describe_sites(grid, min_nodes=3, timeout=5)
        except GenofedError as exc:
            raise names.named_error(exc) from None
    assert str(raised.value).startswith("only 2 hospital(s) can take part, 3 needed; ")
    assert f"{BROKEN}: {reason}" in str(raised.value) and f"{BAD_LABEL}: the site's data failed" in str(
        raised.value
    )
    assert not any(str(node) in str(raised.value) for node in NODES)


def test_results_and_progress_name_known_nodes_only():
    names = SiteNames(["sevastopol", "elista"])
    refusal = Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=42)
    reply = Message(
        error=Error(code=4001, reason=tagged("sevastopol", "genotypes.vcf.gz: truncated")), reply_to=refusal
    )
    names.learn(reply)
    assert reply.error.reason == "genotypes.vcf.gz: truncated"
    impostor = Message(error=Error(code=4001, reason=tagged("atlantis", "x")), reply_to=refusal)
    assert names.learn(impostor).error.reason == tagged("atlantis", "x")  # not a hospital of this run
    results = {
        "refusals": {"1": {"node-42": "genotypes.vcf.gz: truncated", "node-7": "offline"}},
        "rounds": [{"round": 1, "refused": ["node-42", "node-7"], "participants": ["elista"]}],
        "test_auc": 0.61,
    }
    assert names.renamed(results) == {
        "refusals": {"1": {"sevastopol": "genotypes.vcf.gz: truncated", "node-7": "offline"}},
        "rounds": [{"round": 1, "refused": ["sevastopol", "node-7"], "participants": ["elista"]}],
        "test_auc": 0.61,
    }
    said: list[str] = []
    names.progress(said.append)("round 1/1, test AUC n/a, refused: node-42")
    assert said == ["round 1/1, test AUC n/a, refused: sevastopol"]


def test_nodes_learned_before_a_restart_are_named_after_it(tmp_path):
    """`--resume`: the checkpoint's refusals name the first launch's node ids; the store keeps them."""
    store = tmp_path / "checkpoints" / "node-names.json"
    first = SiteNames(["sevastopol", "elista"], store=store)
    refusal = Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=42)
    first.learn(Message(error=Error(code=4001, reason=tagged("sevastopol", "truncated")), reply_to=refusal))
    after_restart = SiteNames(["sevastopol", "elista"], store=store)  # Flower draws new ids now
    assert after_restart.renamed({"refusals": {"1": {"node-42": "truncated"}}}) == {
        "refusals": {"1": {"sevastopol": "truncated"}}
    }
    store.write_text("{not json")  # a damaged store costs the names, never the run
    assert SiteNames(["sevastopol"], store=store).by_node == {}
    assert SiteNames(["elista"], store=tmp_path / "absent.json").by_node == {}


def test_the_hospital_folders_are_in_partition_order(federation, hospitals, tmp_path):
    """`NamedRefusals` names partition i by the i-th folder: the folder the ClientApp reads."""
    for partition, name in enumerate(hospitals):
        assert resolve_site({"partition-id": partition}, _config(federation, tmp_path)).name == name


def test_the_sites_refusing_line_still_reaches_the_log(federation, hospitals, tmp_path, monkeypatch):
    """A Ray actor configures no logging: the site's "refusing:" line (where the reason points the
    user) is printed by Python's last-resort handler, which any handler added on the way hides."""
    printed = io.StringIO()
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in an actor: no handler anywhere
    monkeypatch.setattr(logging, "lastResort", logging.StreamHandler(printed))
    app = NamedRefusals(make_client_app(_config(federation, tmp_path)), hospitals, federation)
    query = Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=5)
    reply = app(query, Context(1, 5, {"partition-id": hospitals.index(BROKEN)}, RecordDict(), {}))
    assert reply.has_error() and BROKEN in reply.error.reason
    assert "refusing: " in printed.getvalue() and "truncated" in printed.getvalue()
