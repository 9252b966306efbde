"""Who takes part in a run: wait for the hospitals, then ask each its name and cohort sizes.

Only the hospitals asked here are sent rounds (one connecting later joins the next run); the
sizes they declare cap their example counts and set their update norm bounds
(`genofed.server.integrity`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flwr.app import Message, MessageType, RecordDict
from flwr.serverapp import Grid

from genofed.common.errors import GenofedError
from genofed.server.round_log import RoundLog

logger = logging.getLogger(__name__)


@dataclass
class SiteInfo:
    """A hospital as it introduced itself: its name and aggregate cohort sizes
    (`train`, `validation`, perhaps `synthetic` and `cases`)."""

    name: str
    sizes: dict[str, int]


def describe_sites(
    grid: Grid, min_nodes: int, timeout: float = 600.0, *, expected: int = 0, grace: float = 120.0
) -> tuple[dict[int, SiteInfo], set[int]]:
    """Wait for `min_nodes` hospitals (and up to `grace` seconds for all `expected` ones), then
    ask each its name and (aggregate) cohort sizes.

    Returns the hospitals that can take part, and every node asked: only those are sent rounds
    (one connecting later joins the next run); one whose data failed its checks is still asked
    every round, so that its refusal and reason are on record."""
    nodes = wait_for_nodes(grid, min_nodes, timeout, expected=expected, grace=grace)
    sites, unavailable = _ask(grid, nodes, timeout)
    for node, reason in unavailable.items():
        logger.warning("hospital node %s cannot take part: %s", node, reason)
    _check_names(sites)
    if len(sites) < min_nodes:
        raise GenofedError(
            f"only {len(sites)} hospital(s) can take part, {min_nodes} needed; "
            + "; ".join(f"node {n}: {r}" for n, r in unavailable.items())
        )
    return dict(sorted(sites.items(), key=lambda item: item[1].name)), set(nodes)


def round_log_of(sites: dict[int, SiteInfo], asked: set[int]) -> RoundLog:
    """An empty round log for these hospitals (named, with their declared sizes)."""
    return RoundLog(
        site_of_node={node: s.name for node, s in sites.items()},
        taking_part=asked,
        declared_sizes={node: dict(s.sizes) for node, s in sites.items()},
    )


def wait_for_nodes(grid: Grid, min_nodes: int, timeout: float, *, expected: int, grace: float) -> list[int]:
    """The connected nodes once `max(min_nodes, expected)` are there, or `min_nodes` after `grace`
    seconds; raises after `timeout` seconds with fewer than `min_nodes`."""
    started = time.monotonic()
    while len(nodes := list(grid.get_node_ids())) < max(min_nodes, expected):
        waited = time.monotonic() - started
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


def _ask(grid: Grid, nodes: list[int], timeout: float) -> tuple[dict[int, SiteInfo], dict[int, str]]:
    """Each node's introduction, and the reason of each node that cannot take part."""
    queries = [Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=node) for node in nodes]
    sites: dict[int, SiteInfo] = {}
    unavailable: dict[int, str] = {}
    for reply in grid.send_and_receive(queries, timeout=timeout):
        if reply.has_error():  # e.g. its data failed its checks: the others go on without it
            unavailable[reply.metadata.src_node_id] = reply.error.reason
            continue
        name = str(reply.content["site"]["name"])
        sites[reply.metadata.src_node_id] = SiteInfo(
            name, {k: int(v) for k, v in reply.content["sizes"].items()}
        )
    return sites, unavailable


def _check_names(sites: dict[int, SiteInfo]) -> None:
    names = [site.name for site in sites.values()]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:  # per-site epsilon and participation are reported by name
        raise GenofedError(
            f"several hospitals call themselves {', '.join(duplicated)}: give each a distinct site-name"
        )
