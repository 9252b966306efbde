"""Simulated federations: msprime and 1000 Genomes genotype pools, disease models, hospitals and sources."""
