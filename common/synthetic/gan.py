"""A label-conditional Wasserstein GAN for genotype records, trainable with or without DP.

The GAN is a drop-in alternative to the VAE (`genofed.common.synthetic.vae`): the same input
contract (int (n, V) genotype "states" from `encoding`, 0/1 labels, optional (sex, age)
covariates scaled with the public AGE_CENTER / AGE_SCALE), the same `sample` semantics and
`SyntheticRecords` output, the same seeding, and under DP the same kind of `history` to charge
to the site's privacy ledger.

Networks (every layer an `nn.Linear` or the project's `BlockLinear`, computed here as
`WideBlockLinear`; no BatchNorm):

- generator: concat [z ~ N(0, I), one-hot label] -> Linear(hidden) -> LeakyReLU -> Linear(hidden)
  -> LeakyReLU -> Linear(n_blocks * block_units) -> tanh -> `BlockLinear` (each block's units to
  K logits for each of its `block_size` variants), plus per-label logit offsets of every variant
  (zero-initialised) = per-variant categorical logits over the K states; plus a small head from
  the hidden layer: 2 sex logits and the scaled age.
- critic: the one-hot (real) or relaxed (generated) states -> `BlockLinear` (each block's
  K x block_size inputs to `critic_block_units` units) -> LeakyReLU -> concat [one-hot label,
  sex, scaled age] -> Linear(critic_hidden) -> LeakyReLU -> Linear(critic_hidden) -> LeakyReLU
  -> Linear(1), plus a projection term (Miyato & Koyama 2018): a per-label linear read-out of
  the block features. The critic judges (genotype, label) pairs, so the generator must reproduce
  what differs between cases and controls. Measured on the toy cohort of the tests (one variant
  with a 0.92 dosage difference): the difference is learnt late; 150 epochs (600 steps) kept
  0.0-0.4 of it depending on the seed, 400 epochs kept all of it (1.02, 1.05 for two seeds).

Why block-local ends (as in the VAE): DP-SGD materialises one copy of every critic parameter per
example; a dense first layer over 4 x 20,000 one-hot inputs would be ~80 M per-example floats for
a hidden layer of 1,000. The block-local layer costs K x V x critic_block_units per example.

Discrete outputs. Real genotypes are one-hot; what the critic sees of a generated record is a
straight-through Gumbel-softmax draw (Jang et al. 2017) from the generator's per-variant
categorical: forward, an exact one-hot draw (Gumbel-max); backward, the gradient of the relaxed
softmax at temperature `gumbel_tau`. Why not the plain softmax probabilities: a critic can tell a
soft vector from a one-hot one without looking at any genotype, which pushes the generator towards
near one-hot probabilities, i.e. towards encoding all randomness in z (and mode collapse erases
rare variants first). With exact draws nothing but the genotypes tells real from generated, and
the generator's logits are trained to be each variant's distribution given z, which is exactly
what `sample` draws from (not the argmax, which would turn every rare allele into the common one).
Sex is a 2-state categorical treated the same way; age is continuous. (Measured at 60 epochs with
n_critic=5, straight-through vs soft Gumbel at temperature 1 was not compared to the end; soft
Gumbel at 0.5 gave 0.968 / 0.01 allele-frequency / LD correlation, straight-through 0.955 / 0.007:
no difference at that stage, so the choice rests on the argument above.)

Training without DP: WGAN-GP (Gulrajani et al. 2017): `n_critic` critic steps (one per
mini-batch of real records) per generator step, a gradient penalty `gp_weight` x (|grad| - 1)^2
on random interpolates of real and generated records (same labels), Adam(betas 0.5, 0.9).

Training with DP (`noise_multiplier` given): DP-SGD with Opacus on the CRITIC only, the only
network that ever touches a real record.

- Every critic step: a Poisson-sampled batch of real records (rate 1 / ceil(n / batch_size), n the
  public training rows: `opacus_noise.private_dp_sgd`) and a FIXED number m = min(batch_size, n) of
  generated records (labels Bernoulli(1/2)) go through
  the critic in one forward pass; each row's loss is -D(real) or +D(generated), and Opacus clips
  every row's gradient to `max_grad_norm`, sums, adds N(0, (noise_multiplier * max_grad_norm)^2)
  from a seeded generator, and divides by the expected batch size. A real record appears in one
  row only, so its influence on the sum is bounded by max_grad_norm, exactly as in DP-SGD for a
  classifier. Clipping the generated rows as well is harmless (they are not private) and keeps
  the two terms on one scale. The number of generated rows and their labels must NOT depend on
  the real batch (e.g. m = the Poisson batch size or labels copied from it would let one patient
  add a second, generated row and double the sensitivity), hence the fixed m and the label
  probability 1/2 rather than the cohort's case share (a statistic of real patients).
- No gradient penalty under DP: Opacus cannot compute per-example gradients of a gradient norm
  (double backward), and a penalty on real/fake interpolates touches real records outside the
  clipped sum. Instead the critic's Lipschitz constraint is weight clipping to
  [-weight_clip, weight_clip] after every step, as in DPGAN (Xie et al. 2018) and the original
  WGAN: it is a function of the already-privatised parameters, i.e. post-processing.
- The generator step runs the critic with Opacus' hooks disabled and the critic's parameters
  frozen, so the generator's backward pass through the critic leaves no per-sample gradients
  behind (and `zero_grad` clears the critic's state before every critic step anyway).

Measured under DP (805 phased SNPs, 1,252 people, noise multiplier 1.0, 30 epochs = 600 steps at
rate 0.05, epsilon 9.1 at delta 1e-5): allele-frequency correlation 0.60, LD correlation 0.01.
The DP path is sound but NOT yet useful at this size; weight_clip and the learning rates were not
tuned for it (see the synthetic-data fidelity experiment).

Why the released generator is DP with respect to the real patients: the generator's parameters
are a function of its initialisation, its own noise and the sequence of critic parameters; every
critic update is one subsampled-Gaussian-mechanism release (Poisson rate q, noise multiplier
sigma, sensitivity max_grad_norm per patient), and everything else (generated rows, weight
clipping, generator updates, sampling) is post-processing of those releases. Opacus' RDP
accountant composes exactly these critic steps; its history is `TrainedGAN.history`, and
`gan_noise_for_budget` calibrates sigma for the same rate and step count. The critic itself is
never returned: it is discarded at the end of `train_gan`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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
from genofed.common.model.network import BlockLinear, block_linear_grad_sample
from genofed.common.privacy.accountant import Step
from genofed.common.synthetic.config_base import (
    GeneratorConfigBase,
    categorical_draw,
    check_sampling,
    noise_for_epochs,
    read_generator,
    records_from_states,
    sampling_labels,
    save_generator,
    training_tensors,
)
from genofed.common.privacy.opacus_noise import private_dp_sgd
from genofed.common.privacy.secret_noise import noise_key_from
from genofed.common.synthetic.encoding import DOSAGE_STATES, check_states
from genofed.common.synthetic.vae import AGE_CENTER, AGE_SCALE, SyntheticRecords
from genofed.common.util.checks import require_at_least, require_positive
from genofed.common.util.progress import bar
from opacus import PrivacyEngine
from opacus.grad_sample import register_grad_sampler
# isort: on

#: Rows per forward pass when sampling: n x V x K logits would not fit at once for large panels.
_SAMPLE_CHUNK = 1024

SAVE_VERSION = 1

_LEAK = 0.2  # LeakyReLU slope, the usual GAN choice: no dead units in the critic


class WideBlockLinear(BlockLinear):
    """`BlockLinear` computed as one batched matmul per block (einsum) instead of a broadcast
    multiply and sum. model.py's broadcast wins for 1 unit per block; with the GAN's several
    units (and K states) per block it materialises B x V x K x units floats: measured at 20,000
    variants, K=3, 8 units, batch 64, forward + backward took 0.38 s broadcast vs 0.037 s einsum.
    Same parameters and per-example gradients (the registration below reuses model.py's)."""

    def forward(self, x: Tensor) -> Tensor:
        out = torch.einsum("bnk,nku->bnu", self.blocks(x), self.weight) + self.bias
        return out.reshape(x.shape[0], self.out_features)


register_grad_sampler(WideBlockLinear)(block_linear_grad_sample)


@dataclass(frozen=True)
class GANSettings:
    """Training hyper-parameters of the genotype GAN.

    Shapes:
    - noise_dim=32, hidden=256: the generator's noise and dense width. The dense middle is cheap
      (it is not per-example under DP: only the critic is privatised).
    - block_size=20, block_units=8: generator blocks (as in the VAE, a block ~ an LD block); 8
      units per block instead of the VAE's 4 because a GAN has no encoder to summarise the block:
      the units must express the block's haplotypes on their own.
    - critic_hidden=256, critic_block_units=8: the critic; its block layer sets the per-example
      gradient size under DP (K x V x critic_block_units floats).

    Training:
    - epochs=200, batch_size=64: an epoch is ceil(n / batch_size) critic steps (one per real
      mini-batch, Poisson-sampled under DP), so DP accounting matches the VAE's.
    - gp_weight=10, Adam betas (0.5, 0.9): the WGAN-GP paper's values.
    - gumbel_tau=0.5, straight_through=True: the critic sees exact one-hot draws (Gumbel-max)
      of generated records, like the real ones, with gradients through the relaxed softmax at
      temperature gumbel_tau; so nothing but the genotypes tells real from generated.
    - weight_clip=0.05: the critic's weight box under DP (replaces the gradient penalty; see the
      module docstring); unused without DP. max_grad_norm: per-example clipping under DP.

    Measured without DP on 1000 Genomes (805 phased SNPs, n_states=4, 1,252 training people,
    validated against their synthetic twin batch with `validation.fidelity` / `linkage`; one seed,
    2 contended CPU cores):
    - n_critic=1 (not the paper's 5): at 60 epochs, n_critic=5 reached allele-frequency
      correlation 0.968 and LD correlation 0.01 (the generator had made only 240 steps and
      ignored z: independent variants); n_critic=2: 0.982 / 0.83; n_critic=1: 0.984 / 0.91.
      Generator steps are what a small cohort lacks; with the gradient penalty the critic stays
      usable at one step per generator step.
    - lr 1e-3 for both (lr 2e-4: 0.80 / 0.01 at 60 epochs, far too slow) with lr_decay=True
      (linear decay to 0 over training, as in the WGAN-GP reference code): 100 epochs with decay
      gave 0.991 / 0.90 against 0.984 / 0.93 for 150 epochs without; the late small steps
      average out the critic's noise, which is what the allele frequencies need.
    - the final network (projection critic, label logit offsets) at 100 epochs (100 s): allele-
      frequency correlation 0.989, LD correlation 0.911 (real holdout vs training: 0.987), AA_TS
      0.71 (AA_ES 0.76), no exact copies, membership-inference AUC 0.54; at epochs=200 (the
      default, as the VAE's; 199 s): 0.993 / 0.925, AA_TS 0.71 (AA_ES 0.78), no exact copies,
      MIA AUC 0.53. LD stays short of the 0.95 target and AA_TS above its ~0.5.
    """

    noise_dim: int = 32
    hidden: int = 256
    block_size: int = 20
    block_units: int = 8
    critic_hidden: int = 256
    critic_block_units: int = 8
    epochs: int = 200
    batch_size: int = 64
    lr_generator: float = 1e-3
    lr_critic: float = 1e-3
    n_critic: int = 1
    gp_weight: float = 10.0
    weight_clip: float = 0.05
    gumbel_tau: float = 0.5
    straight_through: bool = True
    lr_decay: bool = True
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "noise_dim",
            "hidden",
            "block_size",
            "block_units",
            "critic_hidden",
            "critic_block_units",
            "epochs",
            "batch_size",
            "n_critic",
        ):
            value = getattr(self, name)
            require_at_least(name, int(value), 1, message=f"GANSettings.{name} must be >= 1, got {value}")
        for name in ("lr_generator", "lr_critic", "weight_clip", "gumbel_tau", "max_grad_norm"):
            value = getattr(self, name)
            require_positive(name, value, message=f"GANSettings.{name} must be > 0, got {value}")
        require_at_least(
            "gp_weight",
            self.gp_weight,
            0,
            message=f"GANSettings.gp_weight must be >= 0, got {self.gp_weight}",
        )


