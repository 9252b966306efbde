"""The run report: written whole, readable plots, and the numbers and privacy statements a reader needs."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest

from genofed.server.report import (
    AUC_PLOT,
    PRIVACY_PLOT,
    REPORT_NAME,
    fmt_bytes,
    fmt_duration,
    format_summary,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SITES = ("Rostov_RCH", "Krasnodar_KKB", "Volgograd_VOKB")


def _results(dp: bool = True) -> dict:
    """A results.json as the lead's simulation writes it: 3 sites, 3 rounds (plus round 0)."""
    eps = (
        {"Rostov_RCH": 2.91, "Krasnodar_KKB": 2.87, "Volgograd_VOKB": 2.99}
        if dp
        else {site: 0.0 for site in SITES}
    )
    sizes = {"Rostov_RCH": (400, 40), "Krasnodar_KKB": (900, 95), "Volgograd_VOKB": (150, 12)}
    rounds = [
        {
            "round": r,
            "test_auc": auc,
            "train_loss": loss,
            "test_accuracy": 0.9,
            "seconds": 4.2,
            "participants": list(SITES) if r else [],
            "refused": [],
            "epsilon_max": (0.0 if r == 0 else 1.2 * r - 0.6) if dp else 0.0,
        }
        for r, auc, loss in [(0, 0.512, None), (1, 0.701, 0.66), (2, 0.802, 0.51), (3, 0.871, 0.44)]
    ]
    rounds[3]["participants"] = ["Rostov_RCH", "Krasnodar_KKB"]
    rounds[3]["refused"] = ["Volgograd_VOKB"]
    return {
        "test_auc": 0.871,
        "test_metrics": {
            "auc": 0.871,
            "accuracy": 0.912,
            "sensitivity": 0.683,
            "specificity": 0.934,
            "threshold": 0.5,
            "brier": 0.071,
            "ece": 0.024,
            "n": 600,
            "cases": 60,
        },
        "rounds": rounds,
        "epsilon": eps,
        "delta": 1e-5,
        "epsilon_budget": 3.0 if dp else None,
        "local_only_auc": {"Rostov_RCH": 0.744, "Krasnodar_KKB": 0.803, "Volgograd_VOKB": 0.612},
        "local_only_nonprivate_auc": {"Rostov_RCH": 0.781, "Krasnodar_KKB": 0.829, "Volgograd_VOKB": 0.655},
        "pooled_auc": 0.902,
        "bayes_auc": 0.951,
        "sites": {
            site: {
                "samples": n,
                "cases": c,
                "train": int(n * 0.8),
                "validation": n - int(n * 0.8),
                "federated_local_auc": 0.85 + i / 100,
                "noise_multiplier": 1.13 + i / 10 if dp else None,
                "epsilon": eps[site],
            }
            for i, (site, (n, c)) in enumerate(sizes.items())
        },
        "wall_seconds": 83.4,
        "seconds_per_round": 27.8,
        "bytes_sent_per_client_per_round": 2_621_440,
        "model": {"n_variants": 20000, "n_covariates": 2, "block_size": 500, "parameters": 1_284_097},
        "strategy": "fedavg",
        "config": {
            "rounds": 3,
            "epsilon": 3.0 if dp else None,
            "delta": 1e-5,
            "local-epochs": 1,
            "batch-size": 32,
            "lr": 0.05,
            "clip": 1.0,
            "strategy": "fedavg",
            "seed": 7,
            "data": "sim:southern-fd",
        },
    }


def _with_nones() -> dict:
    """Every optional number missing, as a run with skipped baselines and a one-class split gives."""
    results = _results(dp=True)
    results.update(
        bayes_auc=None,
        pooled_auc=None,
        wall_seconds=None,
        seconds_per_round=None,
        bytes_sent_per_client_per_round=None,
        model={},
        strategy=None,
    )
    results["local_only_auc"]["Volgograd_VOKB"] = None
    results["local_only_nonprivate_auc"] = {}
    results["test_metrics"].update(auc=None, sensitivity=float("nan"), ece=None)
    results["sites"]["Volgograd_VOKB"].update(
        federated_local_auc=None, noise_multiplier=None, train=None, validation=None
    )
    results["rounds"][2]["test_auc"] = None
    results["rounds"][1]["epsilon_max"] = None
    return results


