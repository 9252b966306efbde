"""Every `genofed` help reads as finished: no literal %%, every meaningful default shown once, and
a typo answered with the subcommand's usage and a suggestion (exit 2, no traceback)."""

from __future__ import annotations

import argparse

import pytest

from genofed.cli.main import build_parser, main
from genofed.cli.parser import DefaultsHelpFormatter, GenofedParser, meaningful_default


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = dict(_parsers(build_parser()))


@pytest.mark.parametrize("path", list(PARSERS), ids=lambda path: " ".join(path) or "genofed")
def test_help_has_no_literal_percent_and_shows_every_default_once(path):
    parser = PARSERS[path]
    assert isinstance(parser, GenofedParser)
    text = parser.format_help()
    assert "%%" not in text and "%(" not in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not meaningful_default(action):
            continue
        shown = formatter._expand_help(action)
        assert "default" in shown.lower(), f"{action.option_strings}: default {action.default!r} not shown"
        assert shown.lower().count("(default:") <= 1, f"{action.option_strings}: default shown twice"


def test_the_formatter_adds_a_default_only_where_it_means_something():
    parser = GenofedParser(prog="t")
    parser.add_argument("--rounds", type=int, default=0, help="rounds")
    parser.add_argument("--name", default="", help="a name")
    parser.add_argument("--force", action="store_true", help="replace")
    parser.add_argument("--keep", action="store_false", help="keep")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default: 0.1)")
    parser.add_argument("--mode", default="auto", help="100%% automatic")
    assert parser.formatter_class is DefaultsHelpFormatter
    text = " ".join(parser.format_help().split())
    assert "rounds (default: 0)" in text and "a name (default" not in text
    assert "replace (default" not in text and "keep (default" not in text
    assert text.count("(default: 0.1)") == 1
    assert "100% automatic (default: auto)" in text


@pytest.mark.parametrize(
    ("argv", "usage", "suggestion"),
    [
        (["simulate", "--out", "x", "--epsilonn", "3"], "usage: genofed simulate", "did you mean --epsilon?"),
        # a prefix is not taken for the option (argparse's allow_abbrev would read it as --epsilon)
        (["simulate", "--out", "x", "--epsilo", "3"], "usage: genofed simulate", "did you mean --epsilon?"),
        (
            ["simulate", "--out", "x", "--strategy", "fedav"],
            "usage: genofed simulate",
            "did you mean fedavg?",
        ),
        (["simulat", "--out", "x"], "usage: genofed [", "did you mean simulate?"),
        (
            ["experiment", "transfer", "--out", "x", "--smll"],
            "usage: genofed experiment transfer",
            "did you mean --small?",
        ),
        (
            ["data", "check", "--genotypes", "g", "--phenotypes", "p", "--pannel", "x"],
            "data check",
            "--panel?",
        ),
    ],
)
def test_a_typo_gets_the_subcommands_usage_and_a_suggestion(argv, usage, suggestion, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert usage in err and suggestion in err and "Traceback" not in err


def test_an_unknown_word_with_nothing_close_points_to_help(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--out", "x", "--zzzzzz"])
    assert "see genofed simulate --help" in capsys.readouterr().err


def test_simulate_no_references_help_names_every_model_it_skips():
    """`--no-references` skips the plain DP logistic regression federation and the adaptations too
    (results.json `plain_dp_logistic_auc` and `adapted_auc` null), not only local-only and pooled."""
    action = next(a for a in PARSERS[("simulate",)]._actions if "--no-references" in a.option_strings)
    text = " ".join(action.help.split())
    for skipped in ("each hospital alone", "pooled", "plain DP logistic regression federation", "adaptation"):
        assert skipped in text, skipped
