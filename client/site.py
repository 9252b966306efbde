"""Which hospital a ClientApp serves, and that hospital's data, prepared once per process.

A deployed hospital agent names its files in the SuperNode's node config
(`genotypes=... phenotypes=... panel=... state-dir=...`, and `label-column=...` when the disease
column is not called `label`). In the simulation mode every virtual
SuperNode gets only a `partition-id`, which picks the n-th hospital folder of the run's
`data-dir` (`genofed.common.data.layout`): the same files a clinic would hand over, read by the
same loader, with the run's `label-column` and `panel` (default `data-dir/panel.tsv`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genofed.client.agent.high_water import SECRET_FILE
from genofed.client.declared_size import declared_cohort_size
from genofed.client.synthetic_use import (
    SUMMARY_FILE,
    SyntheticCohort,
    fit_to_count,
    load_synthetic,
    require_declared,
    synthetic_count,
)
from genofed.common.data.features import FeatureSpec, encode, encode_dosage_rows
from genofed.common.data.layout import PANEL, TRUTH, hospital_folders, simulated_ledger_root
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers.phenotypes import LabelColumnMissing
from genofed.common.data.splits import keyed_split
from genofed.common.errors import ConfigError, DataError, GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.common.util.checks import require, require_at_least, require_in_range, to_bool, to_float, to_int

#: Share of a site's patients kept out of training to evaluate the global model locally.
VALIDATION_FRACTION = 0.2


#: The node config does not say which hospital data to use, or says it wrongly; the name every
#: caller knows for `ConfigError`.
SiteConfigError = ConfigError


@dataclass(frozen=True)
class SiteConfig:
    """The hospital a ClientApp serves: its files, its state dir and what it fixes for itself
    (budget, accepted delta, synthetic data, augmentation, pins); built by `resolve_site`, which
    checks each node config entry as it reads it."""

    name: str
    genotypes: Path
    phenotypes: Path
    panel: Path
    state_dir: Path  # privacy ledger and the site's secret live here; never sent anywhere
    epsilon_budget: float | None  # the site's own lifetime cap; None: the federation's epsilon
    #: A virtual hospital of the simulation mode (found by partition id), not a deployed one.
    simulated: bool = False
    #: The site's secret (the key of its DP noise, Poisson sampling and validation split) is
    #: derived from the run's public seed and its name (`simulated_secret`), so that a simulation
    #: and its rerun are identical. Set only for a virtual hospital whose federation folder was
    #: made by genofed's simulator (it holds `truth.json`): a seeded secret is public, so anyone
    #: who knows the other patients could replay the run for each guess of one patient's data and
    #: match the released model bit for bit. Real exports run by `genofed simulate --data` keep a
    #: random secret in their state dir, as a deployed site does.
    secret_from_seed: bool = False
    #: The largest delta this site accepts (deployment; node config `delta`).
    delta: float = 1e-5
    #: A `genofed synth` output folder whose validated records this site adds to its training,
    #: `synthetic_ratio` of them per real training patient (node config `synthetic=DIR
    #: synthetic-ratio=R`; simulation: run config `synthetic-ratio`, folder in the site's state dir).
    synthetic: Path | None = None
    synthetic_ratio: float = 0.0
    #: Deployment: the hospital's own augmentation (node config `augment`, wins over the run's)
    #: and its clinicians' known-causal variants (node config `known-causal=FILE`), never altered.
    augment: str = ""
    known_causal: Path | None = None
    #: Deployment: this hospital sends updates only under secure aggregation (node config
    #: `require-secagg=true`): a coordinator cannot quietly switch SecAgg+ off to see its update.
    require_secagg: bool = False
    #: Deployment: SHA-256 of the model architecture the hospital agreed to (node config
    #: `model-digest`, from the federation's settings at `hospital check`); any other is refused.
    model_digest: str = ""
    #: The most evaluations of the global model this site answers in one plan (a run as the
    #: coordinator labels it; node config `max-evaluations`): each is a DP release, and fewer leave
    #: more budget to training. Only the epsilon budget bounds the lifetime number.
    max_evaluations: int = 20
    #: The cohort size (all patients) the hospital declares public (node config `declared-size`);
    #: None: its size rounded to 10 (`declared_cohort_size`). DP-SGD's sampling rate, step count
    #: and divisor, and the sizes the site reports, come from it, never from the exact count.
    declared_size: int | None = None
    #: Distributed DP: the most this site spends against the coordinator and all other sites
    #: colluding, who see its own noise share only (node config `max-coalition-epsilon`, written
    #: by `genofed hospital check --max-coalition-epsilon`; inf: no cap, the hospital's explicit
    #: choice). Unlike `epsilon_budget`, this holds whatever the coordinator claims about how many
    #: sites share the noise. None: unset, and a deployed site then refuses distributed DP
    #: (`genofed.client.train_handler`); a simulated site reads the run config key, default inf.
    max_coalition_epsilon: float | None = None
    #: The 0/1 disease column of the phenotype file (node config `label-column`; a simulated site
    #: reads the run config key `label-column`, the same for every hospital of the simulation).
    label_column: str = "label"


def resolve_site(node_config: dict, run_config: dict) -> SiteConfig:
    """The hospital this node serves, from its node config (deployment) or partition id (simulation)."""
    budget = node_config.get("epsilon-budget")
    budget = float(budget) if budget not in (None, "") else None
    if "genotypes" in node_config:
        return _deployed_site(node_config, budget)
    return _simulated_site(node_config, run_config, budget)


def _deployed_site(node_config: dict, budget: float | None) -> SiteConfig:
    """A deployed hospital: every file named in its own node config."""
    missing = [k for k in ("phenotypes", "panel", "state-dir") if k not in node_config]
    require(not missing, f"node config lacks {', '.join(missing)} (needed with 'genotypes')")
    synthetic = str(node_config.get("synthetic", "") or "")
    return SiteConfig(
        name=str(node_config.get("site-name", Path(str(node_config["genotypes"])).parent.name)),
        genotypes=Path(str(node_config["genotypes"])),
        phenotypes=Path(str(node_config["phenotypes"])),
        panel=Path(str(node_config["panel"])),
        state_dir=Path(str(node_config["state-dir"])),
        epsilon_budget=budget,
        delta=float(node_config.get("delta", 1e-5)),
        synthetic=Path(synthetic) if synthetic else None,
        synthetic_ratio=_ratio(node_config.get("synthetic-ratio", 1.0 if synthetic else 0.0)),
        augment=str(node_config.get("augment", "") or ""),
        known_causal=Path(str(node_config["known-causal"])) if node_config.get("known-causal") else None,
        require_secagg=to_bool(
            "require-secagg", node_config.get("require-secagg", False), kind="node config "
        ),
        label_column=_label_column(node_config),
        **_pinned(node_config),
    )


def _simulated_site(node_config: dict, run_config: dict, budget: float | None) -> SiteConfig:
    """A virtual hospital of the simulation: the n-th hospital folder of the run's data dir."""
    require(
        "partition-id" in node_config and bool(run_config.get("data-dir")),
        'this SuperNode has no data: give it --node-config "genotypes=... phenotypes=... '
        'panel=... state-dir=..." (deployment) or run with data-dir set (simulation)',
    )
    data_dir = Path(str(run_config["data-dir"]))
    folders = hospital_folders(data_dir, test_dir=str(run_config.get("test-dir") or ""))
    index = int(node_config["partition-id"])
    require(
        index < len(folders), f"partition {index} but {data_dir} has only {len(folders)} hospital folders"
    )
    folder = folders[index]
    ledger_root = Path(str(run_config.get("ledger-dir") or _default_ledger_root(run_config, data_dir)))
    ratio = _ratio(run_config.get("synthetic-ratio", 0.0))
    state_dir = ledger_root / folder.name
    return SiteConfig(
        folder.name,
        folder.genotypes,
        folder.phenotypes,
        Path(str(run_config.get("panel") or data_dir / PANEL)),
        state_dir,
        budget,
        simulated=True,
        # only simulated patients may have a public (seeded) secret; see `SiteConfig.secret_from_seed`
        secret_from_seed=(data_dir / TRUTH).is_file(),
        synthetic=state_dir / SIMULATED_SYNTHETIC if ratio > 0 else None,
        synthetic_ratio=ratio,
        label_column=_label_column(run_config),
        **_simulated_pins(node_config, run_config),
    )