def _assert_complete(run_dir: Path, report: Path) -> str:
    """report.md exists, every linked image exists and is a PNG, and no temp file is left over."""
    assert report == run_dir / REPORT_NAME and report.is_file()
    text = report.read_text(encoding="utf-8")
    for name in (AUC_PLOT, PRIVACY_PLOT):
        if f"]({name})" in text:
            assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC
    leftovers = [p.name for p in run_dir.iterdir() if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == []
    return text


def test_dp_report_has_plots_numbers_sites_and_privacy_statement(tmp_path):
    results = _results(dp=True)
    text = _assert_complete(tmp_path, write_report(tmp_path, results))
    assert (tmp_path / AUC_PLOT).read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / PRIVACY_PLOT).read_bytes()[:8] == PNG_MAGIC
    assert f"]({AUC_PLOT})" in text and f"]({PRIVACY_PLOT})" in text
    for site in SITES:
        assert site in text
    # headline: federated vs pooled vs median local-only vs Bayes, in plain words
    assert "The federated model reached AUC 0.871 on the held-out test cohort of 600 people" in text
    assert "0.031 below training on all hospitals' data pooled in one place without privacy" in text
    assert "0.127 above the median hospital training alone with the same privacy budget (0.744)" in text
    assert "0.951" in text
    # per-hospital numbers, epsilon with 2 decimals, sorted by size
    for number in ("0.612", "0.655", "0.829", "2.91", "2.87", "2.99", "720 / 180", "1.130"):
        assert number in text
    assert text.index("Krasnodar_KKB |") < text.index("Rostov_RCH |") < text.index("Volgograd_VOKB |")
    assert "2 (1 refused)" in text
    # privacy in plain words
    assert (
        "Each hospital's training used differential privacy (DP-SGD, Opacus): every patient's "
        "influence on each update was clipped"
    ) in text
    assert "within epsilon = 3 at delta = 1e-05 for each hospital" in text
    assert "Smaller epsilon means stronger protection" in text
    assert "e^epsilon" in text and "No genotypes" in text and "no sample ids" in text
    assert "NOT private" not in text
    # test metrics with meaning, run facts, config at the end
    for fragment in (
        "68.3%",
        "93.4%",
        "0.071",
        "0.024",
        "Brier",
        "fedavg",
        "1 min 23 s",
        "27.8 s",
        "2.50 MiB",
        "1,284,097 parameters",
        "sim:southern-fd",
    ):
        assert fragment in text
    assert text.rindex("## Appendix: full configuration") > text.index("## Run facts")
    # without test predictions the clinician's sections say what they could not measure; the rest is complete
    assert "not measured" not in text.split("## Learning curve")[1]


def test_no_dp_report_says_not_private(tmp_path):
    results = _results(dp=False)
    text = _assert_complete(tmp_path, write_report(tmp_path, results))
    assert "This run was NOT private" in text
    assert "no differential privacy was applied" in text
    assert "Each hospital's training used differential privacy" not in text
    assert not (tmp_path / PRIVACY_PLOT).exists()  # epsilon stays 0 without DP: nothing to plot
    assert "Epsilon spent" not in text and "Noise multiplier" not in text
    summary = format_summary(results, tmp_path / REPORT_NAME)
    assert "NOT differentially private" in summary


def test_missing_values_say_not_measured(tmp_path):
    text = _assert_complete(tmp_path, write_report(tmp_path, _with_nones()))
    assert "not measured" in text
    assert re.search(r"\b(nan|None|inf)\b", text, flags=re.IGNORECASE) is None
    assert "The pooled (all data in one place) baseline was not measured." in text
    assert "Bayes" not in text.split("##")[1]  # no ceiling in the headline when bayes_auc is null
    assert (tmp_path / AUC_PLOT).read_bytes()[:8] == PNG_MAGIC  # the gap round is skipped, not fatal


