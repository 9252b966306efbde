"""The cohort size a hospital makes public when it declares none.

A site's DP-SGD (its classifier's, and `genofed synth`'s generator's) samples at a rate, takes a
number of steps and divides its noisy gradient sum by an expected batch, all computed from a
public count of patients, never the exact one: the add/remove-one guarantee the accountant
computes assumes none of them moves with one patient. That count is the size the hospital
declares (`hospital check --declared-size`), or this rule's. A module of its own because the site's
training (`client.site`), `hospital check` (`client.agent.check`) and `genofed synth`
(`client.synth`, which `client.site` imports) all apply it.
"""

from __future__ import annotations


def declared_cohort_size(patients: int) -> int:
    """The cohort size a hospital declares public when its config states none: its number of
    patients rounded to the nearest 10 (at least 10). Declared once, it is public: the exact
    count never leaves the site and never sets the sampling rate."""
    return max(10, 10 * round(patients / 10))
