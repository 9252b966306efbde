"""What the coordinator accepts of a hospital's first answer (`describe_sites`).

A malicious or broken hospital's answer (no `site` record, `train: inf`, a declared size of
10**12, another hospital's name) makes that hospital unavailable with a one-line reason, or is
overridden by its enrolled name; it never ends the run for everybody. The grid is a stand-in that
answers each query with a crafted RecordDict (after the audit's probe_query.py).
"""

from __future__ import annotations

import logging

import pytest
from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict

from genofed.common.errors import GenofedError
from genofed.server.app import AdmittedGrid
from genofed.server.sites import (
    MAX_DECLARED_SIZE,
    SiteInfo,
    describe_sites,
    not_connected,
    require_delta_below_smallest,
)

pytestmark = pytest.mark.usefixtures("flower_task_identity")


class FakeGrid:
    """Answers each node's query with its crafted content."""

    def __init__(self, answers: dict[int, RecordDict]) -> None:
        self.answers = answers

    def get_node_ids(self) -> list[int]:
        return list(self.answers)

    def send_and_receive(self, messages, timeout=None):
        replies = []
        for message in messages:
            node = message.metadata.dst_node_id
            reply = Message(self.answers[node], reply_to=message)
            reply.metadata._src_node_id = node
            replies.append(reply)
        return replies


class EnrolledGrid(FakeGrid):
    """A deployed run's grid: it knows each node's enrolled name."""

    def __init__(self, answers: dict[int, RecordDict], enrolled: dict[int, str]) -> None:
        super().__init__(answers)
        self.enrolled = enrolled

    def enrolled_names(self) -> dict[int, str]:
        return dict(self.enrolled)


def honest(name: str, train=80, validation=20, **more) -> RecordDict:
    sizes = {"train": train, "validation": validation, "variants": 480, "synthetic": 0, **more}
    return RecordDict({"site": ConfigRecord({"name": name}), "sizes": MetricRecord(sizes)})


def _describe(grid, min_nodes=2):
    return describe_sites(grid, min_nodes, timeout=5, expected=0, grace=0)


def _malformed() -> dict[str, RecordDict]:
    no_site = RecordDict({"sizes": MetricRecord({"train": 80, "validation": 20})})
    no_sizes = RecordDict({"site": ConfigRecord({"name": "elista"})})
    number_name = RecordDict(
        {"site": ConfigRecord({"name": 7}), "sizes": MetricRecord({"train": 80, "validation": 20})}
    )
    return {
        "train inf": honest("elista", train=float("inf")),
        "train nan": honest("elista", train=float("nan")),
        "train fractional": honest("elista", train=80.5),
        "train negative": honest("elista", train=-1),
        "train 1e12": honest("elista", train=10**12),
        "train at the cap": honest("elista", train=MAX_DECLARED_SIZE),
        "synthetic huge": honest("elista", synthetic=float(2**40)),
        "a list": honest("elista", cases=[1, 2]),
        "no validation": RecordDict(
            {"site": ConfigRecord({"name": "elista"}), "sizes": MetricRecord({"train": 80})}
        ),
        "no site": no_site,
        "no sizes": no_sizes,
        "name not a string": number_name,
        "empty name": honest("  "),
        "name with a newline": honest("elista\n# Verdict"),
        "name too long": honest("x" * 500),
    }


@pytest.mark.parametrize("case", sorted(_malformed()))
def test_a_malformed_answer_makes_that_hospital_unavailable_not_the_run_fail(case, caplog) -> None:
    grid = FakeGrid({1: honest("rostov"), 2: honest("astrakhan"), 3: _malformed()[case]})
    with caplog.at_level(logging.WARNING, logger="genofed.server.sites"):
        sites, asked = _describe(grid)
    assert {node: s.name for node, s in sites.items()} == {2: "astrakhan", 1: "rostov"}
    assert asked == {1, 2}  # turned away by the coordinator: never sent a round it would pay for
    (line,) = [r.getMessage() for r in caplog.records if "node 3 cannot take part" in r.getMessage()]
    assert "malformed" in line and "\n" not in line
    assert "1000000000000" not in line and "inf" not in line


def test_too_few_well_formed_answers_is_the_usual_error() -> None:
    grid = FakeGrid({1: honest("rostov"), 3: honest("elista", train=float("inf"))})
    with pytest.raises(
        GenofedError, match=r"only 1 hospital\(s\) can take part, 2 needed; hospital node 3: .*malformed"
    ):
        _describe(grid)


def test_a_deployed_runs_summary_names_the_hospitals_that_cannot_take_part_by_their_enrolled_name() -> None:
    """The summary of a run too few hospitals could join named them by Flower node id ("node 3: ..."),
    while `coordinator start` had just listed them by name (an ML engineer's walkthrough)."""
    answers = {1: honest("rostov"), 3: honest("elista", train=float("inf"))}
    grid = EnrolledGrid(answers, {1: "rostov", 3: "elista"})
    with pytest.raises(GenofedError) as raised:
        _describe(grid)
    assert "can take part, 2 needed; hospital elista (node 3): " in str(raised.value)


