"""A label-conditional VAE for genotype records, trainable with or without DP-SGD.

A hospital trains it on its own cohort and samples synthetic (genotype, disease label, sex, age)
records from it. Under DP-SGD the generator's training is a DP release about the real patients,
so its `history` must be charged to the site's privacy ledger like any other training run:
the synthetic records are then post-processing and cost nothing more.

Input contract: genotypes are int (n, V) "states" (`genofed.common.synthetic.encoding`):
dosages in {0, 1, 2}, or, for phased input (haplotype-aware generation, `n_states=4`), the
ordered allele pair of the two haplotypes in 0..3. Missing calls must be ALREADY IMPUTED by the
caller (this module has no "missing" category: imputing here would need data statistics, which
under DP would leak outside the accounted training). Labels are 0/1. Covariates, if given, are
(n, 2): sex in {0, 1} and age in years.

Model (every layer an `nn.Linear` or the project's `BlockLinear`, so Opacus computes exact
per-example gradients; no BatchNorm):

- encoder: centred dosages (x - 1), or for phased input the two centred alleles of every variant
  side by side -> `BlockLinear` (each block of `block_size` consecutive
  variants, i.e. roughly an LD block, to `block_units` units) -> tanh -> concat [one-hot label,
  sex, scaled age] -> Linear(hidden) -> tanh -> Linear(2 * latent) = (mu, log-variance).
- decoder: concat [z, one-hot label] -> Linear(hidden) -> tanh -> Linear(n_blocks * block_units)
  -> tanh -> `BlockLinear` back out (each block's `block_units` units to K logits for each of
  its `block_size` variants) = per-variant categorical logits over the K states (dosage 0/1/2,
  or the 4 phased allele pairs, so alleles that travel together on a haplotype are learnt); plus a small
  head from the hidden layer: sex logit (Bernoulli) and age mean / log-variance (Gaussian).
- prior: label-conditional, p(z | y) = N(m_y, I) with a learned m_y (see `prior_mean`);
  sampling draws z from it, then each variant's dosage from its categorical.

Why block-local layers instead of dense V x hidden ones at both ends: DP-SGD materialises one
copy of every parameter per example. A dense decoder output at V = 20,000 would be
hidden x 3V = 7.7 M parameters, i.e. ~1 GB of per-example gradients for a batch of 32. Block-
local ends cost V x block_units (encoder) and 3V x block_units (decoder) per example, and the
dense middle is n_blocks x block_units x hidden. Within a block the decoder's units can still
express the block's haplotype structure (LD); between blocks, correlation goes through z.

Loss per example: (sum over variants of the categorical cross-entropy + sex and age negative
log-likelihoods + beta * KL(q(z|x,y) || N(0, I))) / V, i.e. the negative ELBO in nats per
variant. Dividing by V keeps the gradient scale (and so the useful lr and clipping norm) about
the same whatever the panel size.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

# isort: off
# Imported before opacus: it undoes Opacus' logging.basicConfig() at import (see model.py), and
# registers BlockLinear's per-example gradient for Opacus.
from genofed.common.model.network import BlockLinear
from genofed.common.privacy.accountant import Step
from genofed.common.privacy.opacus_noise import private_dp_sgd
from genofed.common.privacy.secret_noise import noise_key_from
from genofed.common.synthetic.config_base import (
    AGE_CENTER,
    AGE_SCALE,
    GeneratorConfigBase,
    SyntheticRecords,
    categorical_draw,
    check_sampling,
    noise_for_epochs,
    read_generator,
    records_from_states,
    sampling_labels,
    save_generator,
    training_tensors,
)
from genofed.common.synthetic.encoding import DOSAGE_STATES, check_states
from genofed.common.util.checks import require, require_at_least
from genofed.common.util.progress import bar
from opacus import PrivacyEngine
# isort: on

#: Rows per forward pass when sampling: n x V x 3 logits would not fit at once for large panels.
_SAMPLE_CHUNK = 1024

SAVE_VERSION = 1


@dataclass(frozen=True)
class VAESettings:
    """Training hyper-parameters of the genotype VAE.

    - latent=16, hidden=128: small on purpose; the per-example gradient cost under DP is dominated
      by the block-local ends (see the module docstring), so these can stay modest.
    - block_size=20, block_units=4: consecutive variants per block and units per block at both
      ends of the network (the encoder's summary and the decoder's bottleneck per block).
    - beta: weight of the KL term (1.0 = the plain ELBO).
    - max_grad_norm: the per-example clipping norm under DP (unused without DP).
    - Adam is the optimizer: the usual choice for VAEs; it was not compared with SGD under DP.
    - lr=3e-3 with Adam, epochs=200: measured on a 300 x 200 cohort with 20 LD blocks and a
      3-variant disease (tests/test_synthetic_vae.py), 8 data/model seeds: at lr 1e-2 (120 epochs)
      the sampled case/control difference at the causal variants collapsed to < 25 % of the real
      one in 4-7 of 8 runs; at 3e-3 for 250 epochs it kept 44-92 % of it in all 8. Not tuned for
      DP or for large panels.
    """

    latent: int = 16
    hidden: int = 128
    epochs: int = 200
    batch_size: int = 32
    lr: float = 3e-3
    beta: float = 1.0
    max_grad_norm: float = 1.0
    seed: int = 0
    block_size: int = 20
    block_units: int = 4

    def __post_init__(self) -> None:
        for name in ("latent", "hidden", "epochs", "batch_size", "block_size", "block_units"):
            value = getattr(self, name)
            require_at_least(name, int(value), 1, message=f"VAESettings.{name} must be >= 1, got {value}")
        require(
            self.lr > 0 and self.max_grad_norm > 0 and not self.beta < 0,
            "VAESettings: lr and max_grad_norm must be > 0 and beta >= 0",
        )


@dataclass(frozen=True)
class VAEConfig(GeneratorConfigBase):
    """The network's shape, plus what sampling needs to know about the training data.

    `case_fraction` (the training share of cases, the default label mix when sampling) is a count
    of real patients computed OUTSIDE the DP accounting; callers who release samples under DP and
    want it covered should pass `labels` or `case_fraction` to `sample` explicitly.
    """

    n_variants: int
    latent: int
    hidden: int
    block_size: int
    block_units: int
    covariates: bool
    case_fraction: float
    n_states: int = DOSAGE_STATES  # 3: dosages; 4: phased allele pairs (see encoding.py)


class GenotypeVAE(nn.Module):
    """The conditional VAE; see the module docstring for the layers and why."""

    def __init__(self, config: VAEConfig, beta: float = 1.0) -> None:
        super().__init__()
        self.config = config
        self.beta = float(beta)  # KL weight of the training loss; not used by sampling
        c = config
        n_cov = 2 if c.covariates else 0
        channels = 2 if c.phased else 1  # phased: both alleles of a variant, side by side
        self.enc_blocks = BlockLinear(channels * c.n_variants, channels * c.block_size, c.block_units)
        self.encoder = nn.Sequential(
            nn.Linear(self.enc_blocks.out_features + 2 + n_cov, c.hidden),
            nn.Tanh(),
            nn.Linear(c.hidden, 2 * c.latent),
        )
        self.dec_hidden = nn.Sequential(nn.Linear(c.latent + 2, c.hidden), nn.Tanh())
        self.dec_mid = nn.Linear(c.hidden, c.n_blocks * c.block_units)
        # k units per block -> K logits per variant of the block: BlockLinear with k inputs a block
        self.dec_blocks = BlockLinear(c.n_blocks * c.block_units, c.block_units, c.n_states * c.block_size)
        self.dec_cov = nn.Linear(c.hidden, 3) if c.covariates else None  # sex logit, age mean, age log-var
        # label-conditional prior p(z | y) = N(prior_y, I): see `prior_mean`
        self.prior = nn.Linear(2, c.latent, bias=False)
        nn.init.zeros_(self.prior.weight)

    def encoder_input(self, x: Tensor) -> Tensor:
        """States -> centred inputs: x - 1 for dosages; (a - 0.5, b - 0.5) x 2 per variant, phased."""
        if not self.config.phased:
            return x - 1.0
        a = torch.remainder(x, 2.0)
        b = torch.div(x, 2.0, rounding_mode="floor")
        return (torch.stack([a, b], dim=2).reshape(x.shape[0], -1) - 0.5) * 2.0

    def encode(self, x: Tensor, y: Tensor, cov: Tensor | None) -> tuple[Tensor, Tensor]:
        parts = [torch.tanh(self.enc_blocks(self.encoder_input(x))), F.one_hot(y, 2).to(x.dtype)]
        if cov is not None:
            parts.append(cov)
        mu, logvar = self.encoder(torch.cat(parts, dim=1)).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def prior_mean(self, y: Tensor) -> Tensor:
        """Mean of the label-conditional prior p(z | y) = N(prior_mean(y), I).

        Why not N(0, I) for both labels: the encoder sees the genotypes, so z can (and on data
        where a few variants drive the disease, does) carry the causal genotypes; the decoder then
        reads them from z and ignores y. Sampling z from one prior for both labels then loses the
        case/control difference. A per-label prior mean lets the label-dependent part of z be
        reproduced at sampling time. Measured (8 seeds, lr 1e-2): it cut the runs where the sampled
        causal differences collapsed from ~4 of 8 to ~3-4 of 8 only; the lower lr in VAESettings
        did the rest (0 of 8). Kept because it is principled and cheap. Zero-initialised = N(0, I).
        """
        return self.prior(F.one_hot(y, 2).to(self.prior.weight.dtype))

    def decode(self, z: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """-> per-variant logits (B, V, K), and (B, 3) covariate outputs or None."""
        h = self.dec_hidden(torch.cat([z, F.one_hot(y, 2).to(z.dtype)], dim=1))
        out = self.dec_blocks(torch.tanh(self.dec_mid(h)))
        c = self.config  # explicit sizes: an empty Poisson batch (B = 0) must reshape too
        logits = out.reshape(z.shape[0], c.n_blocks * c.block_size, c.n_states)[:, : c.n_variants]
        return logits, (self.dec_cov(h) if self.dec_cov is not None else None)

    def forward(self, x: Tensor, y: Tensor, cov: Tensor | None = None) -> Tensor:
        """Per-example loss (B,): negative ELBO in nats per variant (see the module docstring)."""
        mu, logvar = self.encode(x, y, cov)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits, cov_out = self.decode(z, y)
        recon = (
            F.cross_entropy(logits.reshape(-1, self.config.n_states), x.reshape(-1).long(), reduction="none")
            .reshape(x.shape)
            .sum(1)
        )
        kl = 0.5 * ((mu - self.prior_mean(y)).pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        loss = recon + self.beta * kl
        if cov_out is not None and cov is not None:
            sex_nll = F.binary_cross_entropy_with_logits(cov_out[:, 0], cov[:, 0], reduction="none")
            age_logvar = cov_out[:, 2].clamp(-8.0, 8.0)
            age_nll = 0.5 * (
                age_logvar
                + (cov[:, 1] - cov_out[:, 1]).pow(2) * torch.exp(-age_logvar)
                + math.log(2 * math.pi)
            )
            loss = loss + sex_nll + age_nll
        return loss / self.config.n_variants


@dataclass
class TrainedVAE:
    """A trained generator: the model (kept at the site), its config and settings, the DP history
    to charge to the site's ledger (empty without DP) and the mean loss of every epoch (negative
    ELBO in nats per variant; under DP Poisson sampling, averaged over the examples drawn)."""

    model: GenotypeVAE
    config: VAEConfig
    settings: VAESettings
    history: list[Step] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: np.ndarray | None = None,
        case_fraction: float | None = None,
        seed: int,
        temperature: float = 1.0,
    ) -> SyntheticRecords:
        """Draw `n` synthetic records; the same (model, arguments, seed) gives the same records.

        Labels: `labels` (0/1, length n) if given; otherwise Bernoulli(case_fraction), with
        case_fraction defaulting to the training share of cases (`VAEConfig.case_fraction`).
        Genotypes are SAMPLED from each variant's categorical (logits / temperature), not the
        argmax: the argmax would collapse every rare variant to 0 and erase genotype variance.
        temperature < 1 sharpens towards the mode, > 1 flattens towards uniform.
        """
        check_sampling(n, temperature)
        gen = torch.Generator().manual_seed(int(seed))
        y = sampling_labels(
            n, labels, self.config.case_fraction if case_fraction is None else float(case_fraction), gen
        )
        self.model.eval()
        genotypes, sex, age = [], [], []
        for start in range(0, n, _SAMPLE_CHUNK):
            yb = y[start : start + _SAMPLE_CHUNK]
            z = self.model.prior_mean(yb) + torch.randn(len(yb), self.config.latent, generator=gen)
            logits, cov_out = self.model.decode(z, yb)
            genotypes.append(categorical_draw(logits.double() / temperature, gen))
            if cov_out is not None:
                sex.append(
                    (
                        torch.rand(len(yb), generator=gen, dtype=torch.float64)
                        < torch.sigmoid(cov_out[:, 0].double())
                    ).to(torch.int8)
                )
                sd = torch.exp(0.5 * cov_out[:, 2].double().clamp(-8.0, 8.0))
                age.append(
                    (cov_out[:, 1].double() + sd * torch.randn(len(yb), generator=gen, dtype=torch.float64))
                    * AGE_SCALE
                    + AGE_CENTER
                )
        return records_from_states(self.config, genotypes, y, sex, age, covariates=self.config.covariates)

    def save(self, path: str | Path) -> None:
        """Plain data only: `load_vae` reads it with weights_only=True, so no code runs."""
        save_generator(
            path,
            version=SAVE_VERSION,
            config=self.config,
            settings=self.settings,
            module=self.model,
            history=self.history,
            losses=self.losses,
        )


def load_vae(path: str | Path) -> TrainedVAE:
    """Load a generator written by `TrainedVAE.save` (weights_only=True: no code runs)."""
    payload = read_generator(path, version=SAVE_VERSION, kind="VAE")
    config = VAEConfig.from_dict(payload["config"])
    settings = VAESettings(**payload["settings"])
    model = GenotypeVAE(config, settings.beta)
    model.load_state_dict(payload["state_dict"])
    return TrainedVAE(model, config, settings, payload["history"], payload["losses"])


def dp_noise_for_budget(
    n: int, settings: VAESettings, *, epsilon: float, delta: float, history: list[Step] | tuple = ()
) -> float:
    """Noise multiplier that keeps the site's total epsilon (its `history` + this VAE's training on
    `n` patients with `settings`) within `epsilon` at `delta`; raises BudgetExhausted if none can.

    Uses the same sample rate and step count as `train_vae` will run, so the plan matches the run.
    """
    return noise_for_epochs(
        n, settings.batch_size, settings.epochs, epsilon=epsilon, delta=delta, history=history
    )


def train_vae(
    genotypes: np.ndarray,
    labels: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    settings: VAESettings,
    noise_multiplier: float | None,
    n_states: int = DOSAGE_STATES,
    noise_rng: np.random.Generator | None = None,
    public_rows: int | None = None,
) -> TrainedVAE:
    """Train the conditional VAE on one site's cohort.

    noise_multiplier None: plain training with shuffled mini-batches. Otherwise DP-SGD with Opacus
    exactly as the site's classifier training (client/trainer.py): Poisson sampling at rate
    1 / ceil(n / batch_size), per-example clipping at settings.max_grad_norm, seeded Gaussian
    noise, RDP accounting. The returned `history` is what the site must charge to its ledger.
    The initialisation, the shuffling and the reparameterisation noise come from generators seeded
    by settings.seed; under DP the Poisson sampling and the Gaussian noise come from `noise_rng`,
    default secret randomness (`secret_noise.noise_key_from`: the public seed would let anyone subtract the
    noise); experiments and tests pass a seeded one, so their re-runs are identical.
    `n_states`: 3 for dosages, 4 for phased states (`encoding.phased_states`), which makes the
    generator haplotype-aware and its samples carry `haplotypes`. `public_rows` (DP only): the
    training rows as far as anyone outside may know (`private_dp_sgd`); default the actual count.
    """
    check_states(genotypes, n_states)
    tensors = training_tensors(genotypes, labels, covariates, dtype=torch.float32)
    y, (n, v) = tensors[1], tensors[0].shape
    s = settings
    config = _vae_config(s, n_variants=v, labels=y, covariates=covariates is not None, n_states=n_states)
    sample_seed, _, torch_seed, init_seed = (int(t) for t in np.random.SeedSequence(s.seed).generate_state(4))
    model = _seeded_vae(config, s, init_seed)
    loader = DataLoader(
        TensorDataset(*tensors),
        batch_size=min(s.batch_size, n),
        shuffle=True,
        generator=torch.Generator().manual_seed(sample_seed),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(torch_seed)  # the reparameterisation noise
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG turned off.*")
        warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
        warnings.filterwarnings("ignore", message=".*Optimal order is the (largest|smallest) alpha.*")
        if noise_multiplier is None:
            losses = _run(model, optimizer, loader, s.epochs)
            return TrainedVAE(model, config, s, [], losses)
        return _train_private_vae(
            model,
            optimizer,
            loader,
            config,
            s,
            noise_multiplier,
            noise_key=noise_key_from(noise_rng),
            rows=n if public_rows is None else int(public_rows),
        )


def _seeded_vae(config: VAEConfig, s: VAESettings, init_seed: int) -> GenotypeVAE:
    """The VAE initialised from `init_seed` (the global torch RNG is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = GenotypeVAE(config, s.beta)
    return model


def _vae_config(
    s: VAESettings, *, n_variants: int, labels: torch.Tensor, covariates: bool, n_states: int
) -> VAEConfig:
    """The network's shape from the settings and the cohort (its case fraction sets the prior
    of generated labels)."""
    return VAEConfig(
        n_variants=n_variants,
        latent=s.latent,
        hidden=s.hidden,
        block_size=s.block_size,
        block_units=s.block_units,
        covariates=covariates,
        case_fraction=float(labels.double().mean()),
        n_states=int(n_states),
    )


def _train_private_vae(
    model: GenotypeVAE,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    config: VAEConfig,
    s: VAESettings,
    noise_multiplier: float,
    *,
    noise_key: int,
    rows: int,
) -> TrainedVAE:
    """DP-SGD on the VAE (Opacus, Poisson sampling, seeded noise) at the rate of `rows` (the public
    training rows, `private_dp_sgd`); the returned history is the run's (sigma, q, steps) for the
    site's ledger."""
    engine = PrivacyEngine(accountant="rdp")  # fresh per run: the cumulative history is the ledger's
    private_model, private_optimizer, private_loader = private_dp_sgd(
        engine,
        model,
        optimizer,
        loader.dataset,
        noise_multiplier=noise_multiplier,
        max_grad_norm=s.max_grad_norm,
        noise_key=noise_key,
        rows=rows,
        batch_size=s.batch_size,
    )
    try:
        losses = _run(
            private_model, private_optimizer, private_loader, s.epochs, "training the VAE under DP (epochs)"
        )
    finally:
        private_model.remove_hooks()  # give back a plain module
    history = [(float(sig), float(q), int(k)) for sig, q, k in engine.accountant.history]
    return TrainedVAE(model, config, s, history, losses)


def _run(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    epochs: int,
    label: str = "training the VAE (epochs)",
) -> list[float]:
    """The epoch loop of both paths; returns the mean per-example loss of every epoch. `label`
    names the epochs' progress bar (`genofed.common.util.progress.bar`).

    An empty Poisson batch still takes an optimizer step (pure noise under DP, which the
    accountant counts), as in client/trainer.py.
    """
    model.train()
    losses = []
    with bar(epochs, label) as shown:  # drawn only on the CLI's terminal
        for _ in range(epochs):
            total, seen = 0.0, 0
            for batch in loader:
                optimizer.zero_grad(set_to_none=True)
                per_example = model(*batch)
                if len(batch[0]):
                    loss = per_example.mean()
                    total += float(loss.detach()) * len(batch[0])
                    seen += len(batch[0])
                else:
                    loss = per_example.sum() * 0.0  # keeps Opacus' per-sample bookkeeping consistent
                loss.backward()
                optimizer.step()
            losses.append(total / seen if seen else float("nan"))
            shown.step()
    return losses
