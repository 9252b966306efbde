"""`genofed <command> --help` in a fresh interpreter: its output and the heavy modules it imported
(a help must not pay seconds of torch, Opacus or Flower imports: docs/benchmarks.md, start-up)."""

from __future__ import annotations

import ast
import subprocess
import sys

HEAVY = ("torch", "opacus", "flwr", "sklearn", "scipy")


def help_and_heavy_imports(command: str) -> tuple[str, list[str]]:
    """(the help text, the sorted `HEAVY` modules loaded by `genofed <command> --help`)."""
    script = (
        "import sys\n"
        "from genofed.cli.main import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    return "\n".join(lines[:-1]), ast.literal_eval(lines[-1])  # the last line: a printed list of names
