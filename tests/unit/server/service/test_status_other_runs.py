"""`coordinator status` names the runs on its SuperLink whose app is not its own (a `flwr run`
submitted to the unauthenticated Control API, which the hospitals refuse: an ML engineer's
walkthrough saw it only with `flwr ls`), and shows the ServerApp's log tail without Flower's
colour codes, which a pipe kept (`\x1b[92mINFO \x1b[0m:`)."""

from __future__ import annotations

from genofed.server.service import flower_control, status

OURS = "e" * 64


class _Control:
    """Stands in for the `flwr` CLI against the SuperLink."""

    def __init__(self, folder, address):
        pass

    def __call__(self, *args, timeout=60.0):
        assert args == ("ls",)
        return {
            "success": True,
            "runs": [
                {"run-id": "1", "status": "running", "fab-hash": OURS},
                {"run-id": "2", "status": "finished:failed", "fab-hash": "7555ab94" + "0" * 56},
            ],
        }

    def text(self, *args, timeout=60.0):
        return "\x1b[92mINFO \x1b[0m:      configure_train: sampled 3 nodes\n\ngenofed: round 3/4\n"


def test_runs_of_another_app_are_named_and_ours_are_not(tmp_path):
    """The runs `coordinator start`'s poll lists (`flwr ls`), told apart by their app."""
    runs = _Control(tmp_path, "127.0.0.1:1")("ls")["runs"]
    assert status.other_runs(runs, OURS) == [
        {"run_id": "2", "status": "finished:failed", "fab_hash": "7555ab94" + "0" * 56}
    ]
    assert status.other_runs(runs, "") == []  # no app recorded


def test_the_log_tail_has_no_colour_codes(tmp_path, monkeypatch):
    monkeypatch.setattr(flower_control, "FlowerControl", _Control)
    tail = status._serverapp_log_tail(tmp_path, {"run_id": 1, "internal_address": "127.0.0.1:1"})
    assert tail == ["INFO :      configure_train: sampled 3 nodes", "genofed: round 3/4"]
