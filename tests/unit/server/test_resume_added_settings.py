"""A run setting added to `RunSettings` gets its `SETTINGS_ADDED_SINCE` entry in server/resume.py
(docs/extending.md, "A run setting", place 4): a resumed run compares its settings with those its
checkpoint recorded, and a checkpoint written before the setting existed lacks it, so without the
entry `--resume` refuses every run checkpointed before the change ("changed: KEY: None -> VALUE"),
and so does a deployed coordinator upgraded during a run. The settings come from `RunSettings`'
fields, so a new field fails here until it has its entry (or is one a resumed run may change).
"""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

from genofed.server.resume import RESUMABLE_CHANGES, SETTINGS_ADDED_SINCE, check_resumable
from genofed.server.settings import RunSettings

#: The settings every checkpoint has recorded since a resumed run began to compare them with its
#: own (d5bf950, which brought `SETTINGS_ADDED_SINCE`: its run settings less the four it listed).
#: Pinned: a setting added since needs its entry in `SETTINGS_ADDED_SINCE`, never a line here.
RECORDED_SINCE_THE_START = frozenset(
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
        "ledger-dir",
        "local-epochs",
        "lr",
        "min-nodes",
        "out-dir",
        "panel",
        "plan-id",
        "pretrained",
        "pretrained-hash",
        "proximal-mu",
        "quiet",
        "resume",
        "rounds",
        "seed",
        "server-lr",
        "strategy",
        "synthetic-epsilon",
        "synthetic-generator",
        "synthetic-ratio",
        "test-dir",
        "wait-seconds",
    }
)


def _run_settings() -> set[str]:
    """Every run setting, by its run-config key."""
    return {field.name.replace("_", "-") for field in fields(RunSettings)}


def test_every_setting_added_since_checkpoints_began_has_its_entry() -> None:
    compared = _run_settings() - RESUMABLE_CHANGES
    missing = sorted(compared - RECORDED_SINCE_THE_START - set(SETTINGS_ADDED_SINCE))
    assert missing == [], (
        f"run setting(s) {missing} have no entry in SETTINGS_ADDED_SINCE (server/resume.py): a run "
        "checkpointed before they existed is refused on --resume; add each with the value runs made "
        "before it had in effect (docs/extending.md, 'A run setting', place 4)"
    )


def test_the_lists_name_run_settings_and_each_setting_once() -> None:
    settings = _run_settings()
    assert RECORDED_SINCE_THE_START | set(SETTINGS_ADDED_SINCE) <= settings
    assert not RECORDED_SINCE_THE_START & set(SETTINGS_ADDED_SINCE)


def test_a_checkpoint_from_before_the_added_settings_resumes_with_their_old_values(tmp_path) -> None:
    """What the entries are for: a checkpoint that recorded only the settings of the start resumes
    under settings that give each added one the value `SETTINGS_ADDED_SINCE` says older runs had
    (in run-config form: an entry of another form, 0.2 for "0.2", would refuse it)."""
    settings = RunSettings.from_config(dict(SETTINGS_ADDED_SINCE))
    recorded = {key: value for key, value in settings.to_config().items() if key in RECORDED_SINCE_THE_START}
    model = SimpleNamespace(to_dict=lambda: {"n_variants": 10})
    checkpoint = SimpleNamespace(model_config={"n_variants": 10}, settings=recorded)
    check_resumable(checkpoint, model, settings, tmp_path)  # refused: raises GenofedError
