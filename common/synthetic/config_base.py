"""What every generator shares (VAE, GAN): the config's states, variant blocks and strict dict
round trip; sampling (labels, categorical draws, the records it returns); and the saved file
(plain data only, read with weights_only=True)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genofed.common.data.readers.phenotypes import AGE_RANGE
from genofed.common.privacy.accountant import Step, calibrate_noise, sample_rate, steps_per_epoch
from genofed.common.synthetic.encoding import PHASED_STATES, states_to_dosages, states_to_haplotypes
from genofed.common.util.atomic import save_torch_atomic
from genofed.common.util.checks import require_at_least, require_in_range, require_positive


@dataclass
class SyntheticRecords:
    """Sampled records: genotypes int8 (n, V) dosages in {0, 1, 2}, labels int8 (n,); when the
    model was trained on phased input, haplotypes int8 (n, V, 2) alleles (dosage = their sum);
    when trained with covariates, sex int8 (n,) in {0, 1} and age float64 (n,) in years."""

    genotypes: np.ndarray
    labels: np.ndarray
    sex: np.ndarray | None = None
    age: np.ndarray | None = None
    haplotypes: np.ndarray | None = None


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


def save_generator(
    path: str | Path,
    *,
    version: int,
    config: GeneratorConfigBase,
    settings: Any,
    module: nn.Module,
    history: list,
    losses: list[float],
) -> None:
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
    save_torch_atomic(path, payload)  # a full disk is one line, not torch's RuntimeError


def read_generator(path: str | Path, *, version: int, kind: str) -> dict[str, Any]:
    """The payload `save_generator` wrote, version-checked, with `history` as (sigma, q, steps) tuples."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("version") != version:
        raise ValueError(f"unsupported {kind} file version {payload.get('version')!r}")
    payload["history"] = [(float(s), float(q), int(k)) for s, q, k in payload["history"]]
    payload["losses"] = list(payload["losses"])
    return payload


def check_sampling(n: int, temperature: float) -> None:
    """Refuse a sample size below 0 or a temperature that is not > 0 (ConfigError)."""
    require_at_least("n", n, 0)
    require_positive("temperature", temperature)


def sampling_labels(n: int, labels: np.ndarray | None, case_fraction: float, gen: torch.Generator) -> Tensor:
    """The labels of a sample: given (validated), or Bernoulli(case_fraction) draws."""
    if labels is not None:
        y = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
        if y.shape[0] != n:
            raise ValueError(f"{y.shape[0]} labels for {n} records")
        if n and not bool(((y == 0) | (y == 1)).all()):
            raise ValueError("labels must be 0 or 1")
        return y
    require_in_range("case_fraction", case_fraction, 0.0, 1.0)
    return (torch.rand(n, generator=gen, dtype=torch.float64) < case_fraction).long()


def categorical_draw(logits: Tensor, gen: torch.Generator) -> Tensor:
    """(B, V, K) logits -> (B, V) int8 states, by an inverse-CDF draw from each softmax. Sampled,
    not the argmax: the argmax would collapse every rare variant to 0 and erase its variance."""
    cdf = torch.softmax(logits, dim=2).cumsum(2)
    u = torch.rand(logits.shape[:2], generator=gen, dtype=torch.float64).unsqueeze(2)
    return (u > cdf[:, :, :-1]).sum(2).to(torch.int8)


def records_from_states(
    config: GeneratorConfigBase,
    states: list[Tensor],
    labels: Tensor,
    sex: list[Tensor],
    age: list[Tensor],
    *,
    covariates: bool,
) -> SyntheticRecords:
    """The chunks a generator sampled -> SyntheticRecords (dosages; haplotypes when phased)."""
    drawn = torch.cat(states).numpy() if states else np.zeros((0, config.n_variants), dtype=np.int8)
    out = SyntheticRecords(
        genotypes=states_to_dosages(drawn, config.n_states), labels=labels.numpy().astype(np.int8)
    )
    if config.phased:
        out.haplotypes = states_to_haplotypes(drawn)
    if covariates:
        out.sex = torch.cat(sex).numpy() if sex else np.zeros(0, dtype=np.int8)
        # a generated age outside the readers' documented range would make the records unreadable;
        # clipping is post-processing of the generator's output, so it costs no privacy
        low, high = AGE_RANGE
        out.age = np.clip(torch.cat(age).numpy(), low, high) if age else np.zeros(0)
    return out


#: Age enters every generator scaled with these fixed public constants, never with the cohort's
#: own mean / std: those would be statistics of real patients released outside the DP accounting.
AGE_CENTER = 50.0
AGE_SCALE = 20.0


def training_tensors(
    genotypes: np.ndarray, labels: np.ndarray, covariates: np.ndarray | None, *, dtype: torch.dtype
) -> list[Tensor]:
    """Validated [states, labels, (sex, scaled age)] tensors of a generator's training cohort;
    `genotypes` must already have passed `encoding.check_states`."""
    x = torch.as_tensor(np.ascontiguousarray(genotypes), dtype=dtype)
    n, v = int(x.shape[0]), int(x.shape[1])
    if n < 1 or v < 1:
        raise ValueError("cannot train on an empty genotype matrix")
    y = torch.as_tensor(np.asarray(labels)).reshape(-1).long()
    if y.shape[0] != n:
        raise ValueError(f"{n} genotype rows but {y.shape[0]} labels")
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("labels must be 0 or 1")
    tensors = [x, y]
    if covariates is not None:
        cov = torch.as_tensor(np.asarray(covariates, dtype=np.float64), dtype=torch.float32)
        if cov.shape != (n, 2):
            raise ValueError(f"covariates must be (n, 2) = (sex, age), got shape {tuple(cov.shape)}")
        if not bool(torch.isfinite(cov).all()) or not bool(((cov[:, 0] == 0) | (cov[:, 0] == 1)).all()):
            raise ValueError("covariates must be finite, with sex 0 or 1")
        tensors.append(torch.stack([cov[:, 0], (cov[:, 1] - AGE_CENTER) / AGE_SCALE], dim=1))
    return tensors


def dp_sgd_step(n: int, batch_size: int, epochs: int, noise_multiplier: float) -> Step:
    """The accountant's step of `epochs` of DP-SGD on `n` patients at Poisson rate
    1 / ceil(n / batch_size): what both generators train, calibrate and charge."""
    return (float(noise_multiplier), sample_rate(n, batch_size), epochs * steps_per_epoch(n, batch_size))


def noise_for_epochs(
    n: int, batch_size: int, epochs: int, *, epsilon: float, delta: float, history: list[Step] | tuple = ()
) -> float:
    """Noise multiplier that keeps a site's total epsilon (its `history` + `epochs` of DP-SGD on
    `n` patients, `dp_sgd_step`) within `epsilon` at `delta`; raises BudgetExhausted if none can."""
    _, rate, steps = dp_sgd_step(n, batch_size, epochs, 0.0)
    return calibrate_noise(list(history), sample_rate=rate, steps=steps, target_epsilon=epsilon, delta=delta)
