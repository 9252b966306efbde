"""The deployed hospital: its keys, its checked data, the pinned app, the audit log, the SuperNode.

Modules:

- `keys`: `genofed hospital init`: the site's own key pair, made at the hospital.
- `site_layout`: the names of a site folder's state folder and audit log.
- `check`: `genofed hospital check`: check and bind the site's data, budget and declarations.
- `launch`: `genofed hospital start / audit`: run Flower's SuperNode on the checked site with TLS,
  the site key, the audit log and the pinned app; read the audit log.
- `supernode`: what `start` runs once the site is checked: the SuperNode in its own process
  group, the warm worker supervised and restarted, a stop signal passed on and bounded.
- `model_pin`: the model architecture `hospital check` pins: `--model` over the whole panel, or
  the federation's model.json (`--model-config`), checked against the site's panel.
- `ledger_binding`: the site's privacy ledger bound to the data it was spent on.
- `high_water`: the ledger's high-water mark, and what else tells that a ledger was there.
- `site_settings_record`: the site's budget and guarded settings as `hospital check` recorded them.
- `pinning`: the agent runs only the approved genofed app bundle, whatever the coordinator sends.
- `worker`: the warm ClientApp: one long-running process that takes every task of the SuperNode.
- `audit`: the audit log: one line for every message this site hands to Flower to send.
- `audit_filter`: which entries `genofed hospital audit --run/--since/--until/--last` shows.

Every name loads on first use: `audit` (and `check` and `launch` through it) imports Flower,
`keys` imports `cryptography`, and `worker` runs as `python -m genofed.client.agent.worker`,
which must not find itself already imported by this package.
"""

from __future__ import annotations

from typing import Any

_KEYS = {"init_site"}
_CHECK = {"check_site"}
_LAUNCH = {
    "AgentOptions",
    "audit_lines",
    "node_config",
    "prepare_start",
    "read_site_audit",
    "site_audit_log",
    "start_site",
}
_LEDGER_BINDING = {"DataHashes", "Decision", "LedgerRefused", "bind_ledger", "decide", "read_binding"}
_PINNING = {"UnapprovedApp", "audit_refusal", "check_fab"}
_MODEL_PIN = {"PinnedModel", "from_model_file", "whole_panel"}
_AUDIT = {"AUDIT_FILE", "append_entry", "audit_entry", "audit_mod", "iter_audit", "read_audit"}


def __getattr__(name: str) -> Any:
    """The agent's names, imported on first use (Flower and `cryptography` are heavy imports)."""
    if name in _KEYS:
        import genofed.client.agent.keys as keys

        return getattr(keys, name)
    if name in _CHECK:
        import genofed.client.agent.check as check

        return getattr(check, name)
    if name in _LAUNCH:
        import genofed.client.agent.launch as launch

        return getattr(launch, name)
    if name in _LEDGER_BINDING:
        import genofed.client.agent.ledger_binding as ledger_binding

        return getattr(ledger_binding, name)
    if name in _PINNING:
        import genofed.client.agent.pinning as pinning

        return getattr(pinning, name)
    if name in _MODEL_PIN:
        import genofed.client.agent.model_pin as model_pin

        return getattr(model_pin, name)
    if name in _AUDIT:
        import genofed.client.agent.audit as audit

        return getattr(audit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: every name `__getattr__` loads on first use
__all__ = sorted(_KEYS | _CHECK | _LAUNCH | _LEDGER_BINDING | _PINNING | _MODEL_PIN | _AUDIT)
