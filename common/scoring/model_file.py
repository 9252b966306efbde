"""The model file: what `genofed pretrain` writes, what every federated run writes as
RUN/model.pt, what a coordinator starts from (`--pretrained`) and what `genofed predict` scores with.

One file holds everything needed to trust and reuse a model: the weights, the model config,
the variant panel it was trained on (panel order and allele frequencies define its input), the
task it was trained for (its label column), where it came from (source files and their hashes,
seed, settings, metrics, the genofed version), what scoring needs beyond the weights
(`operating`: the feature encoding's constants, the operating threshold and the training
population's risk distribution; empty in a `genofed pretrain` file), who it was validated on
(`validated_on`: the tested cohort's ages and sex mix and the calibration verdict there,
`genofed.common.scoring.validation`; empty in a `genofed pretrain` file and in files written before
it existed), and a SHA-256 content hash over all of that. Loading recomputes the hash, so a file
damaged in transit or edited by hand is refused rather than silently fine-tuned or used on
patients; a coordinator can also pin the exact hash it expects (`pretrained-hash`).

One format for both kinds, `genofed-pretrained/1` (the name predates federated model files; it is
part of every content hash, so it stays): `operating` and `validated_on` enter the hash only when
non-empty, so every file written before they existed loads and keeps its hash.

The file is a `torch.save` of plain dicts, lists, strings, numbers and tensors, read back with
`weights_only=True`: opening a model someone sent you never runs code from it.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genofed.common.data.features import FREQ_CLIP, FeatureSpec
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError, DataError, GenofedError
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_values import task_problem, value_problem
from genofed.common.util.atomic import save_torch_atomic

FORMAT = "genofed-pretrained/1"


class PretrainedModelError(GenofedError):
    """A model file that cannot be used: unreadable, modified, or for another panel/model."""


#: The general name: the error is about any model file, pretrained or federated.
ModelFileError = PretrainedModelError


class ModelValueError(PretrainedModelError, DataError):
    """A model file whose hash is valid but which holds a value scoring cannot use (a NaN weight, a
    threshold outside (0, 1), ...: `genofed.common.scoring.model_values`). A DataError naming the
    file and the field, and a ModelFileError, so every caller that refuses a bad model file refuses
    this one too."""


@dataclass(frozen=True)
class Task:
    """What the model was trained to predict: a binary trait (one logit) or classes (K logits)."""

    kind: str  # "binary" or "multiclass"
    label: str  # the phenotype column it was trained on
    classes: tuple[str, ...] = ()  # multiclass only, in output order

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(str(data["kind"]), str(data["label"]), tuple(str(c) for c in data.get("classes", ())))


@dataclass(frozen=True)
class ModelFile:
    """A trained model and everything needed to trust and use it.

    `operating`: what scoring patients needs beyond the weights, written by a federated run
    (`genofed.server.results.write_model`): `features` (the encoding's constants,
    `features_dict`), `threshold` (the operating point, or None), `risk_distribution` (for
    percentiles, `genofed.common.scoring.operating`); empty in a `genofed pretrain` file.

    `validated_on`: who the model was tested on and the calibration verdict there
    (`genofed.common.scoring.validation.validation_record`); `{}` when the file does not record it.
    """

    state_dict: dict[str, torch.Tensor]
    model_config: ModelConfig
    panel: VariantPanel
    task: Task
    provenance: dict[str, Any] = field(default_factory=dict)
    operating: dict[str, Any] = field(default_factory=dict)
    validated_on: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self)

    def build(self) -> torch.nn.Module:
        model = build_model(self.model_config, seed=0)
        model.load_state_dict(self.state_dict)
        return model

    def feature_spec(self) -> FeatureSpec:
        """The encoding the model was trained on: its panel's frequencies and the recorded
        covariate constants (the defaults of `FeatureSpec` for a file that records none)."""
        recorded = self.operating.get("features") or {}
        clip = float(recorded.get("freq_clip", FREQ_CLIP))
        if not np.isclose(clip, FREQ_CLIP):
            raise PretrainedModelError(
                f"the model clips allele frequencies at {clip:g}, this genofed at {FREQ_CLIP:g}: its inputs "
                "would be encoded differently; use the genofed version that wrote it "
                f"({self.provenance.get('genofed_version', 'unknown')})"
            )
        defaults = FeatureSpec(alt_freq=())
        return FeatureSpec(
            alt_freq=self.panel.alt_freq,
            age_center=float(recorded.get("age_center", defaults.age_center)),
            age_scale=float(recorded.get("age_scale", defaults.age_scale)),
            covariates=tuple(recorded.get("covariates", defaults.covariates)),
        )


#: The historical name, used by `genofed pretrain` and the transfer-learning code.
PretrainedModel = ModelFile


def features_dict(spec: FeatureSpec) -> dict[str, Any]:
    """The encoding constants a model file records (`operating.features`): without them a
    scorer could only assume today's defaults, and a changed default would silently shift every
    input. `freq_clip` is recorded to be checked, not applied (it is a constant of this code)."""
    return {
        "age_center": float(spec.age_center),
        "age_scale": float(spec.age_scale),
        "covariates": list(spec.covariates),
        "freq_clip": FREQ_CLIP,
        "dosage": "d - 2p (p: the panel frequency, clipped); a missing call or absent variant is 0",
        "missing_covariates": "sex 0.5, age the centre (0 after scaling)",
    }


def content_hash(model: ModelFile) -> str:
    """SHA-256 over the weights (names, dtypes, shapes, bytes), config, panel, task, provenance
    and, when non-empty, `operating` and `validated_on` (so files without them keep the hash they
    were written with)."""
    digest = hashlib.sha256(FORMAT.encode())
    meta = {
        "model_config": model.model_config.to_dict(),
        "panel": _panel_to_dict(model.panel),
        "task": model.task.to_dict(),
        "provenance": model.provenance,
        **({"operating": model.operating} if model.operating else {}),
        **({"validated_on": model.validated_on} if model.validated_on else {}),
    }
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name in sorted(model.state_dict):
        tensor = model.state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def save_model_file(path: str | Path, model: ModelFile) -> str:
    """Write `model` to `path` atomically; returns its content hash."""
    digest = content_hash(model)
    payload = {
        "format": FORMAT,
        "content_hash": digest,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict.items()},
        "model_config": model.model_config.to_dict(),
        "panel": _panel_to_dict(model.panel),
        "task": model.task.to_dict(),
        "provenance": model.provenance,
        **({"operating": model.operating} if model.operating else {}),
        **({"validated_on": model.validated_on} if model.validated_on else {}),
    }
    save_torch_atomic(path, payload)  # a full disk is one line, not torch's RuntimeError
    return digest


def load_model_file(path: str | Path, *, expected_hash: str = "", what: str = "model file") -> ModelFile:
    """Read and verify a model file; refuse it if its content hash does not match the one
    recorded inside, or `expected_hash` (a full hash or a prefix of at least 12 hex digits).

    `what` names the file in errors ("pretrained model" where a run starts from one).
    """
    path = Path(path)
    if path.is_dir():
        raise PretrainedModelError(f"{path} is a folder, not a {what}; {_get_a_model(what)}")
    if not path.is_file():
        raise PretrainedModelError(
            f"{path}: {what} not found; create one with `genofed pretrain` or a federated run "
            "(`genofed simulate --out RUN` writes RUN/model.pt)"
        )
    _refuse_foreign_file(path, what)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            checkpoint = isinstance(payload, dict) and "round" in payload and "plan_id" in payload
            raise PretrainedModelError(
                f"{path}: not a genofed {what} (format {found!r}, expected {FORMAT!r})"
                + ("; it is a run's checkpoint, the coordinator's resume point" if checkpoint else "")
                + f"; {_get_a_model(what)}"
            )
        model = ModelFile(
            state_dict=dict(payload["state_dict"]),
            model_config=ModelConfig.from_dict(payload["model_config"]),
            panel=_panel_from_dict(payload["panel"]),
            task=Task.from_dict(payload["task"]),
            provenance=dict(payload.get("provenance", {})),
            operating=dict(payload.get("operating", {})),
            validated_on=dict(payload.get("validated_on") or {}),
        )
    except PretrainedModelError:
        raise
    except pickle.UnpicklingError:
        # torch's message here advises weights_only=False, i.e. running the file's code: never
        # repeated. A genofed model file holds plain data only, so this is not one.
        # A damaged byte reads the same way as a foreign object (a walkthrough's one-byte edit was
        # told "could run code"): both are said, the damage first.
        raise PretrainedModelError(
            f"{path}: cannot read the {what}: its contents do not read as a genofed model file's plain "
            "data: the file is damaged (a changed byte), or it holds Python objects a genofed model never "
            "contains, which genofed does not open (opening them could run code from the file); "
            + _get_a_model(what)
        ) from None
    except Exception as exc:  # a truncated or foreign file: zip and key errors alike
        # torch's first sentence, and never its advice to load with weights_only=False
        first = (str(exc).splitlines() or [""])[0]
        reason = "" if "weights_only" in first else first.split(". ")[0][:160]
        raise PretrainedModelError(
            f"{path}: cannot read the {what}; the file is incomplete (copied or downloaded only in "
            f"part?) or not a genofed model ({type(exc).__name__}{': ' + reason if reason else ''}); "
            f"copy it again, or {_get_a_model(what)}"
        ) from None
    _check_weights_fit(path, model)
    _check_stored_frequencies(path, model)
    _check_hash(path, model, str(payload.get("content_hash", "")), expected_hash, what)
    _check_task(path, model, what)
    _check_values(path, model, what)
    return model


def _check_stored_frequencies(path: Path, model: ModelFile) -> None:
    """Every frequency stored must be the 6-digit value the content hash covers (`_panel_to_dict`
    writes and hashes them rounded): a change below the 6th decimal would otherwise pass the hash.
    Checked here rather than by hashing exact values, which would change the hash definition."""
    for index, value in enumerate(model.panel.alt_freq):
        number = float(value)
        if math.isfinite(number) and number != round(number, 6):
            raise PretrainedModelError(
                f"{path}: panel.alt_freq[{index}] is {number!r}, not the 6-digit value every model file "
                "stores: the file was damaged or modified after it was written; get a fresh copy from "
                "whoever trained it"
            )


def _check_task(path: Path, model: ModelFile, what: str) -> None:
    """Refuse a file (after its hash) whose task contradicts its model's outputs: the hash only
    detects damage, so a binary model re-saved as a 'regression' one, or with three outputs, carries
    a valid one and would be scored, shown as intact or used as a prior for a task it was not."""
    problem = task_problem(model.task.kind, model.task.classes, model.model_config.n_outputs)
    if problem:
        raise ModelValueError(
            path,
            f"not a usable {what}: {problem}; no genofed run writes such a file (it was edited and "
            "saved again)",
            hint="get a fresh copy from whoever trained it, and check its content hash against the approved "
            "one",
        )


def _check_values(path: Path, model: ModelFile, what: str) -> None:
    """Refuse a file (after its hash: a damaged file is told as damaged) that holds a value scoring
    cannot use: the hash only detects damage, so a file edited and re-saved with a NaN weight or a
    threshold of 1.5 carries a valid one, and would score every patient wrongly or end in a traceback."""
    problem = value_problem(model.state_dict, model.panel.alt_freq, model.operating, model.validated_on)
    if problem:
        raise ModelValueError(
            path,
            f"not a usable {what}: {problem}; no genofed run writes such a value (the file was edited and "
            "saved again, or its training failed)",
            hint="get a fresh copy from whoever trained it, and check its content hash against the approved "
            "one",
        )


def _get_a_model(what: str) -> str:
    """What to do about a file that is not a model file, at the end of every such refusal."""
    if what == "pretrained model":
        return "pass a federated run's RUN/model.pt or a `genofed pretrain` file"
    return (
        "pass the model file itself: a federated run's RUN/model.pt, a `genofed adapt` file or a "
        "`genofed pretrain` file"
    )


#: Leading bytes of files often passed by mistake, and what they are (checked before torch reads
#: anything, so the refusal names the file's kind instead of quoting an unpickling error).
_MAGIC = (
    (b"\x1f\x8b", "a gzip-compressed file (e.g. a .vcf.gz or .bcf genotype file)"),
    (b"BCF", "a BCF genotype file"),
    (b"\x6c\x1b\x01", "a PLINK .bed genotype file"),
    (b"PAR1", "a Parquet table"),
    (b"##fileformat=VCF", "a VCF genotype file"),
    (b"\xef\xbb\xbf", "a text file (e.g. a CSV table)"),
)


def _refuse_foreign_file(path: Path, what: str) -> None:
    """Refuse, by its first bytes, a file that cannot be a model file (torch.save writes a zip
    archive, or a pickle in its legacy format): a genotype file, a table, any text, an empty file."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return
    if not head:
        raise PretrainedModelError(
            f"{path}: cannot read the {what}: the file is empty (an interrupted copy?)"
        )
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind is None:
        if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
            kind = "a text file (e.g. a CSV table or a VCF)"
        else:
            kind = "neither a zip archive nor a pickle, as torch.save writes"
    raise PretrainedModelError(f"{path}: not a genofed {what}: it looks like {kind}; {_get_a_model(what)}")


