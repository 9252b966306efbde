"""Where a run starts: round 0 with a fresh plan, or the last checkpoint of an interrupted run.

A resumed run must compute what the interrupted one would have: same model, same settings
(except where outputs go and how progress is shown), the same content in the input files those
settings name (`--prior`, `--pretrained`, `--gene-prior`: a file replaced at the same path is
refused), same plan id, and the round log, history and server optimiser state the interrupted run
had in memory.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.common.scoring.model_file import load_model_file
from genofed.common.util.atomic import atomic_path
from genofed.common.util.hashing import file_sha256
from genofed.common.util.progress import Progress
from genofed.server.checkpoint import CHECKPOINTS, Checkpoint, checkpoint_files, latest_checkpoint
from genofed.server.round_log import RoundLog
from genofed.server.settings import NOT_COMPUTED, REPORT_ONLY, RunSettings

#: Settings a resumed run may change: where outputs go and how progress is shown; how long the
#: coordinator waits for hospitals (to connect, to reply: neither changes the model a round
#: computes from the replies it has; a checkpoint written before round-timeout existed has none);
#: and the plan id, which a resumed run takes from its checkpoint whatever the settings say.
RESUMABLE_CHANGES = NOT_COMPUTED | frozenset(REPORT_ONLY)

#: What a checkpoint keeps of the round log (by RoundLog field), so a resumed run reports every round.
LOGGED = ("train", "evaluate", "refused", "capped", "update_norms", "refused_epsilon", "absent_since")

#: Settings added after checkpoints were first written, with the value older runs had in effect
#: (in run-config form: "inf" for infinity). Before the model choice (cfbc95e) every run trained
#: the network with momentum 0.9, under local DP and without priors.
SETTINGS_ADDED_SINCE = {
    "secagg": False,
    "trim-beta": 0.2,
    "malicious-nodes": 1,
    "site-evaluations": 0,
    "label-column": "label",
    "prevalence": 0.0,
    "model": "network",
    "momentum": 0.9,
    "prior": "",
    "prior-variants": 0,
    "gene-prior": "",
    "privacy": "local",
    "max-coalition-epsilon": "inf",
}

#: The content of the input files a run started from, beside its checkpoints (`record_inputs`): a
#: file replaced at the same path keeps the setting (its path) equal, not what the run computes.
INPUTS = "inputs.json"

#: The input files a run's settings name, as (setting attribute, option as users give it, whether
#: it is a model file). A model file is identified by its content hash (what results.json records
#: and `pretrained-hash` pins); any other file by the SHA-256 of its bytes.
INPUT_FILES = (
    ("prior", "--prior", True),
    ("pretrained", "--pretrained", True),
    ("gene_prior", "--gene-prior", False),
)


@dataclass
class RunStart:
    """The state a run's first round starts from.

    `round`: the round already closed (0 for a new run); `plan_id`: the privacy plan id the
    hospitals key their plans and seeds by; `weights`: the global model after `round`;
    `history`: the per-round records so far; `checkpoint`: the one resumed from (None: a new run).

    The run's clock, so that its wall time covers every launch and not only the last one:
    `elapsed_before`: the wall seconds earlier launches spent, up to the checkpoint resumed from
    (0 for a new run; what they spent after it, and the time between launches, is not counted);
    `launches`: this launch's number (1 for a new run); `launched`: `time.perf_counter()` when this
    launch began.
    """

    round: int
    plan_id: str
    weights: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    checkpoint: Checkpoint | None = None
    elapsed_before: float = 0.0
    launches: int = 1
    launched: float = field(default_factory=time.perf_counter)

    @property
    def resumed(self) -> bool:
        return self.checkpoint is not None

    def elapsed(self) -> float:
        """The run's wall seconds so far: earlier launches' (up to their last checkpoint) plus this
        launch's; what a checkpoint written now records, and results.json's `wall_seconds`."""
        return self.elapsed_before + (time.perf_counter() - self.launched)


def checkpoint_folder(settings: RunSettings) -> Path:
    return Path(settings.out_dir) / CHECKPOINTS


def run_start(
    settings: RunSettings,
    model_config: ModelConfig,
    initial: dict[str, torch.Tensor],
    say: Progress,
    launched: float | None = None,
) -> RunStart:
    """The run's start: from the latest checkpoint under `resume=true` (when there is one and the
    settings allow it), else from `initial` at round 0 with the settings' plan id or a new one.

    `launched`: `time.perf_counter()` when this launch began (default: now), from which the run's
    clock counts this launch's time (`RunStart.elapsed`)."""
    clock = time.perf_counter() if launched is None else launched
    refuse_an_unfinished_run(settings)
    folder = checkpoint_folder(settings)
    resumed = latest_checkpoint(folder) if settings.resume else None
    if settings.resume and resumed is None:  # a new run, not a failed resume (an ML engineer's walkthrough)
        say(
            f"a new run, from round 0 of {settings.rounds}: nothing to resume yet (no checkpoint in {folder})"
        )
    if resumed is None:
        record_inputs(folder, settings)
        return RunStart(0, settings.plan_id or uuid.uuid4().hex, initial, [], launched=clock)
    check_resumable(resumed, model_config, settings, folder)
    if not check_inputs(folder, settings):
        say(
            f"{folder} records no hashes of the run's input files (an older genofed wrote it): "
            "not checked that they are unchanged"
        )
    say(
        f"resuming run {resumed.plan_id} from round {resumed.round} of {settings.rounds} (checkpoint "
        f"{checkpoint_files(folder)[-1][1]}); Flower's [ROUND k/{settings.rounds - resumed.round}] counts "
        f"this launch's rounds, genofed's `round {resumed.round + 1}/{settings.rounds}` the run's"
    )
    return RunStart(
        resumed.round,
        resumed.plan_id,
        resumed.state_dict,
        list(resumed.history),
        resumed,
        elapsed_before=resumed.elapsed_seconds,
        launches=resumed.launches + 1,
        launched=clock,
    )


