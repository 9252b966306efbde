"""Small helpers every room uses, with no genofed dependency but `genofed.common.errors`.

Modules:

- `allocator`: glibc's malloc told to keep the memory a training step frees (no page faults).
- `atomic`: write files and folders so that a crash never leaves a half-written output that
  looks complete; the exclusive lock around a read-modify-write.
- `checks`: one way to refuse a setting: the `require_*` checks, raising `ConfigError`.
- `hashing`: SHA-256 of a file, read in blocks.
- `progress`: the one type of every progress callback (`Progress`) and the one that says nothing.
- `torch_threads`: one torch thread for site-sized networks.

Every module is standard library only and imported here, except `torch_threads`, whose name loads
on first use: a command that never trains (`genofed --help`, `genofed data check`) then shows no
torch module among its imports at all.
"""

from __future__ import annotations

from typing import Any

from genofed.common.util.allocator import keep_freed_memory
from genofed.common.util.atomic import atomic_dir, atomic_path, exclusive_lock, write_text_atomic
from genofed.common.util.checks import (
    ConfigError,
    require,
    require_at_least,
    require_choice,
    require_finite,
    require_in_range,
    require_int,
    require_positive,
    to_float,
    to_int,
)
from genofed.common.util.hashing import file_sha256
from genofed.common.util.progress import Progress, silent


def __getattr__(name: str) -> Any:
    """`single_torch_thread`, imported on first use."""
    if name == "single_torch_thread":
        import genofed.common.util.torch_threads as torch_threads

        return torch_threads.single_torch_thread
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    # allocator
    "keep_freed_memory",
    # atomic
    "atomic_dir",
    "atomic_path",
    "exclusive_lock",
    "write_text_atomic",
    # checks
    "ConfigError",
    "require",
    "require_at_least",
    "require_choice",
    "require_finite",
    "require_in_range",
    "require_int",
    "require_positive",
    "to_float",
    "to_int",
    # hashing
    "file_sha256",
    # progress
    "Progress",
    "silent",
    # torch_threads
    "single_torch_thread",
]