@dataclass(frozen=True)
class GANConfig(GeneratorConfigBase):
    """The generator's shape, plus what sampling needs to know about the training data.

    `case_fraction` (the training share of cases, the default label mix when sampling) is a count
    of real patients computed OUTSIDE the DP accounting, as in `VAEConfig`; callers who release
    samples under DP and want it covered should pass `labels` or `case_fraction` to `sample`.
    """

    n_variants: int
    noise_dim: int
    hidden: int
    block_size: int
    block_units: int
    covariates: bool
    case_fraction: float
    n_states: int = DOSAGE_STATES  # 3: dosages; 4: phased allele pairs (see encoding.py)


class GenotypeGenerator(nn.Module):
    """(z, label) -> per-variant logits (B, V, K) and covariate outputs (B, 3) = (2 sex logits,
    scaled age) or None; see the module docstring."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.body = nn.Sequential(
            nn.Linear(c.noise_dim + 2, c.hidden),
            nn.LeakyReLU(_LEAK),
            nn.Linear(c.hidden, c.hidden),
            nn.LeakyReLU(_LEAK),
        )
        self.mid = nn.Linear(c.hidden, c.n_blocks * c.block_units)
        self.blocks = WideBlockLinear(c.n_blocks * c.block_units, c.block_units, c.n_states * c.block_size)
        # per-label logit offsets of every variant, zero at the start: a case/control difference
        # in a variant's frequency is then one parameter away instead of a path through z's layers
        self.label_logits = nn.Linear(2, c.n_blocks * c.block_size * c.n_states, bias=False)
        nn.init.zeros_(self.label_logits.weight)
        self.cov = nn.Linear(c.hidden, 3) if c.covariates else None

    def forward(self, z: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        y1 = F.one_hot(y, 2).to(z.dtype)
        h = self.body(torch.cat([z, y1], dim=1))
        out = self.blocks(torch.tanh(self.mid(h))) + self.label_logits(y1)
        c = self.config
        logits = out.reshape(z.shape[0], c.n_blocks * c.block_size, c.n_states)[:, : c.n_variants]
        return logits, (self.cov(h) if self.cov is not None else None)


class GenotypeCritic(nn.Module):
    """(states (B, V, K) one-hot or relaxed, label one-hot (B, 2), covariates (B, 2) or None) -> (B,)."""

    def __init__(self, config: GANConfig, settings: GANSettings) -> None:
        super().__init__()
        k, n_cov = config.n_states, (2 if config.covariates else 0)
        self.blocks = WideBlockLinear(
            k * config.n_variants, k * config.block_size, settings.critic_block_units
        )
        h = settings.critic_hidden
        self.head = nn.Sequential(
            nn.Linear(self.blocks.out_features + 2 + n_cov, h),
            nn.LeakyReLU(_LEAK),
            nn.Linear(h, h),
            nn.LeakyReLU(_LEAK),
            nn.Linear(h, 1),
        )
        # projection term (Miyato & Koyama 2018): a per-label linear read-out of the block features
        self.projection = nn.Linear(2, self.blocks.out_features, bias=False)
        nn.init.zeros_(self.projection.weight)

    def forward(self, x: Tensor, y: Tensor, cov: Tensor | None = None) -> Tensor:
        features = F.leaky_relu(self.blocks(x.reshape(x.shape[0], -1)), _LEAK)
        parts = [features, y] if cov is None else [features, y, cov]
        return self.head(torch.cat(parts, dim=1)).squeeze(1) + (self.projection(y) * features).sum(1)


@dataclass
class TrainedGAN:
    """A trained generator (kept at the site; the critic is discarded), its config and settings,
    the DP history to charge to the site's ledger (empty without DP), and every epoch's mean
    critic loss E[D(generated)] - E[D(real)] (plus the gradient penalty without DP): minus the
    critic's Wasserstein estimate, so it rises towards 0 as the generator improves."""

    generator: GenotypeGenerator
    config: GANConfig
    settings: GANSettings
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

        Same semantics as `TrainedVAE.sample`: labels from `labels`, else Bernoulli(case_fraction)
        (default: the training share of cases); genotypes SAMPLED from each variant's categorical
        (logits / temperature), never the argmax; sex drawn from its categorical; age is the
        generator's output for the drawn z.
        """
        check_sampling(n, temperature)
        gen = torch.Generator().manual_seed(int(seed))
        y = sampling_labels(
            n, labels, self.config.case_fraction if case_fraction is None else float(case_fraction), gen
        )
        self.generator.eval()
        states, sex, age = [], [], []
        for start in range(0, n, _SAMPLE_CHUNK):
            yb = y[start : start + _SAMPLE_CHUNK]
            z = torch.randn(len(yb), self.config.noise_dim, generator=gen)
            logits, cov_out = self.generator(z, yb)
            states.append(categorical_draw(logits.double() / temperature, gen))
            if cov_out is not None:
                sex.append(categorical_draw(cov_out[:, None, :2].double(), gen)[:, 0])
                age.append(cov_out[:, 2].double() * AGE_SCALE + AGE_CENTER)
        return records_from_states(self.config, states, y, sex, age, covariates=self.config.covariates)

    def save(self, path: str | Path) -> None:
        """Plain data only: `load_gan` reads it with weights_only=True, so no code runs."""
        save_generator(
            path,
            version=SAVE_VERSION,
            config=self.config,
            settings=self.settings,
            module=self.generator,
            history=self.history,
            losses=self.losses,
        )


def load_gan(path: str | Path) -> TrainedGAN:
    """Load a generator written by `TrainedGAN.save` (weights_only=True: no code runs)."""
    payload = read_generator(path, version=SAVE_VERSION, kind="GAN")
    config = GANConfig.from_dict(payload["config"])
    settings = GANSettings(**payload["settings"])
    generator = GenotypeGenerator(config)
    generator.load_state_dict(payload["state_dict"])
    return TrainedGAN(generator, config, settings, payload["history"], payload["losses"])


def gan_noise_for_budget(
    n: int, settings: GANSettings, *, epsilon: float, delta: float, history: list[Step] | tuple = ()
) -> float:
    """Noise multiplier that keeps the site's total epsilon (its `history` + this GAN's critic
    training on `n` patients with `settings`) within `epsilon` at `delta`; raises BudgetExhausted
    if none can. Same sample rate (1 / ceil(n / batch_size)) and step count (epochs x
    ceil(n / batch_size) critic steps) as `train_gan` runs; generator steps cost nothing."""
    return noise_for_epochs(
        n, settings.batch_size, settings.epochs, epsilon=epsilon, delta=delta, history=history
    )


def train_gan(
    genotypes: np.ndarray,
    labels: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    settings: GANSettings,
    noise_multiplier: float | None,
    n_states: int = DOSAGE_STATES,
    noise_rng: np.random.Generator | None = None,
    public_rows: int | None = None,
) -> TrainedGAN:
    """Train the conditional GAN on one site's cohort.

    noise_multiplier None: WGAN-GP with shuffled mini-batches. Otherwise the critic is trained with
    DP-SGD (Opacus: Poisson sampling at rate 1 / ceil(n / batch_size), per-example clipping at
    settings.max_grad_norm, seeded Gaussian noise, RDP accounting) and weight clipping instead of
    the gradient penalty; see the module docstring for why the generator is then DP. The returned
    `history` is what the site must charge to its ledger. The initialisations, the shuffling and
    the generator's own noise come from generators seeded by settings.seed; under DP the critic's
    Poisson sampling and Gaussian noise come from `noise_rng`, default secret randomness
    (`secret_noise.noise_key_from`); experiments and tests pass a seeded one, so their re-runs are identical.
    `public_rows` (DP only): the training rows as far as anyone outside may know
    (`opacus_noise.private_dp_sgd`); default the actual count.
    """
    check_states(genotypes, n_states)
    tensors, config = _training_data(genotypes, labels, covariates, settings, int(n_states))
    s = settings
    n = int(tensors[0].shape[0])
    sample_seed, _, torch_seed, critic_seed, generator_seed = (
        int(t) for t in np.random.SeedSequence(s.seed).generate_state(5)
    )
    generator, critic = _seeded_networks(config, s, generator_seed=generator_seed, critic_seed=critic_seed)
    loader = DataLoader(
        TensorDataset(*tensors),
        batch_size=min(s.batch_size, n),
        shuffle=True,
        generator=torch.Generator().manual_seed(sample_seed),
    )
    g_opt = torch.optim.Adam(generator.parameters(), lr=s.lr_generator, betas=(0.5, 0.9))
    c_opt = torch.optim.Adam(critic.parameters(), lr=s.lr_critic, betas=(0.5, 0.9))
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(torch_seed)  # z, Gumbel noise, interpolation weights, generated labels
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG turned off.*")
        warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
        warnings.filterwarnings("ignore", message=".*Optimal order is the (largest|smallest) alpha.*")
        if noise_multiplier is None:
            trainer = _Trainer(generator, critic, critic, g_opt, c_opt, s, private=False, n_fake=0)
            losses = trainer.run(loader)
            return TrainedGAN(generator, config, s, [], losses)
        key = noise_key_from(noise_rng)
        return _train_private_critic(
            generator,
            critic,
            loader,
            g_opt,
            c_opt,
            config,
            s,
            noise_multiplier,
            rows=n if public_rows is None else int(public_rows),
            noise_key=key,
        )


def _seeded_networks(
    config: GANConfig, s: GANSettings, *, generator_seed: int, critic_seed: int
) -> tuple[GenotypeGenerator, GenotypeCritic]:
    """The generator and the critic, each initialised from its own seed (the global torch RNG
    is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        generator = GenotypeGenerator(config)
        torch.manual_seed(critic_seed)
        critic = GenotypeCritic(config, s)
    return generator, critic


def _train_private_critic(
    generator: GenotypeGenerator,
    critic: GenotypeCritic,
    loader: DataLoader,
    g_opt: torch.optim.Optimizer,
    c_opt: torch.optim.Optimizer,
    config: GANConfig,
    s: GANSettings,
    noise_multiplier: float,
    *,
    rows: int,
    noise_key: int,
) -> TrainedGAN:
    """The GAN with a DP-SGD critic (Opacus, Poisson sampling, seeded noise) and weight clipping,
    at the rate of `rows` training rows (the public count, `opacus_noise.private_dp_sgd`), which also sets
    the fake batch's size; the returned history is the run's (sigma, q, steps) for the site's ledger."""
    engine = PrivacyEngine(accountant="rdp")  # fresh per run: the cumulative history is the ledger's
    private_critic, private_opt, private_loader = private_dp_sgd(
        engine,
        critic,
        c_opt,
        loader.dataset,
        noise_multiplier=noise_multiplier,
        max_grad_norm=s.max_grad_norm,
        noise_key=noise_key,
        rows=rows,
        batch_size=s.batch_size,
    )
    _clip_weights(critic, s.weight_clip)  # the critic starts inside its Lipschitz box
    trainer = _Trainer(
        generator,
        private_critic,
        critic,
        g_opt,
        private_opt,
        s,
        private=True,
        n_fake=min(s.batch_size, rows),
    )
    try:
        losses = trainer.run(private_loader)
    finally:
        private_critic.remove_hooks()
    history = [(float(sig), float(q), int(k)) for sig, q, k in engine.accountant.history]
    return TrainedGAN(generator, config, s, history, losses)


def _training_data(
    genotypes: np.ndarray, labels: np.ndarray, covariates: np.ndarray | None, s: GANSettings, n_states: int
) -> tuple[list[Tensor], GANConfig]:
    """Validated tensors [states, labels, (scaled covariates)] and the generator's config."""
    tensors = training_tensors(genotypes, labels, covariates, dtype=torch.long)
    y, v = tensors[1], int(tensors[0].shape[1])
    config = GANConfig(
        n_variants=v,
        noise_dim=s.noise_dim,
        hidden=s.hidden,
        block_size=s.block_size,
        block_units=s.block_units,
        covariates=covariates is not None,
        case_fraction=float(y.double().mean()),
        n_states=n_states,
    )
    return tensors, config


def _clip_weights(module: nn.Module, bound: float) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-bound, bound)


