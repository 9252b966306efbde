"""The settings of one federated run, read from Flower's run config (kebab-case keys).

One dataclass validates them early, with messages a user can act on, whether they come from
pyproject.toml (`flwr run .`), `--run-config`, or `genofed simulate`'s options.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from genofed.common.errors import ConfigError, DataError
from genofed.common.training_limits import MAX_ROUNDS, TRAINING_LIMITS
from genofed.common.util.checks import (
    require,
    require_at_least,
    require_choice,
    require_in_range,
    require_path,
    require_positive,
    to_bool,
    to_float,
    to_int,
)
from genofed.common.util.hashing import file_sha256

STRATEGIES = ("fedavg", "fedprox", "fedadam", "fedmedian", "fedtrimmedavg", "krum", "multikrum")
#: Aggregators that need each hospital's update (a coordinate-wise median or trimmed mean, pairwise
#: distances), so they cannot run on the masked sum SecAgg+ reveals.
ROBUST_STRATEGIES = ("fedmedian", "fedtrimmedavg", "krum", "multikrum")
#: The strategies SecAgg+ can run (`server/secagg.py` builds Flower's legacy FedAvg, with FedProx's
#: proximal term): a list of those allowed, not of those refused, so that a strategy added later is
#: refused under secagg until secagg.py runs it (a Flower user's walkthrough: an added FedYogi ran
#: as FedAvg under secagg while results.json named FedYogi).
SECAGG_STRATEGIES = ("fedavg", "fedprox")
#: Mirrors genofed.common.model.network.FINETUNE_MODES (not imported: settings load without torch).
FINETUNE_MODES = ("full", "partial", "frozen")
#: Mirrors genofed.common.synthetic.generators.GENERATORS (not imported, for the same reason).
SYNTHETIC_GENERATORS = ("vae", "gan", "reference")
#: `model` values: "auto" is the pretrained model's architecture when starting from one, else the
#: default (`DEFAULT_MODEL`, the winner of the privacy-frontier experiment, docs/models.md).
MODELS = ("auto", "logistic", "network")
DEFAULT_MODEL = "logistic"
#: `privacy` values: "local", DP-SGD at every hospital against anyone (the coordinator included);
#: "distributed", each hospital adds only its share of the noise and SecAgg+ reveals only the sum
#: (docs/distributed-dp.md).
PRIVACY_MODES = ("local", "distributed")
#: Training settings left to the model's rule of public facts (genofed.server.training_rule): 0
#: means "the rule's", and -1 for momentum, where 0 is a real choice (plain SGD).
RULE_SETTINGS = ("rounds", "local_epochs", "batch_size", "lr", "clip", "momentum")
#: `round-timeout` (seconds the coordinator waits for the hospitals' replies to one message
#: exchange): Flower's own default (`Strategy.start`), which simulations and `flwr run` keep, so
#: their rounds, however slow the machine, train with every hospital as they did before the setting.
DEFAULT_ROUND_TIMEOUT = 3600.0
#: `round-timeout` of a deployed federation (`coordinator init --round-timeout`; also a folder made
#: before the setting existed). A connected hospital that never answers (a stuck ClientApp, an
#: overloaded or malicious site) holds each exchange this long; a deployed round takes seconds at
#: the cohort sizes measured (docs/benchmarks.md, "Deployed round"), so 10 minutes leaves a
#: hospital with a hundred times those patients time to train, and a stuck one costs a 10-round
#: run under 2 hours rather than 10 (plus the evaluations).
DEPLOYED_ROUND_TIMEOUT = 600.0


#: A run setting is missing or out of range; the name every caller knows for `ConfigError`.
SettingsError = ConfigError


#: Settings that change nothing a run computes: where outputs go and how progress is shown, how
#: long the coordinator waits for hospitals (to connect, to reply) and the plan id itself. Left out
#: of `RunSettings.experiment_id`, and a resumed run may change them (`genofed.server.resume`).
NOT_COMPUTED = frozenset(
    {"out-dir", "resume", "quiet", "ledger-dir", "plan-id", "expected-nodes", "wait-seconds", "round-timeout"}
)


#: Settings only the report reads (run-config key: default): no part of what a run computes, so
#: `RunSettings.experiment_id` (the simulation's plan id, which keys every noise draw) hashes them
#: as their default, and a resumed run may change them (`genofed.server.resume.RESUMABLE_CHANGES`).
REPORT_ONLY = {"prevalence": 0.0}


@dataclass(frozen=True)
class RunSettings:
    """Everything that shapes a federated run; defaults are the tuned simulation defaults."""

    data_dir: str = ""  # simulation: the federation folder (hospitals, optional test/, panel.tsv)
    out_dir: str = "runs/latest"  # results, checkpoints, final model, report
    #: The federation's panel.tsv ("" = data_dir/panel.tsv). The simulation builds one from the
    #: hospitals' variant summaries when the folder has none, and sets it here.
    panel: str = ""
    #: Simulation: the 0/1 disease column of every hospital's (and the test cohort's) phenotype
    #: file. A deployed hospital names its own in its node config (`label-column`).
    label_column: str = "label"
    test_dir: str = ""  # a held-out test cohort folder for central evaluation ("" = data_dir/test if present)
    #: 0 = from the model's rule (genofed.server.training_rule), as are local_epochs, batch_size,
    #: lr, clip and momentum when 0: rules from public facts, because tuning on patients spends privacy.
    rounds: int = 0
    strategy: str = "fedavg"
    #: fedtrimmedavg only: the share of hospitals cut at each end, per coordinate, before averaging
    #: (Flower's beta; it trims int(beta x hospitals per round) at each end, so with 3 hospitals
    #: anything below 1/3 trims nothing).
    trim_beta: float = 0.2
    #: krum / multikrum only: how many hospitals the selection assumes may be malicious (f; Krum
    #: scores each update by its n - f - 2 nearest others, Multi-Krum averages the n - f best).
    malicious_nodes: int = 1
    epsilon: float = 8.0  # per-site budget for the whole run; inf = no differential privacy
    delta: float = 1e-5
    local_epochs: int = 0
    batch_size: int = 0
    lr: float = 0.0
    clip: float = 0.0
    #: SGD momentum of every hospital's local steps (-1 = the rule's).
    momentum: float = -1.0
    proximal_mu: float = 0.01  # FedProx only
    server_lr: float = 0.05  # FedAdam only (eta)
    fraction_train: float = 1.0
    min_nodes: int = 2
    #: Deployment: the number of enrolled hospitals; the run waits up to `wait_seconds` for all of
    #: them to connect (it starts once `min_nodes` are there and the wait is over). 0: no wait.
    expected_nodes: int = 0
    wait_seconds: float = 120.0
    #: Seconds the coordinator waits for the hospitals' replies to one message exchange (the first
    #: query, a training round, each SecAgg+ stage, an evaluation) before it goes on with the replies
    #: it has; a hospital that did not answer in time is logged as refusing that round (inf = wait
    #: for every reply). Like wait_seconds it says how long to wait, not what to compute from the
    #: replies: it is no part of the run's id, and a resumed run may change it.
    round_timeout: float = DEFAULT_ROUND_TIMEOUT
    seed: int = 42
    resume: bool = False
    quiet: bool = False
    ledger_dir: str = ""  # simulation: where virtual sites keep their privacy ledgers
    #: Names the run's privacy plan at every site ("" = a random one). The simulation derives it
    #: from the settings: rerunning identical settings reproduces identical outputs, which
    #: costs no extra privacy, and a crashed run and its uninterrupted twin train alike.
    plan_id: str = ""
    #: A `genofed pretrain` model file to start from ("" = a randomly initialised model), and
    #: optionally the content hash it must have (full, or a prefix of >= 12 hex digits).
    pretrained: str = ""
    pretrained_hash: str = ""
    #: What hospitals train: full, partial (head only) or frozen (output layer only).
    finetune: str = "full"
    #: The shared model: logistic (one weight per variant plus covariates), network (GenotypeRiskNet)
    #: or auto (`MODELS`).
    model: str = "auto"
    #: Public prior knowledge. `prior`: a `genofed pretrain` model of a related trait whose top
    #: `prior_variants` variants (by importance; 0 = all of them) the model reads, started from its
    #: weights.
    #: `gene_prior`: a BED or gene-region TSV of known disease genes; the model reads only the
    #: panel variants inside them. Both: the variants in the genes, then the prior's top ones.
    prior: str = ""
    prior_variants: int = 0
    gene_prior: str = ""
    #: local (per-hospital DP against anyone) or distributed (noise shares under SecAgg+).
    privacy: str = "local"
    #: Distributed DP: every simulated hospital's ceiling on its epsilon against the coordinator and
    #: all other hospitals colluding (inf = none); deployed hospitals set their own in their node config.
    max_coalition_epsilon: float = math.inf
    #: Simulation: every virtual site first generates a validated synthetic cohort from its own
    #: patients and trains on real + `synthetic_ratio` synthetic records per real one (0 = none),
    #: with `synthetic_generator` ("vae", "gan", or "reference": mosaics of the federation folder's
    #: public panel in `reference/`, as `genofed simulate-cohorts` writes it); under DP the generator spends
    #: `synthetic_epsilon` of the site's `epsilon`, charged to the same ledger, so the site's
    #: total stays `epsilon`. Deployed sites choose their own in their node config.
    synthetic_ratio: float = 0.0
    synthetic_generator: str = "vae"
    synthetic_epsilon: float = 2.0
    #: Genotype augmentation every hospital applies on the fly in its local training,
    #: e.g. "noise=0.01,mutate=0.005" ("" = none); a hospital's own node config `augment` wins.
    #: Checked by the hospitals (genofed.common.augment), which hold the panel it refers to.
    augment: str = ""
    #: Secure aggregation (Flower's SecAgg+, genofed.server.secagg): the coordinator receives
    #: only the masked sum of the hospitals' updates, never one hospital's weights.
    secagg: bool = False
    #: How many times in a run each hospital evaluates the global model on its own validation
    #: patients (the last rounds of the run, evenly spaced; 0 = never). Each evaluation is a DP
    #: release (a noisy score histogram) paid from the hospital's budget, planned with training.
    site_evaluations: int = 1
    #: The disease's prevalence in the population the model is meant for (0 = unknown). Used only
    #: by the report, for PPV and NPV at the real prevalence rather than the test cohort's case share.
    prevalence: float = 0.0

    def __post_init__(self) -> None:
        self._check_aggregation()
        self._check_privacy()
        self._check_local_training()
        self._check_participation()
        require_choice("finetune", self.finetune, FINETUNE_MODES)
        self._check_model()
        self._check_synthetic()
        require(bool(self.label_column.strip()), "label-column is empty: name the phenotypes' 0/1 column")
        if self.label_column != "label":  # the default is fine: every --help builds default settings
            # imported here: the readers load bed_reader and scipy, which no --help should pay for
            from genofed.common.data.readers.phenotypes import label_column_problem

            problem = label_column_problem(self.label_column.strip())
            require(problem is None, f"label-column {problem}")
        require(
            0.0 <= self.prevalence < 1.0,
            f"prevalence must be a share in [0, 1) (0 = unknown), got {self.prevalence}",
        )
        if self.augment:
            _check_augment(self.augment, private=self.private)
        if self.secagg:
            self._check_secagg()
        require(bool(self.out_dir.strip()), "out-dir is empty: name the folder the run's results go to")
        require_at_least("seed", self.seed, 0, hint="any whole number >= 0 names the run's draws")
        require(
            bool(self.pretrained) or not self.pretrained_hash,
            "pretrained-hash is the hash the pretrained model must have: it needs pretrained (a "
            "`genofed pretrain` model file); without one nothing is checked",
        )
        require(
            self.finetune == "full" or bool(self.pretrained),
            f"finetune={self.finetune} freezes layers of a pretrained model: set pretrained too "
            "(or use finetune=full)",
        )

    def _check_model(self) -> None:
        require_choice("model", self.model, MODELS)
        require_choice("privacy", self.privacy, PRIVACY_MODES)
        require_at_least("prior-variants", self.prior_variants, 0, hint="0 = every panel variant")
        require(
            bool(self.prior) or self.prior_variants == 0,
            "prior-variants is how many of a source prior's top variants the model reads: it needs prior "
            "(a `genofed pretrain` model); without one it would change nothing",
        )
        require_positive("max-coalition-epsilon", self.max_coalition_epsilon, hint="inf = no ceiling")
        require(
            self.privacy == "distributed" or math.isinf(self.max_coalition_epsilon),
            "max-coalition-epsilon caps a hospital's epsilon against the coordinator and all other "
            "hospitals colluding, which differs from its epsilon only under privacy=distributed: add "
            "privacy=distributed (with secagg), or drop it",
        )
        require(
            not (self.prior and self.gene_prior and self.prior_variants == 0),
            "prior-variants 0 keeps all of the source's variants, so with gene-prior the model would read "
            "the whole panel and the gene list would restrict nothing: set prior-variants to how many of "
            "the source's top variants to add to the list's (e.g. 1000)",
        )
        require(
            not (self.prior and self.pretrained),
            "prior and pretrained both choose the starting model: use prior (a source model's top "
            "variants and weights) or pretrained (the whole model), not both",
        )
        require(
            self.finetune == "full" or self.model != "logistic",
            f"finetune={self.finetune} freezes layers of a network; the logistic model has one layer: "
            "use finetune=full, or model=network",
        )
        if self.privacy == "distributed":
            require(
                self.secagg,
                "privacy=distributed needs secagg: each hospital adds only its share of the noise, which "
                "protects a patient only when the coordinator sees nothing but the sum; add secagg",
            )
            require(
                self.strategy in ("fedavg",),
                "privacy=distributed sums noisy gradients: use strategy=fedavg",
            )
            require(
                self.private,
                "privacy=distributed splits the noise of a finite epsilon among the hospitals: set an "
                "epsilon, or use privacy=local for training without DP",
            )
            require(
                self.synthetic_ratio == 0,
                "privacy=distributed trains on real patients only (every hospital refuses a distributed "
                "round with synthetic records, after its generator would have spent its share of the "
                "budget): set synthetic-ratio 0, or use privacy=local",
            )

    @property
    def by_rule(self) -> tuple[str, ...]:
        """The training settings left at 0, to be filled by the model's rule."""
        unset = {name: 0 for name in RULE_SETTINGS} | {"momentum": -1}
        return tuple(name for name in RULE_SETTINGS if getattr(self, name) == unset[name])

    def _check_aggregation(self) -> None:
        require_in_range(
            "rounds", self.rounds, 0, MAX_ROUNDS, hint="0 = the model's rule; every hospital refuses more"
        )
        require_choice("strategy", self.strategy, STRATEGIES)
        require_in_range(
            "trim-beta", self.trim_beta, 0, 0.5, high_open=True, hint="the share cut at each end"
        )
        require_at_least("malicious-nodes", self.malicious_nodes, 0)

    def _check_privacy(self) -> None:
        require_positive("epsilon", self.epsilon, hint="use inf for no differential privacy")
        require_in_range(
            "delta",
            self.delta,
            0,
            1,
            low_open=True,
            high_open=True,
            hint="1e-5 is usual, below 1 / (patients per site)",
        )

    def _check_local_training(self) -> None:
        """Each at least 0 (0 is the model's rule, `by_rule`) and at most what a hospital accepts
        (`TRAINING_LIMITS`): above it every hospital would refuse every round."""
        for name in ("local-epochs", "batch-size", "lr", "clip"):
            value = getattr(self, name.replace("-", "_"))
            require_at_least(name, value, 0, hint="0 = the model's rule")
            if value != 0:
                _require_accepted(name, value)
        require(
            self.momentum == -1 or 0 <= self.momentum < 1,
            f"momentum must be in [0, 1) (or -1 for the model's rule), got {self.momentum:g}",
        )
        if self.momentum != -1:
            _require_accepted("momentum", self.momentum)
        # the hospitals refuse a negative pull (TRAINING_LIMITS' low end), every one in every round
        require_at_least("proximal-mu", self.proximal_mu, 0, hint="FedProx's pull towards the global model")
        _require_accepted("proximal-mu", self.proximal_mu)
        require_positive("server-lr", self.server_lr, hint="FedAdam's server step (eta)")

    def _check_participation(self) -> None:
        require_in_range("fraction-train", self.fraction_train, 0, 1, low_open=True)
        require_at_least("min-nodes", self.min_nodes, 1)
        require_at_least("expected-nodes", self.expected_nodes, 0, hint="0 = no wait for enrolled hospitals")
        require_at_least("wait-seconds", self.wait_seconds, 0, hint="0 = start once min-nodes are there")
        require_positive(
            "round-timeout",
            self.round_timeout,
            hint="seconds to wait for the hospitals' replies to one exchange; inf = wait for every reply",
        )
        require_in_range(
            "site-evaluations",
            self.site_evaluations,
            0,
            self.rounds or 1_000_000,
            hint=f"at most rounds ({self.rounds}): each is a privacy release at every hospital",
        )

    def _check_synthetic(self) -> None:
        require_in_range(
            "synthetic-ratio", self.synthetic_ratio, 0, 100, hint="synthetic records per real patient"
        )
        require_choice("synthetic-generator", self.synthetic_generator, SYNTHETIC_GENERATORS)
        require(
            not (self.synthetic_ratio > 0 and self.private) or 0 < self.synthetic_epsilon < self.epsilon,
            f"synthetic-epsilon ({self.synthetic_epsilon:g}) is the generator's share of each site's "
            f"epsilon ({self.epsilon:g}): it must be > 0 and below it, leaving the rest for training",
        )

    def _check_secagg(self) -> None:
        """What secure aggregation rules out: SecAgg+ shows the coordinator only a masked sum."""
        require(
            self.strategy not in ROBUST_STRATEGIES,
            f"secagg cannot run strategy {self.strategy}: under SecAgg+ the coordinator sees only the "
            "masked sum of the hospitals' updates, and a robust aggregator needs each hospital's update "
            "(medians, trimmed means, distances); use strategy fedavg or fedprox with secagg, or turn "
            "secagg off",
        )
        require(
            self.strategy in SECAGG_STRATEGIES,
            f"secagg cannot run strategy {self.strategy}: SecAgg+ runs on Flower's legacy FedAvg, which "
            "knows no server optimizer state; use strategy fedavg or fedprox with secagg, or turn secagg off",
        )
        require(
            self.min_nodes >= 2,
            "secagg needs min-nodes >= 2: a sum of one hospital's update is that update",
        )

    def _check_enough_hospitals(self) -> None:
        """min-nodes within the data folder's hospitals: in a simulation their number is known
        before Flower starts, which would otherwise wait for nodes that never come."""
        from genofed.common.data.layout import hospital_folders

        try:
            hospitals = len(hospital_folders(self.data_dir, test_dir=self.test_dir))
        except DataError:  # no hospitals, or a folder the rule cannot read: said where the run reads it
            return
        require(
            self.min_nodes <= hospitals,
            f"min-nodes {self.min_nodes}, but {self.data_dir} holds {hospitals} hospital folders: give "
            f"min-nodes at most {hospitals}",
        )

    def check_inputs(self, *, data: bool = True) -> None:
        """The files these settings name exist. The values are checked on construction; this is
        the rest of what needs no panel, so a caller (`genofed simulate`) can refuse a typo before
        it simulates cohorts or writes anything. Whether a model fits the panel is checked later,
        by `genofed.server.start_model`.

        Args:
            data: check `data_dir` too (False while the run is still to simulate it).
        """
        if data and self.data_dir:
            where = "" if Path(self.data_dir).is_absolute() else f" (from {Path.cwd()})"
            require_path(
                "data-dir",
                self.data_dir,
                folder=True,
                hint=f"a federation folder of hospital folders{where}; `genofed simulate-cohorts --out DIR` "
                "writes a simulated one (the docs' demo/cohorts is that command's output with its defaults)",
            )
            self._check_enough_hospitals()
        for name, path in (("pretrained", self.pretrained), ("prior", self.prior)):
            if path:
                require_path(name, path, hint="a `genofed pretrain` model file")
        if self.gene_prior:
            require_path("gene-prior", self.gene_prior, hint="a BED file or a gene table")

    @property
    def private(self) -> bool:
        return not math.isinf(self.epsilon)

    @property
    def deployed(self) -> bool:
        """Whether this is a deployed federation's run (`genofed coordinator start`, whose run config
        waits for the enrolled hospitals: `expected_nodes` above 0), which a simulation's never is:
        what the run says to do next is then in the coordinator operator's terms."""
        return self.expected_nodes > 0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RunSettings:
        """From a Flower run config; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name.replace("_", "-"): f for f in fields(cls)}
        unknown = sorted(set(config) - set(known))
        require(
            not unknown, f"unknown run setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
        values = {}
        for key, value in config.items():
            field = known[key]
            values[field.name] = _convert(key, value, field.type)
        return cls(**values)

    def experiment_id(self) -> str:
        """A stable id of what is computed: the settings minus where outputs go and how it is shown,
        and with what only the report reads (`REPORT_ONLY`: prevalence) at its default."""
        skip = set(NOT_COMPUTED)
        if (
            self.synthetic_ratio == 0
        ):  # unused: leaves the ids (and so the noise draws) of plain runs as they were
            skip |= {"synthetic-ratio", "synthetic-generator", "synthetic-epsilon"}
        if not self.augment:
            skip.add("augment")
        if self.label_column == "label":  # leaves the ids of runs made before it was a setting as they were
            skip.add("label-column")
        if not self.secagg:
            skip.add("secagg")
        if self.strategy != "fedtrimmedavg":  # unused settings leave the ids of other runs as they were
            skip.add("trim-beta")
        if self.strategy not in ("krum", "multikrum"):
            skip.add("malicious-nodes")
        # settings that did not exist before the model choice leave the ids of network runs as they were
        if not self.prior:
            skip.add("prior-variants")
        skip |= {k for k, unset in (("prior", not self.prior), ("gene-prior", not self.gene_prior)) if unset}
        if self.privacy == "local":
            skip.add("privacy")
        if math.isinf(self.max_coalition_epsilon):
            skip.add("max-coalition-epsilon")
        if self.model == "network" and self.momentum == 0.9:
            skip |= {"model", "momentum"}
        config = {k: v for k, v in self.to_config().items() if k not in skip}
        # what only the report reads hashes as its default: the same training (and noise draws) at
        # another prevalence; the ids of runs made before, all hashed with their value, stay as they were
        config |= {k: v for k, v in REPORT_ONLY.items() if k in config}
        if self.data_dir and self.panel == str(Path(self.data_dir) / "panel.tsv"):
            config["panel"] = ""  # the folder's own panel, named or not: the same run
        elif built := self._built_panel():
            config["panel"] = f"sha256:{file_sha256(built)}"
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:32]

    def _built_panel(self) -> Path | None:
        """The panel the simulation built into the run folder (`run_panel.panel_for_run`, for a
        data folder without its own), which the plan id hashes by its content: by its path, the same
        data and settings in another run folder were another plan, so neither a resume nor a
        comparison across run folders matched. None for any other panel, whose path is hashed as
        before, so the ids of runs that built no panel stay as they were."""
        if not self.panel or not self.out_dir:
            return None
        panel, in_run_folder = Path(self.panel), Path(self.out_dir) / "panel.tsv"
        return panel if panel.is_file() and panel.resolve() == in_run_folder.resolve() else None

    def to_config(self) -> dict[str, Any]:
        """Back to run-config form, e.g. for results.json's `config`."""
        return {
            k.replace("_", "-"): (str(v) if isinstance(v, float) and math.isinf(v) else v)
            for k, v in asdict(self).items()
        }


