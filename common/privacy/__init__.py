"""Differential-privacy accounting (the per-site ledger) and DP releases of evaluation counts."""
