"""`genofed simulate --data DIR --label-column disease` on a federation folder as hospitals hand
one over (plain .vcf, .vcf.gz, .bcf, PLINK, a CSV table; phenotype files named their own way; no
test cohort): the run trains, every hospital takes part, and the model is judged by the
hospitals' DP validation releases, which the run says."""

from __future__ import annotations

import json
import shutil

from helpers.mixed_federation import LAYOUT, write_mixed_federation

from genofed.cli.main import main


def test_simulate_reads_a_mixed_format_federation_without_a_test_cohort(tmp_path, capsys):
    data, out = tmp_path / "hospitals", tmp_path / "run"
    written = write_mixed_federation(data, bcf=shutil.which("bcftools") is not None)
    argv = ["simulate", "--data", str(data), "--label-column", "disease", "--out", str(out), "--rounds", "2"]
    assert main(argv) == 0
    said = capsys.readouterr().err
    assert "no test cohort" in said and "DP validation releases only" in said
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["label-column"] == "disease"
    assert set(results["sites"]) == set(written) and set(written) <= set(LAYOUT)
    assert [r["round"] for r in results["rounds"]] == [0, 1, 2]
    assert all(set(r["participants"]) == set(written) for r in results["rounds"][1:])
    assert results["test_auc"] is None and results["pooled_auc"] is None
    assert set(results["site_evaluation"]["sites"]) == set(written)  # the one evaluation there is
    assert (out / "report.md").is_file()
