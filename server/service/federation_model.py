"""The model a deployed federation trains, fixed at `coordinator init`: its public priors and the
public file `model.json` hospitals pin.

Why (what a hospital's bioinformatician asks): "which model will my patients train, and can the
coordinator change it afterwards?" A public prior (`--prior MODEL --prior-variants K`, a source
model's top K variants; `--gene-prior FILE`, clinicians' known genes) makes the model read a
sub-panel (`ModelConfig.selected`). `init` therefore
- checks the prior files exactly as a run would (`start_model`, the same code the ServerApp
  runs): a broken gene list, a source model for another panel or a missing file is refused
  before anything is written, naming the file;
- copies them into DIR/priors/ with their SHA-256 (federation.json "priors"): the run reads the
  copies, and `coordinator start` (and the ServerApp) refuse a copy that changed since
  (`check_prior_files`), because the hospitals pinned what the original selected;
- writes DIR/model.json: the model config the coordinator will send (architecture, panel size,
  selected indices), its digest (what node config `model-digest` pins), the selected variants'
  ids, the panel's SHA-256 and where the selection came from. A hospital pins it with
  `genofed hospital check --model-config model.json`, which recomputes the digest from the config
  (the file's own digest is for the reader) and checks it against its panel.

None of this touches patients: the panel, a public source model and a gene list are the
coordinator's own public inputs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genofed.common.errors import DataError, GenofedError
from genofed.common.util.hashing import file_sha256
from genofed.server.settings import RunSettings

if TYPE_CHECKING:
    from genofed.common.data.panel import VariantPanel
    from genofed.common.model.network import ModelConfig

PRIORS_DIR = "priors"
MODEL_FILE = "model.json"
MODEL_FORMAT = "genofed-model/1"
#: The prior roles: (federation.json "priors" key, run setting naming the file).
PRIOR_ROLES = (("source", "prior"), ("gene_list", "gene_prior"))
#: A model config's digest: `genofed.client.coordinator_request.architecture_digest`, passed in by
#: the caller (the CLI), because the coordinator's code never imports the hospital's.
Digest = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class FederationModel:
    """What `coordinator init` writes about the model: the prior files to copy (DIR-relative
    name -> the operator's file), federation.json's "priors" block and model.json."""

    copies: dict[str, Path]
    priors: dict[str, Any]
    document: dict[str, Any]

    @property
    def digest(self) -> str | None:
        return self.document.get("digest")

    def write(self, folder: Path) -> None:
        """Copy the prior files into `folder` (a staging folder) and write model.json. A file
        whose bytes changed since it was checked is refused: the copy must be what was checked."""
        from genofed.common.util.atomic import write_text_atomic

        expected = {entry["file"]: entry["sha256"] for entry in self.priors.values()}
        for name, source in self.copies.items():
            (folder / name).parent.mkdir(mode=0o700, exist_ok=True)
            shutil.copyfile(source, folder / name)
            if file_sha256(folder / name) != expected[name]:
                raise DataError(source, "changed while `coordinator init` read it", hint="run init again")
        write_text_atomic(folder / MODEL_FILE, json.dumps(self.document, indent=2) + "\n")


def plan_model(
    settings: RunSettings, panel_path: str | Path, panel_sha256: str, digest: Digest | None
) -> FederationModel:
    """The federation's model for `settings` (RunSettings; `prior`, `prior_variants`, `gene_prior`
    name the operator's files) on the panel at `panel_path`, checked as a run checks it.

    Raises ConfigError / DataError / PretrainedModelError naming the operator's file; writes nothing.
    digest: `architecture_digest` of the hospitals' side, recorded for the reader (None: left out).
    """
    from genofed.common.data.panel import VariantPanel  # pandas, torch: only for `coordinator init`
    from genofed.server.start_model import start_model

    settings.check_inputs(data=False)  # each named file exists (ConfigError naming it)
    files = {role: Path(getattr(settings, name)) for role, name in PRIOR_ROLES if getattr(settings, name)}
    names = [path.name for path in files.values()]
    if len(set(names)) < len(names):
        raise GenofedError(f"--prior and --gene-prior are both named {names[0]}: rename one of them")
    hashes = {role: file_sha256(path) for role, path in files.items()}  # before the checks read them
    panel = VariantPanel.load(panel_path)
    begin = start_model(settings, panel)
    priors = {
        role: {
            "file": f"{PRIORS_DIR}/{path.name}",
            "source": str(path.resolve()),
            "sha256": hashes[role],
            **_prior_facts(role, settings, begin.prior or {}),
        }
        for role, path in files.items()
    }
    document = _model_document(begin.config, panel, panel_sha256, priors, digest)
    return FederationModel({priors[role]["file"]: path for role, path in files.items()}, priors, document)


def _model_document(
    config: ModelConfig, panel: VariantPanel, panel_sha256: str, priors: dict[str, Any], digest: Digest | None
) -> dict[str, Any]:
    """model.json: what hospitals read and pin about the model `config` (a ModelConfig) on `panel`."""
    as_dict = config.to_dict()
    document = {
        "format": MODEL_FORMAT,
        "about": (
            "The model this federation trains. A hospital pins it with `genofed hospital check "
            "--model-config model.json`: it recomputes the digest from model_config and refuses any other "
            "architecture the coordinator sends."
        ),
        "architecture": config.architecture,
        "reads": config.n_inputs,
        "digest": digest(as_dict) if digest else None,
        "panel": {"file": "panel.tsv", "sha256": panel_sha256, "variants": len(panel)},
        "priors": {role: {k: v for k, v in entry.items() if k != "source"} for role, entry in priors.items()},
        "selected_ids": [panel.variant_ids[i] for i in config.selected],
        "model_config": as_dict,
    }
    if digest is None:
        del document["digest"]
    return document


def _prior_facts(role: str, settings: RunSettings, described: dict[str, Any]) -> dict[str, Any]:
    """What federation.json and model.json record of one prior besides its file and hash."""
    if role == "gene_list":
        return {"variants": described.get("gene_list", {}).get("variants")}
    source = described.get("source", {})
    return {
        "k": int(settings.prior_variants),
        "content_hash": source.get("content_hash"),
        "importance": source.get("importance"),
    }


def check_prior_files(folder: str | Path, federation: Mapping[str, Any]) -> dict[str, Any]:
    """The run settings naming the federation's prior copies (`prior`, `prior-variants`,
    `gene-prior`), after checking each copy still has the SHA-256 recorded at init.

    Raises DataError naming a copy that is missing or changed: the hospitals pinned the model
    the original selected, and a changed prior would select another one.
    """
    folder = Path(folder)
    config: dict[str, Any] = {}
    for role, setting in PRIOR_ROLES:
        entry = (federation.get("priors") or {}).get(role)
        if not entry:
            continue
        path = folder / entry["file"]
        found = file_sha256(path) if path.is_file() else "missing"
        if found != entry["sha256"]:
            raise DataError(
                path,
                f"changed since `coordinator init` (SHA-256 {found[:16]}, recorded {entry['sha256'][:16]})",
                hint=(
                    f"restore the copy of {entry.get('source', 'the original')}; a different prior selects "
                    "a different model, which the hospitals did not pin: make a new federation folder for "
                    "it, a second study on the same federation (`genofed coordinator init NEW_DIR "
                    "--same-federation-as DIR --prior ...`)"
                ),
            )
        config[setting.replace("_", "-")] = str(path)
        if role == "source":
            config["prior-variants"] = entry["k"]
    return config
