"""Who takes part in a run: wait for the hospitals, then ask each its name and cohort sizes.

Only the hospitals asked here are sent rounds (one connecting later joins the next run); the
sizes they declare cap their example counts and set their update norm bounds
(`genofed.server.integrity`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flwr.app import ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid

from genofed.common.errors import GenofedError
from genofed.server.round_log import RoundLog, error_reason

logger = logging.getLogger(__name__)

#: The largest cohort size (patients, variants, synthetic rows) a hospital may declare: any
#: declared size must be a whole number in [0, MAX_DECLARED_SIZE).
#:
#: Why: the sizes a hospital declares are only its word, yet they set its FedAvg weight, its
#: update-norm bound and, under SecAgg+, everyone's `max_weight`. A declared 10**11 drove
#: `genofed.server.integrity.norm_bound` into multi-GB allocations (its step count grows with the
#: rows) and a declared 10**6 or 2**40 gave one hospital the whole model. No genetics cohort of
#: one hospital in this product comes near a million patients, and a million rows keeps
#: `norm_bound` in milliseconds; the cap bounds the damage, it does not make a size true.
MAX_DECLARED_SIZE = 10**6
#: The declared sizes that count patients (the cap above); any other (the panel's variants) must
#: only be a whole number below MAX_OTHER_SIZE: a whole-genome panel holds millions of variants.
PATIENT_SIZES = ("train", "validation", "synthetic")
MAX_OTHER_SIZE = 10**9
#: The sizes every introduction must declare (the coordinator reads them by name).
REQUIRED_SIZES = ("train", "validation")
#: The longest site name accepted (it goes into logs, results.json and the report).
MAX_NAME_LENGTH = 100


#: How long a run waits for `min-nodes` hospitals to connect before it gives up (`wait_for_nodes`).
NODE_WAIT_SECONDS = 600.0


@dataclass
class SiteInfo:
    """A hospital as it introduced itself: its name and aggregate cohort sizes
    (`train`, `validation`, perhaps `synthetic` and `cases`)."""

    name: str
    sizes: dict[str, int]


def describe_sites(
    grid: Grid,
    min_nodes: int,
    timeout: float = NODE_WAIT_SECONDS,
    *,
    expected: int = 0,
    grace: float = 120.0,
    reply_timeout: float = 600.0,
    simulated: SimulatedHospitals | None = None,
    turned_away: dict[int, str] | None = None,
) -> tuple[dict[int, SiteInfo], set[int]]:
    """Wait for `min_nodes` hospitals (up to `timeout` seconds, and up to `grace` seconds for all
    `expected` ones), then ask each its name and (aggregate) cohort sizes, waiting up to
    `reply_timeout` seconds (the run's `round-timeout`) for the answers; a hospital that has not
    answered by then cannot take part, and the reason says so.

    Returns the hospitals that can take part, and the nodes sent rounds: those hospitals, and one
    that refused the query itself (its data failed its checks), which is still asked every round
    so that its refusal and reason are on record (it refuses before it computes or spends
    anything). A node the coordinator turned away (not enrolled any more, a declared size other
    than the enrolled one, a malformed answer) is never sent a round: it would train, spend its
    privacy budget and upload an update the coordinator then refuses. One that did not answer at
    all is not either, as every round would wait `reply_timeout` for it again. One connecting
    later joins the next run.

    `simulated`: the hospital folders of a simulation (`data-dir`), whose SuperNodes serve one
    folder each by partition id; the run refuses unless there is one node per folder
    (`wait_for_simulated_nodes`). `turned_away`, when given, receives the reason of each node that
    cannot take part and is sent no round (node -> reason), for the run's record: the report named
    such a hospital "not connected" (an operator's walkthrough)."""
    if simulated is not None:
        nodes = wait_for_simulated_nodes(grid, simulated, timeout)
    else:
        nodes = wait_for_nodes(grid, min_nodes, timeout, expected=expected, grace=grace)
    sites, unavailable, refused_itself = _ask(grid, nodes, reply_timeout)
    enrolled = enrolled_names(grid)
    if enrolled is not None:
        _name_by_enrolment(sites, unavailable, enrolled)
        _check_enrolled_sizes(sites, unavailable, enrolled_sizes(grid))
    for node, reason in unavailable.items():
        logger.warning("%s cannot take part: %s", _who(node, enrolled), reason)
    _check_names(sites)
    if len(sites) < min_nodes:
        raise GenofedError(
            f"only {len(sites)} hospital(s) can take part, {min_nodes} needed; "
            + "; ".join(f"{_who(n, enrolled)}: {r}" for n, r in unavailable.items())
        )
    asked = {node for node in nodes if node in sites or node in refused_itself}
    if turned_away is not None:
        turned_away.update({node: reason for node, reason in unavailable.items() if node not in asked})
    return dict(sorted(sites.items(), key=lambda item: item[1].name)), asked


def require_delta_below_smallest(sites: dict[int, SiteInfo], delta: float) -> None:
    """Refuse the run, before any hospital trains, when `delta` is not below 1 / the patients
    (training and validation) of the smallest hospital taking part: publishing one of its n
    patients' records outright, chosen at random, is (0, 1/n)-DP, so such a delta protects no one
    there. A deployed hospital refuses it too (`hospital start`); in a simulation the hospitals take
    the run's delta, so the coordinator checks it against the sizes they declared."""
    sizes = {s.name: s.sizes.get("train", 0) + s.sizes.get("validation", 0) for s in sites.values()}
    if not sizes:
        return
    name, smallest = min(sizes.items(), key=lambda item: (item[1], item[0]))
    if smallest > 0 and delta >= 1 / smallest:
        raise GenofedError(
            f"delta {delta:g} is not below 1 / {smallest} (hospital {name}'s patients, "
            f"{1 / smallest:.3g}): a delta that large allows releasing a patient's record outright, so "
            "the privacy guarantee would protect no one there; nothing was trained. Give a delta well "
            "below 1 / (patients per hospital), e.g. 1e-5 (the default)"
        )


def round_log_of(sites: dict[int, SiteInfo], asked: set[int]) -> RoundLog:
    """An empty round log for these hospitals (named, with their declared sizes)."""
    return RoundLog(
        site_of_node={node: s.name for node, s in sites.items()},
        taking_part=asked,
        declared_sizes={node: dict(s.sizes) for node, s in sites.items()},
    )


#: How often a coordinator still waiting for hospitals says so (`wait_for_nodes`).
WAITING_REPORT_SECONDS = 30.0


def wait_for_nodes(grid: Grid, min_nodes: int, timeout: float, *, expected: int, grace: float) -> list[int]:
    """The connected nodes once `max(min_nodes, expected)` are there, or `min_nodes` after `grace`
    seconds; raises after `timeout` seconds with fewer than `min_nodes`. Says every
    `WAITING_REPORT_SECONDS` how many have connected and when it gives up: an operator's audit
    watched a coordinator with none of 13 hospitals started print nothing after "submitted" for
    3.5 minutes. A deployed run's grid hears of the wait too (`_announce_wait`), for the
    coordinator's own output."""
    started = time.monotonic()
    if len(nodes := list(grid.get_node_ids())) >= max(min_nodes, expected):
        return nodes
    now = time.time()
    all_until = now + grace if expected > min_nodes else None  # then it starts with min_nodes
    wait = {"needed": min_nodes, "expected": expected, "since": now, "all_until": all_until}
    _announce_wait(grid, {**wait, "gives_up_at": now + timeout})
    try:
        return _wait(grid, min_nodes, timeout, expected, grace, started)
    finally:
        _announce_wait(grid, None)


def _announce_wait(grid: Grid, wait: dict[str, Any] | None) -> None:
    """Tell a grid that wants to know (a deployed run's `genofed.server.app.AdmittedGrid`) what the
    run waits for (`needed` and `expected` hospitals, `since`, `all_until`, `gives_up_at`: UNIX times);
    None: the wait is over. A simulation's grid does not ask."""
    waiting = getattr(grid, "waiting_for_hospitals", None)
    if callable(waiting):
        waiting(wait)


def _wait(
    grid: Grid, min_nodes: int, timeout: float, expected: int, grace: float, started: float
) -> list[int]:
    """`wait_for_nodes`' loop, once fewer than it wants are connected."""
    reported = started
    while len(nodes := list(grid.get_node_ids())) < max(min_nodes, expected):
        now = time.monotonic()
        waited = now - started
        if now - reported >= WAITING_REPORT_SECONDS:
            reported = now
            of = f" of {expected} enrolled" if expected else ""
            logger.warning(
                "waiting for hospitals: %d%s connected, %d needed to start; giving up in %.0f s",
                len(nodes),
                of,
                min_nodes,
                max(timeout - waited, 0.0),
            )
        if len(nodes) >= min_nodes and waited > grace:
            logger.warning(
                "%d of %d enrolled hospitals connected after %.0f s: starting without the others",
                len(nodes),
                expected,
                waited,
            )
            break
        if waited > timeout:
            raise GenofedError(
                f"only {len(nodes)} hospital(s) connected after {timeout:.0f} s; {min_nodes} needed"
            )
        time.sleep(1.0)
    return nodes


@dataclass(frozen=True)
class SimulatedHospitals:
    """A simulation's hospital folders (`genofed.common.data.layout.hospital_folders`, in
    partition order) and the federation folder that holds them."""

    data_dir: str
    names: tuple[str, ...]


#: Seconds a simulation's node count must stay the same before the run takes it as final: Flower's
#: simulation engine registers all its SuperNodes at once as it starts, so a count short of the
#: hospital folders is not going to grow.
SIMULATION_SETTLE_SECONDS = 5.0


def wait_for_simulated_nodes(
    grid: Grid, hospitals: SimulatedHospitals, timeout: float, *, settle: float | None = None
) -> list[int]:
    """The simulation's nodes, once there is one per hospital folder; raises GenofedError when the
    count stays another for `settle` seconds (or no node came within `timeout`).

    Why: a simulated SuperNode serves the hospital folder of its partition id
    (`genofed.client.site`), so with fewer nodes than folders (Flower's default is 2 SuperNodes)
    the last hospitals were never asked and the run trained without them, with no word in
    results.json or the report; with more, each extra node refused and the report counted it as
    a hospital that did not take part."""
    settle = SIMULATION_SETTLE_SECONDS if settle is None else settle
    folders = len(hospitals.names)
    started = changed = time.monotonic()
    seen = -1
    while len(nodes := list(grid.get_node_ids())) != folders:
        now = time.monotonic()
        if len(nodes) != seen:
            seen, changed = len(nodes), now
        if (nodes and now - changed >= settle) or now - started > timeout:
            break
        time.sleep(0.2)
    if len(nodes) == folders:
        return nodes
    if not nodes:
        raise GenofedError(f"no simulated SuperNode connected after {timeout:.0f} s")
    fix = (
        f'run it with --federation-config "num-supernodes={folders}" (one simulated SuperNode per '
        "hospital folder)"
    )
    if len(nodes) < folders:
        missing = hospitals.names[len(nodes) :]
        raise GenofedError(
            f"the simulation has {len(nodes)} SuperNode(s) for the {folders} hospital folders of "
            f"{hospitals.data_dir}: {', '.join(missing)} would never be asked; {fix}"
        )
    raise GenofedError(
        f"the simulation has {len(nodes)} SuperNodes for the {folders} hospital folders of "
        f"{hospitals.data_dir}: {len(nodes) - folders} of them would serve no hospital; {fix}"
    )


def _ask(
    grid: Grid, nodes: list[int], timeout: float
) -> tuple[dict[int, SiteInfo], dict[int, str], set[int]]:
    """Each node's introduction, the reason of each node that cannot take part, and the nodes
    that refused the query themselves (an error reply: e.g. their data failed its checks)."""
    queries = [Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=node) for node in nodes]
    sites: dict[int, SiteInfo] = {}
    unavailable: dict[int, str] = {}
    replies = list(grid.send_and_receive(queries, timeout=timeout))
    # a query went out when Flower gave it an id as it pushed it (see RoundLog.unanswered)
    answered = {reply.metadata.reply_to_message_id for reply in replies}
    sent = [query for query in queries if query.metadata.message_id]
    silent = {query.metadata.dst_node_id for query in sent if query.metadata.message_id not in answered}
    for node in silent:
        unavailable[node] = (
            f"no answer to the coordinator's first query within {timeout:g} s (round-timeout); "
            "it is not sent this run's rounds"
        )
    refused_itself: set[int] = set()
    # the node a reply is about is the one its query went to: an error the SuperLink writes itself
    # (the node stopped sending heartbeats) comes from the SuperLink (sender 1), as RoundLog.node says
    queried = {query.metadata.message_id: query.metadata.dst_node_id for query in sent}
    for reply in replies:
        node = queried.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)
        if reply.has_error():  # e.g. its data failed its checks: the others go on without it
            unavailable[node] = error_reason(reply.error.code, reply.error.reason)
            if reply.metadata.src_node_id == node:  # its own refusal: asked every round, on record
                refused_itself.add(node)
            # else the SuperLink answered for it (gone): turned away, like a node that did not answer
            continue
        try:
            sites[node] = introduction(reply.content)
        except ValueError as exc:  # a malformed answer: that hospital cannot take part, the others go on
            unavailable[node] = f"its answer to the coordinator's first query is malformed: {exc}"
    return sites, unavailable, refused_itself