def test_whole_float_sizes_below_the_cap_are_accepted_as_ints() -> None:
    grid = FakeGrid({1: honest("rostov", train=80.0), 2: honest("astrakhan", train=MAX_DECLARED_SIZE - 1)})
    sites, _ = _describe(grid)
    assert sites[1].sizes["train"] == 80 and isinstance(sites[1].sizes["train"], int)
    assert sites[2].sizes["train"] == MAX_DECLARED_SIZE - 1


def test_simulation_names_stay_the_claimed_ones_and_duplicates_still_refused() -> None:
    sites, _ = _describe(FakeGrid({1: honest("rostov"), 2: honest("astrakhan")}))
    assert sorted(s.name for s in sites.values()) == ["astrakhan", "rostov"]
    with pytest.raises(GenofedError, match="several hospitals call themselves rostov"):
        _describe(FakeGrid({1: honest("rostov"), 2: honest("rostov")}))


def test_a_deployed_site_is_named_by_its_enrolment_not_its_claim(caplog) -> None:
    enrolled = {1: "rostov", 2: "astrakhan", 3: "elista"}
    answers = {1: honest("rostov"), 2: honest("astrakhan"), 3: honest("rostov")}  # 3 spoofs rostov
    with caplog.at_level(logging.WARNING, logger="genofed.server.sites"):
        sites, asked = _describe(EnrolledGrid(answers, enrolled))
    assert {node: s.name for node, s in sites.items()} == enrolled
    assert list(sites) == [2, 3, 1]  # sorted by (enrolled) name
    assert "hospital elista (node 3) calls itself by another name" in caplog.text

    # the name of an enrolled hospital that is not connected yet is no use either
    sites, _ = _describe(EnrolledGrid({1: honest("rostov"), 3: honest("astrakhan")}, enrolled))
    assert {node: s.name for node, s in sites.items()} == {1: "rostov", 3: "elista"}


def test_a_node_without_an_enrolled_name_cannot_take_part(caplog) -> None:
    answers = {1: honest("rostov"), 2: honest("astrakhan"), 3: honest("elista")}
    with caplog.at_level(logging.WARNING, logger="genofed.server.sites"):
        sites, _ = _describe(EnrolledGrid(answers, {1: "rostov", 2: "astrakhan"}))
    assert set(sites) == {1, 2}
    assert "node 3 cannot take part: it is not enrolled" in caplog.text


def test_the_admitted_grid_tells_the_enrolled_names() -> None:
    answers = {1: honest("rostov"), 2: honest("somebody-else")}
    grid = AdmittedGrid(FakeGrid(answers), lambda: {1: "rostov", 2: "astrakhan"})
    assert grid.enrolled_names() == {1: "rostov", 2: "astrakhan"}


class SizedGrid(EnrolledGrid):
    """A deployed grid whose hospitals were enrolled with their declared sizes."""

    def __init__(self, answers, enrolled, sizes: dict[int, int]) -> None:
        super().__init__(answers, enrolled)
        self.sizes = sizes

    def enrolled_sizes(self) -> dict[int, int]:
        return dict(self.sizes)


def test_a_hospital_enrolled_with_a_size_must_declare_exactly_it(caplog) -> None:
    """A declared size sets a hospital's FedAvg weight and norm bound; one declaring 10**6 took
    over the model. Enrolled with its size, it takes part only when it declares that size."""
    enrolled = {1: "rostov", 2: "astrakhan", 3: "elista"}
    answers = {1: honest("rostov"), 2: honest("astrakhan"), 3: honest("elista", train=900_000)}
    with caplog.at_level(logging.WARNING, logger="genofed.server.sites"):
        sites, asked = _describe(
            SizedGrid(answers, enrolled, {1: 100, 3: 100})
        )  # astrakhan: no size recorded
    assert set(sites) == {1, 2}
    # not sent a round: it would train, spend its budget and upload an update refused here (an audit
    # saw a hospital enrolled with a mistyped size spend 7.94 of its lifetime 8 for nothing)
    assert asked == {1, 2}
    assert (
        "hospital elista (node 3) cannot take part: it declares 900020 patients but was enrolled with 100"
        in caplog.text
    )
    # one enrolled without a size takes part on its word, and the run's log says so (for it alone)
    unchecked = [
        r.getMessage() for r in caplog.records if "enrolled without a declared size" in r.getMessage()
    ]
    assert unchecked == [
        "hospital astrakhan (node 2) was enrolled without a declared size: the 100 patients it declares are "
        "unchecked (coordinator set-size --declared-size)"
    ]


