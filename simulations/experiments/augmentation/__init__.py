"""Genotype augmentation experiment."""
