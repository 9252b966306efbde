"""`genofed report RUN`: render a finished run's report again from its results.json.

A run writes results.json and model.pt before its report; a report that could not be written (a
full disk, a plot that failed) leaves a finished run without one, and a run made by an older
genofed keeps the report that version wrote. This renders RUN/report.md, RUN/report.html and their
plots again from the run's own files (`server.report.write_report`), changing nothing else: the
results, the model and the ledgers are the run's record and are only read. A report edited since
genofed wrote it (a clinician's notes in report.md) is not rendered over without --force.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genofed.common.errors import GenofedError


def register_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render a finished run's report again (report.md, report.html) from its results.json",
        description=(
            "Render RUN/report.md, RUN/report.html and their plots again from RUN/results.json and the "
            "run's other files (a `genofed simulate` --out folder, or a deployed coordinator's DIR/run): "
            "for a run whose report could not be written, or one made by an older genofed. The results, "
            "the model and the ledgers are only read."
        ),
    )
    parser.add_argument("run", metavar="RUN", help="the run folder that holds results.json")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace report.md / report.html also when they were edited since genofed wrote them",
    )
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from genofed.server.app import RESULTS
    from genofed.server.report import write_report
    from genofed.server.report.writer import edited_reports, keep_unsigned

    run = Path(args.run)
    if run.is_file():  # report.md or results.json itself: its folder is meant
        raise GenofedError(
            f"{run} is a file: give the run's folder, the one that holds {RESULTS} "
            f"(genofed report {run.parent})"
        )
    results_file = run / RESULTS
    if not results_file.is_file():
        raise GenofedError(
            f"{run} holds no {RESULTS}: give the folder of a finished run (genofed simulate --out, or a "
            "coordinator's DIR/run)"
        )
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenofedError(f"{results_file} is not a run's results ({exc}); nothing was written") from None
    if not isinstance(results, dict):
        raise GenofedError(f"{results_file} is not a run's results (not a JSON object); nothing was written")
    _refuse_damaged_fields(results_file, results)
    edited = edited_reports(run)
    if edited and not args.force:
        raise GenofedError(
            f"{' and '.join(str(p) for p in edited)} changed since genofed wrote "
            f"{'them' if len(edited) > 1 else 'it'}: rendering the report again would lose those changes; "
            "nothing was written. Copy the changes elsewhere, or pass --force to replace the report"
        )
    for copy in keep_unsigned(run):
        print(f"kept the earlier report as {copy} (an older genofed wrote it unsigned: edits cannot be told)")
    report = write_report(run, results)
    print(f"wrote {report} and {report.with_suffix('.html')}")
    return 0


#: The results.json fields every run writes, and the JSON types each may hold (None: null allowed).
#: A field of another type is damage (an edit, a merge gone wrong): a fuzzing review's `"rounds": -1`
#: was a traceback, and `"test_auc": "x"` a report that said both "not measured" and "AUC 0.686".
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "rounds": (list,),
    "sites": (dict,),
    "epsilon": (dict,),
    "config": (dict,),
    "refusals": (dict,),
    "turned_away": (dict,),
    "not_connected": (list,),
    "test_auc": (float, int, type(None)),
    "pooled_auc": (float, int, type(None)),
    "bayes_auc": (float, int, type(None)),
    "epsilon_budget": (float, int, type(None)),
    "delta": (float, int, type(None)),
    "test_metrics": (dict, type(None)),
    "operating_point": (dict, type(None)),
    "site_evaluation": (dict, type(None)),
    "score_parts": (dict, type(None)),
    "local_only_auc": (dict, type(None)),
}


def _refuse_damaged_fields(path: Path, results: dict) -> None:
    """Refuse a results.json whose known fields hold another JSON type than a run writes (a bool is
    no number), naming the field and its value; nothing is written."""
    for field, types in _FIELD_TYPES.items():
        if field not in results:
            continue  # an older genofed's run: the report says what it could not measure
        value = results[field]
        if isinstance(value, bool) or not isinstance(value, types):
            names = ("null" if t is type(None) else _JSON_NAMES[t] for t in types)
            expected = " or ".join(dict.fromkeys(names))
            raise GenofedError(
                f"{path}: field {field!r} holds {json.dumps(value)[:60]}, where a run writes {expected}: the "
                "file was edited or damaged; nothing was written. Restore it from the run's copy or a backup"
            )


_JSON_NAMES = {list: "a list", dict: "an object", float: "a number", int: "a number"}
