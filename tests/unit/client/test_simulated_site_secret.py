"""A virtual hospital's secret is seeded only when its patients were simulated.

An audit (2026-12-05) found that `genofed simulate --data <hospital exports>` keyed every virtual
hospital's DP noise, Poisson sampling and validation split with `simulated_secret(seed, name)`:
the public --seed (written to results.json) and the folder's name. Anyone who knew every patient
but one could rerun the documented command for each guess of that patient's label and keep the
guess that reproduced model.pt bit for bit. Now only a federation genofed simulated (its folder
holds truth.json) gives its virtual hospitals the seeded, reproducible secret; any other folder's
virtual hospitals keep a random secret in their state dir, as a deployed site does (`--resume`,
the same ledger folder, reuses it; a new run draws a new one).
"""

from __future__ import annotations

import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from flwr.app import Context, MessageType, RecordDict
from helpers.round_message import round_message

from genofed.client.app import make_client_app
from genofed.client.site import (
    load_site_tensors,
    resolve_site,
    simulated_secret,
    site_secret,
    split_seed,
)
from genofed.common.data.layout import TRUTH
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig, build_model

SEED = 42

pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(scope="module")
def simulated(simulated_cohorts, tmp_path_factory) -> Path:
    """A copy of the session's small simulated federation (seed 11), truth.json and all."""
    folder = tmp_path_factory.mktemp("simulated") / "cohorts"
    shutil.copytree(simulated_cohorts(11), folder)
    assert (folder / TRUTH).is_file()
    return folder


@pytest.fixture(scope="module")
def exports(simulated_cohorts, tmp_path_factory) -> Path:
    """The same hospitals as a real federation's exports: the copy has no truth.json."""
    folder = tmp_path_factory.mktemp("exports") / "hospitals"
    shutil.copytree(simulated_cohorts(11), folder)
    (folder / TRUTH).unlink()
    return folder


def _run_config(data: Path, ledgers: Path) -> dict:
    return {"data-dir": str(data), "ledger-dir": str(ledgers), "seed": SEED}


def test_a_simulated_federations_virtual_hospital_has_the_seeded_secret(simulated, tmp_path):
    first = resolve_site({"partition-id": 0}, _run_config(simulated, tmp_path / "a"))
    second = resolve_site({"partition-id": 0}, _run_config(simulated, tmp_path / "b"))
    assert first.simulated and first.secret_from_seed
    assert site_secret(first, SEED) == site_secret(second, SEED) == simulated_secret(SEED, first.name)
    assert not (first.state_dir / "secret.key").exists()  # nothing to keep: the seed gives it again


def test_real_exports_virtual_hospital_keeps_a_random_secret_in_its_state_dir(exports, tmp_path):
    site = resolve_site({"partition-id": 0}, _run_config(exports, tmp_path / "run"))
    assert site.simulated and not site.secret_from_seed
    secret = site_secret(site, SEED)
    key = site.state_dir / "secret.key"
    assert key.read_bytes() == secret and len(secret) == 32
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # --resume (the same ledger folder) reuses it, whatever seed the run says
    again = resolve_site({"partition-id": 0}, _run_config(exports, tmp_path / "run"))
    assert site_secret(again, SEED) == secret and site_secret(again, SEED + 1) == secret
    # a new run (another ledger folder, or the same one after --force deleted it) draws another
    other = resolve_site({"partition-id": 0}, _run_config(exports, tmp_path / "other"))
    assert site_secret(other, SEED) != secret
    # and none of them is the public one an outsider computes from results.json
    assert simulated_secret(SEED, site.name) not in (secret, site_secret(other, SEED))
    assert split_seed(site, SEED) != split_seed(other, SEED)


def test_processes_creating_the_secret_at_once_read_one_whole_secret(exports, tmp_path):
    """A `--data` run's driver and its Ray worker may make a hospital's secret at the same moment;
    one that read the file before the other had written it used an empty, public secret."""
    site = resolve_site({"partition-id": 0}, _run_config(exports, tmp_path / "run"))
    # threads, not forked processes (a fork of the test process with torch's threads can hang):
    # the race is in the file system, the same between threads as between processes
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: site_secret(site, SEED), range(8)))
    assert len(set(made)) == 1 and len(made[0]) == 32
    assert sorted(p.name for p in site.state_dir.iterdir()) == ["secret.key"]  # no staged leftovers


def test_a_secret_file_that_is_not_one_is_refused(exports, tmp_path):
    site = resolve_site({"partition-id": 0}, _run_config(exports, tmp_path / "run"))
    site.state_dir.mkdir(parents=True)
    (site.state_dir / "secret.key").write_bytes(b"")
    with pytest.raises(GenofedError, match="holds 0 bytes, not a site secret's 32"):
        site_secret(site, SEED)


def _train_reply(data: Path, ledgers: Path) -> dict[str, torch.Tensor]:
    """A DP training round of hospital 0 on the real message path (`make_client_app`), as
    `genofed simulate` runs it: the weights its reply sends back."""
    run_config = _run_config(data, ledgers)
    site = resolve_site({"partition-id": 0}, run_config)
    config = ModelConfig(
        n_variants=load_site_tensors(site, split_seed(site, SEED)).n_variants, architecture="logistic"
    )
    message = round_message(MessageType.TRAIN, build_model(config, seed=0).state_dict(), config, 3.0)
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    reply = make_client_app(run_config)(message, context)
    assert not reply.has_error(), reply.error
    return reply.content["arrays"].to_torch_state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_rerun_on_real_exports_does_not_reproduce_the_release(exports, simulated, tmp_path):
    """The audit's replay: the same data, seed and settings in a fresh ledger folder. On real
    exports the reply differs (the noise is not a function of public inputs); on a simulated
    federation it is the same bit for bit (experiments stay reproducible)."""
    real = [_train_reply(exports, tmp_path / f"real-{i}") for i in range(2)]
    assert not _same(*real)
    seeded = [_train_reply(simulated, tmp_path / f"simulated-{i}") for i in range(2)]
    assert _same(*seeded)
