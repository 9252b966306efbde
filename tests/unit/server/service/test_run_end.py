"""The ServerApp's end-of-run file: written however the run ends, read only for its own run."""

from __future__ import annotations

import json
import threading
import time

import pytest

from genofed.common.errors import GenofedError
from genofed.server.service.run_end import RUN_END_FILE, announcing_the_end, run_end, wait_for_run_end


def test_a_completed_run_says_so(tmp_path):
    with announcing_the_end(tmp_path / "run", 7):
        assert run_end(tmp_path / "run", 7) is None  # not before it has ended
    assert run_end(tmp_path / "run", 7) == {"run_id": 7, "completed": True, "error": None}


def test_a_genofed_error_is_recorded_with_its_message_and_raised(tmp_path):
    with pytest.raises(GenofedError, match="only 0 hospital"):
        with announcing_the_end(tmp_path, 7):
            raise GenofedError("only 0 hospital(s) can take part, 1 needed")
    assert run_end(tmp_path, 7) == {
        "run_id": 7,
        "completed": False,
        "error": "only 0 hospital(s) can take part, 1 needed",
    }


def test_an_unexpected_failure_is_recorded_without_a_message(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with announcing_the_end(tmp_path, 7):
            _ = 1 / 0
    assert run_end(tmp_path, 7) == {"run_id": 7, "completed": False, "error": None}


def test_another_runs_or_a_damaged_file_is_not_this_runs_end(tmp_path):
    with announcing_the_end(tmp_path, 7):
        pass
    assert run_end(tmp_path, 8) is None  # a resumed run has a new id: the old file says nothing
    (tmp_path / RUN_END_FILE).write_text('{"run_id": 8, "complet')
    assert run_end(tmp_path, 8) is None
    (tmp_path / RUN_END_FILE).write_text(json.dumps([8]))
    assert run_end(tmp_path, 8) is None


def test_the_wait_ends_when_the_file_appears_and_not_before(tmp_path):
    assert wait_for_run_end(tmp_path, 7, 0.2) is False

    def end_later() -> None:
        time.sleep(0.3)
        with announcing_the_end(tmp_path, 7):
            pass

    writer = threading.Thread(target=end_later)
    writer.start()
    started = time.monotonic()
    assert wait_for_run_end(tmp_path, 7, 60.0) is True
    assert time.monotonic() - started < 30.0  # returned at the file, not at the 60-s limit
    writer.join()
