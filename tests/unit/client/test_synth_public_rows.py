"""`genofed synth` under DP: the VAE's and GAN's DP-SGD samples at the rate of a public count, and
a batch holds as many records as that count's cohort by default.

The RDP accountant's add/remove-one guarantee assumes that the Poisson rate, the number of steps and
the divisor of the noisy gradient sum do not change when one patient joins or leaves. The
generator's training patients are a keyed split of the cohort, so their exact count moves with one
patient; the federated training reads these from the site's declared (public) size
(`client.trainer`), and now the generator does too: the declared size's training share
(`pipeline.public_generator_rows`), from the site's hospital.json, `--declared-size`, or the
patients rounded to 10 (what a site that declares none makes public).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers.site_files import synth_args, write_small_site
from opacus import PrivacyEngine
from torch.utils.data import TensorDataset

from genofed.cli.main import main
from genofed.client.local_ledger import LocalLedger
from genofed.client.synth import SynthOptions, synthesize
from genofed.client.synth_public import public_counts
from genofed.client.synthetic_use import MIN_RECORDS
from genofed.common.privacy.accountant import sample_rate
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.privacy.opacus_noise import private_dp_sgd
from genofed.common.synthetic.pipeline import public_generator_rows

DECLARED = 400  # far above the 60 patients: its rate differs from the actual count's
ROWS = public_generator_rows(DECLARED)


def _charged_steps(state: Path) -> list[tuple[float, float, int]]:
    return [c.step for c in PrivacyLedger(state / LEDGER_FILE).charges]


@pytest.mark.parametrize("generator", ["vae", "gan"])
def test_two_neighbouring_cohorts_train_at_the_same_rate_steps_and_noise(tmp_path, generator):
    """60 and 61 patients, one declared size: the same charge, step for step; the rate and the
    steps are the declared size's (on the actual count 48 training patients give rate 1/2)."""
    charged = []
    for patients in (60, 61):
        files = write_small_site(tmp_path / f"cohort{patients}", patients=patients)
        state = tmp_path / f"state{patients}"
        options = SynthOptions(
            epsilon=3.0,
            state_dir=str(state),
            budget=8.0,
            epochs=1,
            generator=generator,
            declared_size=DECLARED,
        )
        summary = synthesize(*files, tmp_path / f"syn{patients}", options)
        assert summary["dp_sampling"] == {"rows": ROWS, "declared_size": DECLARED, "from": "--declared-size"}
        assert summary["records_generated"] == DECLARED  # the default number of records: public too
        charged.append(_charged_steps(state))
    assert charged[0] == charged[1]
    batch = options.settings().batch_size
    _, rate, steps = charged[0][1]  # [0]: the case-count release, [1]: the DP-SGD epochs
    assert rate == sample_rate(ROWS, batch) != sample_rate(48, batch)
    assert steps == math.ceil(ROWS / batch)  # one epoch


def test_a_declared_size_under_20_still_gives_a_batch_a_site_trains_on(tmp_path):
    """A hospital's own batch (`genofed synth`) follows the declared size by default, but never
    holds fewer than the 20 records a site refuses to train on (`synthetic_use.MIN_RECORDS`), as
    `--n` below 20 is refused."""
    files = write_small_site(tmp_path / "cohort", patients=60)
    out, state = tmp_path / "syn", tmp_path / "state"
    argv = synth_args(
        files, out, "--epsilon", "3", "--budget", "8", "--state-dir", str(state), "--declared-size", "10"
    )
    assert main(argv) in (0, 1)  # 1: written, but it failed validation (an epoch on 60 patients)
    validation = json.loads((out / "validation.json").read_text())
    assert validation["dp_sampling"]["declared_size"] == 10
    assert validation["records_generated"] == MIN_RECORDS == 20


def test_the_gradient_divisor_is_the_public_counts_expected_batch():
    """Opacus divides the noisy sum by the expected batch size: the public count's, not the
    10 actual rows' (whose default would be 10)."""
    module = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    _, private_optimizer, private_loader = private_dp_sgd(
        PrivacyEngine(accountant="rdp"),
        module,
        optimizer,
        TensorDataset(torch.zeros(10, 3), torch.zeros(10, 1)),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        noise_key=7,
        rows=320,
        batch_size=32,
    )
    assert private_optimizer.expected_batch_size == 32
    assert len(private_loader) == 10  # steps per epoch: 1 / (32 / 320)


def test_without_a_declared_size_the_patients_rounded_to_10_set_the_rate(tmp_path):
    files = write_small_site(tmp_path / "cohort", patients=43)
    options = SynthOptions(epsilon=3.0, state_dir=str(tmp_path / "s"), budget=8.0, epochs=1)
    summary = synthesize(*files, tmp_path / "syn", options)
    assert summary["dp_sampling"] == {
        "rows": public_generator_rows(40),
        "declared_size": 40,
        "from": "the patients rounded to 10 (no declared size)",
    }
    written = json.loads((tmp_path / "syn" / "validation.json").read_text())
    assert written["dp_sampling"]["rows"] == 32 and written["records_generated"] == 40  # not 43


def _site(tmp_path: Path, declared_size: int) -> Path:
    site = tmp_path / "site_rostov"
    site.mkdir()
    data = {"epsilon_budget": 8.0, "delta": 1e-5, "declared_size": declared_size}
    (site / "hospital.json").write_text(json.dumps({"name": "rostov", "data": data}))
    return site


def test_at_a_site_its_declared_size_sets_the_rate(tmp_path):
    site = _site(tmp_path, declared_size=150)
    files = write_small_site(tmp_path / "rostov", patients=40)
    out = tmp_path / "syn"
    # 1: the batch failed validation (40 patients); validation.json is written either way
    assert main(synth_args(files, out, "--epsilon", "2", "--state-dir", str(site / "state"))) in (0, 1)
    sampling = json.loads((out / "validation.json").read_text())["dp_sampling"]
    assert sampling == {"rows": 120, "declared_size": 150, "from": "the size site rostov declared public"}


def test_another_declared_size_than_the_sites_is_refused_before_anything_is_read(tmp_path, capsys):
    site = _site(tmp_path, declared_size=150)
    files = write_small_site(tmp_path / "rostov", patients=40)
    out = tmp_path / "syn"
    state = str(site / "state")
    argv = synth_args(files, out, "--epsilon", "2", "--state-dir", state, "--declared-size", "90")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --declared-size 90 differs from the cohort size site rostov declared")
    assert "public (150, in " in err
    assert len(err.strip().splitlines()) == 1 and "Nothing was read or charged." in err
    assert not out.exists() and not (site / "state" / LEDGER_FILE).exists()


def test_declared_size_without_dp_is_refused(tmp_path, capsys):
    files = write_small_site(tmp_path / "rostov", patients=40)
    assert main(synth_args(files, tmp_path / "syn", "--declared-size", "40")) == 2
    err = capsys.readouterr().err
    assert "--declared-size applies under DP only" in err and "Traceback" not in err


def test_the_reference_generator_takes_the_declared_size_for_its_records_only(tmp_path):
    """Its one release samples no patients (no rows), but its default batch is the declared size:
    `simulate --synthetic-ratio --synthetic-generator reference` passes one under DP."""
    options = SynthOptions(
        generator="reference", reference="panel.vcf.gz", epsilon=1.0, budget=3.0, declared_size=150
    )
    counts = public_counts(options, LocalLedger(tmp_path / "s", 3.0, None), patients=43)
    assert counts == {"declared_size": 150, "from": "--declared-size"}
