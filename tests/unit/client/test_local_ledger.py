"""A hospital's hand-run DP release (`genofed synth --epsilon`) is charged to the ledger its data
are bound to, capped by the budget the site declared: a new state folder is no fresh budget."""

from __future__ import annotations

import json

import pytest

from genofed.client.agent.ledger_binding import BINDING_FILE, DataHashes, LedgerRefused, bind_ledger
from genofed.client.local_ledger import NoCap, check_and_bind, local_ledger
from genofed.common.privacy.accountant import BudgetExhausted
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.util.hashing import file_sha256

RELEASE = {"epsilon": 2.0, "delta": 1e-5, "purpose": "the generator", "command": "synth"}


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A site folder (hospital.json declaring budget 8, its state folder) and its two data files;
    the machine-wide ledger index in a folder of the test's own."""
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))
    genotypes, phenotypes = tmp_path / "genotypes.vcf", tmp_path / "phenotypes.csv"
    genotypes.write_text("##fileformat=VCFv4.2\n")
    phenotypes.write_text("sample_id,label\nA,1\n")
    site = tmp_path / "site_rostov"
    site.mkdir()
    (site / "hospital.json").write_text(json.dumps({"name": "rostov", "data": {"epsilon_budget": 8.0}}))
    return site, genotypes, phenotypes


def _spend(state, epsilon_after: float) -> None:
    """A ledger that has spent about `epsilon_after` (one heavy release)."""
    state.mkdir(parents=True, exist_ok=True)
    PrivacyLedger(state / LEDGER_FILE).charge(Charge("run-1", 1, 0.6, 1.0, 30, epsilon_after))


def test_files_whose_ledger_is_in_the_sites_state_folder_are_refused_a_fresh_folder(files, tmp_path):
    site, genotypes, phenotypes = files
    bind_ledger(
        site / "state",
        DataHashes(file_sha256(genotypes), file_sha256(phenotypes)),
        site="rostov",
        command="check",
    )
    fresh = tmp_path / "s_ros"
    with pytest.raises(LedgerRefused, match=r"already has a privacy ledger in .*site_rostov/state"):
        check_and_bind(local_ledger(fresh, 8.0), genotypes, phenotypes, **RELEASE)
    check_and_bind(local_ledger(site / "state", None), genotypes, phenotypes, **RELEASE)  # its own: fine


def test_a_sites_declared_budget_caps_the_release_and_a_refusal_writes_nothing(files):
    site, genotypes, phenotypes = files
    ledger = local_ledger(site / "state", None)
    assert ledger.budget == 8.0 and ledger.site_file == site / "hospital.json"
    assert (
        local_ledger(site / "state", 5.0).budget == 5.0 and local_ledger(site / "state", 20.0).budget == 8.0
    )
    _spend(site / "state", 7.0)
    before = sorted(p.name for p in (site / "state").iterdir())
    with pytest.raises(BudgetExhausted, match="hospital.json declares"):
        check_and_bind(ledger, genotypes, phenotypes, **RELEASE)
    assert sorted(p.name for p in (site / "state").iterdir()) == before  # no binding, no lock file


def test_a_folder_that_is_no_sites_state_needs_a_cap_of_its_own_and_is_bound_to_its_files(files, tmp_path):
    _, genotypes, phenotypes = files
    own = tmp_path / "synth-state"
    assert local_ledger(own, None, spends=False).budget is None and local_ledger(own, 3.0).budget == 3.0
    with pytest.raises(NoCap, match="--budget EPSILON"):  # a DP release there needs a cap of its own
        local_ledger(own, None)
    with pytest.raises(BudgetExhausted):
        check_and_bind(local_ledger(own, 1.0), genotypes, phenotypes, **RELEASE)
    assert not own.exists()  # refused before anything was made
    check_and_bind(local_ledger(own, 3.0), genotypes, phenotypes, **RELEASE)
    assert json.loads((own / BINDING_FILE).read_text())["data"]["genotypes"] == file_sha256(genotypes)