def _default_ledger_root(run_config: dict, data_dir: Path) -> Path:
    """Where simulated hospitals keep their ledgers when the run config names no `ledger-dir`: in
    the run's out-dir, as `genofed simulate` does (`RUN/privacy-ledgers`), so that a run and its
    `resume=true` share one and another run has its own; without an out-dir, beside the data. Why:
    pyproject's fixed default put every `flwr run` that set only `out-dir` on one ledger, and the
    second run was refused for a budget the first had spent (a Flower user's walkthrough)."""
    return simulated_ledger_root(str(run_config.get("out-dir") or ""), data_dir)


def _simulated_pins(node_config: dict, run_config: dict) -> dict:
    """`_pinned` for a virtual hospital: its coalition cap from the run config too, and no cap
    (inf) when neither says one: the person running the simulation is every hospital."""
    pinned = _pinned({"max-coalition-epsilon": run_config.get("max-coalition-epsilon"), **node_config})
    if pinned["max_coalition_epsilon"] is None:
        pinned["max_coalition_epsilon"] = math.inf
    return pinned


#: Where a virtual site of the simulation keeps its synthetic cohort, inside its state dir.
SIMULATED_SYNTHETIC = "synthetic"


def _pinned(node_config: dict) -> dict:
    """What a hospital fixes in its own node config (`genofed hospital check` writes them; a
    simulated site may be given them too): its agreed architecture, evaluation cap, declared size."""
    return {
        "model_digest": str(node_config.get("model-digest", "") or ""),
        "max_evaluations": _count(node_config.get("max-evaluations", 20), "max-evaluations"),
        "declared_size": _declared(node_config.get("declared-size")),
        "max_coalition_epsilon": _coalition_cap(node_config.get("max-coalition-epsilon")),
    }


