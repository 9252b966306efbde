"""Deployment plumbing both sides share: the approved Flower app bundle, hospital keys, how Flower's processes start."""
