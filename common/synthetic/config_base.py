"""What every generator's config shares (VAEConfig, GANConfig): the states it models, its
variant blocks, and a strict dict round trip for the saved file."""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any

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
