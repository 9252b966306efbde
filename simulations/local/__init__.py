"""The local simulation mode, its reference models and a deployed federation on loopback."""
