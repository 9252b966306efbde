"""Tables, figures and number formatting shared by the run report and the experiments' reports.

Modules:

- `formatting`: how a number looks in every report (AUC, epsilon, bytes, durations...), and what
  a missing one looks like (`NOT_MEASURED`).
- `tables`: Markdown tables.
- `figures`: matplotlib figures without pyplot, saved atomically (matplotlib is imported only
  when a figure is made).

All three are standard library only at import, so every name is imported here.
"""

from genofed.common.reporting.figures import new_figure, save_figure
from genofed.common.reporting.formatting import (
    NOT_MEASURED,
    finite_number,
    fmt_auc,
    fmt_bytes,
    fmt_delta,
    fmt_duration,
    fmt_epsilon,
    fmt_float,
    fmt_int,
    fmt_percent,
)
from genofed.common.reporting.tables import markdown_table

__all__ = [
    "NOT_MEASURED",
    "fmt_auc",
    "fmt_bytes",
    "fmt_delta",
    "fmt_duration",
    "fmt_epsilon",
    "fmt_float",
    "fmt_int",
    "fmt_percent",
    "finite_number",
    "markdown_table",
    "new_figure",
    "save_figure",
]
