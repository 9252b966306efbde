"""Small helpers every room uses: atomic writes, hashing, torch threads."""
