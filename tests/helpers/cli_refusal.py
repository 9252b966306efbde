"""A command refused as a user mistake: exit status 2, an `error: ...` line (a "what to do" line may
follow), never a traceback."""

from __future__ import annotations

from genofed.cli.main import main


def refused(args: list[str], capsys, *, max_lines: int | None = None) -> str:
    """Run `genofed ARGS`, check it was refused as above, and return what it wrote to stderr.

    `max_lines`: the most lines the refusal may take (None: any)."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: "), err
    assert max_lines is None or len(err.strip().splitlines()) <= max_lines, err
    return err
