"""Deployment audit, finding 7: `hospital init` kept the permissions of a site folder that already
existed (0755 left hospital.json, with the exact patient and case counts, readable by every local
user). The site folder is now 0700 and hospital.json 0600, whatever the umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from genofed.client.agent.check import check_site
from genofed.client.agent.keys import SITE_FILE, init_site
from genofed.common.data.layout import hospital_folders
from genofed.common.util.atomic import write_text_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # `sudo -u genofed` runs init and check with it (not the unit's UMask=0077)
    try:
        yield
    finally:
        os.umask(old)


def test_init_makes_a_pre_created_0755_folder_the_owners_only(tmp_path, umask_022):
    site = tmp_path / "site"
    site.mkdir(mode=0o755)
    site.chmod(0o755)
    init_site(site, "permtest")
    assert mode(site) == 0o700
    assert mode(site / SITE_FILE) == 0o600


def test_init_makes_a_new_folder_0700_and_hospital_json_0600(tmp_path, umask_022):
    site = tmp_path / "new" / "site"
    init_site(site, "permtest")
    assert mode(site) == 0o700
    assert mode(site / SITE_FILE) == 0o600


def test_check_rewrites_hospital_json_0600(tmp_path, simulated_cohorts, umask_022):
    cohorts = simulated_cohorts(11)
    site = tmp_path / "site"
    init_site(site, "rostov")
    (site / SITE_FILE).chmod(0o644)  # a folder from before this fix
    data = hospital_folders(cohorts)[0]
    check_site(
        site,
        data.genotypes,
        data.phenotypes,
        cohorts / "panel.tsv",
        ledger_index=tmp_path / "home" / "ledgers.json",
    )
    assert "samples" in json.loads((site / SITE_FILE).read_text())["data"]["summary"]
    assert mode(site / SITE_FILE) == 0o600


def test_write_text_atomic_takes_a_mode(tmp_path, umask_022):
    write_text_atomic(tmp_path / "private.json", "{}", mode=0o600)
    write_text_atomic(tmp_path / "usual.json", "{}")
    assert mode(tmp_path / "private.json") == 0o600
    assert mode(tmp_path / "usual.json") == 0o644