def save_pretrained(path: str | Path, model: ModelFile) -> str:
    """`save_model_file` under its historical name (`genofed pretrain`)."""
    return save_model_file(path, model)


def load_pretrained(path: str | Path, *, expected_hash: str = "") -> ModelFile:
    """`load_model_file` where a model is read to start a run from (errors say "pretrained model").

    A model a hospital adapted to its own patients (`genofed adapt`: provenance kind "adapted") is
    refused: it was fitted without DP and must not reach a coordinator or seed a federation."""
    model = load_model_file(path, expected_hash=expected_hash, what="pretrained model")
    if model.provenance.get("kind") == "adapted":
        raise PretrainedModelError(
            f"{path}: a hospital's adaptation of a federated model, {model.provenance.get('privacy')}; a run "
            "cannot start from it: use the federation's own model.pt, or a `genofed pretrain` model"
        )
    return model


#: The fewest hex digits of a content hash an expected hash may give: 12 digits (48 bits) make an
#: accidental match impossible in practice and are what every genofed summary line prints.
MIN_HASH_DIGITS = 12


def check_expected_hash(value: str | None, *, option: str = "--expect-hash") -> str:
    """The normalised expected hash (lower case, "" when `value` is None: no check), or a one-line
    refusal of a value that cannot pin a model: an empty one (an unset shell variable,
    `--expect-hash "$APPROVED"`, would otherwise switch the check off in silence), one that is not
    hexadecimal, or one shorter than `MIN_HASH_DIGITS`. Commands call it before reading anything."""
    if value is None:
        return ""
    expected = value.strip().lower()
    if not expected:
        raise ConfigError(
            f"{option} is empty (an unset shell variable?): give the approved model's content hash (at "
            f"least its first {MIN_HASH_DIGITS} hex digits), or leave {option} out to skip the check"
        )
    if any(c not in "0123456789abcdef" for c in expected) or len(expected) > 64:
        raise ConfigError(
            f"{option} {value.strip()!r} is not a SHA-256 content hash (up to 64 hex digits 0-9, a-f); "
            "`genofed inspect-model MODEL` prints a model's"
        )
    if len(expected) < MIN_HASH_DIGITS:
        raise ConfigError(
            f"{option} {expected!r} has {len(expected)} hex digit(s): give at least the first "
            f"{MIN_HASH_DIGITS} of the approved content hash (`genofed inspect-model MODEL` prints it)"
        )
    return expected