def in_federation_words(exc: DataError, node_config: dict) -> DataError:
    """A data refusal as a simulation's hospital tells it: a phenotype file without the run's label
    column (`LabelColumnMissing`) gets the federation's remedy, since the reader's own hint
    (`--label-column <this file's column>`) would then refuse every other hospital. A deployed
    hospital (its node config names its files) keeps the hint: its `label-column` is its own."""
    if not isinstance(exc, LabelColumnMissing) or "genotypes" in node_config:
        return exc
    column, name = exc.column, exc.candidates[0] if exc.candidates else None
    if name is None:
        hint = (
            f"add the disease column (1 or 'case' for cases, 0 or 'control' for controls) to this hospital's "
            f"file, named '{column}': the run's label column, one name for every hospital (--label-column)"
        )
    else:
        hint = (
            f"the run's label column is '{column}' (--label-column, one name for every hospital): rename "
            f"this hospital's column '{name}' to '{column}'; rerun with --label-column {name} only if "
            f"every hospital's phenotype file (and the test cohort's) names its label column '{name}'"
        )
    return DataError(exc.file, exc.problem, location=exc.location, hint=hint)


def _label_column(config: dict) -> str:
    """`label-column` of a node or run config: the phenotype file's 0/1 disease column."""
    column = str(config.get("label-column") or "label").strip()
    require(bool(column), "label-column is empty: name the phenotype file's 0/1 disease column")
    return column


def site_coalition_cap(site: SiteConfig) -> float:
    """The site's `max-coalition-epsilon` as every release's ceiling on its epsilon against a
    coordinator and all other sites colluding: inf when it set none (a deployed site without one
    takes no distributed round, so its coalition epsilon is its epsilon, which its budget caps)."""
    return math.inf if site.max_coalition_epsilon is None else site.max_coalition_epsilon


def _coalition_cap(value: object) -> float | None:
    """node config `max-coalition-epsilon`: a positive epsilon, or inf written explicitly (no cap);
    None when unset (a deployed site then refuses distributed DP)."""
    if value in (None, ""):
        return None
    hint = "the site's cap on its epsilon against the coordinator and all other sites colluding"
    cap = to_float("max-coalition-epsilon", value, hint=hint)
    require(cap > 0, f"max-coalition-epsilon must be positive (or inf), got {value!r}: {hint}")
    return cap


