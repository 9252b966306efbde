"""What a simulation's process keeps of each hospital between messages (client/site.py) and the
case counts `simulate` reads (simulations/local/simulate.py): a Ray worker serves every hospital
in turn, so each must be prepared once per process, not once per message (bench/scale.py)."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest
from helpers import load_bench_script
from helpers.bench import BENCH

from genofed.client import site as site_module
from genofed.client.site import load_site_tensors, resolve_site, validation_split
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import _case_counts, usable_cpus

sys.path.insert(0, str(BENCH))  # bench/scale.py imports bench/measure.py
scale = load_bench_script("scale")

HOSPITALS = 20  # more than the old per-process cache of 16 sites held


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return scale.write_federation(tmp_path_factory.mktemp("fed") / "f", HOSPITALS, 200, 30, distinct=3)


def _site(federation, i, tmp_path):
    return resolve_site({"partition-id": i}, {"data-dir": str(federation), "ledger-dir": str(tmp_path)})


def test_tensors_are_what_encoding_the_whole_cohort_gives(federation, tmp_path):
    site = _site(federation, 0, tmp_path)
    data = load_site_tensors(site, 7)
    panel = VariantPanel.load(federation / "panel.tsv")
    cohort = load_site(site.genotypes, site.phenotypes, panel=panel).cohort
    features = encode(FeatureSpec(alt_freq=panel.alt_freq), cohort)
    train, val = validation_split(cohort.sample_ids, 7)
    labels = cohort.labels.astype(np.float32)
    assert np.array_equal(data.train_x, features[train]) and np.array_equal(data.val_x, features[val])
    assert np.array_equal(data.train_y, labels[train]) and np.array_equal(data.val_y, labels[val])
    assert np.array_equal(data.train_dosages, cohort.dosages[train])
    assert data.fingerprint == hashlib.sha256(features[train].tobytes() + labels[train].tobytes()).hexdigest()


def test_every_hospital_is_prepared_once_per_process(federation, tmp_path, monkeypatch):
    calls = []
    prepare = site_module._prepare
    monkeypatch.setattr(site_module, "_prepare", lambda *key: calls.append(key) or prepare(*key))
    monkeypatch.setattr(site_module, "_PREPARED", site_module._SiteCache(1 << 30))
    sites = [_site(federation, i, tmp_path) for i in range(HOSPITALS)]
    for _ in range(3):  # three rounds, every hospital in turn, as a Ray worker sees them
        for site in sites:
            load_site_tensors(site, 1)
    assert len(calls) == HOSPITALS


def test_a_caller_changing_its_arrays_does_not_change_the_next_message(federation, tmp_path):
    site = _site(federation, 1, tmp_path)
    first = load_site_tensors(site, 3)
    kept = first.train_x.copy()
    first.train_x[:] = 99.0
    assert np.array_equal(load_site_tensors(site, 3).train_x, kept)


def test_the_cache_drops_the_oldest_beyond_its_budget_and_keeps_the_newest(federation, tmp_path):
    entry = site_module._prepare(*_key(_site(federation, 0, tmp_path)))
    cache = site_module._SiteCache(budget=2 * entry.nbytes)
    for k in range(4):
        cache.put(("site", k), entry)
    assert len(cache) == 2 and cache.get(("site", 0)) is None and cache.get(("site", 3)) is entry
    tiny = site_module._SiteCache(budget=1)
    tiny.put(("one",), entry)
    assert tiny.get(("one",)) is entry  # a deployed hospital's single site, however large


def _key(site):
    stamp = tuple(p.stat().st_mtime_ns for p in (site.genotypes, site.phenotypes, site.panel))
    return (site.genotypes, site.phenotypes, site.panel, 1, None, 0.0, None, "label", stamp)


def test_case_counts_come_from_the_phenotype_files(federation, tmp_path):
    settings = RunSettings(data_dir=str(federation), ledger_dir=str(tmp_path))
    names = {"hospital000", "hospital004"}
    counts = _case_counts(settings, names)
    assert set(counts) == names
    for i, name in ((0, "hospital000"), (4, "hospital004")):
        assert counts[name] == load_site_tensors(_site(federation, i, tmp_path), 1).cases > 0


def test_ray_is_given_the_cores_this_process_may_use():
    assert 1 <= usable_cpus() <= (len(__import__("os").sched_getaffinity(0)))
