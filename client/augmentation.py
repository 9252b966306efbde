"""On-the-fly genotype augmentation in a hospital's local training.

Which augmentation: the hospital's own node config `augment` if it sets one (the site decides
what its data may be turned into), else the coordinator's `augment` from the train message. The
hospital's own takes the `genofed.common.augment.parse_augment` syntax ("noise=0.01,mutate=0.005"
or a TOML/JSON file, whose `[sites.NAME]` tables override per hospital). The coordinator's is read
as inline key=value pairs only (`parse_augment(..., inline_only=True)`): read as a path, it let a
coordinator learn for free, from the refusal's words, whether any file the agent can read exists
and the first key of a JSON/TOML file, a membership oracle where a hospital keeps per-patient
files. Its refusal is one fixed wording around the coordinator's own string. A virtual hospital of
`genofed simulate` still reads a file there: the run's `--augment` is the operator's own, on the
operator's machine, as the run's `data-dir` is. Variants a clinician marks as known-causal
(node config `known-causal=FILE`, one variant id per line) are never altered unless the spec says
`mutate-causal=yes`.

Why the DP guarantee is unchanged: the trainer replaces each drawn record by one augmented
example of itself (client/trainer.py), so every patient is still at most one clipped gradient
per step and the accountant's figures are those of the run without augmentation. Mixing
transforms (segment mix, mixup) put a second patient into an example, so under DP they are
refused rather than silently breaking the bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genofed.client.site import SiteConfig, SiteTensors
from genofed.client.trainer import Augment
from genofed.common.augment import Augmenter, AugmentSpec, parse_augment, protected_mask
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.util.checks import require


def site_augmentation(
    requested: str, site: SiteConfig, data: SiteTensors, *, private: bool
) -> tuple[AugmentSpec, Augment | None, str]:
    """The spec this site trains with, the trainer's augment callable (None: no augmentation) and
    what of it the round's input digest must cover ("" without augmentation): the spec and the
    variants the site's known-causal list protects. A round rerun with another list changes the
    training inputs, so it must not pass as the same round and reuse its noise (an audit replayed a
    round after the list was edited: the two replies' noise cancelled, charged once).

    `requested`: the coordinator's `augment`, used only when the site's node config sets none."""
    if site.augment:
        spec = parse_augment(site.augment, site=site.name)
    else:
        spec = coordinator_augmentation(requested, site)
    if spec.is_identity:
        return spec, None, ""
    require(
        not (private and spec.mixes_patients),
        f"augmentation '{site.augment or requested}' (read as: {spec.describe()}) mixes two patients into "
        "one training example (mix / mixup), so "
        "one patient could move two clipped gradients per step and the reported epsilon would understate "
        "it; these transforms are disabled under differential privacy. Use noise, mutate and missing, or "
        "train without DP.",
    )
    if data.train_dosages is None or data.feature_spec is None:
        raise GenofedError(
            "internal: this site's data was loaded without its dosages; augmentation needs them"
        )
    # the panel file is read only for a known-causal list (its variant ids); its frequencies are
    # the site's encoding's
    protected, listed = None, None
    if site.known_causal:
        listed = sorted(set(_known_causal(site.known_causal)))
        protected = protected_mask(VariantPanel.load(site.panel).variant_ids, listed)
    augmenter = Augmenter(
        spec,
        dosages=data.train_dosages,
        labels=data.train_y.astype(np.int8),
        alt_freq=np.asarray(data.feature_spec.alt_freq),
        protected=protected,
    )
    identity = json.dumps({"spec": spec.to_dict(), "known-causal": listed}, sort_keys=True)
    return spec, augment_callable(augmenter, data), identity


def coordinator_augmentation(requested: str, site: SiteConfig) -> AugmentSpec:
    """The coordinator's `augment`, inline key=value pairs only at a deployed hospital: nothing on
    the hospital's disk is opened or looked up, and a refusal's words depend on `requested` alone
    (which the coordinator already knows), never on which files exist or what they hold.

    A simulated hospital (`genofed simulate`) reads a file too: there the coordinator is the
    operator, naming a file of its own machine (`--augment FILE`)."""
    if site.simulated:
        return parse_augment(requested or None, site=site.name)
    try:
        return parse_augment(requested or None, inline_only=True)
    except ConfigError as exc:
        # the parser's words name `requested` and what is wrong with it as text, nothing else
        raise ConfigError(
            f"the coordinator's {exc}; this hospital takes an augmentation from the coordinator only "
            "as inline key=value pairs (e.g. noise=0.01,mutate=0.005), never as a file (a file is "
            "named in the hospital's own node config augment)"
        ) from None


def augment_callable(augmenter: Augmenter, data: SiteTensors) -> Augment:
    """Drawn row indices -> features: real patients augmented (their covariates kept), the
    synthetic rows that follow them (the site's synthetic records) as they are."""
    rows_x, _ = data.training_rows()
    n_real, n_variants = len(data.train_y), data.n_variants

    def augment(indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = rows_x[indices].copy()
        real = indices < n_real
        if real.any():
            out[real, :n_variants] = augmenter.augment_features(indices[real], rng)
        return out

    return augment


def _known_causal(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise GenofedError(
            f"{path}: cannot read the known-causal variant list ({exc.strerror}); give one variant id "
            "per line, as in the panel"
        ) from None
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]
