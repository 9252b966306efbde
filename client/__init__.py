"""The hospital side: the Flower ClientApp, the local DP trainer, the hospital agent CLI, the
audit log and the local privacy ledger. Never imports `genofed.server`."""