def introduction(content: RecordDict) -> SiteInfo:
    """The hospital in a query answer, checked: a ConfigRecord `site` with a non-empty one-line
    string `name`, and a MetricRecord `sizes` whose values are whole numbers in
    [0, MAX_DECLARED_SIZE), `train` and `validation` among them.

    Raises ValueError with a one-line reason that quotes none of the answer's values (they are
    the hospital's to choose, and the reason is written into results.json and the report)."""
    try:
        site, sizes = content.get("site"), content.get("sizes")
    except Exception:  # noqa: BLE001 - a RecordDict that cannot be read is one more malformed answer
        raise ValueError("it cannot be read") from None
    if not isinstance(site, ConfigRecord):
        raise ValueError("no 'site' record")
    name = site.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("its site name is not a non-empty string")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValueError(
            f"its site name is longer than {MAX_NAME_LENGTH} characters or holds control characters"
        )
    if not isinstance(sizes, MetricRecord):
        raise ValueError("no 'sizes' record")
    missing = [key for key in REQUIRED_SIZES if key not in sizes]
    if missing:
        raise ValueError(f"it declares no {' or '.join(missing)} size")
    return SiteInfo(name, {str(key): _size(str(key), value) for key, value in sizes.items()})


def _size(key: str, value: object) -> int:
    """A declared size as an int, or ValueError."""
    limit = MAX_DECLARED_SIZE if key in PATIENT_SIZES else MAX_OTHER_SIZE
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
        or not 0 <= value < limit
    ):
        shown = key if len(key) <= 40 and key.isprintable() else "(unnamed)"
        raise ValueError(f"its declared size {shown!r} is not a whole number in [0, {limit})")
    return int(value)


