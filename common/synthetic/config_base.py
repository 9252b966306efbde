"""What every generator shares (VAE, GAN): the config's states, variant blocks and strict dict
round trip, and the saved file (plain data only, read with weights_only=True)."""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genofed.common.synthetic.encoding import PHASED_STATES


class GeneratorConfigBase:
    """A mixin for frozen dataclasses with `n_variants`, `block_size` and `n_states` fields."""

    n_variants: int
    block_size: int
    n_states: int

    @property
    def phased(self) -> bool:
        return self.n_states == PHASED_STATES

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.n_variants / self.block_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Unknown keys are an error: a file from another version must not load half-understood."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        return cls(**data)


def save_generator(path: str | Path, *, version: int, config: GeneratorConfigBase, settings: Any, module: nn.Module,
                   history: list, losses: list[float]) -> None:
    """torch.save of plain data only (tensors, dicts, lists, numbers), so loading a generator can
    use weights_only=True and never execute code from the file."""
    payload = {
        "version": version,
        "config": config.to_dict(),
        "settings": asdict(settings),
        "state_dict": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "history": [[float(s), float(q), int(k)] for s, q, k in history],
        "losses": [float(x) for x in losses],
    }
    torch.save(payload, Path(path))


def read_generator(path: str | Path, *, version: int, kind: str) -> dict[str, Any]:
    """The payload `save_generator` wrote, version-checked, with `history` as (sigma, q, steps) tuples."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("version") != version:
        raise ValueError(f"unsupported {kind} file version {payload.get('version')!r}")
    payload["history"] = [(float(s), float(q), int(k)) for s, q, k in payload["history"]]
    payload["losses"] = list(payload["losses"])
    return payload
