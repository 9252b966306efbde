"""Empirical differential-privacy audit of one hospital site, on the real ClientApp message path.

What it checks: that nothing a site releases (its DP-SGD updates over several rounds and its noisy
evaluation histograms) tells a coordinator more about one patient than the epsilon its ledger
charged. Method: the one-run audit of Steinke, Nasr & Jagielski 2023 ("Privacy auditing with one
(1) training run"):

1. m canary patients, each homozygous for a private panel variant no one else carries, are
   drawn; each is written into the site's genotype VCF and phenotype CSV independently with
   probability 1/2 (the project's writers; the site reads them with its own loader, panel
   alignment and encoding, as a deployed hospital with its own budget and secret).
2. The auditor plays the coordinator of one run: it sends crafted models through
   `make_client_app` (outbound guard and audit mods included) and keeps every reply. The
   training model routes a canary's clipped gradient onto its own variant's weight (white box);
   the evaluation models put canaries each alone in a histogram cell.
3. Each canary gets a score from the replies; the k highest-scoring canaries are guessed "in",
   for a few k fixed in advance (Bonferroni). The number of correct guesses becomes an epsilon
   lower bound at 95 % confidence with the paper's Binomial tail bound, delta handled as the
   paper does (its 2 m delta term).

The epsilon compared against is the one the site's ledger charged (training and evaluation,
RDP composed). A non-private control (budget inf) shows the audit has power. A bound above the
ledger's epsilon is a privacy bug and is printed as such (exit status 1). Setups: `per-step`
(the whole site in one batch, one step per round: every DP-SGD step is seen), `federation` (the
federation's default training, Poisson batches of 32, 2 local epochs: only each round's end is
seen) and `evaluation` (20 evaluations, scored by the histograms alone). docs/privacy-audit.md
has the method, the measured table and what the audit does not cover.

Usage:
    .venv/bin/python bench/privacy_audit.py [--out audit.json] [--canaries 5000]
                                            [--epsilons 1 3 8 inf] [--setups per-step federation evaluation]
    .venv/bin/python bench/privacy_audit.py --quick      # < 1 minute smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from genofed.client.app import make_client_app
from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.layout import GENOTYPES, PANEL, PHENOTYPES, TEST, hospital_folders
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.variants import parse_variant_id
from genofed.common.data.writers import write_phenotypes, write_vcf
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.privacy.release import SCORE_BINS, as_histogram
from genofed.simulations.cohorts.build import simulate_cohorts

# ---------------------------------------------------------------------------------------------
# Statistics: Steinke, Nasr & Jagielski 2023 (their main theorem and its p-value algorithm)
# ---------------------------------------------------------------------------------------------


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[at least v of r guesses correct] for an (epsilon, delta)-DP algorithm with m canaries.

    Each canary is included with probability 1/2; an epsilon-DP algorithm lets no guess be
    right with probability above e^eps / (1 + e^eps) (randomized response), so the count of
    correct guesses is dominated by Binomial(r, that). delta adds the paper's term
    2 m delta max_i P[v > Binomial >= v - i] / i.
    """
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v} r={r} m={m}")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    beta = float(stats.binom.sf(v - 1, r, q))
    alpha = 0.0
    if v > 0 and delta > 0:
        below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[Bin = v-1], P[Bin = v-2], ...
        alpha = float(np.max(np.cumsum(below) / np.arange(1, v + 1)))
    return min(1.0, beta + 2.0 * m * delta * alpha)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, alpha: float) -> float:
    """The largest epsilon that v correct of r guesses reject at level alpha (0 if none).

    p_value falls as epsilon falls, so a bisection finds where it crosses alpha.
    """
    if r == 0 or p_value(m, r, v, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0
    while p_value(m, r, v, high, delta) < alpha and high < 64:
        low, high = high, 2 * high
    for _ in range(40):
        middle = 0.5 * (low + high)
        if p_value(m, r, v, middle, delta) < alpha:
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class Guesses:
    """One pre-declared guessing rule's outcome: the top k canaries guessed "included"."""

    k: int
    correct: int
    epsilon: float  # lower bound at this rule's share of the confidence (Bonferroni)
    ceiling: float  # the bound if all k guesses had been right: what m and k allow at most


def audit_guesses(
    scores: np.ndarray, included: np.ndarray, ks: list[int], delta: float, confidence: float
) -> list[Guesses]:
    """Guess the top-k scores "in" for each pre-declared k; Bonferroni over the ks.

    The ks are fixed before the run (fractions of m), so picking the best of them afterwards is
    paid for by splitting 1 - confidence between them; picking k by looking at which guesses were
    right would not be a valid bound. Ties and unscored canaries (-inf) are never guessed.
    """
    m = len(scores)
    alpha = (1.0 - confidence) / len(ks)
    order = np.argsort(-scores, kind="stable")
    scored = int(np.isfinite(scores).sum())
    out = []
    for k in ks:
        r = min(k, scored)
        correct = int(included[order[:r]].sum())
        out.append(
            Guesses(
                r,
                correct,
                epsilon_lower_bound(m, r, correct, delta, alpha),
                epsilon_lower_bound(m, r, r, delta, alpha),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# The audited site: real patients plus canaries, written as a clinic's files
# ---------------------------------------------------------------------------------------------

#: Panel frequency of each canary's private variant: rare, so everyone else's encoded dosage of
#: it (d - 2p) is nearly 0 and a carrier's is nearly 2.
CANARY_FREQ = 0.001
#: Canaries are homozygous for their variant: the weight's gradient is then twice the block
#: bias's, so more of the clipped gradient lands on the coordinate the audit reads.
CANARY_DOSAGE = 2
SITE_NAME = "audited-site"


@dataclass(frozen=True)
class Canaries:
    """The audit's secret: which canaries went into the site's files (Steinke et al.'s S)."""

    ids: list[str]
    labels: np.ndarray  # 0/1, chosen by the auditor (half cases)
    included: np.ndarray  # bool, each True with probability 1/2
    donors: np.ndarray  # row of the donor cohort whose genome (and sex, age) each canary copies

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class AuditSite:
    """Where the site's files are, and how the canaries sit in its panel."""

    genotypes: Path
    phenotypes: Path
    panel: Path
    state_dir: Path
    model: ModelConfig
    first_canary: int  # panel index of canary 0's variant; canary j's is first_canary + j
    carrier_x: float  # encoded dosage of a canary's own variant (d - 2p)
    other_x: float  # everyone else's encoded dosage of a canary variant
    real_patients: int


def draw_canaries(m: int, donors: int, rng: np.random.Generator) -> Canaries:
    """m canaries, half cases, each included with probability 1/2, independently of everything."""
    labels = rng.permutation(np.arange(m) % 2).astype(np.int8)
    included = rng.random(m) < 0.5
    return Canaries([f"CANARY{j:05d}" for j in range(m)], labels, included, rng.integers(0, donors, m))


def canary_variant_ids(panel: VariantPanel, filler: int, m: int) -> list[str]:
    """Variant ids on a contig the real panel does not use: `filler` ids first (no carrier; they
    align the canaries to the model's blocks), then one per canary."""
    used = {parse_variant_id(v).chrom for v in panel.variant_ids}
    contig = next(str(c) for c in range(22, 0, -1) if str(c) not in used)
    return [f"{contig}:{1_000_000 + 100 * i}:A:G" for i in range(filler + m)]


def write_audit_site(
    federation: Path, site: str, canaries: Canaries, folder: Path, block_size: int
) -> AuditSite:
    """The site's files with the included canaries added: VCF, phenotype CSV and the extended panel.

    The real patients are the simulated site's own (read by the project's loader, aligned to the
    panel); each canary copies a test-cohort person's genome, sex and age and adds its private
    variant. Everything goes through `write_vcf` / `write_phenotypes`, so the site reads it as it
    would read a clinic's hand-over.
    """
    panel = VariantPanel.load(federation / PANEL)
    real = load_site(federation / site / GENOTYPES, federation / site / PHENOTYPES, panel=panel).cohort
    donors = load_site(federation / TEST / GENOTYPES, federation / TEST / PHENOTYPES, panel=panel).cohort
    m, v_real = len(canaries), len(panel)
    filler = (-v_real) % block_size
    extra = canary_variant_ids(panel, filler, m)
    own = np.zeros((m, filler + m), dtype=np.int8)
    own[np.arange(m), filler + np.arange(m)] = CANARY_DOSAGE
    chosen = np.flatnonzero(canaries.included)
    dosages = np.vstack(
        [
            np.hstack([real.dosages, np.zeros((real.n_samples, filler + m), dtype=np.int8)]),
            np.hstack([donors.dosages[canaries.donors[chosen]], own[chosen]]),
        ]
    )
    variant_ids = list(panel.variant_ids) + extra
    typed = ~(dosages == -1).all(axis=0)  # a variant no one was called for is not in a clinic's file
    sample_ids = list(real.sample_ids) + [canaries.ids[j] for j in chosen]
    labels = np.concatenate([real.labels, canaries.labels[chosen]])
    covariates = pd.concat(
        [real.covariates[["sex", "age"]], donors.covariates[["sex", "age"]].iloc[canaries.donors[chosen]]],
        ignore_index=True,
    )
    covariates["sex"] = covariates["sex"].map(
        {1.0: "F", 0.0: "M"}
    )  # the reader's coding; unknown fails in the writer
    folder.mkdir(parents=True, exist_ok=True)
    write_vcf(
        folder / GENOTYPES,
        dosages[:, typed],
        sample_ids,
        [v for v, t in zip(variant_ids, typed, strict=False) if t],
    )
    write_phenotypes(folder / PHENOTYPES, sample_ids, labels, covariates)
    VariantPanel(variant_ids, np.concatenate([panel.alt_freq, np.full(filler + m, CANARY_FREQ)])).save(
        folder / PANEL
    )
    freq = float(np.clip(CANARY_FREQ, FREQ_CLIP, 1 - FREQ_CLIP))
    return AuditSite(
        folder / GENOTYPES,
        folder / PHENOTYPES,
        folder / PANEL,
        folder / "state",
        ModelConfig(n_variants=len(variant_ids), block_size=block_size),
        v_real + filler,
        CANARY_DOSAGE - 2 * freq,
        -2 * freq,
        real.n_samples,
    )


# ---------------------------------------------------------------------------------------------
# The coordinator's crafted models
# ---------------------------------------------------------------------------------------------

#: Training model: a canary block's bias saturates the tanh of everyone who does not carry one of
#: its variants (their gradient there is ~0), and the carrier's own weight pulls its unit back to
#: the linear range. One hidden unit collects the canary blocks, biased so that only a carrier is
#: in its linear range. So a canary's gradient lies almost only on its own weight and its block's
#: bias, with a sign set by its label, and nobody else's gradient touches that weight.
SATURATION = 4.0
FAN_IN = 20.0
OUTPUT = 2.0
#: Evaluation model: logit = EVAL_SCALE * tanh(sum of canary units) + EVAL_OFFSET; non-carriers
#: score ~0.001 (bin 0), each assigned canary's variant sets its carrier's risk to its bin's centre.
EVAL_SCALE = 16.0
EVAL_OFFSET = -6.0


def _canary_position(site: AuditSite, j: int) -> tuple[int, int]:
    return divmod(site.first_canary + j, site.model.block_size)


def _canary_blocks(site: AuditSite, m: int) -> np.ndarray:
    return np.unique([_canary_position(site, j)[0] for j in range(m)])


def training_state(site: AuditSite, m: int) -> dict[str, torch.Tensor]:
    """The model every training round is sent (the same one each round: each round is a fresh,
    independent observation of the site's DP-SGD mechanism)."""
    config = site.model
    state = {k: torch.zeros_like(v) for k, v in build_model(config, seed=0).state_dict().items()}
    weight = -SATURATION / site.carrier_x
    for j in range(m):
        block, within = _canary_position(site, j)
        state["blocks.weight"][block, within, 0] = weight
    blocks = _canary_blocks(site, m)
    state["blocks.bias"][blocks, 0] = SATURATION
    per_block = config.block_size
    carrier = math.tanh(SATURATION + weight * site.carrier_x + (per_block - 1) * weight * site.other_x)
    other = math.tanh(SATURATION + per_block * weight * site.other_x)
    state["head.0.weight"][0, blocks] = FAN_IN
    state["head.0.bias"][0] = -FAN_IN * (
        carrier + (len(blocks) - 1) * other
    )  # a carrier's hidden unit sits at 0
    state["head.2.weight"][0, 0] = OUTPUT  # and its logit at 0: risk 1/2, gradient sign = its label's
    return state


def canary_weights(state: dict[str, torch.Tensor], site: AuditSite, m: int) -> np.ndarray:
    """Each canary's own weight in a (sent or returned) model."""
    rows = [_canary_position(site, j) for j in range(m)]
    weights = state["blocks.weight"].double().numpy()
    return np.array([weights[b, w, 0] for b, w in rows])


@dataclass(frozen=True)
class Cell:
    """Where an evaluation release puts one canary: its label's row, its own risk bin."""

    canary: int
    evaluation: int
    bin: int


def assign_cells(
    canaries: Canaries, site: AuditSite, evaluations: int, rng: np.random.Generator
) -> list[Cell]:
    """Up to 2 x (SCORE_BINS - 1) canaries per evaluation, each alone in a cell, at most one per
    model block (so each carrier's risk is set by its own weight alone). Bin 0 is left to
    everyone else."""
    cells: list[Cell] = []
    pool = list(rng.permutation(len(canaries)))
    for evaluation in range(evaluations):
        free = {(label, b) for label in (0, 1) for b in range(1, SCORE_BINS)}
        blocks: set[int] = set()
        for j in list(pool):
            block = _canary_position(site, int(j))[0]
            label = int(canaries.labels[j])
            bins = sorted(b for lab, b in free if lab == label)
            if block in blocks or not bins:
                continue
            free.discard((label, bins[0]))
            blocks.add(block)
            pool.remove(j)
            cells.append(Cell(int(j), evaluation, bins[0]))
    return cells


def evaluation_state(site: AuditSite, m: int, cells: list[Cell]) -> dict[str, torch.Tensor]:
    """One evaluation's model: each cell's canary carrier scored at the centre of its bin."""
    config = site.model
    state = {k: torch.zeros_like(v) for k, v in build_model(config, seed=0).state_dict().items()}
    state["head.0.weight"][0, _canary_blocks(site, m)] = 1.0
    state["head.2.weight"][0, 0] = EVAL_SCALE
    state["head.2.bias"][0] = EVAL_OFFSET
    target = np.array(
        [math.atanh((_logit((c.bin + 0.5) / SCORE_BINS) - EVAL_OFFSET) / EVAL_SCALE) for c in cells]
    )
    weights = np.zeros(len(cells))
    for _ in range(20):  # Gauss-Seidel: each carrier also sees the others' weights times other_x
        for i in range(len(cells)):
            others = sum(math.tanh(w * site.other_x) for k, w in enumerate(weights) if k != i)
            weights[i] = math.atanh(target[i] - others) / site.carrier_x
    for cell, weight in zip(cells, weights, strict=False):
        block, within = _canary_position(site, cell.canary)
        state["blocks.weight"][block, within, 0] = float(weight)
    _check_bins(site, m, cells, state)
    return state


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _check_bins(site: AuditSite, m: int, cells: list[Cell], state: dict[str, torch.Tensor]) -> None:
    """The crafted model really bins as intended, on rows encoded as the site encodes them (the
    real variants and covariates have zero weight, so their values do not matter)."""
    model = build_model(site.model, seed=0)
    model.load_state_dict(state)
    rows = np.zeros((len(cells) + 1, site.model.n_variants + site.model.n_covariates), dtype=np.float32)
    rows[:, site.first_canary : site.first_canary + m] = site.other_x
    for i, cell in enumerate(cells):
        rows[i, site.first_canary + cell.canary] = site.carrier_x
    bins = np.minimum((predict_proba(model, rows) * SCORE_BINS).astype(int), SCORE_BINS - 1)
    expected = [c.bin for c in cells] + [0]
    if list(bins) != expected:
        raise AssertionError(f"crafted evaluation model bins {list(bins)}, expected {expected}")


# ---------------------------------------------------------------------------------------------
# Driving the site's real ClientApp
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """How the coordinator asks the site to train (it may choose any of this within the site's limits)."""

    name: str
    batch_size: int  # 0: the whole site in one batch (sample rate 1, one step per epoch)
    local_epochs: int
    lr: float
    rounds: int
    evaluations: int
    clip: float = 1.0
    #: what the guesses rank by: "combined" (training and evaluation evidence) or "evaluation"
    #: (only the histogram cells: an audit of the evaluation releases alone)
    score: str = "combined"


SETUPS = {
    # one DP-SGD step per round, so every step's output is seen: the white-box, per-step audit
    "per-step": Setup("per-step", batch_size=0, local_epochs=1, lr=1.0, rounds=10, evaluations=2),
    # the federation's default training (RunSettings): Poisson batches of 32, 2 local epochs; only
    # each round's final model is seen
    "federation": Setup("federation", batch_size=32, local_epochs=2, lr=0.05, rounds=10, evaluations=2),
    # every evaluation a site answers in one run (its cap, 20), scored by the histograms alone
    "evaluation": Setup(
        "evaluation", batch_size=0, local_epochs=1, lr=1.0, rounds=20, evaluations=20, score="evaluation"
    ),
}
#: sent as batch-size for a full batch: above any site's size, within the site's limit
FULL_BATCH = 1_000_000
PLAN = "privacy-audit"


@dataclass
class Release:
    """Everything the site sent back in one audited run, as the coordinator received it."""

    train_deltas: np.ndarray  # (rounds, m): change of each canary's own weight per round
    train_examples: list[int]  # num-examples of every training reply
    noise_multiplier: float
    histograms: list[np.ndarray]  # (2, SCORE_BINS) per evaluation
    eval_noise: float
    epsilon_reported: float  # what the last reply said


class AuditError(RuntimeError):
    """The site refused or failed a message the audit needs."""


def _message(
    kind: str,
    state: dict[str, torch.Tensor],
    site: AuditSite,
    setup: Setup,
    epsilon: float,
    delta: float,
    server_round: int,
):
    from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict

    config = {
        "server-round": server_round,
        "num-rounds": setup.rounds,
        "plan-id": PLAN,
        "local-epochs": setup.local_epochs,
        "batch-size": setup.batch_size or FULL_BATCH,
        "lr": setup.lr,
        "clip": setup.clip,
        "epsilon": epsilon,
        "delta": delta,
        "model": json.dumps(site.model.to_dict()),
        "site-evaluations": setup.evaluations,
        "finetune": "full",
    }
    return Message(
        RecordDict({"arrays": ArrayRecord(state), "config": ConfigRecord(config)}),
        message_type=kind,
        dst_node_id=7,
    )


def _context(site: AuditSite, epsilon: float, delta: float, evaluations: int):
    """A deployed hospital's node config: its own budget, and a random secret in its state dir
    that the coordinator never sees (a simulated site's secret comes from the public run seed,
    which would let a coordinator recompute the noise)."""
    from flwr.app import Context, RecordDict

    node_config = {
        "genotypes": str(site.genotypes),
        "phenotypes": str(site.phenotypes),
        "panel": str(site.panel),
        "state-dir": str(site.state_dir),
        "epsilon-budget": float(epsilon),
        "delta": float(delta),
        "site-name": SITE_NAME,
        "max-evaluations": int(evaluations),
    }
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def _ask(app, message, context):
    reply = app(message, context)
    if reply.has_error():
        raise AuditError(
            f"the site answered a {message.metadata.message_type} message with an error: {reply.error.reason}"
        )
    return reply


def run_site(
    site: AuditSite, m: int, cells: list[Cell], setup: Setup, epsilon: float, delta: float
) -> Release:
    """One federated run with the audited site: `setup.rounds` training rounds, the last
    `setup.evaluations` of them each followed by an evaluation, as the federation schedules them."""
    from flwr.app import MessageType
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0
    app = make_client_app({})
    context = _context(site, epsilon, delta, setup.evaluations)
    sent = training_state(site, m)
    before = canary_weights(sent, site, m)
    by_evaluation = [[c for c in cells if c.evaluation == e] for e in range(setup.evaluations)]
    evaluation_models = [evaluation_state(site, m, group) for group in by_evaluation]
    deltas, examples, histograms = [], [], []
    sigma = eval_sigma = 0.0
    reported = math.nan
    for server_round in range(1, setup.rounds + 1):
        reply = _ask(
            app, _message(MessageType.TRAIN, sent, site, setup, epsilon, delta, server_round), context
        )
        metrics = reply.content["metrics"]
        deltas.append(canary_weights(reply.content["arrays"].to_torch_state_dict(), site, m) - before)
        examples.append(int(metrics["num-examples"]))
        sigma, reported = float(metrics["noise-multiplier"]), float(metrics["epsilon"])
        evaluation = server_round - (setup.rounds - setup.evaluations) - 1
        if evaluation >= 0:
            message = _message(
                MessageType.EVALUATE, evaluation_models[evaluation], site, setup, epsilon, delta, server_round
            )
            metrics = _ask(app, message, context).content["metrics"]
            histograms.append(as_histogram(metrics["val-histogram"]))
            eval_sigma, reported = float(metrics["val-noise"]), float(metrics["epsilon"])
    return Release(np.array(deltas), examples, sigma, histograms, eval_sigma, reported)


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------

#: SGD momentum of the site's optimizer (client/trainer.py): it shapes how a step's noise
#: accumulates into a round's update.
MOMENTUM = 0.9
#: Stand-in noise for an exact (non-private) histogram count: any small value ranks it first.
EXACT_COUNT_SD = 0.05


def update_noise_sd(release: Release, setup: Setup, n_train: int) -> float:
    """Standard deviation of the DP noise in one round's change of one weight, from public facts
    and the reply (noise multiplier, training size): lr * sigma * C / B per step, accumulated
    through momentum, where B is Opacus' expected batch size."""
    if release.noise_multiplier <= 0:
        return 0.0
    batch = setup.batch_size or FULL_BATCH
    steps_per_epoch = math.ceil(n_train / batch)
    expected_batch = int(n_train * (1.0 / steps_per_epoch))
    steps = setup.local_epochs * steps_per_epoch
    carry = [(1 - MOMENTUM ** (steps - s)) / (1 - MOMENTUM) for s in range(steps)]
    return (
        setup.lr
        * release.noise_multiplier
        * setup.clip
        / expected_batch
        * math.sqrt(sum(c * c for c in carry))
    )


@dataclass(frozen=True)
class Scores:
    """Per canary: the training evidence (z-score of its weight's summed change, signed by its
    label), the evaluation evidence (its cell's noisy count in noise units; nan without a cell),
    and the combined log-likelihood ratio the guesses rank by."""

    train: np.ndarray
    evaluation: np.ndarray
    combined: np.ndarray


def score_canaries(release: Release, canaries: Canaries, cells: list[Cell], setup: Setup) -> Scores:
    """Scores from the replies alone (never from which canaries were included).

    A canary that the site trained on pushes its weight one way each time it is sampled (down
    for a control, up for a case: the model puts its risk at 1/2); one the site validated on
    adds 1 to its cell. Inclusion means train (~80 %) or validation (~20 %), hence a two-part
    likelihood ratio; the training effect size is estimated from the scores themselves.
    """
    signed = release.train_deltas.sum(axis=0) * np.where(canaries.labels == 1, 1.0, -1.0)
    sd = update_noise_sd(release, setup, release.train_examples[-1]) * math.sqrt(len(release.train_deltas))
    if sd == 0.0:
        sd = float(np.std(signed)) or 1.0
    z_train = signed / sd
    z_eval = np.full(len(canaries), np.nan)
    eval_sd = release.eval_noise if release.eval_noise > 0 else EXACT_COUNT_SD
    for cell in cells:
        if cell.evaluation < len(release.histograms):
            count = release.histograms[cell.evaluation][int(canaries.labels[cell.canary]), cell.bin]
            z_eval[cell.canary] = count / eval_sd
    mu_train = max(0.0, float(np.mean(z_train)) / (0.5 * 0.8))
    mu_eval = 1.0 / eval_sd
    trained = np.log(0.8) + mu_train * z_train - mu_train**2 / 2
    validated = np.where(
        np.isnan(z_eval), np.log(0.2), np.log(0.2) + mu_eval * np.nan_to_num(z_eval) - mu_eval**2 / 2
    )
    return Scores(z_train, z_eval, np.logaddexp(trained, validated))


def trained_canaries(
    site: AuditSite, canaries: Canaries, evaluations: int, epsilon: float, delta: float
) -> np.ndarray:
    """After the audit only, with the site's secret: which canaries the site trained on (the rest
    of the included ones it kept for validation). A diagnostic of the audit's power; the
    guesses never see it."""
    from genofed.client.site import resolve_site, split_seed, validation_split

    config = dict(_context(site, epsilon, delta, evaluations).node_config)
    cohort = load_site(site.genotypes, site.phenotypes, panel=site.panel).cohort
    train, _ = validation_split(cohort.sample_ids, split_seed(resolve_site(config, {}), 0))
    trained = {cohort.sample_ids[i] for i in train}
    return np.array([cid in trained for cid in canaries.ids])


def canary_effect(scores: Scores, trained: np.ndarray, included: np.ndarray, kind: str) -> float | None:
    """How far, in noise units, a canary's presence moved the score the guesses rank by: mean z
    of the canaries the site trained on (kind "combined": the training score) or validated on
    (kind "evaluation": the cell counts), minus that of the left-out ones. The mu of the
    Gaussian test the score is."""
    if kind == "evaluation":
        celled = ~np.isnan(scores.evaluation)
        present, absent = celled & included & ~trained, celled & ~included
        values = scores.evaluation
    else:
        present, absent, values = trained, ~included, scores.train
    if not present.any() or not absent.any():
        return None
    return float(values[present].mean() - values[absent].mean())


def gdp_epsilon(mu: float, delta: float) -> float:
    """Epsilon at `delta` of a mu-Gaussian-DP mechanism (Dong, Roth & Su): the most that a perfect
    audit of a score with effect mu could show. Bisection on the exact delta(epsilon) curve."""
    if mu <= 0:
        return 0.0

    def delta_of(eps: float) -> float:
        return float(
            stats.norm.cdf(-eps / mu + mu / 2) - math.exp(eps + stats.norm.logcdf(-eps / mu - mu / 2))
        )

    low, high = 0.0, 1.0
    while delta_of(high) > delta and high < 200:
        low, high = high, 2 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if delta_of(middle) > delta else (low, middle)
    return high


@dataclass(frozen=True)
class NoiseCheck:
    """Measured / claimed noise where the truth is known to be zero: the weights of canaries that
    were left out, and the cells of left-out canaries. ~1 when the site adds the noise it charges
    for; clearly below 1 would mean it charges for noise it does not add."""

    train_ratio: float | None
    eval_ratio: float | None


def noise_check(release: Release, canaries: Canaries, cells: list[Cell], setup: Setup) -> NoiseCheck:
    sd = update_noise_sd(release, setup, release.train_examples[-1])
    train_ratio = None
    out = ~canaries.included
    if sd > 0 and out.sum() > 2:
        deltas = release.train_deltas[:, out]
        train_ratio = float(np.std(deltas - deltas.mean(axis=1, keepdims=True)) / sd)
    counts = [
        release.histograms[c.evaluation][int(canaries.labels[c.canary]), c.bin]
        for c in cells
        if not canaries.included[c.canary] and c.evaluation < len(release.histograms)
    ]
    eval_ratio = (
        float(np.sqrt(np.mean(np.square(counts))) / release.eval_noise)
        if release.eval_noise > 0 and counts
        else None
    )
    return NoiseCheck(train_ratio, eval_ratio)


# ---------------------------------------------------------------------------------------------
# One audit, many audits, the table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSettings:
    """What the default run audits; `--quick` shrinks it to a smoke test."""

    canaries: int = 5000
    epsilons: tuple[float, ...] = (1.0, 3.0, 8.0, math.inf)
    setups: tuple[str, ...] = ("per-step", "federation", "evaluation")
    rounds: int | None = None  # None: each setup's own
    evaluations: int | None = None
    delta: float = 1e-5
    confidence: float = 0.95
    #: guessing rules, declared before the run: guess the top fraction of the m canaries
    guess_fractions: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2)
    preset: str = "small"
    site: str = "rostov"
    seed: int = 2023
    block_size: int = 20

    def ks(self, scored: int | None = None) -> list[int]:
        """The guessing rules' k: fractions of the canaries that get a score."""
        total = self.canaries if scored is None else scored
        return sorted({max(1, round(f * total)) for f in self.guess_fractions})


QUICK = AuditSettings(canaries=200, epsilons=(8.0, math.inf), setups=("per-step",), rounds=4, evaluations=1)


@dataclass
class AuditRow:
    """One audited run: the claim, what the site spent by its own ledger, and the audit's bound."""

    setup: str
    epsilon_budget: float
    epsilon_ledger: float  # read from the site's privacy-ledger.json, training + evaluation
    epsilon_lower_bound: float
    ceiling: float  # what this m and these ks could show at most (all guesses right)
    k: int
    correct: int
    canaries: int
    included: int
    scored: int  # canaries the guesses could rank (all, or those with an evaluation cell)
    noise_multiplier: float
    eval_noise: float
    train_noise_ratio: float | None
    eval_noise_ratio: float | None
    canary_effect: float | None  # post hoc: mu of the training score (see canary_effect)
    effect_epsilon: float | None  # epsilon of a mechanism that is exactly canary_effect-GDP
    trained_canaries: int  # post hoc: included canaries the site trained on (not validated on)
    train_examples: int
    ledger_charges: int
    seconds: float
    guesses: list[dict] = field(default_factory=list)
    violation: bool = False


def audit_run(
    federation: Path,
    folder: Path,
    settings: AuditSettings,
    setup: Setup,
    epsilon: float,
    rng: np.random.Generator,
) -> AuditRow:
    """Draw the canaries, write the site, run it as the coordinator would, score and bound."""
    started = time.perf_counter()
    if (folder / "state").exists():  # an old ledger would carry its plan and spent epsilon into this run
        raise AuditError(f"{folder} holds an earlier audit's site state; use a fresh --workdir")
    donors = len(load_site(federation / TEST / GENOTYPES, federation / TEST / PHENOTYPES).cohort.sample_ids)
    canaries = draw_canaries(settings.canaries, donors, rng)
    site = write_audit_site(federation, settings.site, canaries, folder, settings.block_size)
    cells = assign_cells(canaries, site, setup.evaluations, rng)
    release = run_site(site, len(canaries), cells, setup, epsilon, settings.delta)
    scores = score_canaries(release, canaries, cells, setup)
    ranked = (
        scores.combined
        if setup.score == "combined"
        else np.where(np.isnan(scores.evaluation), -np.inf, scores.evaluation)
    )
    ks = settings.ks(int(np.isfinite(ranked).sum()))
    guesses = audit_guesses(ranked, canaries.included, ks, settings.delta, settings.confidence)
    best = max(guesses, key=lambda g: (g.epsilon, -g.k))
    ledger = PrivacyLedger(site.state_dir / LEDGER_FILE)
    spent = ledger.epsilon(settings.delta) if ledger.charges else math.inf
    check = noise_check(release, canaries, cells, setup)
    trained = trained_canaries(site, canaries, setup.evaluations, epsilon, settings.delta)
    # without noise there is no noise unit to measure an effect in
    effect = None if math.isinf(epsilon) else canary_effect(scores, trained, canaries.included, setup.score)
    effect_eps = None if effect is None else gdp_epsilon(effect, settings.delta)
    return AuditRow(
        setup.name,
        epsilon,
        spent,
        best.epsilon,
        max(g.ceiling for g in guesses),
        best.k,
        best.correct,
        len(canaries),
        int(canaries.included.sum()),
        int(np.isfinite(ranked).sum()),
        release.noise_multiplier,
        release.eval_noise,
        check.train_ratio,
        check.eval_ratio,
        effect,
        effect_eps,
        int(trained.sum()),
        release.train_examples[-1],
        len(ledger.charges),
        time.perf_counter() - started,
        [asdict(g) for g in guesses],
        violation=best.epsilon > spent * (1 + 1e-9),
    )


def run_audit(settings: AuditSettings, workdir: Path, progress=print) -> list[AuditRow]:
    """Every (setup, epsilon) of `settings`, each with its own canary draw, site files and ledger."""
    federation = workdir / "federation"
    if not (federation / PANEL).exists():
        simulate_cohorts(federation, preset=settings.preset, seed=settings.seed, overwrite=True)
    if settings.site not in {f.name for f in hospital_folders(federation)}:
        raise SystemExit(f"no hospital {settings.site!r} in the {settings.preset} preset")
    rng = np.random.default_rng(settings.seed)
    rows = []
    for name in settings.setups:
        setup = SETUPS[name]
        setup = replace(
            setup,
            rounds=settings.rounds or setup.rounds,
            evaluations=min(
                settings.evaluations if settings.evaluations is not None else setup.evaluations,
                settings.rounds or setup.rounds,
            ),
        )
        for epsilon in settings.epsilons:
            folder = workdir / f"{name}-eps{epsilon:g}"
            row = audit_run(federation, folder, settings, setup, epsilon, rng)
            rows.append(row)
            progress(
                f"  {name:10s} eps {epsilon:>4g}: ledger {row.epsilon_ledger:.3f}, bound "
                f"{row.epsilon_lower_bound:.3f} ({row.correct}/{row.k} correct), {row.seconds:.1f} s"
            )
    return rows


def format_table(rows: list[AuditRow]) -> str:
    """The audit's table: one line per run."""
    head = (
        "| setup | claimed epsilon | ledger epsilon (train+eval) | empirical lower bound (95 %) | bound / "
        "ledger | correct / guesses | ceiling (m, ks) | sigma train | sigma eval | canary effect mu (its GDP "
        "epsilon) | noise measured/claimed (train, eval) |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for row in rows:
        ratio = (
            "-" if math.isinf(row.epsilon_ledger) else f"{row.epsilon_lower_bound / row.epsilon_ledger:.2f}"
        )
        noise = ", ".join(
            "-" if v is None else f"{v:.2f}" for v in (row.train_noise_ratio, row.eval_noise_ratio)
        )
        flag = " **EXCEEDS THE CLAIM**" if row.violation else ""
        effect = "-" if row.canary_effect is None else f"{row.canary_effect:.2f}"
        if row.effect_epsilon is not None:
            effect += f" ({row.effect_epsilon:.2f})"
        lines.append(
            f"| {row.setup} | {row.epsilon_budget:g} | {row.epsilon_ledger:.3f} | "
            f"{row.epsilon_lower_bound:.3f}{flag} | {ratio} | {row.correct} / {row.k} | {row.ceiling:.2f} | "
            f"{row.noise_multiplier:.3f} | {row.eval_noise:.2f} | {effect} | {noise} |"
        )
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> tuple[AuditSettings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a < 1 minute smoke run (200 canaries, epsilon 8 and inf)"
    )
    parser.add_argument("--canaries", type=int, help="m, a multiple of the block size 20 (default 5000)")
    parser.add_argument("--epsilons", nargs="+", help="claimed budgets to audit (default 1 3 8 inf)")
    parser.add_argument("--setups", nargs="+", choices=sorted(SETUPS), help="training setups (default all)")
    parser.add_argument("--rounds", type=int, help="training rounds per run (default: the setup's, 10 or 20)")
    parser.add_argument(
        "--evaluations", type=int, help="evaluation releases per run (default: the setup's, 2 or 20)"
    )
    parser.add_argument("--seed", type=int, help="canary draws and the simulated cohorts")
    parser.add_argument(
        "--workdir", type=Path, help="keep the site files and ledgers here (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else AuditSettings()
    changes = {
        "canaries": args.canaries,
        "rounds": args.rounds,
        "evaluations": args.evaluations,
        "seed": args.seed,
        "epsilons": tuple(float(e) for e in args.epsilons) if args.epsilons else None,
        "setups": tuple(args.setups) if args.setups else None,
    }
    settings = replace(settings, **{k: v for k, v in changes.items() if v is not None})
    if settings.canaries % settings.block_size:
        parser.error(
            f"--canaries must be a multiple of {settings.block_size} (canaries fill whole model blocks)"
        )
    return settings, args


def main(argv: list[str] | None = None) -> int:
    settings, args = _parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privacy-audit-") as tmp:
        workdir = args.workdir or Path(tmp)
        print(
            f"auditing one site ({settings.site}, {settings.preset} preset) with {settings.canaries} "
            f"canaries, delta {settings.delta:g}; guesses: the top "
            f"{', '.join(f'{f:.0%}' for f in settings.guess_fractions)} of the scored canaries (Bonferroni "
            f"over these rules), confidence {settings.confidence:.0%}"
        )
        rows = run_audit(settings, workdir)
    seconds = time.perf_counter() - started
    print()
    print(format_table(rows))
    print(f"\n{len(rows)} audited runs in {seconds:.0f} s")
    violations = [r for r in rows if r.violation]
    for row in violations:
        print(
            f"PRIVACY BUG: {row.setup} at budget {row.epsilon_budget:g}: the audit shows epsilon >= "
            f"{row.epsilon_lower_bound:.3f} with 95 % confidence, above the ledger's "
            f"{row.epsilon_ledger:.3f} ({row.correct} of {row.k} guesses right)",
            file=sys.stderr,
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "settings": asdict(settings),
            "setups": {n: asdict(SETUPS[n]) for n in settings.setups},
            "rows": [asdict(r) for r in rows],
            "seconds": seconds,
        }
        args.out.write_text(json.dumps(_plain(payload), indent=2) + "\n")
    return 1 if violations else 0


def _plain(value: object) -> object:
    """JSON has no infinity: an unbounded budget is written as the string "inf"."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


if __name__ == "__main__":
    raise SystemExit(main())