def _declared(value: object) -> int | None:
    if value in (None, ""):
        return None
    size = _count(value, "declared-size")
    return require_at_least(
        "declared-size",
        size,
        2,
        message=f"declared-size is the number of patients the hospital declares public; {size} is too few",
    )


def declared_split(declared: int) -> tuple[int, int]:
    """(training, validation) sizes that follow from a declared cohort size."""
    validation = round(declared * VALIDATION_FRACTION)
    return declared - validation, validation


def _count(value: object, key: str) -> int:
    return require_at_least(key, to_int(key, value), 0)


def _ratio(value: object) -> float:
    per_patient = "synthetic records per real patient"
    ratio = to_float("synthetic-ratio", value, hint=per_patient)
    return require_in_range("synthetic-ratio", ratio, 0, 100, hint=per_patient)


@dataclass(frozen=True)
class SiteTensors:
    """A site's model input, split into training and local validation patients."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    n_variants: int
    #: SHA-256 of the training rows (real split + synthetic): part of every round's input digest.
    fingerprint: str = ""
    #: The validated synthetic records this site trains with, if any: ratio x `public_train` of them
    #: (cut or resampled to it, `synthetic_use.fit_to_count`), a public number.
    synthetic: SyntheticCohort | None = None
    #: The training patients' dosages (int8, MISSING for no call), aligned to the panel, and the
    #: panel's encoding: what on-the-fly augmentation transforms and re-encodes.
    train_dosages: np.ndarray | None = None
    feature_spec: FeatureSpec | None = None
    #: The training and validation sizes that follow from the declared (public) cohort size:
    #: what the site reports and what its DP-SGD rate and steps are computed from.
    public_train: int = 0
    public_validation: int = 0

    @property
    def public_rows(self) -> int:
        """Training rows as far as anyone outside may know: declared patients plus synthetic rows."""
        return self.public_train + self.n_synthetic

    @property
    def cases(self) -> int:
        return int(self.train_y.sum() + self.val_y.sum())

    @property
    def n_synthetic(self) -> int:
        return 0 if self.synthetic is None else len(self.synthetic)

    def training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows local training iterates over: the real training patients, then the synthetic
        records. Validation stays real only: the site judges the model on its own patients."""
        if self.synthetic is None:
            return self.train_x, self.train_y
        return (
            np.concatenate([self.train_x, self.synthetic.features]),
            np.concatenate([self.train_y, self.synthetic.labels]),
        )


def load_site_tensors(site: SiteConfig, split_seed: int) -> SiteTensors:
    """Load, check, align and encode a site's data, split by `split_seed`.

    Prepared once per process and kept (`_PreparedSite`: int8 dosages, a quarter of the float32
    features) while it fits the process's cache budget: a Ray worker of the simulation serves
    messages of any of the federation's hospitals in turn, and a cache that holds fewer
    hospitals than there are re-parses a site's genotypes for every message (bench/scale.py).
    The float32 features are encoded from the kept dosages for each call (~0.1 s at 100,000
    variants, against seconds to read, check and align the files). At every message, cached or not,
    a deployed site's data files must be the ones `hospital check` bound (`_require_checked_data`)
    and its synthetic batch the one whose verdict it declared (`synthetic_use.require_declared`)."""
    files = [site.genotypes, site.phenotypes, site.panel]
    if site.synthetic is not None and site.synthetic_ratio > 0:
        files.append(site.synthetic / SUMMARY_FILE)
        require(
            files[-1].is_file(),
            f"synthetic data is configured but {site.synthetic} holds no genofed synth output; create it "
            "with genofed synth (or genofed simulate --synthetic-ratio), or set synthetic-ratio=0",
        )
    stamp = tuple(p.stat().st_mtime_ns for p in files)
    synthetic = site.synthetic if site.synthetic_ratio > 0 else None
    # a deployed site's batch must be the one whose verdict `hospital check --synthetic` declared
    declared_in = None if site.simulated or synthetic is None else site.state_dir / LEDGER_FILE
    if not site.simulated:
        _require_checked_data(site)
    if declared_in is not None:
        require_declared(synthetic, declared_in)  # at every message, cached entry or not
    key = (
        site.genotypes,
        site.phenotypes,
        site.panel,
        split_seed,
        synthetic,
        site.synthetic_ratio,
        site.declared_size,
        site.label_column,
        stamp,
        site.simulated,
        declared_in,
    )
    prepared = _PREPARED.get(key)
    if prepared is None:
        prepared = _prepare(*key)
        if not site.simulated and _data_stamp(site) != _CHECKED.get(_checked_key(site)):
            # changed while it was read, after its check: this copy was never checked (not kept)
            raise _changed_since_check([site.genotypes, site.phenotypes], "changed while this round read it")
        _PREPARED.put(key, prepared)
    return prepared.tensors()