def test_enrolment_records_the_declared_size_and_the_admitted_grid_tells_it(tmp_path, capsys) -> None:
    from genofed.cli.main import main
    from genofed.client.agent.keys import init_site
    from genofed.server.service.enrollment import enrolled_sizes

    folder = tmp_path / "fed two"  # a whole federation: enroll refuses a folder without its federation.json
    panel = tmp_path / "panel.tsv"
    panel.write_text("id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n")
    assert main(["coordinator", "init", str(folder), "--host", "localhost", "--panel", str(panel)]) == 0
    # the next command, quoted so that it runs as printed for a folder with a space
    assert f"next: genofed coordinator enroll '{folder}' --name HOSPITAL" in capsys.readouterr().out
    init_site(tmp_path / "site", "rostov")
    key = tmp_path / "site" / "supernode.pub"
    args = ["coordinator", "enroll", str(folder), "--name", "rostov", "--public-key", str(key)]
    assert main([*args, "--declared-size", "1"]) == 2
    assert "--declared-size 1" in capsys.readouterr().err
    assert main([*args, "--declared-size", "100"]) == 0
    assert "declared cohort size 100" in capsys.readouterr().out
    assert enrolled_sizes(folder) == {"rostov": 100}
    grid = AdmittedGrid(FakeGrid({}), lambda: {7: "rostov", 8: "astrakhan"}, lambda: enrolled_sizes(folder))
    assert grid.enrolled_sizes() == {7: 100}


def test_a_whole_genome_panel_is_no_malformed_answer() -> None:
    """The patient cap is for patients: a panel of millions of variants is a size like any other."""
    sites, _ = _describe(FakeGrid({1: honest("rostov", variants=5_000_000), 2: honest("astrakhan")}))
    assert sites[1].sizes["variants"] == 5_000_000


def test_a_delta_not_below_one_over_the_smallest_hospital_is_refused_before_anyone_trains():
    """Publishing one of n patients' records outright is (0, 1/n)-DP: a run at such a delta
    protects no one at that hospital (simulated hospitals take the run's delta, so the coordinator
    checks it against the sizes they declared; a deployed hospital refuses it itself)."""
    sites = {
        1: SiteInfo("rostov", {"train": 80, "validation": 20}),
        2: SiteInfo("elista", {"train": 48, "validation": 12, "cases": 24}),
    }
    with pytest.raises(GenofedError, match=r"delta 0\.5 is not below 1 / 60 \(hospital elista's patients"):
        require_delta_below_smallest(sites, 0.5)
    with pytest.raises(GenofedError, match="nothing was trained"):
        require_delta_below_smallest(sites, 1 / 60)
    require_delta_below_smallest(sites, 0.016)
    require_delta_below_smallest(sites, 1e-5)
    require_delta_below_smallest({}, 0.5)


def test_enrolled_hospitals_whose_nodes_were_not_asked_are_not_connected():
    class Enrolled:
        def enrolled_names(self) -> dict[int, str]:
            return {1: "rostov", 2: "elista", 3: "maykop"}

    assert not_connected(Enrolled(), {1, 3}) == ["elista"]
    assert not_connected(object(), set()) == []  # a simulation's grid knows no enrolment


def test_a_turned_away_hospital_is_recorded_with_its_reason_not_as_not_connected() -> None:
    """An operator's walkthrough: elista, enrolled with 100 and declaring 900,020, was turned away at
    the start, and the report called it 'not connected' (only the ServerApp's log said why)."""
    from genofed.server.sites import turned_away_names

    enrolled = {1: "rostov", 2: "astrakhan", 3: "elista"}
    answers = {1: honest("rostov"), 2: honest("astrakhan"), 3: honest("elista", train=900_000)}
    grid = SizedGrid(answers, enrolled, {1: 100, 2: 100, 3: 100})
    away: dict[int, str] = {}
    sites, asked = describe_sites(grid, 2, timeout=5, expected=0, grace=0, turned_away=away)
    assert asked == {1, 2} and list(away) == [3]
    assert away[3].startswith("it declares 900020 patients but was enrolled with 100")
    assert not_connected(grid, asked, away) == []
    assert turned_away_names(grid, away) == {"elista": away[3]}


class SuperLinkErrorGrid(EnrolledGrid):
    """Node 3 stopped sending heartbeats: the SuperLink answers its query itself, as sender 1."""

    def send_and_receive(self, messages, timeout=None):
        replies = []
        for message in messages:
            node = message.metadata.dst_node_id
            message.metadata.__dict__["_message_id"] = message.object_id  # as Flower's push gives it
            if node == 3:
                from flwr.app import Error

                reply = Message(Error(code=0, reason="Error: Node Unavailable"), reply_to=message)
                reply.metadata._src_node_id = 1
            else:
                reply = Message(self.answers[node], reply_to=message)
                reply.metadata._src_node_id = node
            replies.append(reply)
        return replies


def test_an_error_the_superlink_writes_is_filed_under_the_node_it_is_about() -> None:
    """The run's error named 'node 1', which is the SuperLink, not a hospital (an operator's
    walkthrough): a reply is about the node its query went to."""
    enrolled = {2: "rostov", 3: "eysk", 4: "astrakhan"}
    grid = SuperLinkErrorGrid({2: honest("rostov"), 3: honest("eysk"), 4: honest("astrakhan")}, enrolled)
    away: dict[int, str] = {}
    sites, asked = describe_sites(grid, 2, timeout=5, expected=0, grace=0, turned_away=away)
    # not asked every round as if it had refused itself: it never introduced itself (no declared
    # size, no delta check), so it is turned away with the SuperLink's reason
    assert set(sites) == {2, 4} and asked == {2, 4} and 1 not in asked
    assert away == {3: "Error: Node Unavailable"}
