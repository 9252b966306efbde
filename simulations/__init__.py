"""Simulated hospitals (msprime populations with a rare disease; semi-synthetic cohorts on real
1000 Genomes genotypes), the local simulation mode, and the paper's experiments."""
