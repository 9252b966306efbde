"""`coordinator start` warns when every local user can read every process's command line: Flower's
SuperExec starts the ServerApp with its run's token there (`flwr-serverapp --token ...`), and an
audit as an unprivileged user took the token from `ps` and acted as the ServerApp with it."""

from __future__ import annotations

import pytest

from genofed.server.service.launch import visible_arguments_warning


@pytest.mark.parametrize(
    ("options", "warned"),
    [
        ("rw,relatime", True),
        ("rw,relatime,hidepid=0", True),
        ("rw,relatime,hidepid=2", False),
        ("rw,relatime,hidepid=invisible", False),
        ("rw,nosuid,hidepid=noaccess,gid=4", False),
    ],
)
def test_a_proc_without_hidepid_is_warned_of(tmp_path, options, warned):
    mounts = tmp_path / "mounts"
    mounts.write_text(f"sysfs /sys sysfs rw 0 0\nproc /proc proc {options} 0 0\n")
    warning = visible_arguments_warning(mounts)
    assert (warning is not None) == warned
    if warned:
        assert "run token" in warning and "hidepid=invisible" in warning


def test_nothing_is_said_where_the_mounts_cannot_be_read(tmp_path):
    assert visible_arguments_warning(tmp_path / "absent") is None
    (tmp_path / "no-proc").write_text("sysfs /sys sysfs rw 0 0\n")
    assert visible_arguments_warning(tmp_path / "no-proc") is None