#: A deployed site's data files' stat (`_data_stamp`) when their SHA-256 was last found to be the
#: one `genofed hospital check` bound to the site's ledger, by (genotypes, phenotypes, state dir).
_CHECKED: dict[tuple[Path, Path, Path], tuple] = {}
_CHECKED_LOCK = threading.Lock()


def _checked_key(site: SiteConfig) -> tuple[Path, Path, Path]:
    return (site.genotypes, site.phenotypes, site.state_dir)


def _data_stamp(site: SiteConfig) -> tuple:
    """The genotypes and phenotypes files' stat as far as an edit shows in it: modification and
    change times (an edit that restores the mtime still moves the ctime), size, inode, device."""
    stats = [p.stat() for p in (site.genotypes, site.phenotypes)]
    return tuple((s.st_mtime_ns, s.st_ctime_ns, s.st_size, s.st_ino, s.st_dev) for s in stats)


def _require_checked_data(site: SiteConfig) -> None:
    """Refuse (GenofedError: the site's refusal, `genofed.client.app`) to use a deployed site's
    genotypes or phenotypes file unless its SHA-256 is the one `genofed hospital check` bound to the
    site's ledger, as `hospital start` requires.

    Why (an operator audit): the agent checked the files at its start, then this process re-read a
    file edited while it ran (the cache is keyed on the files' mtime), and rounds trained and were
    charged on data nobody had checked. The files are hashed only when their stat changed since
    the last check that passed (and once per process): a round on unchanged files costs two
    `stat` calls. Nothing is bound to a state folder no `hospital check` or `start` bound (a node
    config written by hand): then there is nothing to hold the files to."""
    from genofed.client.agent.ledger_binding import files_changed_since_check  # cryptography: deployed only

    stamp = _data_stamp(site)
    with _CHECKED_LOCK:
        if _CHECKED.get(_checked_key(site)) == stamp:
            return
    changed = files_changed_since_check(site.state_dir, site.genotypes, site.phenotypes)
    if changed:
        raise _changed_since_check(
            changed,
            "changed since `genofed hospital check` (its SHA-256 differs from the one bound to this "
            "site's ledger)",
        )
    with _CHECKED_LOCK:
        _CHECKED[_checked_key(site)] = stamp


def _changed_since_check(files: list[Path], what: str) -> GenofedError:
    """The site's refusal of a round on data files that are not the ones `hospital check` bound."""
    names = " and ".join(str(p) for p in files)
    return GenofedError(
        f"{names} {what}: nothing was trained or sent. Stop the agent, run `genofed hospital check ... "
        "--data-update REASON`, and start it again."
    )