def _who(node: int, enrolled: Mapping[int, str] | None) -> str:
    """A hospital as the operator knows it: by its enrolled name, its Flower node id in brackets
    (the id alone where the grid knows no names: a simulation). Why: the summary of a run no
    hospital could join named them "node 4711...", while `coordinator start` had just listed them
    by name (an ML engineer's walkthrough)."""
    name = (enrolled or {}).get(node)
    return f"hospital {name} (node {node})" if name else f"hospital node {node}"


def enrolled_names(grid: Grid) -> Mapping[int, str] | None:
    """Each admitted node's enrolled hospital name, when the grid knows them (a deployed run's
    `genofed.server.app.AdmittedGrid`, from the coordinator's own enrolment records); None
    when it does not (the simulation, where every hospital is a folder of the user's own data)."""
    names = getattr(grid, "enrolled_names", None)
    return dict(names()) if callable(names) else None


def not_connected(grid: Grid, asked: set[int], turned_away: Mapping[int, str] | None = None) -> list[str]:
    """The enrolled hospitals (a deployed run's grid knows them) whose nodes are not among `asked`,
    the nodes sent rounds (`describe_sites`), nor `turned_away` (connected, but turned away with a
    reason): not connected when the run started, so never asked and in no round's refusals; [] in
    a simulation."""
    enrolled = enrolled_names(grid) or {}
    away = set(turned_away or {})
    return sorted(name for node, name in enrolled.items() if node not in asked and node not in away)


