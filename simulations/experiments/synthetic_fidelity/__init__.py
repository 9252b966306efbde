"""Synthetic-data fidelity experiment: generators against references."""
