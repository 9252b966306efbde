"""The one argument parser of every `genofed` command: defaults in every --help, a suggestion for
every typo.

`GenofedParser` is the top-level parser's class, and so (argparse's `add_subparsers` defaults
`parser_class` to it) the class of every subcommand's parser, at every depth. It:

- formats every help with `DefaultsHelpFormatter`, which appends "(default: X)" to an option's
  help unless the help already says its default or the default means nothing (None, False, "");
- takes no prefix of an option for the option (argparse's `allow_abbrev`): a prefix is refused
  as unknown, with the suggestion below;
- refuses an unknown option in the parser of the subcommand it was typed after, so the user
  sees that subcommand's usage (argparse would hand it up to `genofed`'s own usage), and adds
  "did you mean --epsilon?" for a typo of an option, a choice or a subcommand; exit code 2,
  never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from genofed.server.settings import RunSettings

_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.+)")
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.+)\)")


def meaningful_default(action: argparse.Action) -> bool:
    """Whether `--help` should show this option's default: an option that takes a value (not a
    positional, not a switch like --force), whose default says something (not None, "" or an
    empty list; 0 does: "0 = none")."""
    default = action.default
    if not action.option_strings or action.nargs == 0 or action.help == argparse.SUPPRESS:
        return False
    if default is None or default is argparse.SUPPRESS or isinstance(default, bool):
        return False
    return isinstance(default, int | float) or bool(default)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, with "(default: X)" added where the help does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if meaningful_default(action) and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


class GenofedParser(argparse.ArgumentParser):
    """An `ArgumentParser` with `DefaultsHelpFormatter` and errors that suggest what was meant."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        # a prefix of an option is not taken for it: `--epsilo 3` meant for --epsilon is told so
        # (argparse's default read it silently, so a typo of one option could set another)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's, but what this parser does not know is refused here, with its usage."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        """Print this command's usage, the error and a suggestion; exit with code 2."""
        self.print_usage(sys.stderr)
        hint = self.suggestion(message)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")

    def suggestion(self, message: str) -> str:
        """ "; did you mean X?" for the closest known option or choice, or "" when none is close."""
        unknown = _UNRECOGNIZED.search(message)
        if unknown:
            options = [s for action in self._actions for s in action.option_strings]
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    match = _closest(word.split("=", 1)[0], options)
                    if match:
                        return f"; did you mean {match}?"
            return f"; see {self.prog} --help"
        invalid = _INVALID_CHOICE.search(message)
        if invalid:
            choices = re.findall(r"'([^']*)'", invalid.group(2))
            match = _closest(invalid.group(1), choices)
            if match:
                return f"; did you mean {match}?"
        return ""


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def add_prior_arguments(parser: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """`--prior`, `--prior-variants` and `--gene-prior`: the public priors that choose the sub-panel
    the shared model reads (RunSettings `prior`, `prior_variants`, `gene_prior`; docs/models.md)."""
    parser.add_argument(
        "--prior",
        metavar="MODEL",
        default="",
        help="public prior: a `genofed pretrain` model of a related trait; the shared model reads only its "
        "top --prior-variants variants and starts from its weights (docs/models.md)",
    )
    parser.add_argument(
        "--prior-variants",
        type=int,
        default=defaults.prior_variants,
        metavar="K",
        help="how many of --prior's most important variants the model reads; 0 = all of them (default: "
        f"{defaults.prior_variants}). Needs --prior; with --prior and --gene-prior give K >= 1: the prior's "
        "top K are added to the variants in the genes (docs/models.md)",
    )
    parser.add_argument(
        "--gene-prior",
        metavar="FILE",
        default="",
        help="public prior: known disease genes or regions (BED, or a gene table with chrom/start/end); the "
        "model reads only the panel variants inside them (with --prior: those and the prior's top ones)",
    )
