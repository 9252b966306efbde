"""The model architecture a hospital agrees to train: what `genofed hospital check` pins (node
config `model-digest`; the ClientApp refuses any other, client/coordinator_request.py).

Two ways to name it:
- `--model logistic|network`: that model over the whole panel (`whole_panel`);
- `--model-config model.json`: the file the federation's `coordinator init` published
  (server/service/federation_model.py), e.g. a model that reads only the sub-panel chosen by a
  public prior (`from_model_file`).

Why the hospital checks model.json itself rather than trusting it: the file comes from the
coordinator, the party the pin holds to account. So the digest is recomputed from the config (the
file's own `digest` field is only shown to the reader), the config must fit this hospital's panel
(its size; selected indices ascending and inside it), and where the file names the panel's SHA-256
and the selected variants' ids they must be this panel's: the same indices on another panel would
read other variants. Everything pinned is public: the config travels with every round anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genofed.common.errors import DataError
from genofed.common.util.hashing import file_sha256

if TYPE_CHECKING:
    from genofed.common.model.network import ModelConfig


@dataclass(frozen=True)
class PinnedModel:
    """The architecture a hospital pins.

    digest: `architecture_digest` of the config: node config `model-digest`.
    architecture: logistic or network.
    reads: how many panel variants the model reads (its selection's size, else the whole panel).
    n_variants: the panel's size.
    source: the model.json it came from ("" = `--model` over the whole panel).
    """

    digest: str
    architecture: str
    reads: int
    n_variants: int
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "reads": self.reads,
            "n_variants": self.n_variants,
            "source": self.source,
        }


def whole_panel(panel: Path, model: str = "") -> PinnedModel:
    """`model` ("logistic" or "network"; "" = `DEFAULT_ARCHITECTURE`) over the whole panel, as a
    coordinator without priors starts it and the ClientApp computes it."""
    from genofed.common.data.panel import VariantPanel
    from genofed.common.model.network import DEFAULT_ARCHITECTURE, ModelConfig

    config = ModelConfig(n_variants=len(VariantPanel.load(panel)), architecture=model or DEFAULT_ARCHITECTURE)
    return _pinned(config)


def from_model_file(path: str | Path, panel: Path) -> PinnedModel:
    """The model a federation's model.json at `path` describes, checked against `panel`.

    Raises DataError naming `path` for a file that is missing or not a model.json, a config that
    is not a model config, does not fit the panel's size or selects indices outside it, and a
    file made for another panel (its SHA-256 or the selected variants' ids differ).
    """
    from genofed.common.data.panel import VariantPanel
    from genofed.common.model.network import ModelConfig

    document = _read(Path(path))
    n_variants = len(loaded := VariantPanel.load(panel))
    stated = document["model_config"].get("n_variants")
    if stated != n_variants:  # first: indices are only meaningful on a panel of the right size
        raise DataError(
            path,
            f"the model is for a panel of {stated} variants; this hospital's panel {panel} has {n_variants}",
            hint="check the site against the panel.tsv sent with this model.json (--panel)",
        )
    try:
        config = ModelConfig.from_dict(dict(document["model_config"]))
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError
        raise DataError(
            path,
            f"model_config is not a valid model config: {exc}",
            hint="use the model.json your federation's `coordinator init` wrote, unedited",
        ) from None
    _require_same_panel(Path(path), document, panel, [loaded.variant_ids[i] for i in config.selected])
    return _pinned(config, source=str(Path(path).resolve()))


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "not found", hint="the model.json your coordinator sent with ca.pem") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot be read as JSON ({exc})", hint="a federation's model.json") from None
    if not isinstance(document, dict) or not isinstance(document.get("model_config"), dict):
        raise DataError(
            path,
            "holds no model_config: not a federation's model.json",
            hint="`genofed coordinator init` writes DIR/model.json",
        )
    return document


def _require_same_panel(path: Path, document: dict[str, Any], panel: Path, selected_ids: list[str]) -> None:
    """Refuse a model.json made for another panel: its panel SHA-256 or selected ids differ."""
    recorded = (document.get("panel") or {}).get("sha256")
    if recorded and recorded != file_sha256(panel):
        raise DataError(
            path,
            f"made for a panel with SHA-256 {str(recorded)[:16]}, not this hospital's {panel}",
            hint="check the site against the panel.tsv sent with this model.json (--panel)",
        )
    listed = document.get("selected_ids")
    if listed is not None and list(listed) != selected_ids:
        raise DataError(
            path,
            "its selected_ids are not the variants its selected indices point to in this panel",
            hint="the file was edited or made for another panel: ask the coordinator for its model.json",
        )


def _pinned(config: ModelConfig, source: str = "") -> PinnedModel:
    from genofed.client.coordinator_request import architecture_digest

    return PinnedModel(
        digest=architecture_digest(config.to_dict()),
        architecture=config.architecture,
        reads=config.n_inputs,
        n_variants=config.n_variants,
        source=source,
    )