def _check_hash(path: Path, model: ModelFile, recorded: str, expected_hash: str, what: str) -> None:
    """The model's content hash must be the one recorded in its file, and start with
    `expected_hash` when one is given (at least `MIN_HASH_DIGITS` hex digits)."""
    actual = content_hash(model)
    if recorded != actual:
        raise PretrainedModelError(
            f"{path}: content hash mismatch (recorded {recorded[:16]}..., computed {actual[:16]}...): "
            "the file was damaged or modified after it was written; get a fresh copy from whoever "
            "trained it"
        )
    if expected_hash:
        expected = expected_hash.strip().lower()
        use = "refusing to start from it" if what == "pretrained model" else "refusing to use it"
        if len(expected) < MIN_HASH_DIGITS:
            raise PretrainedModelError(
                f"{path}: the approved hash given, {expected!r}, has {len(expected)} hex digit(s), fewer "
                f"than the {MIN_HASH_DIGITS} needed to pin a model, so content hash {actual[:16]}... is not "
                f"the approved one: {use}; give at least the first {MIN_HASH_DIGITS} hex digits"
            )
        if not actual.startswith(expected):
            shown = expected[:16] + ("..." if len(expected) > 16 else "")
            raise PretrainedModelError(
                f"{path}: content hash {actual[:16]}... is not the approved {shown}: {use}"
            )


