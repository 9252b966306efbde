"""One torch thread for site-sized networks: faster on busy machines, and bit-reproducible.

Site-sized networks gain nothing from intra-op threads, and on a busy 2-core machine OpenMP's
spinning threads made training 10-15x slower (measured: 10 VAE epochs on 128 x 1,271 took 60 s
with 2 threads, 4.4 s with 1; 3 epochs on the 805 SNPs 32 s against 2.5 s). With several
threads the order of float reductions also depends on the load, so a hospital's update could
differ in its last bits between two runs of the same round; one thread makes it reproducible
(the same round gives the same update, in deployment as in the simulation's one-CPU actors).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run the block with torch on one thread; the caller's thread count is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