def refuse_an_unfinished_run(settings: RunSettings) -> None:
    """An out-dir that holds a run's checkpoints and no results (a run that crashed or was stopped)
    is continued under resume=true, never started again: a new run would begin at round 0 with a
    new plan id and overwrite those checkpoints, and the hospitals' ledgers, which recorded the
    rounds they trained, would refuse it. `genofed simulate` refuses that folder before Flower starts
    (`genofed.cli.run_folder`: --resume or --force); this holds for a run submitted any other way
    (`flwr run`). A finished run (its results.json) is refused before this, by the ServerApp."""
    if settings.resume:
        return
    rounds = checkpointed_rounds(checkpoint_folder(settings))
    if not rounds:
        return
    closed = max(rounds)
    held = (
        f"checkpoints up to round {closed}" + (f" of {settings.rounds}" if settings.rounds else "")
        if closed
        else "the round-0 checkpoint of a run that closed no round"
    )
    raise GenofedError(
        f"{settings.out_dir} holds an unfinished run ({held}, no results.json); a new run there would "
        "start again from round 0 and overwrite its checkpoints: continue it with the same settings "
        "and resume=true (flwr run: --run-config 'resume=true'; genofed simulate: --resume), or give "
        "the new run another out-dir"
    )


def checkpointed_rounds(folder: Path) -> list[int]:
    """The rounds `folder` holds a checkpoint of (round-NNNN.pt; without loading them)."""
    return [number for number, _path in checkpoint_files(folder)]


def check_resumable(
    checkpoint: Checkpoint, model_config: ModelConfig, settings: RunSettings, folder: Path
) -> None:
    """A resumed run must compute what the interrupted one would have, so nothing else may change."""
    if checkpoint.model_config != model_config.to_dict():
        raise GenofedError(f"the checkpoint in {folder} is for another model/panel; start a new run folder")
    # checkpoints written before a setting existed ran with its default
    before, now = {**SETTINGS_ADDED_SINCE, **checkpoint.settings}, settings.to_config()
    changed = sorted(
        k for k in set(before) | set(now) if k not in RESUMABLE_CHANGES and before.get(k) != now.get(k)
    )
    if changed:
        details = ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise GenofedError(
            f"a resumed run needs the interrupted run's settings; changed: {details}. Where no one changed "
            "them, the genofed that started the run set them by another rule from public facts (it has "
            "been upgraded since): give each the interrupted run's value (genofed simulate: the option, "
            "e.g. --lr; flwr run: --run-config), or start a new run"
        )


def named_inputs(settings: RunSettings) -> dict[str, tuple[str, bool]]:
    """The input files `settings` name, by option: (path, whether it is a model file)."""
    return {
        option: (path, is_model)
        for attribute, option, is_model in INPUT_FILES
        if (path := str(getattr(settings, attribute, "") or ""))
    }


def input_hashes(settings: RunSettings) -> dict[str, str]:
    """The content hash of each input file `settings` name, by option (empty: none named)."""
    return {
        option: load_model_file(path).content_hash if is_model else file_sha256(path)
        for option, (path, is_model) in named_inputs(settings).items()
    }


def record_inputs(folder: Path, settings: RunSettings) -> None:
    """Record, for a new run, the content of the input files it starts from, so a resumed run can
    refuse one replaced at the same path (nothing is written when the settings name none)."""
    hashes = input_hashes(settings)
    if not hashes:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / INPUTS) as tmp:
        tmp.write_text(json.dumps(hashes, indent=2, sort_keys=True))


def check_inputs(folder: Path, settings: RunSettings) -> bool:
    """Refuse a resumed run whose input files differ in content from those the interrupted run
    started from: its rounds so far came from the old ones, and results.json would record the new.
    False when input files are named and the interrupted run recorded none (a run written before
    the record existed): they cannot be checked."""
    recorded = read_inputs(folder)
    named = named_inputs(settings)
    if recorded is None:
        return not named
    now = input_hashes(settings)
    for option, (path, _is_model) in named.items():
        if option in recorded and recorded[option] != now[option]:
            raise GenofedError(
                f"{option} {path}: the file changed since the interrupted run (content hash "
                f"{recorded[option][:16]}... then, {now[option][:16]}... now), so --resume would continue "
                "its rounds from another file: restore the file, or start a new run"
            )
    return True


def read_inputs(folder: Path) -> dict[str, str] | None:
    """The input hashes recorded in `folder` (None when there is no record)."""
    path = folder / INPUTS
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GenofedError(
            f"{path}: cannot read the record of the run's input files ({exc}); restore it, or start a new run"
        ) from exc
    if not isinstance(recorded, dict):
        raise GenofedError(f"{path}: not a record of the run's input files; restore it, or start a new run")
    return {str(k): str(v) for k, v in recorded.items()}


def log_snapshot(log: RoundLog) -> dict[str, Any]:
    """What a checkpoint keeps of the round log."""
    return {name: getattr(log, name) for name in LOGGED}


def restore_log(log: RoundLog, checkpoint: Checkpoint) -> None:
    """Put the interrupted run's round log back into `log` (fields a checkpoint lacks start empty)."""
    for name in LOGGED:
        setattr(log, name, checkpoint.log.get(name, {}))