@contextmanager
def _frozen(critic: nn.Module, plain: nn.Module) -> Iterator[None]:
    """The critic as a fixed function for a generator step: no parameter gradients, and (under
    Opacus) no captured activations or per-sample gradients."""
    hooks = hasattr(critic, "disable_hooks")
    if hooks:
        critic.disable_hooks()
    params = [p for p in plain.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
        if hooks:
            critic.enable_hooks()


class _Trainer:
    """The alternating critic / generator loop of both paths (see the module docstring)."""

    def __init__(
        self,
        generator: GenotypeGenerator,
        critic: nn.Module,
        plain_critic: GenotypeCritic,
        g_opt: torch.optim.Optimizer,
        c_opt: torch.optim.Optimizer,
        settings: GANSettings,
        *,
        private: bool,
        n_fake: int,
    ) -> None:
        self.generator, self.critic, self.plain_critic = generator, critic, plain_critic
        self.g_opt, self.c_opt, self.s = g_opt, c_opt, settings
        self.private, self.n_fake = private, n_fake
        self.k = generator.config.n_states
        self.covariates = generator.config.covariates

    def run(self, loader: DataLoader) -> list[float]:
        """One critic step per batch of `loader`, a generator step after every n_critic of them;
        returns the mean critic loss of every epoch."""
        self.generator.train()
        self.critic.train()
        losses, step, total_steps = [], 0, self.s.epochs * len(loader)
        label = f"training the GAN{' under DP' if self.private else ''} (epochs)"
        with bar(self.s.epochs, label) as epochs:  # drawn only on the CLI's terminal
            for _ in range(self.s.epochs):
                total, count = 0.0, 0
                for batch in loader:
                    if self.s.lr_decay:
                        self._set_lr(1.0 - step / total_steps)
                    total += self.critic_step(*batch)
                    count += 1
                    step += 1
                    if step % self.s.n_critic == 0:
                        self.generator_step(self._fake_labels(batch[1]))
                losses.append(total / count if count else float("nan"))
                epochs.step()
        return losses

    def _set_lr(self, factor: float) -> None:
        for opt, lr in ((self.g_opt, self.s.lr_generator), (self.c_opt, self.s.lr_critic)):
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def _fake_labels(self, real_labels: Tensor) -> Tensor:
        """Labels of generated rows: the real batch's without DP (matched pairs for the penalty);
        under DP a fixed number of Bernoulli(1/2) draws, independent of the real batch."""
        if not self.private:
            return real_labels
        return (torch.rand(self.n_fake) < 0.5).long()

    def generate(self, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """Relaxed generated records: Gumbel-softmax states (B, V, K) and (sex, scaled age) or None."""
        z = torch.randn(len(y), self.generator.config.noise_dim)
        logits, cov_out = self.generator(z, y)
        x = F.gumbel_softmax(logits, tau=self.s.gumbel_tau, hard=self.s.straight_through, dim=2)
        if cov_out is None:
            return x, None
        sex = F.gumbel_softmax(cov_out[:, :2], tau=self.s.gumbel_tau, hard=self.s.straight_through, dim=1)[
            :, 1
        ]
        return x, torch.stack([sex, cov_out[:, 2]], dim=1)

    def critic_step(self, x: Tensor, y: Tensor, cov: Tensor | None = None) -> float:
        self.c_opt.zero_grad(set_to_none=True)
        real = F.one_hot(x, self.k).float()
        y_fake = self._fake_labels(y)
        with torch.no_grad():
            fake, fake_cov = self.generate(y_fake)
        if self.private:
            loss, report = self._private_critic_loss(real, y, cov, fake, y_fake, fake_cov)
        else:
            loss, report = self._wgan_gp_loss(real, y, cov, fake, fake_cov)
        loss.backward()
        self.c_opt.step()
        if self.private:
            _clip_weights(self.plain_critic, self.s.weight_clip)
        return report

    def _wgan_gp_loss(
        self, real: Tensor, y: Tensor, cov: Tensor | None, fake: Tensor, fake_cov: Tensor | None
    ) -> tuple[Tensor, float]:
        y1 = F.one_hot(y, 2).float()
        loss = self.critic(fake, y1, fake_cov).mean() - self.critic(real, y1, cov).mean()
        if self.s.gp_weight > 0:
            alpha = torch.rand(len(y), 1, 1)
            mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            inputs = [mixed]
            mixed_cov = None
            if cov is not None and fake_cov is not None:
                mixed_cov = (alpha[:, :, 0] * cov + (1 - alpha[:, :, 0]) * fake_cov).requires_grad_(True)
                inputs.append(mixed_cov)
            grads = torch.autograd.grad(self.critic(mixed, y1, mixed_cov).sum(), inputs, create_graph=True)
            norm = torch.sqrt(sum(g.reshape(len(y), -1).pow(2).sum(1) for g in grads) + 1e-12)
            loss = loss + self.s.gp_weight * (norm - 1.0).pow(2).mean()
        return loss, float(loss.detach())

    def _private_critic_loss(
        self,
        real: Tensor,
        y: Tensor,
        cov: Tensor | None,
        fake: Tensor,
        y_fake: Tensor,
        fake_cov: Tensor | None,
    ) -> tuple[Tensor, float]:
        """One forward pass over [real rows; generated rows]; row i's loss is -D(real_i) or
        +D(generated_i). The sum is divided by the row count because Opacus ("mean" reduction)
        multiplies it back per row: each row's per-sample gradient is exactly +-grad D."""
        n_real = len(y)
        rows_cov = torch.cat([cov, fake_cov]) if cov is not None and fake_cov is not None else None
        d = self.critic(torch.cat([real, fake]), F.one_hot(torch.cat([y, y_fake]), 2).float(), rows_cov)
        sign = torch.cat([-torch.ones(n_real), torch.ones(len(y_fake))])
        loss = (sign * d).sum() / len(d)
        d = d.detach()
        report = float(d[n_real:].mean() - (d[:n_real].mean() if n_real else 0.0))
        return loss, report

    def generator_step(self, y: Tensor) -> None:
        self.g_opt.zero_grad(set_to_none=True)
        fake, fake_cov = self.generate(y)
        with _frozen(self.critic, self.plain_critic):
            loss = -self.critic(fake, F.one_hot(y, 2).float(), fake_cov).mean()
            loss.backward()
        self.g_opt.step()
