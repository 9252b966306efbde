"""Assembling the report: the sections in reading order, and writing RUN/report.md, its plots and
RUN/report.html (the same report as one self-contained page, images inline).

Every file is written to a temporary name and renamed (`genofed.common.util.atomic`), plots first,
then report.html, and report.md last, so a report.md that exists is complete and the images it
links to exist.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genofed.common.util.atomic import write_text_atomic
from genofed.server.report.bedside import bedside_section
from genofed.server.report.calibration import CALIBRATION_PLOT, calibration_section, plot_calibration
from genofed.server.report.drivers import drivers_section
from genofed.server.report.facts import config_section, run_facts_section
from genofed.server.report.hospital_terms import hospital_terms
from genofed.server.report.html import REPORT_HTML, render_html
from genofed.server.report.metrics import final_model_section
from genofed.server.report.model_card import model_card_section
from genofed.server.report.plots import (
    AUC_PLOT,
    PRIVACY_PLOT,
    learning_curve_section,
    plot_auc_per_round,
    plot_privacy_per_round,
)
from genofed.server.report.privacy import confidential_notice, privacy_section
from genofed.server.report.sites import hospitals_section
from genofed.server.report.summary import headline
from genofed.server.report.synthetic import synthetic_section
from genofed.server.report.verdict import verdict_section

if TYPE_CHECKING:
    from genofed.server.report.evidence import Evidence

REPORT_NAME = "report.md"
#: The last line of report.md and report.html as genofed writes them: the SHA-256 of the text above
#: it, so that `genofed report` can tell a report someone edited (a clinician's notes) from the one it
#: wrote, and not render over it unasked. A comment: neither page shows it.
DIGEST_LINE = "<!-- written by genofed; SHA-256 of the text above: {} -->\n"
_DIGEST = re.compile(r"<!-- written by genofed; SHA-256 of the text above: ([0-9a-f]{64}) -->\n?")


def write_report(run_dir: Path, results: dict) -> Path:
    """Write RUN/report.md, RUN/report.html and their plots from a run's results; return report.md's path.

    Besides `results`, the report reads the run folder (test_predictions.csv, model.pt) and the
    federation folder named in the run's config (panel, gene list, truth.json); any of them may be
    missing, and the report then says what it could not measure. Plots are written before the
    Markdown so that the report never links to an image that a crash prevented from being written;
    plots that cannot be drawn (no rounds, DP off, no test predictions) are left out and the report
    says why. `run_dir` is created if needed; `results` is not modified.
    """
    from genofed.server.report.evidence import gather  # reads data files: loaded when a report is written

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    evidence = gather(run_dir, results)
    plots = {
        AUC_PLOT: plot_auc_per_round(run_dir / AUC_PLOT, results),
        PRIVACY_PLOT: plot_privacy_per_round(run_dir / PRIVACY_PLOT, results),
        CALIBRATION_PLOT: plot_calibration(run_dir / CALIBRATION_PLOT, evidence.assessment.calibration),
    }
    text = render_markdown(results, plots, evidence)
    write_text_atomic(run_dir / REPORT_HTML, _signed(render_html(text, run_dir)))
    report = run_dir / REPORT_NAME
    write_text_atomic(report, _signed(text))
    return report


def _signed(text: str) -> str:
    return text + DIGEST_LINE.format(hashlib.sha256(text.encode("utf-8")).hexdigest())


def unsigned_reports(run_dir: Path) -> list[Path]:
    """report.md and report.html of `run_dir` that end in no `DIGEST_LINE`: an older genofed wrote
    them, so whether someone edited them since cannot be told (`keep_unsigned` keeps them)."""
    return [path for path, text in _report_texts(run_dir) if not _DIGEST.search(text)]


def keep_unsigned(run_dir: Path) -> list[Path]:
    """Copy each of `unsigned_reports` beside itself (report.md -> report.md.earlier, or .earlier-2,
    ... if taken) before a report is written over it; returns the copies. Why: an upgrade audit
    added a clinician's note to an older genofed's report.md, and `genofed report` rendered over it
    without a word, since only signed reports can be told edited."""
    kept = []
    for path in unsigned_reports(run_dir):
        copy, n = path.with_name(f"{path.name}.earlier"), 1
        while copy.exists():
            n += 1
            copy = path.with_name(f"{path.name}.earlier-{n}")
        write_text_atomic(copy, path.read_text(encoding="utf-8"))
        kept.append(copy)
    return kept


def _report_texts(run_dir: Path) -> list[tuple[Path, str]]:
    """report.md and report.html of `run_dir` with their text, those that exist and are text."""
    texts = []
    for path in (Path(run_dir) / REPORT_NAME, Path(run_dir) / REPORT_HTML):
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue  # absent (nothing to lose) or no text genofed wrote
    return texts


def edited_reports(run_dir: Path) -> list[Path]:
    """report.md and report.html of `run_dir` where their text is no longer what genofed wrote (by
    their last line, `DIGEST_LINE`). A file without that line, as an older genofed wrote it, cannot
    be told edited and is not counted (`keep_unsigned` keeps a copy before it is written over). Text
    after the line (a note added at the end) is an edit, as is a changed text above it."""
    edited = []
    for path, text in _report_texts(run_dir):
        found = list(_DIGEST.finditer(text))
        if not found:
            continue
        last = found[-1]  # a note added below the line, or the final newline dropped, is an edit too
        body, after = text[: last.start()], text[last.end() :]
        if after.strip() or hashlib.sha256(body.encode("utf-8")).hexdigest() != last.group(1):
            edited.append(path)
    return edited


def render_markdown(
    results: Mapping[str, Any], plots: Mapping[str, bool], evidence: Evidence | None = None
) -> str:
    """The whole report as Markdown; `plots` says which image files exist (name -> written).

    `evidence`: the test predictions and top variants (`evidence.gather`); without it, only what
    results.json holds. Separate from `write_report` so the text can be tested and previewed
    without touching disk. The order serves the readers in turn: the clinician's headline, verdict,
    threshold, calibration, variants and model card first, then the hospitals and privacy, and
    every setting last.
    """
    if evidence is None:
        from genofed.server.report.evidence import from_results

        evidence = from_results(results)
    sections = [
        "# Federated training report",
        confidential_notice(results),
        headline(results, evidence.differences),
        verdict_section(evidence.assessment),
        bedside_section(evidence.assessment),
        calibration_section(evidence.assessment, plots.get(CALIBRATION_PLOT, False)),
        drivers_section(evidence.explanation, evidence.assessment.score_parts),
        model_card_section(results, evidence.assessment),
        learning_curve_section(plots.get(AUC_PLOT, False), results),
        hospitals_section(results),
        hospital_terms(results),
        synthetic_section(results),
        privacy_section(results, plots.get(PRIVACY_PLOT, False)),
        final_model_section(results),
        run_facts_section(results),
        config_section(results, evidence.assessment.prevalence),
    ]
    return "\n\n".join(s.strip("\n") for s in sections if s) + "\n"
