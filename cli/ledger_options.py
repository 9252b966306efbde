"""Options of the commands that spend from a site's privacy ledger on their own (`genofed synth`,
`genofed hospital variants`) or bind one (`hospital check`, `hospital start`): their wording is the
same wherever they appear, so it lives once, here. Nothing heavy is imported: `--help` stays fast.
"""

from __future__ import annotations

import argparse

#: `--delta` of a local release (`synth`, `hospital variants`): the site's own by default.
LOCAL_DELTA_HELP = (
    "DP delta (default: the site's own, declared in SITE/hospital.json by `genofed hospital check --delta`, "
    "when --state-dir is a site's state folder SITE/state; else 1e-5). A larger delta than the site's is "
    "refused; a smaller one is accepted"
)


def add_new_ledger_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--new-ledger",
        default="",
        metavar="REASON",
        help=(
            "start a NEW privacy ledger for data that already had one (elsewhere, or lost), or go on with "
            "one below its high-water mark (an older copy): forgets the privacy already spent; only with a "
            "reason, which goes to the audit log of the site whose ledger the data leaves (SITE/audit.jsonl) "
            "and of the site the new ledger belongs to (none when its folder is no site's state folder)"
        ),
    )


def add_raise_budget_argument(parser: argparse.ArgumentParser) -> None:
    """--raise-budget of the commands that spend from a ledger outside any site folder (synth,
    variants): without it a --budget above the cap recorded there is refused
    (`client.local_budget_record.check_budget_change`)."""
    parser.add_argument(
        "--raise-budget",
        action="store_true",
        help="raise the lifetime cap recorded beside a ledger outside any site folder to --budget (without "
        "it a larger --budget is refused: raising a cap is the site's, its data-protection officer's, "
        "decision; the earlier cap is kept in ledger-budget.json)",
    )


def local_delta(args: argparse.Namespace) -> float:
    """A local release's `--delta`, or when none was given the site's own (`default_delta`)."""
    if args.delta is not None:
        return float(args.delta)
    from genofed.client.local_ledger import default_delta

    return default_delta(args.state_dir)