@dataclass(frozen=True)
class _PreparedSite:
    """A site's data as a process keeps it between messages: every patient's panel-aligned int8
    dosages and encoded covariates, the split and the training rows' fingerprint."""

    dosages: np.ndarray  # (patients, variants) int8, MISSING for no call
    covariates: np.ndarray  # (patients, covariates) float32, encoded as `encode` does
    labels: np.ndarray  # (patients,) float32
    train: np.ndarray  # indices of the training patients
    val: np.ndarray  # indices of the validation patients
    spec: FeatureSpec
    synthetic: SyntheticCohort | None
    public_train: int
    public_validation: int
    fingerprint: str = ""

    @property
    def nbytes(self) -> int:
        """Bytes this entry holds (synthetic records included)."""
        own = self.dosages.nbytes + self.covariates.nbytes + self.labels.nbytes
        extra = 0 if self.synthetic is None else self.synthetic.features.nbytes + self.synthetic.labels.nbytes
        return own + extra + self.train.nbytes + self.val.nbytes

    def features(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), variants + covariates) float32: the same values `encode` gives."""
        v = self.dosages.shape[1]
        out = np.empty((len(rows), v + self.covariates.shape[1]), dtype=np.float32)
        out[:, :v] = encode_dosage_rows(self.spec, self.dosages[rows])
        out[:, v:] = self.covariates[rows]
        return out

    def tensors(self) -> SiteTensors:
        """The site's `SiteTensors`, freshly encoded (callers may hold them as long as they like)."""
        return SiteTensors(
            self.features(self.train),
            self.labels[self.train],
            self.features(self.val),
            self.labels[self.val],
            self.spec.n_variants,
            self.fingerprint,
            self.synthetic,
            self.dosages[self.train],
            self.spec,
            self.public_train,
            self.public_validation,
        )


class _SiteCache:
    """Prepared sites, least recently used dropped first once they hold more than `budget` bytes
    (the newest is always kept: a deployed hospital has one site, however large)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[tuple, _PreparedSite] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> _PreparedSite | None:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
            return self._entries.get(key)

    def put(self, key: tuple, prepared: _PreparedSite) -> None:
        with self._lock:
            self._entries[key] = prepared
            self._entries.move_to_end(key)
            while len(self._entries) > 1 and sum(e.nbytes for e in self._entries.values()) > self.budget:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _cache_budget() -> int:
    """An eighth of the machine's memory per process: the simulation's driver and its Ray workers
    (one per core) each keep their own cache, and together stay within about half the memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8
    except (ValueError, OSError):  # not POSIX: a budget that holds a few large hospitals
        return 2 << 30


_PREPARED = _SiteCache(_cache_budget())


@functools.lru_cache(maxsize=4)
def _panel(path: Path, _stamp: int) -> VariantPanel:
    """The panel, read once per process (every hospital of a simulation shares it)."""
    return VariantPanel.load(path)


def _prepare(
    genotypes: Path,
    phenotypes: Path,
    panel_path: Path,
    split_seed: int,
    synthetic_dir: Path | None,
    ratio: float,
    declared_size: int | None,
    label_column: str,
    stamp: tuple,
    simulated: bool = False,
    declared_in: Path | None = None,
) -> _PreparedSite:
    panel = _panel(panel_path, stamp[2])
    cohort = load_site(genotypes, phenotypes, panel=panel, label_column=label_column).cohort
    spec = FeatureSpec(alt_freq=panel.alt_freq)
    # the covariate columns alone: `encode` with a panel of no variants
    covariates = encode(replace(spec, alt_freq=()), replace(cohort, dosages=cohort.dosages[:, :0]))
    train, val = validation_split(cohort.sample_ids, split_seed)
    public_train, public_validation = declared_split(
        declared_size or declared_cohort_size(len(cohort.labels))
    )
    synthetic = None
    if synthetic_dir is not None:
        # ratio x the PUBLIC training size, resampled from the accepted records when fewer passed:
        # how many passed validation is an uncharged function of the patients (synthetic_use)
        full = load_synthetic(synthetic_dir, panel, simulated=simulated, declared_in=declared_in)
        synthetic = fit_to_count(full, synthetic_count(ratio, public_train), split_seed)
    prepared = _PreparedSite(
        cohort.dosages,
        covariates,
        cohort.labels.astype(np.float32),
        train,
        val,
        spec,
        synthetic,
        public_train,
        public_validation,
    )
    rows_x, rows_y = prepared.tensors().training_rows()
    return replace(prepared, fingerprint=hashlib.sha256(rows_x.tobytes() + rows_y.tobytes()).hexdigest())


