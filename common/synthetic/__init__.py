"""Local synthetic genotypes (issue 5): generators trained at a site, and the checks every
synthetic batch must pass before it is used (fidelity, linkage, structure, associations, privacy)."""
