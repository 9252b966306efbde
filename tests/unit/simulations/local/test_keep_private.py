"""`genofed simulate --data` on real exports (no truth.json) keeps RUN readable by its owner only:
its report and results.json hold figures computed on the patients without privacy, its ledgers
their noise secrets, test_predictions.csv each test patient's risk; an audit as an unprivileged
user found them world-readable under the usual umask 022."""

from __future__ import annotations

import stat

from genofed.common.data.layout import TRUTH
from genofed.simulations.local.simulate import keep_private


def test_a_run_of_real_exports_is_its_owners_only(tmp_path):
    run, exports = tmp_path / "run", tmp_path / "exports"
    run.mkdir(mode=0o755)
    exports.mkdir()
    said: list[str] = []
    keep_private(run, exports, said.append)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert said == [f"{run}: readable by you only (mode 0700): it holds figures computed on the patients"]


def test_a_run_of_simulated_patients_keeps_its_mode(tmp_path):
    run, cohorts = tmp_path / "run", tmp_path / "cohorts"
    run.mkdir()
    run.chmod(0o755)
    cohorts.mkdir()
    (cohorts / TRUTH).write_text("{}")
    said: list[str] = []
    keep_private(run, cohorts, said.append)
    assert stat.S_IMODE(run.stat().st_mode) == 0o755 and said == []
