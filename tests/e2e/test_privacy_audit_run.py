"""The empirical privacy audit (bench/privacy_audit.py) run end to end, `--quick`, through the real
ClientApp: under DP its bound stays below what the ledger charged, without DP it is large (the
audit has power). Its statistics and crafted models are in tests/unit/bench/test_privacy_audit.py.
"""

from __future__ import annotations

import json

from helpers import load_bench_script

audit = load_bench_script("privacy_audit")


def test_quick_audit_end_to_end(tmp_path):
    """The smoke run through the real ClientApp: under DP the bound stays below the ledger's
    epsilon and the site adds the noise it charges for; without DP the audit sees the canaries."""
    out = tmp_path / "audit.json"
    assert audit.main(["--quick", "--out", str(out), "--workdir", str(tmp_path / "work")]) == 0
    rows = {row["epsilon_budget"]: row for row in json.loads(out.read_text())["rows"]}
    private, control = rows[8.0], rows["inf"]
    assert 0 < private["epsilon_ledger"] <= 8.0 * (1 + 1e-6)
    assert private["epsilon_lower_bound"] <= private["epsilon_ledger"]
    assert private["ledger_charges"] == 4 + 1  # every training round and the evaluation
    assert 0.8 < private["train_noise_ratio"] < 1.2
    assert control["epsilon_lower_bound"] > 1.5  # m = 200 allows at most ~2.1
    assert not private["violation"] and not control["violation"]