def turned_away_names(grid: Grid, turned_away: Mapping[int, str]) -> dict[str, str]:
    """`turned_away` (node -> reason, `describe_sites`) by hospital name: the enrolled name of a
    deployed run's node, else `node-N`, as the report names a node that never introduced itself."""
    enrolled = enrolled_names(grid) or {}
    return {enrolled.get(node, f"node-{node}"): reason for node, reason in sorted(turned_away.items())}


def enrolled_sizes(grid: Grid) -> Mapping[int, int]:
    """Each admitted node's enrolled cohort size, where it was enrolled with one (a deployed
    run's `AdmittedGrid`); empty when the grid knows none."""
    sizes = getattr(grid, "enrolled_sizes", None)
    return dict(sizes()) if callable(sizes) else {}


def _name_by_enrolment(
    sites: dict[int, SiteInfo], unavailable: dict[int, str], enrolled: Mapping[int, str]
) -> None:
    """Name each deployed hospital by the name it was enrolled under, never by the one it claims.

    Why: the claimed name is only the hospital's word. With another hospital's name it aborted
    every run (a duplicate), or took over the name of one not yet connected: its updates, epsilon
    and participation were then recorded, reported and put in model.pt under that name. The
    enrolled name is the coordinator's own record of the key this node authenticated with
    (`genofed.server.service.federation_folder.admitted_nodes`). A differing claim is logged and
    overridden, not refused: a hospital that set another `--name` at `hospital init` still takes
    part, under the name the coordinator knows it by. A node with no enrolled name (revoked while
    it answered) cannot take part."""
    for node in list(sites):
        name = enrolled.get(node)
        if name is None:
            del sites[node]
            unavailable[node] = "it is not enrolled (any more)"
        elif sites[node].name != name:
            logger.warning(
                "hospital %s (node %s) calls itself by another name; it is named %s, as enrolled",
                name,
                node,
                name,
            )
            sites[node].name = name


