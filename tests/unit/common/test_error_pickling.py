"""Every genofed error survives pickling with its message and fields: one raised in a Ray actor or a
multiprocessing worker reaches the parent process as it was raised, not as a TypeError about its
`__init__` (Python unpickles an exception by calling its class with the message alone).

The classes are found in the source, not listed here, so a new error class anywhere in genofed is
covered the day it is written."""

from __future__ import annotations

import ast
import errno
import importlib
import inspect
import pickle
from pathlib import Path

import pytest

from genofed.common.errors import GenofedError

ROOT = Path(__file__).resolve().parents[3]  # the repository root
ROOMS = ("common", "client", "server", "simulations", "cli")

#: A value for an `__init__` parameter by its annotation; any other parameter gets a string.
EXAMPLES = {
    "int": 3,
    "float": 0.5,
    "list[str]": ["case", "status"],
    "OSError": OSError(errno.ENOSPC, "No space left on device"),
}


def _error_modules() -> dict[str, set[str]]:
    """{module: its classes} of every class in genofed that derives, through classes named in the
    source, from GenofedError."""
    classes: dict[str, tuple[str, set[str]]] = {}  # class name -> (module, its bases' names)
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(("genofed",) + (parts[:-1] if parts[-1] == "__init__" else parts))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
                    classes[f"{module}:{node.name}"] = (module, bases)
    errors = {"GenofedError"}
    while grown := {
        key.split(":")[1]
        for key, (_module, bases) in classes.items()
        if bases & errors and key.split(":")[1] not in errors
    }:
        errors |= grown
    found: dict[str, set[str]] = {}
    for key, (module, _bases) in classes.items():
        if key.split(":")[1] in errors:
            found.setdefault(module, set()).add(key.split(":")[1])
    return found


def _error_classes() -> list[type[GenofedError]]:
    classes = []
    for module, names in sorted(_error_modules().items()):
        loaded = importlib.import_module(module)
        classes += [getattr(loaded, name) for name in sorted(names)]
    return classes


def _example(cls: type[GenofedError]) -> GenofedError:
    """An instance of `cls`, each `__init__` argument an example of its annotation."""
    positional, keywords = [], {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind == parameter.VAR_KEYWORD:
            continue
        if parameter.kind == parameter.VAR_POSITIONAL:  # Exception's own (message,)
            positional.append(f"{cls.__name__}: what went wrong")
            continue
        value = EXAMPLES.get(str(parameter.annotation), f"{parameter.name} of {cls.__name__}")
        if parameter.kind == parameter.KEYWORD_ONLY:
            keywords[parameter.name] = value
        else:
            positional.append(value)
    return cls(*positional, **keywords)


ERRORS = _error_classes()


def test_the_search_finds_the_errors_of_every_layer():
    names = {cls.__name__ for cls in ERRORS}
    assert {"GenofedError", "DataError", "ConfigError", "RoundRefusal", "LabelColumnMissing"} <= names
    assert {"OutputWriteError", "KeyFileError", "AllRecordsDropped", "SimulationArgumentError"} <= names
    assert all(issubclass(cls, GenofedError) for cls in ERRORS)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_error_round_trips_through_pickle(cls):
    error = _example(cls)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls
    assert str(again) == str(error) and again.args == error.args
    assert vars(again) == vars(error)  # a DataError's file, problem, location, hint ...
    if isinstance(error, OSError):
        assert (again.errno, again.strerror, again.filename) == (error.errno, error.strerror, error.filename)


def test_a_data_error_keeps_its_fields_and_its_message():
    from genofed.common.errors import DataError

    error = DataError("site/phenotypes.csv", "label 2 is not 0/1", location="line 17", hint="write 0 or 1")
    again = pickle.loads(pickle.dumps(error))
    assert again.to_dict() == error.to_dict()
    assert str(again) == "site/phenotypes.csv, line 17: label 2 is not 0/1\n  what to do: write 0 or 1"