def validation_split(sample_ids: list[str], split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices of a site's patients: each patient's side is decided by a
    keyed hash of its own id (`keyed_split`), so no patient moves when another joins."""
    return keyed_split(sample_ids, VALIDATION_FRACTION, split_seed)


#: The length of the random secret a site keeps in its state dir (`SECRET_FILE`).
SECRET_BYTES = 32


def site_secret(site: SiteConfig, simulation_seed: int) -> bytes:
    """The site's private randomness seed, never sent anywhere.

    DP noise must be unpredictable to the coordinator: anyone who knows the noise can subtract
    it, and anyone who can draw it again can replay the whole release for each guess of a
    patient's data and keep the guess that reproduces it. A site keeps a random 256-bit secret in
    its state dir (created once, owner-only), whatever seed the coordinator sends: a deployed site,
    and a virtual hospital of `genofed simulate --data` on real exports (its state dir is in the
    run's ledger folder, so `--resume` reuses the secret and a new or `--force`d run draws a new
    one). Only a virtual hospital of a federation genofed simulated (`site.secret_from_seed`: its
    folder holds truth.json) derives it from the run's seed, so that experiments (and `--resume`)
    are reproducible: a seeded secret is public, and only simulated patients may have one.
    """
    if site.secret_from_seed:
        return simulated_secret(simulation_seed, site.name)
    path = site.state_dir / SECRET_FILE
    site.state_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # written whole under another name, then linked in place: a process that finds the file
        # never reads it half-written (an empty secret would be a public one), and of two processes
        # creating it at once the first link wins and both read the same secret
        staged = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner-only
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(staged, path)
        finally:
            staged.unlink()
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise GenofedError(
            f"{path} holds {len(secret)} bytes, not a site secret's {SECRET_BYTES}: it was not written by "
            "genofed, or cut short; nothing was computed. Move it away only if this site has released "
            "nothing with it (a new secret draws new noise for rounds already charged)"
        )
    return secret


def simulated_secret(simulation_seed: int, name: str) -> bytes:
    """A simulated hospital's secret: derived from the run's seed and its name, so that a simulation
    (and its `--resume`) is reproducible. Public (the seed is in results.json), so it protects
    nothing: `site_secret` uses it only for the virtual hospitals of a federation genofed simulated
    (`SiteConfig.secret_from_seed`); real patients' sites, deployed or under `genofed simulate
    --data`, get a random secret (`site_secret`)."""
    return hashlib.sha256(f"genofed-simulation:{simulation_seed}:{name}".encode()).digest()


def split_seed(site: SiteConfig, simulation_seed: int) -> int:
    """Which patients validate: fixed by the site's secret, so a coordinator cannot move
    patients between training and validation by changing the run's seed."""
    return derived_seed(site_secret(site, simulation_seed), "split")


def stored_split_seed(state_dir: Path) -> int:
    """The split seed of the deployed hospital agent whose state folder is `state_dir`: the same
    patients validate as in its federated training. Read, never created: a missing secret means the
    folder is not the agent's (a new secret would give another split), and so does one that is not
    the 32 bytes `site_secret` writes (empty, or some other file). Raises ConfigError."""
    path = Path(state_dir) / "secret.key"
    if not path.is_file():
        raise ConfigError(
            f"--state-dir {state_dir} holds no secret.key: give the hospital agent's own state folder "
            "(its node config 'state-dir'), the one it trained with"
        )
    secret = path.read_bytes()
    written = 32  # what `site_secret` writes: anything else was not written by the agent
    if len(secret) != written:
        found = "is empty" if not secret else f"holds {len(secret)} bytes"
        raise ConfigError(
            f"--state-dir {state_dir}: its secret.key {found}, but the hospital agent writes a "
            f"{written}-byte secret there (`site_secret`), so this is not the agent's secret (or it was "
            "damaged) and would give another split: give the agent's own state folder (its node config "
            "'state-dir'), or leave --state-dir out to split by --split-seed"
        )
    return derived_seed(secret, "split")


def derived_seed(secret: bytes, *parts: object) -> int:
    """A 63-bit seed from the site secret and a context (plan, round, purpose)."""
    return derived_key(secret, *parts) >> (256 - 63)


def derived_key(secret: bytes, *parts: object) -> int:
    """A 256-bit key from the site secret and a context: the seed of a release's noise, whose
    every bit counts (`common.privacy.secret_noise`); its first 63 bits are `derived_seed`'s."""
    return int.from_bytes(hashlib.sha256(secret + "|".join(map(str, parts)).encode()).digest(), "big")
