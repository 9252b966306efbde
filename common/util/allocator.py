"""Keep freed memory in the process while it trains: glibc's malloc with fixed thresholds.

A training step allocates and frees the same few batch x variants tensors every step (5 MB each
at 64 x 20,000 float32). glibc's malloc, left to its defaults, hands much of that memory back to
the kernel after each step (a block above its dynamic mmap threshold is unmapped when freed;
free space at the top of the heap above the trim threshold is returned), so the next step faults
the same pages in again. How much depends on the order of earlier allocations, which is why a
step's time varied by up to 2-3x between two processes running the same code. `bench/dp_step.py`
prints both (one torch thread, batch 64, 20,000 variants): the network's DP step took 590-1,022
minor page faults without this tuning and 0-100 with it, and 20-32 % less time in three runs of
five (7-8 % more in the other two; docs/benchmarks.md, "The DP step").

The tuning fixes both thresholds, as the environment variables MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ (glibc's documented tunables, `man mallopt`) would, but from inside the
process through `mallopt`, because the processes that train are started by Flower and Ray, not
by genofed:

- blocks up to MMAP_THRESHOLD come from the heap and are reused there (at 100,000 variants a
  batch tensor is 25.6 MB, still below it);
- up to TRIM_THRESHOLD of free memory at the heap's top stays with the process.

The cost: a process's resident memory no longer shrinks back after a step (its peak is the same;
`bench/dp_step.py` prints it). An operator short of memory can switch the tuning off with
GENOFED_MALLOC_TUNING=off. Other C libraries (musl, macOS) have no `mallopt`: nothing happens.
"""

from __future__ import annotations

import ctypes
import os

#: `mallopt` parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: The largest block taken from the heap: the ceiling glibc's own dynamic threshold reaches on 64-bit
#: (DEFAULT_MMAP_THRESHOLD_MAX), above a 64 x 100,000 float32 batch (25.6 MB).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the heap's top a process keeps instead of returning it.
TRIM_THRESHOLD = 256 * 1024 * 1024
#: Set to "off" to leave glibc's defaults.
SWITCH_ENV = "GENOFED_MALLOC_TUNING"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (module docstring), once.

    Returns whether the tuning is in effect: False where the C library has no `mallopt`, where
    it refused a value, or where SWITCH_ENV is "off". Safe to call from any thread, any number
    of times (a second call changes nothing); it only affects allocations made after the first.
    """
    global _applied
    if _applied is None:
        _applied = os.environ.get(SWITCH_ENV, "").strip().lower() != "off" and _set_thresholds()
    return _applied


def _set_thresholds() -> bool:
    try:  # the symbols the process has loaded: the C library's among them
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 when it refuses the value
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
