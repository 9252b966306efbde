"""The run's record of every round, by hospital name: who trained, who refused and why, what each
evaluation released, what the coordinator's screen measured.

The strategy writes it as replies come in (`genofed.server.tracking`), the SecAgg+ rounds write
the same fields (`genofed.server.secagg`), a checkpoint keeps it (`genofed.server.resume`) and
the results are read from it (`genofed.server.results`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flwr.app import Message
from flwr.common.constant import ErrorCode

from genofed.common.errors import GenofedError
from genofed.server.settings import RunSettings

#: Error code of a hospital's own refusal to train (`genofed.client.app.REFUSED`: its privacy
#: budget, its configuration, its data's validation). Repeated here because the server never
#: imports `genofed.client`; a unit test holds the two equal.
SITE_REFUSED = 4001

logger = logging.getLogger(__name__)

#: The reason recorded for a hospital whose agent stopped answering: the SuperLink answers for a node
#: that stopped sending heartbeats with Flower's own text ("Error: Node Unavailable — The destination
#: node failed to report a heartbeat within 2 × its expected interval."), which an operator's
#: walkthrough found on the console, in results.json and in the report, unexplained.
NO_HEARTBEAT = "its agent stopped or lost its connection (no heartbeat)"
#: The reason recorded, round by round, for a hospital taking part in the run that was not connected
#: when the round started, so was sent nothing (`RoundLog.note_not_connected`).
NOT_CONNECTED = "not connected when the round started (its agent stopped or lost its connection)"
#: The same for one revoked during the run (`coordinator revoke`): it is not sent rounds any more.
REVOKED = "not enrolled any more (revoked during the run): not sent the round"
#: The reason recorded for the rounds a hospital was not sent because it was not connected when the
#: coordinator started (or resumed) the run: a launch sends rounds only to the hospitals that answered
#: its first query, so one that connects later is first asked at the coordinator's next start
#: (`RoundLog.note_launch`).
NOT_IN_LAUNCH = (
    "not connected when the coordinator started or resumed the run: not sent the round (a hospital that "
    "connects later is asked at the coordinator's next start)"
)


def turned_away_in_launch(reason: str) -> str:
    """The reason recorded for the rounds a hospital was not sent because the launch that ran them
    turned it away at its start (`RoundLog.turned_away`)."""
    return f"turned away when the coordinator started or resumed the run ({reason}): not sent the round"


def error_reason(code: int, reason: str) -> str:
    """The reason to record for an error reply: Flower's "node unavailable" in plain words, any other
    error's own reason (or its code when it gives none)."""
    if code == ErrorCode.NODE_UNAVAILABLE:
        return NO_HEARTBEAT
    return reason or f"error {code}"


