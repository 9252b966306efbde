"""Checks of the options that name a site's files, shared by the commands that read them.

`genofed data check`, `predict`, `adapt` and `synth` refuse an empty --genotypes or a
--label-column of sample_id in the same words the user can act on; the last three used to pass
such values on to the readers, which answered with a traceback (`PosixPath('.') has an empty
name`, a pandas KeyError) or with a message about the current folder ("." is a folder).
`check_file_options` refuses them before anything is read. Nothing heavy is imported here:
`--help` stays fast.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Mapping

#: The options that name a path (option -> argparse dest) and what they name, checked when the
#: command has them and they were given: an empty value would be read as the current folder.
PATH_OPTIONS = {
    "--model": ("model", "file"),
    "--genotypes": ("genotypes", "file"),
    "--phenotypes": ("phenotypes", "file"),
    "--out": ("out", "file"),
}


def require_path_given(option: str, value: str | None, what: str = "file") -> None:
    """Refuse (ConfigError) an option given as empty text (or spaces): `Path("")` is the current
    folder, so the readers would otherwise refuse "." or fail with a traceback."""
    from genofed.common.util.checks import require

    require(value is None or bool(value.strip()), f"{option} is empty: give the {what}'s path")


def checked_label_column(value: str) -> str:
    """The --label-column, stripped; refused (ConfigError) when empty or a column that cannot be
    the disease's (`label_column_problem`: the sample id column, a model covariate)."""
    from genofed.common.data.readers.phenotypes import label_column_problem
    from genofed.common.util.checks import require

    label_column = value.strip()
    require(bool(label_column), "--label-column is empty: name the phenotype file's 0/1 disease column")
    problem = label_column_problem(label_column)
    require(problem is None, f"--label-column {problem}")
    return label_column


def require_test_dir_folder(value: str | None, *, otherwise: str) -> None:
    """Refuse (ConfigError) a --test-dir that names no folder, in the one wording of every command
    that reads the held-out test cohort from it (`simulate`, `data check`), before anything is read
    or written. `otherwise`: what the command does without --test-dir, for the user to choose."""
    from pathlib import Path

    from genofed.common.util.checks import require

    require(
        not value or Path(value).is_dir(),
        f"--test-dir {value}: not a folder; give the held-out test cohort's folder (its genotype file "
        f"and phenotype file), or {otherwise}",
    )


def check_file_options(args: argparse.Namespace, *, out_is_folder: bool = False) -> None:
    """Refuse, before anything is read, the file options of `args` that cannot name a file
    (`PATH_OPTIONS`, those the command has) and a --label-column that cannot name the disease
    column; `args.label_column` is left stripped, as `genofed data check` uses it.

    `out_is_folder`: --out names a folder (`genofed synth`), and the refusal says so."""
    for option, (dest, what) in PATH_OPTIONS.items():
        if option == "--out" and out_is_folder:
            what = "folder"
        require_path_given(option, getattr(args, dest, None), what)
    if getattr(args, "label_column", None) is not None:
        args.label_column = checked_label_column(args.label_column)


def epsilon_number(text: str) -> float:
    """An epsilon option's value (a budget, a release's epsilon), for argparse: `inf` only when
    written so. `1e400` also reads as infinity, which would turn a typo of a large number into no
    differential privacy at all; a non-number is said in words."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number: give an epsilon such as 1-2, or inf for no differential privacy"
        ) from None
    if math.isinf(value) and text.strip().lower().lstrip("+") not in ("inf", "infinity"):
        raise argparse.ArgumentTypeError(
            f"{text} is beyond any epsilon and would read as inf (no differential privacy): write inf for "
            "that, or a number such as 1-2"
        )
    return value


def settings_as_options(
    message: str, settings: Iterable[str], renamed: Mapping[str, str] | None = None
) -> str:
    """A run-settings refusal in the words of a command's options: `RunSettings` names its settings
    as a run config does (`min-nodes must be >= 1`, `batch-size must be >= 0`), which the user of
    `genofed simulate` or `coordinator init` never typed. The setting the message opens with becomes
    its option (`--batch-size must be >= 0`), and a `renamed` one (setting -> option, e.g. min-nodes
    -> --min-hospitals) its option wherever it appears. Within the sentence, a setting with a dash
    in its name (`synthetic-ratio`, no ordinary word) or a switch (`FLAG_SETTINGS`: "add secagg")
    becomes its option wherever it stands, and any other setting where it is given a value
    (`privacy=distributed` -> `--privacy=distributed`); other words are left alone (`epsilon`,
    `model` and `prior` are also ordinary words in these sentences).

    Args:
        message: the refusal, as `RunSettings` words it.
        settings: the settings (kebab-case) that the command has an option of the same name for.
        renamed: settings whose option has another name (setting -> option, with its dashes).
    """
    renamed = dict(renamed or {})
    names = {name.replace("_", "-") for name in settings} | set(renamed)
    for setting in sorted(names, key=len, reverse=True):
        if any(message.startswith(f"{setting}{after}") for after in (" ", "=", ":")):
            message = renamed.get(setting, f"--{setting}") + message[len(setting) :]
            break
    for setting in sorted(names, key=len, reverse=True):
        option = renamed.get(setting, f"--{setting}")
        if setting in renamed or "-" in setting or setting in FLAG_SETTINGS:
            message = re.sub(rf"(?<![\w-]){re.escape(setting)}(?![\w-])", option, message)
        else:
            message = re.sub(rf"(?<![\w-]){re.escape(setting)}=", f"{option}=", message)
    return message


#: Run settings that are switches (`--secagg`): their name is no ordinary word in a refusal.
FLAG_SETTINGS = frozenset({"secagg"})
