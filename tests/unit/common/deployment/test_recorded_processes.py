"""A recorded pid is the recorded process only while its identity (boot id and start time) still
matches: after a power loss the same pid may be another program's (`recorded_alive`)."""

from __future__ import annotations

import os

from genofed.common.deployment import processes
from genofed.common.deployment.processes import identities, process_identity, recorded_alive


def test_this_process_is_itself_and_not_a_recorded_other():
    me = os.getpid()
    assert process_identity(me) == process_identity(me) and process_identity(me).count(":") == 1
    assert recorded_alive({"pid": me, "identities": identities(pid=me)}, "pid")
    assert not recorded_alive({"pid": me, "identities": {"pid": "another-boot:1"}}, "pid")
    assert recorded_alive({"pid": me}, "pid")  # an older genofed's record: the pid is all there is
    assert recorded_alive({"pid": me, "identities": ["not", "a", "mapping"]}, "pid")  # a hand-edited file


def test_a_recorded_identity_that_cannot_be_read_now_is_not_taken_for_the_process(monkeypatch):
    """/proc hidden (hidepid) or the process gone meanwhile: a recorded process is not assumed."""
    me = os.getpid()
    record = {"pid": me, "identities": identities(pid=me)}
    monkeypatch.setattr(processes, "process_identity", lambda pid: None)
    assert not recorded_alive(record, "pid")
