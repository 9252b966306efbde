"""What a deployed hospital's refusal may say once it leaves the site: the problem and the command
to run, never the site's own paths.

Why: a refusal is worded for the hospital's operator (`{folder}: this synthetic batch is not the
one ... declared (... in this site's ledger /srv/h/site/state/privacy-ledger.json) ... run
`genofed hospital check SITE ... --synthetic /srv/h/synth-3` again`), and the same text went to
the coordinator as the error reply's reason, telling it the hospital's filesystem layout
(folders, file names, the ledger's place). Rather than word each refusal twice, one rule rewrites
every error reply on its way out (`outward_words_mod`, the ClientApp's outermost mod, and the
agent's worker for a failure outside the ClientApp): each path the site's node config names
becomes its role (the site folder `SITE`, so its state folder reads `SITE/state`; `<genotypes
file>`, `<synthetic folder>`, ...), and any other absolute path `<a local path>`. The site's own
log and audit log keep the full text (the audit entry records what was sent beside it).

A simulation's hospitals (node config `partition-id`) answer their own operator, who chose every
path: their refusals are left whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flwr.app import Context, Error, Message
from flwr.clientapp.typing import ClientAppCallable

#: A node config key naming a path, and the words it becomes outside the site.
PATH_ROLES: Mapping[str, str] = {
    "genotypes": "<genotypes file>",
    "phenotypes": "<phenotypes file>",
    "panel": "<panel file>",
    "synthetic": "<synthetic folder>",
    "known-causal": "<known-causal file>",
    "audit-log": "SITE/audit.jsonl",
    "state-dir": "SITE/state",
}
#: What any other absolute path becomes.
OTHER_PATH = "<a local path>"
#: An absolute path (POSIX, `~/...` or a Windows drive), not inside a URL or a relative path; it
#: ends at white space, a quote or backtick, a colon, a comma, a semicolon or a closing bracket.
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])(?:~|[A-Za-z]:)?[/\\](?=[\w.~-])[^\s`'\",;:()\[\]{}<>]*")


def is_deployed(node_config: Mapping[str, Any]) -> bool:
    """A deployed hospital's node config names its files; a simulated one its partition."""
    return "partition-id" not in node_config and bool(node_config.get("state-dir"))


def site_paths(node_config: Mapping[str, Any]) -> dict[str, str]:
    """Each local path the node config names (as given and resolved), with the words that replace
    it; the site folder (the state folder's parent) is `SITE`."""
    named: dict[str, str] = {}
    state = str(node_config.get("state-dir") or "")
    roles = dict(PATH_ROLES)
    if state:
        named.update(_forms(str(Path(state).parent), "SITE"))
    for key, role in roles.items():
        value = str(node_config.get(key) or "")
        if value and ("/" in value or "\\" in value):
            named.update(_forms(value, role))
    return named


def _forms(path: str, role: str) -> dict[str, str]:
    """`path` as given and resolved, each with a separator in it: a bare word (a node config written
    by hand with `state-dir=site/state` makes the site folder `site`) would replace that word
    everywhere ("this site's ledger"); its paths are matched through the state folder's."""
    forms = {path.rstrip("/\\") or path: role}
    try:
        forms[str(Path(path).resolve())] = role
    except (OSError, RuntimeError):
        pass
    return {form: words for form, words in forms.items() if len(form) > 1 and ("/" in form or "\\" in form)}


def outward_reason(
    reason: str,
    node_config: Mapping[str, Any],
    *,
    deployed: bool | None = None,
    sent: Iterable[str] = (),
) -> str:
    """`reason` as it may leave a deployed site: the node config's paths by their role, any other
    absolute path as `OTHER_PATH`. A simulated site's reason is returned unchanged. `deployed`:
    known to be a deployed site (the agent's worker, also before a task's node config is read).

    `sent`: the strings the coordinator sent (the message's config, the run config), quoted back as
    they are, and no site path within one of them is named by its role. Why: a refusal that quotes
    the coordinator's own string (an `augment` that is a path, or a part of it) named it by its role
    when it happened to be one of the site's paths, so the coordinator could try paths and learn
    which one is the site's phenotype file; what it sent tells it nothing."""
    if not (is_deployed(node_config) if deployed is None else deployed):
        return reason
    quoted = sorted({str(v) for v in sent if len(str(v)) > 1}, key=len, reverse=True)
    tokens = {f"\x00{i}\x00": value for i, value in enumerate(quoted)}
    text = reason
    for token, value in tokens.items():
        text = text.replace(value, token)
    named = site_paths(node_config).items()
    roles = {path: role for path, role in named if not any(path in value for value in quoted)}
    for path, role in sorted(roles.items(), key=lambda item: -len(item[0])):
        text = re.sub(r"(?<![\w.~/-])" + re.escape(path) + r"(?=$|[^\w.-])", lambda _m, role=role: role, text)
    text = _ABSOLUTE.sub(OTHER_PATH, text)
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def coordinator_strings(msg: Message, context: Context) -> list[str]:
    """Every string value the coordinator sent with `msg`: its config records' and the run config's."""
    values: list[Any] = list(context.run_config.values())
    if msg.has_content():
        for record in msg.content.config_records.values():
            values.extend(record.values())
    strings: list[str] = []
    for value in values:
        strings.extend(str(v) for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    return strings


def outward_words_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod, the ClientApp's outermost: an error reply's reason goes out in `outward_reason`'s
    words. Everything inside it (the audit log, the site's log) saw the full text."""
    reply = call_next(msg, context)
    if not reply.has_error():
        return reply
    reason = str(reply.error.reason)
    outward = outward_reason(reason, context.node_config, sent=coordinator_strings(msg, context))
    if outward == reason:
        return reply
    return Message(Error(code=reply.error.code, reason=outward), reply_to=msg)