@dataclass
class RoundLog:
    """What happened in each round, by hospital name.

    `site_of_node` names each node that introduced itself at the start of the run; the other
    fields fill in round by round (keys are the run's real round numbers).
    """

    site_of_node: dict[int, str]
    #: The nodes asked at the start of the run; rounds go to these only (see describe_sites).
    taking_part: set[int] = field(default_factory=set)
    train: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)  # round -> site -> metrics
    evaluate: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    refused: dict[int, dict[str, str]] = field(default_factory=dict)  # round -> site -> reason
    #: Each node's cohort sizes as it declared them at the start (`train`: real patients,
    #: `synthetic`: extra training rows): its example count is capped at `train`, and its
    #: update norm bound follows from the rows it trains on.
    declared_sizes: dict[int, dict[str, int]] = field(default_factory=dict)
    #: round -> site -> note, for example counts (FedAvg weights) the coordinator lowered: capped at
    #: the declared size, or for reported noise above the run's plan (`genofed.server.noise_weighting`).
    capped: dict[int, dict[str, str]] = field(default_factory=dict)
    #: round -> site -> {"norm": ||update||, "bound": its DP bound (absent without DP)}.
    update_norms: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    #: round -> site -> the epsilon a site reported with an update the coordinator refused: the
    #: site spent it all the same, so its cumulative epsilon must count it.
    refused_epsilon: dict[int, dict[str, float]] = field(default_factory=dict)
    #: The messages of the current exchange: a reply the SuperLink writes itself (the node
    #: stopped sending heartbeats) comes from the SuperLink, so it is matched to the message it
    #: answers, whose id Flower assigns when sending it.
    sent: list[Message] = field(default_factory=list)
    #: site -> the reason of its latest own refusal (`SITE_REFUSED`) of a training round in this
    #: launch. The run's plan, settings and data do not change within a run, so such a refusal
    #: repeats every round (`too_few_left`); a site that trains after it is taken off
    #: (`note_trained`). Not checkpointed (`resume.LOGGED`): a resumed launch asks the hospitals
    #: again.
    own_refusals: dict[str, str] = field(default_factory=dict)
    #: Enrolled hospitals not connected when this launch started (a deployed run): never asked,
    #: so in no round's refusals; the report lists them apart (`report.reading.absent_sites`).
    #: Not checkpointed: a resumed launch finds them again. A hospital taking part that is not
    #: connected when a later round starts is in that round's `refused` (`note_not_connected`).
    not_connected: list[str] = field(default_factory=list)
    #: Hospitals connected when this launch started that the coordinator turned away, by name, with
    #: the reason (a declared size other than the enrolled one, no answer to the first query, a
    #: malformed answer): sent no round, so in no round's refusals; the report says why. Not
    #: checkpointed, like `not_connected`.
    turned_away: dict[str, str] = field(default_factory=dict)
    #: site -> {"from": the first round it was not sent, "reason": why}, for each enrolled hospital
    #: the launches since that round left out at their start (`not_connected`, `turned_away`).
    #: Checkpointed (`resume.LOGGED`): a hospital one launch left out that a later launch asks has
    #: those rounds put in `refused` (`note_launch`); without it, a late hospital first asked after a
    #: resume was recorded as absent from the resumed launch's rounds only (a deployment
    #: walkthrough: "left out of 12 of 40 round(s)" for a hospital that took part in none of 40).
    absent_since: dict[str, dict[str, object]] = field(default_factory=dict)

    def note_launch(self, resumed_from: int) -> None:
        """Record what this launch's start means for the run's earlier rounds, once `not_connected`
        and `turned_away` are this launch's and the checkpoint's log is restored (`resumed_from`:
        the round it resumes after, 0 for a new run). A hospital an earlier launch left out that this
        one asks is put in `refused` for every round since it was left out (each with the reason of
        then), never over a round's own record; one this launch leaves out is remembered from the
        next round on, or from the earlier launch's round if it was left out then too."""
        now_absent = {site: NOT_IN_LAUNCH for site in self.not_connected}
        now_absent.update({site: turned_away_in_launch(why) for site, why in self.turned_away.items()})
        for site, since in list(self.absent_since.items()):
            if site in now_absent:
                continue
            self._refuse_absent_rounds(site, since, resumed_from)
            del self.absent_since[site]
        for site, reason in now_absent.items():
            self.absent_since.setdefault(site, {"from": resumed_from + 1, "reason": reason})

    def never_sent(self) -> list[str]:
        """The hospitals in `not_connected` that no launch of the run ever asked (results.json's
        `not_connected`: "not connected when the run started", never sent a round); one that took part
        before this launch is not among them: its rounds since are `refused` (`close_absences`)."""
        return sorted(
            site for site in self.not_connected if int(self.absent_since.get(site, {}).get("from", 1)) <= 1
        )

    def close_absences(self, last_round: int) -> None:
        """At the run's end: put in `refused` the rounds since it was left out of each hospital a
        launch left out after it had taken part in earlier rounds (it is not "not connected when the
        run started", `never_sent`), as `note_launch` does when a later launch asks it."""
        for site, since in self.absent_since.items():
            if int(since["from"]) <= 1:  # left out by every launch: `not_connected` or `turned_away`
                continue
            self._refuse_absent_rounds(site, since, last_round)

    def _refuse_absent_rounds(self, site: str, since: dict[str, object], last_round: int) -> None:
        """Put `site` in `refused` for rounds `since["from"]` .. `last_round` with the reason it was
        left out, never over a round's own record of it (it trained, or refused for itself)."""
        for real_round in range(int(since["from"]), last_round + 1):
            if site not in self.train.get(real_round, {}):
                self.refused.setdefault(real_round, {}).setdefault(site, str(since["reason"]))

    def participation(self) -> dict[str, object]:
        """Who was left out of the run's rounds so far, as results.json and the round progress file
        (`checkpoint.save_progress`) record it: `refusals` (round -> hospital -> reason),
        `not_connected` (enrolled hospitals no launch asked, never sent a round: one asked after a
        resume has its earlier rounds in `refusals`) and `turned_away` (hospital -> reason)."""
        return {
            "refusals": {str(r): dict(reasons) for r, reasons in sorted(self.refused.items())},
            "not_connected": self.never_sent(),
            "turned_away": dict(self.turned_away),
        }

    def note_training_error(self, site: str, code: int, reason: str) -> None:
        """Keep an error reply to a training round when it is `site`'s own refusal. Any other
        error may not come back next round, so it is not kept: a failure inside the site
        (`client.app.FAILED`), a node the SuperLink lost, an update the coordinator's screen
        refused (`integrity.SCREENED_OUT`); nor is a hospital that did not reply in time."""
        if code == SITE_REFUSED:
            self.own_refusals[site] = reason

    def note_trained(self, site: str) -> None:
        """`site` sent a training update: whatever it refused before did not last, so it no longer
        counts as refusing every round (`too_few_left`)."""
        self.own_refusals.pop(site, None)

    def note_not_connected(
        self, real_round: int, online: Iterable[int], enrolled: Mapping[int, str] | None = None
    ) -> list[str]:
        """Record, as left out of training round `real_round`, each hospital taking part in the run
        whose node is not `online` (the grid's nodes as the round starts): it is sent nothing, so
        without this its round went unrecorded (an operator's walkthrough: a hospital whose agent
        stopped in round 2 of 6 was counted as left out of 1 round, not 5). `enrolled`: a deployed
        run's admitted nodes, to tell a hospital revoked during the run from one not connected.
        Returns the sites recorded. In a simulation every node is always online: nothing changes."""
        online = set(online)
        recorded = []
        for node in sorted(self.participants() - online):
            site = self.site_of_node.get(node, f"node-{node}")
            reason = REVOKED if enrolled is not None and node not in enrolled else NOT_CONNECTED
            self.refused.setdefault(real_round, {}).setdefault(site, reason)
            logger.warning("round %d training, %s: %s", real_round, site, reason)
            recorded.append(site)
        return sorted(recorded)

    def note_sent(self, messages: Iterable[Message]) -> list[Message]:
        """Remember the messages of the exchange about to start; returns them as a list."""
        self.sent = list(messages)
        return self.sent

    def node(self, msg: Message) -> int:
        """The node a reply is about: the one its message was sent to, else its sender."""
        for sent in self.sent:
            if sent.metadata.message_id and sent.metadata.message_id == msg.metadata.reply_to_message_id:
                return sent.metadata.dst_node_id
        return msg.metadata.src_node_id

    def site(self, msg: Message) -> str:
        """The hospital name of a reply (`node-N` for a node that never introduced itself)."""
        node = self.node(msg)
        return self.site_of_node.get(node, f"node-{node}")

    def unanswered(self, replies: Iterable[Message]) -> list[int]:
        """The nodes of the current exchange that got its message and sent no reply before the
        exchange's timeout (`round-timeout`). A message went out when Flower gave it an id as it
        pushed it; one never pushed (to a node no longer admitted, `genofed.server.app.AdmittedGrid`)
        has none and is not counted. A reply that comes later is never part of another exchange:
        each exchange pulls only the replies to its own messages, by their ids."""
        answered = {msg.metadata.reply_to_message_id for msg in replies}
        return sorted(
            sent.metadata.dst_node_id
            for sent in self.sent
            if sent.metadata.message_id and sent.metadata.message_id not in answered
        )

    def participants(self) -> set[int]:
        """The nodes rounds go to: those asked at the start (or, without that list, those named)."""
        return self.taking_part or set(self.site_of_node)


