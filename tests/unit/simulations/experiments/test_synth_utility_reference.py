"""The synthetic-utility experiment's reference generator plumbing: the cohorts' public panel
(read once, a clear error for cohorts made before it existed), the config's generator names,
the budget-share refusal that skips an arm family, and the labels of a resampled batch (no
uncharged exact case share under DP). The experiment end to end, with the reference generator,
is tests/e2e/experiments/test_synth_utility.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from genofed.common.data.writers import write_vcf
from genofed.common.errors import ConfigError, DataError
from genofed.common.synthetic.generators import generator_settings
from genofed.common.synthetic.site_release import case_count_noise
from genofed.simulations.experiments.synthetic_utility import site_generator
from genofed.simulations.experiments.synthetic_utility.config import SynthUtilityConfig
from genofed.simulations.experiments.synthetic_utility.public_panel import load_public_panel
from genofed.simulations.experiments.synthetic_utility.site_generator import (
    GeneratorOverBudget,
    generator_epochs,
)

VARIANTS = [f"1:{100 * (j + 1)}:A:G" for j in range(8)]


def test_cohorts_without_a_reference_panel_are_refused_with_what_to_do(tmp_path):
    (tmp_path / "rostov").mkdir()  # cohorts simulated before reference/ existed
    with pytest.raises(DataError) as caught:
        load_public_panel(tmp_path, VARIANTS)
    message = str(caught.value)
    assert "reference" in message and "genotypes.vcf.gz" in message
    assert "regenerate" in caught.value.hint and "--generators" in caught.value.hint


def test_the_panel_is_read_on_the_federation_columns_with_its_populations(tmp_path):
    folder = tmp_path / "reference"
    folder.mkdir()
    haps = np.random.default_rng(0).integers(0, 2, (12, len(VARIANTS), 2)).astype(np.int8)
    write_vcf(folder / "genotypes.vcf.gz", haps, [f"REF{i}" for i in range(12)], VARIANTS)
    (folder / "samples.tsv").write_text(
        "sample_id\tpopulation\n"
        + "".join(f"REF{i}\t{'russian' if i < 6 else 'kalmyk'}\n" for i in range(12))
    )
    site_order = VARIANTS[::-1]  # the federation panel's order, not the file's
    panel = load_public_panel(tmp_path, site_order)
    assert panel.n_haplotypes == 24 and panel.covered.all()
    assert (panel.haplotypes[0] == haps[0, ::-1, 0]).all()
    assert sorted(set(panel.populations)) == ["kalmyk", "russian"]


def test_config_takes_the_reference_generator_and_refuses_unknown_ones(tmp_path):
    config = SynthUtilityConfig(out_dir=str(tmp_path), generators=("reference",), generator_epochs=3)
    assert generator_epochs("reference", config) is None  # it trains no epochs
    assert generator_epochs("vae", config) == 3
    assert "reference" in SynthUtilityConfig(out_dir=str(tmp_path)).generators
    with pytest.raises(ConfigError, match="unknown generator"):
        SynthUtilityConfig(out_dir=str(tmp_path), generators=("vae", "copula"))


def test_a_generator_that_cannot_fit_its_budget_share_is_skippable():
    site = SimpleNamespace(labels=np.array([0, 1] * 25, dtype=np.int8))
    settings = SimpleNamespace(epsilon=3.0, delta=1e-5)
    vae = generator_settings("vae", seed=1)
    with pytest.raises(GeneratorOverBudget, match="epsilon 0.01"):  # 200 epochs of DP-SGD cannot fit
        site_generator._generator_noise(site, settings, vae, "vae", 1, 0.01, case_count_noise(0.01, 1e-5))
    # a quarter of epsilon 3: the case-count noise grows so that the VAE still fits
    assert (
        site_generator._generator_noise(site, settings, vae, "vae", 1, 0.75, case_count_noise(0.75, 1e-5)) > 0
    )
    noise = site_generator._generator_noise(
        site, settings, generator_settings("reference", seed=1), "reference", 1, 0.75, 4.0
    )
    assert noise > 0


@pytest.mark.parametrize(
    ("kind", "history", "expected"),
    [("vae", [(4.0, 1.0, 1)], 0.25), ("vae", [], 0.5), ("reference", [(3.0, 1.0, 1)], None)],
)
def test_a_resampled_batch_never_reads_the_exact_case_share_under_dp(monkeypatch, kind, history, expected):
    labels = np.array([0, 1] * 10, dtype=np.int8)  # exact share 0.5
    seen = []

    class Generator:
        def sample(self, n, *, case_fraction, seed):
            seen.append(case_fraction)
            return SimpleNamespace(
                genotypes=np.zeros((n, 3), dtype=np.int8), labels=np.zeros(n, dtype=np.int8)
            )

    if kind == "reference":
        monkeypatch.setattr(site_generator, "TrainedReference", Generator)
    monkeypatch.setattr(
        site_generator,
        "filter_and_validate",
        lambda dosages, labels, train, holdout, records, **_: (
            np.zeros(len(records.genotypes), bool),
            "report",
        ),
    )
    first = SimpleNamespace(labels=np.array([1, 0, 0, 0], dtype=np.int8))  # drawn at the released share
    batch = SimpleNamespace(
        train_index=np.arange(16),
        holdout_index=np.arange(16, 20),
        generator=Generator(),
        records=first,
        history=history,
    )
    site = SimpleNamespace(labels=labels, dosages=np.zeros((20, 3), dtype=np.int8))
    resampled = site_generator.resample(batch, site, 6, seed=1)
    assert seen == [expected]
    assert resampled.report == "report" and resampled.history is history
