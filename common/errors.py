"""User-facing errors and data warnings.

A hospital bioinformatician who hands genofed a broken file must learn, in one line, which file,
which line or sample, what is wrong and what to do about it. Every reader and check raises
`DataError` for that; a setting out of range (a run setting, a node config entry, a command's
option) raises `ConfigError`, through the checks of `genofed.common.util.checks`. The CLI prints
both without a traceback and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class GenofedError(Exception):
    """Base class for errors a user can fix; the CLI prints them without a traceback.

    Every one survives pickling (`__reduce__`): raised in a Ray actor or a multiprocessing worker,
    it crosses to the parent process as it was raised. Python's own pickling of an exception calls
    its class with `args` (the message alone), which a subclass whose `__init__` takes its fields
    (`DataError`'s file and problem) refuses, so the user read a TypeError about `__init__` instead
    of what was wrong with their file.
    """

    def __reduce__(self) -> tuple:
        return _unpickled, (type(self), self.args, _fields(self))


#: An OSError's own fields (slots, not in the instance's `__dict__`): kept when a GenofedError that
#: is an OSError too (`OutputWriteError`, `NotAFileTargetError`) is pickled.
_OS_ERROR_FIELDS = ("errno", "strerror", "filename", "filename2")


def _fields(error: GenofedError) -> dict[str, object]:
    """What an error holds besides its `args`: its attributes (a DataError's file, problem ...)."""
    fields = dict(vars(error))
    if isinstance(error, OSError):
        # those unset stay unset: an OSError given a None filename prints "None: None -> None"
        fields |= {name: value for name in _OS_ERROR_FIELDS if (value := getattr(error, name)) is not None}
    return fields


def _unpickled(cls: type[GenofedError], args: tuple, fields: dict[str, object]) -> GenofedError:
    """The error `GenofedError.__reduce__` pickled, rebuilt without calling its `__init__`, whose
    arguments `args` (the finished message) are not."""
    error = cls.__new__(cls, *args)
    error.args = args
    for name, value in fields.items():
        setattr(error, name, value)
    return error


class RoundRefusal(GenofedError):
    """A hospital's refusal of one round only: it depends on that round's draws (its DP noise),
    so the next round may be answered. A site replies with its own error code for it, so that the
    coordinator does not take it for a refusal that repeats every round."""


class ConfigError(GenofedError, ValueError):
    """A setting that is missing, of the wrong kind or out of range: a run setting, a hospital's
    node config entry, a command's option, an augmentation spec.

    Raised by the checks of `genofed.common.util.checks`, so every setting is refused the same
    way. It is a ValueError too (as scikit-learn's `InvalidParameterError` is), so callers that
    expect a ValueError from a bad parameter keep working.
    """


#: What a site sends the coordinator when its data fail their checks: a DataError names files,
#: lines and samples, so its text stays in the site's own log (`client.app`, the agent's worker).
DATA_REFUSAL = "the site's data failed validation; details are in the site's own log (genofed data check)"


class DataError(GenofedError):
    """A problem in a user's data file.

    Args:
        file: the file at fault (a path, or a description such as "genotypes").
        problem: what is wrong, in the user's terms.
        location: where: "line 17", "sample HG00096", "variant 1:12345:A:G", ...
        hint: what to do about it.
    """

    def __init__(
        self,
        file: str | Path,
        problem: str,
        *,
        location: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = str(file)
        self.problem = problem
        self.location = location
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f"{self.file}, {self.location}" if self.location else self.file
        text = f"{where}: {self.problem}"
        if self.hint:
            text += f"\n  what to do: {self.hint}"
        return text

    def to_dict(self) -> dict[str, str | None]:
        return {
            "file": self.file,
            "location": self.location,
            "problem": self.problem,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class DataWarning:
    """Something worth a look that does not stop training (high missingness, imbalance ...)."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"