class NothingTrained(GenofedError):
    """A run in which no hospital trained in any round: its model is the one it started from.

    `genofed.server.app` raises it at the end of such a run; `EveryHospitalRefused` as soon as
    no later round can train. `cause` is what happened; `next_step` what to do, in `flwr run`'s
    terms (`resume=true`), which `genofed simulate` replaces with its own (`--resume`)."""

    def __init__(self, cause: str, next_step: str = "") -> None:
        super().__init__(f"{cause} {next_step}".strip())
        self.cause, self.next_step = cause, next_step


def restart_words(settings: RunSettings) -> str:
    """What to do after a run that every hospital refused (`EveryHospitalRefused`), in the terms of
    where it runs: a deployed federation's coordinator operator starts the same folder again
    (`coordinator start` always resumes its run, under the settings fixed at `coordinator init`),
    or makes a new federation folder for other settings (`init --same-federation-as`: the same CA and
    hospitals); `flwr run`'s user has resume=true and
    out-dir. Why: a coordinator operator whose hospitals had all spent their budgets was told "with
    resume=true to continue this out-dir ..., or in another out-dir", neither of which they have
    (a new-user walkthrough). `genofed simulate` says its own (`--resume`, `--force`, `--out`)."""
    if settings.deployed:
        folder = Path(settings.out_dir).parent
        return (
            "It keeps its checkpoints. Where the cause is at the hospitals named (a budget spent: a "
            "hospital's data-protection officer may raise it, and the hospital then runs `genofed hospital "
            "check` again with the new --epsilon-budget and --change-budget REASON; its data changed: it "
            f"runs `genofed hospital check` again), then `genofed coordinator start {folder}` again "
            "continues this run from its last checkpoint, under the same settings. Where the cause is in "
            "the run's settings (its epsilon, its site-evaluations), they are fixed with the federation "
            f"folder and a started run keeps them: a run under other settings needs a new federation "
            f"folder, a second study on the same federation (`genofed coordinator init NEW_DIR "
            f"--same-federation-as {folder} ...`: the same CA and enrolled hospitals, new settings)"
        )
    return (
        "It keeps its checkpoints: fix the named cause (at the hospitals named, or in the run's "
        "settings), then start the run again: with resume=true to continue this out-dir under the "
        "same settings, or in another out-dir"
    )