def parameter_count(model: ModelFile) -> int:
    """The model's trainable weights (what "parameters" means to a reader): the state dict less its
    buffers, such as a logistic model's per-column scale and selected columns, which are constants."""
    return sum(p.numel() for p in model.build().parameters())


def _check_weights_fit(path: Path, model: ModelFile) -> None:
    """The weights must be exactly those of the network the config describes (names and shapes):
    a file written by another version can be internally consistent and still not load."""
    expected = {k: tuple(v.shape) for k, v in build_model(model.model_config, seed=0).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in model.state_dict.items()}
    if expected != found:
        wrong = sorted(k for k in set(expected) | set(found) if expected.get(k) != found.get(k))
        details = ", ".join(f"{k}: {found.get(k)} (expected {expected.get(k)})" for k in wrong[:4])
        raise PretrainedModelError(
            f"{path}: its weights do not fit its model config ({details}); "
            "it was written by another genofed version or edited: pretrain again"
        )


def check_compatible(model: ModelFile, panel: VariantPanel, *, source: str = "the pretrained model") -> None:
    """Refuse a model whose panel or input width differs from the federation's.

    The panel must match exactly (variant ids, order, and the allele frequencies the features are
    centred on): the same weights on a differently ordered or centred input compute something
    else entirely, with no error to show for it.
    """
    ours, theirs = panel.variant_ids, model.panel.variant_ids
    if len(ours) != len(theirs):
        raise PretrainedModelError(
            f"{source} was trained on a panel of {len(theirs)} variants, this federation's panel has "
            f"{len(ours)}: pretrain again with --panel set to the federation's panel.tsv"
        )
    if ours != theirs:
        first = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
        raise PretrainedModelError(
            f"{source} was trained on another panel: variant {first + 1} is {theirs[first]} there but "
            f"{ours[first]} here; pretrain again with --panel set to the federation's panel.tsv"
        )
    if not np.allclose(model.panel.alt_freq, panel.alt_freq, atol=1e-6):
        worst = int(np.argmax(np.abs(model.panel.alt_freq - panel.alt_freq)))
        raise PretrainedModelError(
            f"{source} centres its inputs on other allele frequencies (variant {ours[worst]}: "
            f"{model.panel.alt_freq[worst]:.6f} there, {panel.alt_freq[worst]:.6f} in this panel); "
            "pretrain on this panel.tsv"
        )
    expected = ModelConfig(n_variants=len(panel)).n_covariates
    if model.model_config.n_variants != len(panel) or model.model_config.n_covariates != expected:
        raise PretrainedModelError(
            f"{source} expects {model.model_config.n_variants} variants and "
            f"{model.model_config.n_covariates} covariates; this federation feeds {len(panel)} and {expected}"
        )


