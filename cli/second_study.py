"""What `genofed coordinator init NEW_DIR --same-federation-as OLD_DIR` says to the operator.

Why its own module: the operator must learn, in the same output, what the hospitals have to do for
the new study (nothing, when the address, the panel and the model are unchanged; else the one
command each needs), and that the hospitals' ledgers go on (the new `--epsilon` is what a ledger
may reach, the earlier studies included): the two things a second study changes for a hospital.
The carrying itself is server/service/same_federation.py.
"""

from __future__ import annotations

from typing import Any


def carried_lines(folder: str, old: str, config: dict[str, Any], registry: dict[str, Any]) -> list[str]:
    """The CA and the hospitals the new folder carries over (printed before init's usual summary)."""
    carried = config["same_federation_as"]
    names = ", ".join(e["name"] for e in registry["hospitals"]) or "none"
    return [
        f"created federation folder {folder}: a second study on the federation of {old}",
        f"  CA: the federation's own, from {old} (SHA-256 {config['tls']['ca_sha256']}): hospitals keep "
        "their ca.pem",
        f"  hospitals carried over: {carried['hospitals']} enrolled ({names}), with their keys and declared "
        f"sizes; {carried['revoked']} revoked key(s) stay revoked",
    ]


def next_lines(folder: str, old: str, before: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What each hospital does for the new study, the privacy words, and what became of OLD_DIR."""
    steps = hospital_steps(before, config)
    if steps:
        lines = ["  each hospital, for this study (with its agent stopped; its ledger goes on):"]
        lines += [f"    - {step}" for step in steps]
    else:
        lines = [
            "  the hospitals need do nothing: same CA, address, panel and model; a running agent joins this "
            "study's run once its coordinator starts"
        ]
    return lines + [
        f"  privacy: {epsilon_words(before, config)}",
        f"  {old} holds this federation no more: its coordinator start, enroll, revoke, unenroll and "
        f"set-size refuse, naming {folder}",
        f"  next: genofed coordinator start {folder} (on the address {old}'s coordinator used)",
    ]


def hospital_steps(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a hospital must do for the new study, from what differs between the two folders'
    federation.json: the address (the certificate's hosts), the panel and the model it pinned.
    Empty: nothing (same ca.pem, same `--coordinator`, same node config)."""
    steps = []
    dropped = sorted(set(old.get("tls", {}).get("hosts", [])) - set(new["tls"]["hosts"]))
    if dropped:
        steps.append(
            f"the server certificate no longer names {', '.join(dropped)}: a hospital that connects with "
            f"--coordinator {dropped[0]}:PORT changes it to one of {', '.join(new['tls']['hosts'])}"
        )
    if old.get("panel", {}).get("sha256") != new["panel"]["sha256"]:
        steps.append(
            "another panel: check the data against this study's panel.tsv and pin its model.json (send "
            "both): `genofed hospital check SITE ... --panel panel.tsv --model-config model.json`"
        )
    elif old.get("model", {}).get("digest") != new["model"]["digest"]:
        steps.append(
            f"another model (digest {new['model']['digest'][:12]}): pin this study's model.json (send it): "
            "`genofed hospital check SITE ... --model-config model.json`, with its last check's other options"
        )
    return steps


def epsilon_words(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The new study's --epsilon as what it is: a ceiling on each hospital's ledger, earlier studies
    included, never a fresh budget."""
    before, now = old.get("settings", {}).get("epsilon"), new["settings"]["epsilon"]
    earlier = "" if not isinstance(before, (int, float)) else f" (the earlier study asked {before:g})"
    return (
        f"--epsilon {now:g} is the most each hospital's ledger may reach, what the earlier studies spent "
        f"included{earlier}, and a hospital's own budget caps it too: a new study resets no ledger"
    )
