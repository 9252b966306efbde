"""The human-readable report of a federated run: RUN/report.md, its plots and the CLI's closing lines.

`results.json` is for machines; this report is for three readers at once. A clinician wants to
know whether the shared model predicts better than what their hospital could train alone, and
what its numbers mean at the bedside. A hospital's data-protection officer wants to know, in plain
words, what left the hospital and what the privacy guarantee does (and does not) promise. An ML
engineer wants the curves, the per-site numbers and every setting, to reproduce or question the run.

Modules, one job each:

- `writer`: assembles the sections in order and writes report.md and report.html atomically,
  plots first.
- `html`: report.html, the same report as one self-contained page (images as data: URIs).
- `evidence`: gathers what the clinician's sections read beyond results.json: `run_files`
  (test_predictions.csv, the test cohort's folder, truth.json, the real prevalence), `assessment`
  (threshold metrics, AUC interval, Brier, calibration table) and `explain` with `attribution` (the
  top variants).
- `verdict`: the plain verdict (NOT FIT FOR USE, or minimum checks passed; not validated for
  clinical use), its rules, and what it states beside them.
- `bedside`: the AUC with its interval, sensitivity, specificity (Wilson intervals), LR+ and LR-,
  PPV and NPV at the operating threshold and the top risk decile, at the test cohort's case share
  and the real prevalence; `rates`: those intervals and ratios; `subgroups`: the same call by
  group of the test cohort (sex, age band, population).
- `calibration`: the calibration plot and table, and whether the risks may be read as probabilities.
- `drivers`: which variants drive the model (and how many causal ones, on simulated data).
- `model_card`: intended use, data sources and sizes, privacy spent, limitations, and what privacy
  means for the patients a clinician scores.
- `summary`: the headline paragraph and the CLI's closing lines.
- `reading`: defensive readers of the results dict (a missing value reads as "not measured").
- `plots`: the AUC-per-round and privacy-per-round figures, and the learning-curve section.
- `sites`: the per-hospital table; `hospital_terms`: what its technical columns mean.
- `synthetic`: which hospitals trained with synthetic records.
- `privacy`: the privacy section and the one-line privacy summary.
- `metrics`: the final model's metrics on the test cohort, with what each means.
- `facts`: the run facts table and the full configuration appendix.

Number formatting, Markdown tables and figures come from `genofed.common.reporting`; the
formatters are re-exported here for the code that imports them from this package. Importing the
package stays light: matplotlib is imported only when a figure is drawn.
"""

from genofed.common.reporting.formatting import (
    NOT_MEASURED,
    fmt_auc,
    fmt_bytes,
    fmt_delta,
    fmt_duration,
    fmt_epsilon,
    fmt_float,
    fmt_int,
    fmt_percent,
)
from genofed.server.report.calibration import CALIBRATION_PLOT
from genofed.server.report.html import REPORT_HTML
from genofed.server.report.plots import AUC_PLOT, PRIVACY_PLOT
from genofed.server.report.privacy import CLIP_KEYS
from genofed.server.report.summary import format_summary, headline
from genofed.server.report.writer import REPORT_NAME, render_markdown, write_report

__all__ = [
    "AUC_PLOT",
    "CALIBRATION_PLOT",
    "CLIP_KEYS",
    "NOT_MEASURED",
    "PRIVACY_PLOT",
    "REPORT_HTML",
    "REPORT_NAME",
    "fmt_auc",
    "fmt_bytes",
    "fmt_delta",
    "fmt_duration",
    "fmt_epsilon",
    "fmt_float",
    "fmt_int",
    "fmt_percent",
    "format_summary",
    "headline",
    "render_markdown",
    "write_report",
]
