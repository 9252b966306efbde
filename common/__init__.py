"""What every genofed side must agree on: the cohort data model and its readers, the variant
panel, validation, and (in later issues) models, privacy accounting and the message contract.

This package never imports `genofed.client` or `genofed.server`.
"""
