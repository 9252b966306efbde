"""What the Hospitals table's technical columns mean, in a clinician's words, right under the table.

The table itself is built in `sites`; this note stays separate so that explaining a column never
changes how its numbers are computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.server.report.privacy import CLIP_KEYS
from genofed.server.report.privacy_mode import distributed_dp
from genofed.server.report.reading import config_value, dp_on, rounds, site_names


def _trained_rounds(results: Mapping[str, Any]) -> int:
    """Training rounds the run held (round 0 is the starting model, not a round)."""
    return sum(1 for record in rounds(results) if record.get("round"))


def hospital_terms(results: Mapping[str, Any]) -> str:
    """'Noise multiplier' and 'Rounds trained' explained; "" when the table has no hospitals."""
    if not site_names(results):
        return ""
    held = _trained_rounds(results)
    of_rounds = f"of the run's {held} training rounds " if held else ""
    terms = [
        f"**Rounds trained:** how many {of_rounds}the hospital trained in; '(N refused)' counts the rounds "
        "it did not train in although it takes part in the run: it declined (its privacy budget would "
        "have been exceeded, its data failed their checks), it did not answer within the run's round "
        "timeout, its update was refused, or its agent stopped or was not connected when the round "
        "started."
    ]
    if dp_on(results):
        clip = config_value(results, CLIP_KEYS)
        norm = f" ({clip:g})" if isinstance(clip, int | float) and clip > 0 else ""
        terms.insert(0, _noise_term(results, norm))
    return "\n".join(f"- {term}" for term in terms)


def _noise_term(results: Mapping[str, Any], norm: str) -> str:
    """'Noise multiplier' in words. Under distributed DP the column holds the noise the coordinator
    faces in the SecAgg+ sum (`client.budget`: sigma), of which each hospital added only its share
    sigma / sqrt(m), m being the fewest hospitals whose sum SecAgg+ reveals."""
    tail = (
        f"as a multiple of the clipping norm{norm} that bounds one patient's influence: more noise, more "
        "privacy and less accuracy. Each hospital's is set so that its planned rounds fit its budget; "
        "a small hospital needs more, because each training batch holds a larger share of its patients."
    )
    if not distributed_dp(results):
        return f"**Noise multiplier:** how much random noise the hospital added to each training step, {tail}"
    return (
        "**Noise multiplier:** the total random noise protecting the hospital's update in the sum the "
        "coordinator sees (distributed DP under SecAgg+), per training step, "
        f"{tail} The hospital itself added only its share of it, the figure shown divided by the square "
        "root of m, where m is the fewest hospitals whose sum SecAgg+ reveals (a strict majority of the "
        "hospitals sampled in a round, at least 2): the shares of at least m hospitals add up to the full "
        "noise. Against the coordinator colluding with the other hospitals only the hospital's own share "
        "protects it (the coalition epsilon)."
    )
