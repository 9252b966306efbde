"""A passing synthetic batch's records are bound to its validation.json (`records_sha256`, written
by `genofed synth`), whose verdict `hospital check --synthetic` declares: a site does not use record
files put beside it since, e.g. another batch's made without DP, whose records would carry the
patients into a DP training uncounted (a red-team audit bound validation.json alone)."""

from __future__ import annotations

import functools
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
    load_synthetic,
)
from genofed.common.data.panel import VariantPanel
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