class EveryHospitalRefused(NothingTrained):
    """Every hospital of the run refused its plan for a reason of its own, and none has trained:
    each later round would be refused again, so the run stops instead of asking until its last."""


def too_few_left(log: RoundLog, *, needed: int) -> dict[str, str] | None:
    """Each refusing hospital's own refusal, by site name, when fewer than `needed` hospitals
    taking part in the run are left that have not refused a training round of this launch for a
    reason of their own, and have not trained since (`RoundLog.own_refusals`, gathered over rounds:
    with fraction-train < 1 each round asks only some); None otherwise."""
    sites = {log.site_of_node.get(node, f"node-{node}") for node in log.participants()}
    refused = sites & log.own_refusals.keys()
    if not sites or len(sites - refused) >= needed:
        return None
    return {site: log.own_refusals[site] for site in sorted(refused)}


def hospitals_left(log: RoundLog, refusals: Mapping[str, str]) -> list[str]:
    """The hospitals taking part in the run that have not refused its plan (`too_few_left`'s
    `refusals`), by name."""
    sites = {log.site_of_node.get(node, f"node-{node}") for node in log.participants()}
    return sorted(sites - refusals.keys())


def ended_early_reason(
    real: int, planned: int, *, left: list[str], needed: int, model_round: int, shown: int = 3
) -> str:
    """results.json `ended_early.reason` in one short sentence: after which round, which hospitals
    are left (the first `shown` by name), how many a SecAgg+ round needs, and whose model the run
    delivers, e.g. "round 2 of 5: only rostov has not refused the run's plan, and a SecAgg+ round
    needs 2 hospitals; the model is round 1's".

    Why: the reason was about 900 characters on one line (why a refusal repeats, what ending spares
    the hospitals left, and every hospital's refusal), in the report's Run facts, `coordinator
    status`, the end-of-run summary and the round's log line. The refusals are kept beside it
    (`ended_early.refused`), and why a run ends is said once, in docs/secure-aggregation.md."""
    if not left:
        who = "every hospital refused the run's plan"
    else:
        named = ", ".join(left[:shown])
        if len(left) > shown:
            named += f" and {len(left) - shown} more"
        elif len(left) > 1:
            named = f"{', '.join(left[:-1])} and {left[-1]}"
        verb = "has" if len(left) == 1 else "have"
        who = (
            f"only {named} {verb} not refused the run's plan, and a SecAgg+ round needs {needed} "
            f"hospital{'s' if needed != 1 else ''}"
        )
    return f"round {real} of {planned}: {who}; the model is round {model_round}'s"


