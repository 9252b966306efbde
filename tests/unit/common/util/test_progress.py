"""The progress bar: time left on a terminal, nothing at all in a log or a pipe."""

from __future__ import annotations

import io

from genofed.common.util.progress import ProgressBar, bar, duration, progress_bars


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_bar_shows_count_share_and_time_left():
    stream, clock = FakeTerminal(), FakeClock()
    with ProgressBar(40, "training the VAE", stream=stream, clock=clock) as progress:
        for _ in range(12):
            clock.now += 5.0  # 5 s per step: 28 steps left = 140 s
            progress.step()
        assert progress.line() == "training the VAE  12/40  30% · 2m20s left"
        shown = stream.getvalue()
        assert "12/40  30% · 2m20s left" in shown and "\r" in shown
        progress.step(28)
    assert stream.getvalue().endswith("training the VAE  40/40  done in 1m00s\n")


def test_elsewhere_the_bar_prints_nothing_per_step_nor_at_the_end():
    stream, clock = io.StringIO(), FakeClock()
    with ProgressBar(40, "training the VAE", stream=stream, clock=clock) as progress:
        for _ in range(40):
            clock.now += 1.0
            progress.step()
    assert stream.getvalue() == ""


def test_redraws_are_limited_and_the_last_step_always_drawn():
    stream, clock = FakeTerminal(), FakeClock()
    with ProgressBar(1000, "steps", stream=stream, clock=clock) as progress:
        for _ in range(1000):
            clock.now += 0.001  # 1 s in all: about 10 redraws, not 1000
            progress.step()
        assert stream.getvalue().count("\r") < 30
        assert "1000/1000  100%" in stream.getvalue()


def test_library_bars_draw_only_where_the_command_line_activated_them():
    terminal = FakeTerminal()
    with bar(3, "silent") as quiet:  # nothing activated: tests, workers, Flower apps
        quiet.step(3)
    with progress_bars(terminal), bar(3, "epochs") as shown:
        shown.step(3)
    assert "epochs  3/3" in terminal.getvalue() and "silent" not in terminal.getvalue()
    with progress_bars(None), bar(3, "quiet") as off:
        off.step(3)
    assert "quiet" not in terminal.getvalue()


def test_durations_read_short():
    assert [duration(s) for s in (0.4, 8, 65, 3725)] == ["0s", "8s", "1m05s", "1h02m"]


def test_lines_said_during_a_bar_appear_above_it_not_inside_it():
    terminal, clock = FakeTerminal(), FakeClock()
    with ProgressBar(2, "epochs", stream=terminal, clock=clock) as progress:
        say = progress.around(lambda line: terminal.write(line + "\n"))
        clock.now += 1.0
        say("epoch 1/2: validation AUC 0.700")
        progress.step()
    lines = terminal.getvalue().split("\n")
    said = next(line for line in lines if "epoch 1/2" in line)
    assert said.endswith("\r\033[Kepoch 1/2: validation AUC 0.700")  # the bar's line cleared first