def _convert(key: str, value: Any, kind: str) -> Any:
    invalid = f"run setting {key}={value!r} is not a valid {kind}"
    if kind == "bool":
        return to_bool(key, value, kind="run setting ")
    if kind == "int":
        return to_int(key, value, message=invalid)
    if kind == "float":
        if isinstance(value, bool):  # a TOML/JSON true is no number (it read as 1.0)
            raise SettingsError(invalid)
        return to_float(key, value, message=invalid)
    return str(value)


def _check_augment(text: str, *, private: bool) -> None:
    """Parse the run's augmentation before any hospital is contacted: a typo or a mixing transform
    under DP is refused here, with the hospitals' own message, rather than in round 1. The message
    quotes `text` as it was given, then how it was read: quoting the normalised spec as if typed
    showed a user words they never wrote."""
    from genofed.common.augment import parse_augment  # numpy only; keeps the settings import light

    spec = parse_augment(text)
    require(
        not (private and spec.mixes_patients),
        f"augment '{text}' (read as: {spec.describe()}) mixes two patients into one example (mix / mixup), "
        "which DP-SGD's "
        "per-patient bound does not cover; under DP use noise, mutate and missing only, or set epsilon=inf",
    )


def _require_accepted(name: str, value: float) -> None:
    """Refuse a training setting outside what a hospital accepts (`TRAINING_LIMITS`): every hospital
    would refuse every round of the run, which would end without a model."""
    low, high = TRAINING_LIMITS[name]
    require(
        value <= high,
        f"{name} must be at most {high:g}, got {value:g}: every hospital refuses to train above it",
    )
    require(
        value >= low,
        f"{name} must be at least {low:g}, got {value:g}: every hospital refuses to train below it",
    )
