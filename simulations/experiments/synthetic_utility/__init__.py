"""Synthetic-data utility experiment: does synthetic data help a small site?"""
