"""A site's data: the cohort model, readers and writers, the panel, checks, loading, features and splits."""
