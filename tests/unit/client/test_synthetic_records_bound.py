"""A passing synthetic batch's records are bound to its validation.json (`records_sha256`, written
by `genofed synth`), whose verdict `hospital check --synthetic` declares: a site does not use record
files put beside it since, e.g. another batch's made without DP, whose records would carry the
patients into a DP training uncounted (a red-team audit bound validation.json alone)."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil

import numpy as np
import pytest
from helpers.site_files import SMALL_SITE_IDS, synth_args, write_small_site
from helpers.synthetic import PERMISSIVE

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.synthetic_use import (
    RECORDS_DIGESTS,
    SUMMARY_FILE,
    SyntheticCohortError,
    declare_verdict,
    load_synthetic,
)
from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.util.hashing import file_sha256


@pytest.fixture
def batches(tmp_path, monkeypatch):
    """Two passing batches of the same 40 patients, made without DP with different seeds."""
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=PERMISSIVE)
    )
    files = write_small_site(tmp_path / "krasnodar")
    first, second = tmp_path / "syn", tmp_path / "syn2"
    assert main(synth_args(files, first, "--n", "120")) == 0  # enough kept past the near-copy filter
    assert main(synth_args(files, second, "--n", "120", "--seed", "9")) == 0
    return first, second


def test_synth_records_the_digest_of_each_record_file(batches):
    first, _ = batches
    recorded = json.loads((first / SUMMARY_FILE).read_text())[RECORDS_DIGESTS]
    assert recorded == {name: file_sha256(first / name) for name in ("genotypes.vcf.gz", "phenotypes.csv")}


def test_records_replaced_beside_a_batchs_validation_are_refused(batches):
    first, second = batches
    panel = VariantPanel(SMALL_SITE_IDS, np.full(len(SMALL_SITE_IDS), 0.3))
    written = json.loads((first / SUMMARY_FILE).read_text())["records_written"]
    assert len(load_synthetic(first, panel)) == written  # as written: used
    shutil.copyfile(second / "genotypes.vcf.gz", first / "genotypes.vcf.gz")
    with pytest.raises(
        SyntheticCohortError, match="not the file this batch's validation.json was written with"
    ):
        load_synthetic(first, panel)
    (first / "genotypes.vcf.gz").unlink()
    with pytest.raises(SyntheticCohortError, match="the records were replaced"):
        load_synthetic(first, panel)


def test_a_batch_whose_digests_are_missing_is_refused(batches):
    """Fails closed: a validation.json without the digests (removed, or a batch written before
    they were recorded) ties no records to its verdict (a reviewer dropped the key and swapped the
    records of a declared DP batch for a batch's made without DP)."""
    first, _ = batches
    panel = VariantPanel(SMALL_SITE_IDS, np.full(len(SMALL_SITE_IDS), 0.3))
    summary = json.loads((first / SUMMARY_FILE).read_text())
    for edited in (
        {k: v for k, v in summary.items() if k != RECORDS_DIGESTS},
        {**summary, RECORDS_DIGESTS: "x"},
    ):
        (first / SUMMARY_FILE).write_text(json.dumps(edited))
        with pytest.raises(SyntheticCohortError, match="records no digests of its record files"):
            load_synthetic(first, panel)


def test_a_verdict_is_declared_only_for_the_validation_json_checked(batches, tmp_path):
    first, second = batches
    checked = hashlib.sha256((first / SUMMARY_FILE).read_bytes()).hexdigest()
    shutil.copyfile(second / SUMMARY_FILE, first / SUMMARY_FILE)  # changed after the check
    ledger = tmp_path / "state" / LEDGER_FILE
    with pytest.raises(
        SyntheticCohortError, match="changed while it was being checked; nothing was declared"
    ):
        declare_verdict(first, ledger, delta=1e-5, by="a test", checked=checked)
    assert not ledger.exists() or not PrivacyLedger(ledger).charges
