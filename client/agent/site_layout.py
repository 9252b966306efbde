"""The names of a site folder's own files and folders, in one place.

A site folder (`genofed hospital check`) holds hospital.json (`keys.SITE_FILE`), the audit log and
the state folder (the privacy ledger, its binding, the kept replies). This module imports nothing,
so that the modules a local release uses (the ledger binding, the ledger report) can name them
without importing the audit log's Flower mod.
"""

from __future__ import annotations

#: The site's state folder: the privacy ledger, its binding to the data, the kept replies.
STATE_DIR = "state"
#: The site's audit log: one line per message the hospital sends, and its local releases.
AUDIT_FILE = "audit.jsonl"