class RunEndsEarly(Exception):
    """A SecAgg+ run whose earlier rounds trained, stopped because no later round can complete:
    the hospitals still answering would each pay for rounds whose sum can never be unmasked. Not an
    error but a signal out of Flower's workflow loop (`genofed.server.secagg.run_secagg_rounds`
    catches it): the round end has recorded when and why (`RoundEnd.ended_early`), and the run
    delivers the model of its last round whose updates were used."""


def refusals_by_reason(reasons: Mapping[str, str]) -> str:
    """`reasons` (site -> reason) as one line, each reason once after the sites that gave it,
    e.g. `astrakhan, elista: privacy budget exhausted; rostov: require-secagg`."""
    by_reason: dict[str, list[str]] = {}
    for site, reason in sorted(reasons.items()):
        by_reason.setdefault(reason, []).append(site)
    return "; ".join(f"{', '.join(sites)}: {reason}" for reason, sites in by_reason.items())


def no_reply(timeout: float | None, to: str = "") -> str:
    """The reason a round records for a hospital that did not answer (`to` what, e.g. " to the
    SecAgg+ setup stage") within `timeout` seconds, the run's `round-timeout`."""
    within = "" if timeout is None else f" within {timeout:g} s"
    return f"no reply{to}{within} (round-timeout): not waited for longer, and a later reply is not used"


def epsilon_by_site(log: RoundLog) -> dict[str, float]:
    """Each site's cumulative epsilon as it last reported it (a round's evaluation follows its
    training; an update the coordinator refused still spent the epsilon reported with it)."""
    latest: dict[str, float] = {}
    replies = [((r, 0), sites) for r, sites in log.train.items()] + [
        ((r, 1), sites) for r, sites in log.evaluate.items()
    ]
    replies += [
        ((r, 0), {site: {"epsilon": eps} for site, eps in sites.items()})
        for r, sites in log.refused_epsilon.items()
    ]
    for _order, sites in sorted(replies, key=lambda item: item[0]):
        for site, metrics in sites.items():
            if "epsilon" in metrics:
                latest[site] = metrics["epsilon"]
    return latest


def coalition_epsilon_by_site(log: RoundLog) -> dict[str, float | None]:
    """Under distributed DP, each site's cumulative epsilon against the coordinator and all other
    sites colluding, as it last reported it with its epsilon ("coalition-epsilon"); only sites
    that reported one. None when its last reply gave an epsilon without it (a site that did not
    say what that release cost against a coalition)."""
    latest: dict[str, float | None] = {}
    replies = [((r, 0), sites) for r, sites in log.train.items()] + [
        ((r, 1), sites) for r, sites in log.evaluate.items()
    ]
    for _order, sites in sorted(replies, key=lambda item: item[0]):
        for site, metrics in sites.items():
            if "coalition-epsilon" in metrics:
                latest[site] = metrics["coalition-epsilon"]
            elif "epsilon" in metrics and site in latest:
                latest[site] = None
    return latest
