"""The deployed hospital: checking a site, pinning, keys, the ledger binding, the audit log, starting the SuperNode."""