def disease_start(model: ModelFile, *, seed: int) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The (config, weights) a disease federation starts from.

    A binary source model (a related or unrelated trait) is used as it is: its output layer
    already scores risk. A multi-class one (e.g. ancestry) keeps its encoder and hidden layer,
    and gets a fresh one-logit output layer, initialised from `seed` like a new model's. A
    logistic model is one output layer: a binary one is used as it is, a multi-class one becomes
    a fresh one-logit model, all zeros (its classes' weights score ancestry, not the disease; its
    use is the variant importances `genofed.server.prior` reads from it).
    """
    if model.model_config.n_outputs == 1:
        return model.model_config, {k: v.clone() for k, v in model.state_dict.items()}
    config = ModelConfig(**{**model.model_config.to_dict(), "n_outputs": 1})
    fresh = build_model(config, seed=seed).state_dict()
    weights = {
        k: (fresh[k] if k.startswith("head.2.") or k.startswith("linear.") else v.clone())
        for k, v in model.state_dict.items()
    }
    return config, weights


def describe(model: ModelFile) -> dict[str, Any]:
    """What results.json and reports record about the starting model."""
    prov = model.provenance
    return {
        "content_hash": model.content_hash,
        "task": model.task.to_dict(),
        "architecture": model.model_config.architecture,
        "source": prov.get("source"),
        "source_samples": prov.get("samples"),
        "source_metrics": prov.get("metrics"),
        "created": prov.get("created"),
        # a federation's own model (`--pretrained` continues from it): its hospitals' spend, which
        # this run's ledgers do not hold and its model file and report name beside its own
        "kind": prov.get("kind"),
        "epsilon": prov.get("epsilon") if prov.get("kind") == "federated" else None,
    }


#: How a federated run's model file names its run (`provenance["source"]`), before the run
#: folder's name, quoted (`federated_source`); older files wrote "federated run NAME".
FEDERATED_SOURCE = "federated run in folder "
_OLD_FEDERATED_SOURCE = "federated run "


def federated_source(folder: str | Path) -> str:
    """A federated run's model's `provenance["source"]`: the run folder's name, quoted, so that it
    reads as a name whatever it is: a folder named `run` made "federated run run"."""
    return f"{FEDERATED_SOURCE}'{Path(folder).name}'"


def source_text(provenance: dict[str, Any]) -> str | None:
    """The model's source as said to a user: an older federated model file's "federated run NAME"
    as `federated_source` writes it now (the file itself is not changed: its content hash holds)."""
    source = provenance.get("source")
    if (
        provenance.get("kind") == "federated"
        and isinstance(source, str)
        and source.startswith(_OLD_FEDERATED_SOURCE)
        and not source.startswith(FEDERATED_SOURCE)
    ):
        return federated_source(source.removeprefix(_OLD_FEDERATED_SOURCE))
    return source


def most_spent(epsilon: Any) -> float | None:
    """The most epsilon any hospital spent, from a federated model's provenance `epsilon` (one
    figure per hospital; a single figure is taken as it is), or None when none is recorded."""
    values = list(epsilon.values()) if isinstance(epsilon, dict) else [epsilon]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    spent = [v for v in numbers if math.isfinite(v)]
    return max(spent) if spent else None


def _panel_to_dict(panel: VariantPanel) -> dict[str, Any]:
    return {"variant_ids": list(panel.variant_ids), "alt_freq": [round(float(f), 6) for f in panel.alt_freq]}


def _panel_from_dict(data: dict[str, Any]) -> VariantPanel:
    return VariantPanel(list(map(str, data["variant_ids"])), np.asarray(data["alt_freq"], dtype=np.float64))
