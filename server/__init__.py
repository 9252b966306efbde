"""The coordinator side: the Flower ServerApp, strategies, checkpoints, pretraining of the shared
model, the coordinator service CLI and run reports. Never imports `genofed.client`."""
