"""A storage that refuses a torch file's write (a full disk, a file size limit) is one line naming
the file, not torch's "RuntimeError: [enforce fail at inline_container.cc] unexpected pos": an
audit filled a small disk during `genofed simulate` and got that traceback from the checkpoint.
The model file, the checkpoint and a generator file are written alike (`save_torch_atomic`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_file_size_limit_during_a_checkpoint_is_one_line(tmp_path):
    # a file size limit (RLIMIT_FSIZE binds root too) stands in for the full disk: EFBIG, as ENOSPC
    code = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        import torch
        from genofed.common.errors import GenofedError
        from genofed.server.checkpoint import Checkpoint, save_checkpoint
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        path = Path({str(tmp_path)!r}) / "round-0003.pt"
        try:
            save_checkpoint(path.parent, Checkpoint(3, {{"w": torch.zeros(100_000)}}, {{}}, "plan"))
        except GenofedError as exc:
            print("refused:", exc)
        print("left:", sorted(p.name for p in path.parent.iterdir()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    refused, left = out.stdout.strip().splitlines()
    assert refused.startswith("refused:") and "round-0003.pt" in refused and "File too large" in refused
    assert left == "left: []"  # nothing half-written under the final name, no temporary file