def test_empty_results_still_give_a_report(tmp_path):
    text = _assert_complete(tmp_path, write_report(tmp_path, {}))
    assert "not measured" in text and "NOT private" in text
    assert not (tmp_path / AUC_PLOT).exists()


def test_rewrite_replaces_the_report_whole(tmp_path):
    write_report(tmp_path, _results(dp=False))
    text = _assert_complete(tmp_path, write_report(tmp_path, _results(dp=True)))
    assert "NOT private" not in text


def test_failed_plot_leaves_no_report_and_no_temp_file(tmp_path, monkeypatch):
    """A crash while plotting must not leave a half-written image or a report that links to it."""
    from matplotlib.figure import Figure

    def explode(*args, **kwargs):
        Path(args[0]).write_bytes(b"half")  # simulate a partial write before the crash
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: explode(*a, **k))
    with pytest.raises(OSError):
        write_report(tmp_path, _results())
    assert list(tmp_path.iterdir()) == []


def test_input_is_not_modified(tmp_path):
    results = _results()
    before = copy.deepcopy(results)
    write_report(tmp_path, results)
    assert results == before


def test_summary_lines():
    summary = format_summary(_results(dp=True), "runs/r1/report.md")
    lines = summary.splitlines()
    assert lines[0] == (
        "Test AUC: federated 0.871 | pooled, no privacy 0.902 | median local-only 0.744 | Bayes ceiling 0.951"
    )
    assert "max spent 2.99" in lines[1] and "Volgograd_VOKB 2.99" in lines[1] and "delta 1e-05" in lines[1]
    assert lines[2] == "Wall time 1 min 23 s (27.8 s per round)"
    assert lines[3] == "Report: runs/r1/report.md (one self-contained page: runs/r1/report.html)"
    assert "Bayes" not in format_summary(_with_nones())
    assert "not measured" in format_summary({})


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, "not measured"),
        (math.nan, "not measured"),
        (5, "5.0 s"),
        (125, "2 min 05 s"),
        (7500, "2 h 05 min"),
    ],
)
def test_durations(seconds, expected):
    assert fmt_duration(seconds) == expected


def test_bytes():
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(2_621_440) == "2.50 MiB (2,621,440 bytes)"
    assert fmt_bytes(None) == "not measured"


def test_report_names_the_pretrained_start_and_what_hospitals_trained():
    from genofed.server.report import render_markdown

    results = _results()
    results.update(
        pretrained={
            "content_hash": "ab" * 32,
            "task": {"kind": "binary", "label": "label"},
            "source": "/data/sources/near",
            "source_samples": 20000,
        },
        finetune="frozen",
        trainable_parameters=17,
    )
    text = render_markdown(results, {})
    assert (
        "pretrained on /data/sources/near (binary task 'label', 20,000 people; content hash abababababababab)"
        in text
    )
    assert "fine-tuned 'frozen'; hospitals trained 17 parameters" in text
    assert "| a fresh network with random weights, seed 7 |" in render_markdown(_results(), {})


def test_hospitals_table_shows_each_hospitals_adaptation_when_measured(tmp_path):
    results = _results(dp=True)
    plain = _assert_complete(tmp_path, write_report(tmp_path, results))
    assert "adapted at the hospital" not in plain
    results["adapted_auc"] = {"Rostov_RCH": 0.893, "Krasnodar_KKB": 0.887, "Volgograd_VOKB": 0.861}
    text = _assert_complete(tmp_path, write_report(tmp_path, results))
    assert "Federated model adapted at the hospital (test AUC)" in text and "`genofed adapt`" in text
    rows = [line for line in text.splitlines() if line.startswith("| Volgograd_VOKB |")]
    assert any("0.861" in row and "0.655" in row for row in rows)  # next to its "alone" AUC
