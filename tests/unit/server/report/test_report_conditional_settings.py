"""Every run setting is either one the report's configuration appendix notes "(does not apply: only
with ...)" in runs where it has no effect (`_CONDITIONAL`, server/report/facts.py), or one reviewed
as in effect in every run (docs/extending.md, "A run setting", place 7): a strategy's
hyper-parameter left out of `_CONDITIONAL` reads as in effect in every other run (`malicious-nodes
1` in a fedavg run read as a defence against a malicious hospital). The settings come from
`RunSettings`' fields, so a new field fails here until it is on one side.
"""

from __future__ import annotations

from dataclasses import fields

from genofed.server.report.facts import _CONDITIONAL
from genofed.server.settings import RunSettings

#: Settings that act in every run, whatever the others say, so the appendix shows them plainly.
IN_EFFECT_IN_EVERY_RUN = frozenset(
    {
        "augment",
        "batch-size",
        "clip",
        "data-dir",
        "delta",
        "epsilon",
        "expected-nodes",
        "finetune",
        "fraction-train",
        "gene-prior",
        "label-column",
        "ledger-dir",
        "local-epochs",
        "lr",
        "min-nodes",
        "model",
        "momentum",
        "out-dir",
        "panel",
        "plan-id",
        "pretrained",
        "prevalence",
        "prior",
        "privacy",
        "quiet",
        "resume",
        "round-timeout",
        "rounds",
        "secagg",
        "seed",
        "site-evaluations",
        "strategy",
        "synthetic-ratio",
        "test-dir",
    }
)


def test_every_run_setting_is_conditional_or_in_effect_in_every_run() -> None:
    conditional = {key for key, _applies, _when in _CONDITIONAL}
    settings = {field.name.replace("_", "-") for field in fields(RunSettings)}
    unsorted = sorted(settings - conditional - IN_EFFECT_IN_EVERY_RUN)
    assert unsorted == [], (
        f"run setting(s) {unsorted}: one that acts only with another setting goes in _CONDITIONAL "
        "(server/report/facts.py), one in effect in every run in IN_EFFECT_IN_EVERY_RUN here "
        "(docs/extending.md, 'A run setting', place 7)"
    )
    assert conditional <= settings and not conditional & IN_EFFECT_IN_EVERY_RUN
    assert IN_EFFECT_IN_EVERY_RUN <= settings