def _check_enrolled_sizes(
    sites: dict[int, SiteInfo], unavailable: dict[int, str], enrolled: Mapping[int, int]
) -> None:
    """A deployed hospital enrolled with a declared size (`coordinator enroll --declared-size`)
    takes part only when it declares exactly that (training + validation): its declared size
    sets its FedAvg weight, its update-norm bound and, under SecAgg+, every hospital's weight,
    and one hospital declaring 10**6 took over the shared model (a deployment audit). One enrolled
    without a size takes part on its word, and the log says so."""
    for node, site in sites.items():
        if node not in enrolled:  # `coordinator enroll --no-declared-size`, or enrolled before the size
            logger.warning(
                "hospital %s (node %s) was enrolled without a declared size: the %d patients it declares "
                "are unchecked (coordinator set-size --declared-size)",
                site.name,
                node,
                int(site.sizes.get("train", 0)) + int(site.sizes.get("validation", 0)),
            )
    for node, size in enrolled.items():
        site = sites.get(node)
        if site is None:
            continue
        declared = int(site.sizes.get("train", 0)) + int(site.sizes.get("validation", 0))
        if declared != size:
            del sites[node]
            unavailable[node] = (
                f"it declares {declared} patients but was enrolled with {size} (coordinator enroll "
                "--declared-size): the hospital checks its site with --declared-size as enrolled, or the "
                "coordinator records its new size (coordinator set-size DIR --name NAME --declared-size N)"
            )


def _check_names(sites: dict[int, SiteInfo]) -> None:
    names = [site.name for site in sites.values()]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:  # per-site epsilon and participation are reported by name
        raise GenofedError(
            f"several hospitals call themselves {', '.join(duplicated)}: give each a distinct site-name"
        )
