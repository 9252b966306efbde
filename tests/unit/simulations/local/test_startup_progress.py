"""`genofed simulate` says what it does while the hospitals read their data.

Between "starting Flower's simulation engine" and the line that lists the hospitals' sizes (said
once every hospital has read and checked its files), a walkthrough on a large cohort met a minute
of silence and took the run for hung. Ray and Flower are replaced by stand-ins here: what is
checked is the order of what the user is told.
"""

from __future__ import annotations

import json
from pathlib import Path

import flwr.simulation

from genofed.server.results import FEDERATION_RESULTS
from genofed.server.settings import RunSettings
from genofed.simulations.local import simulate as simulate_module
from genofed.simulations.local.site_names import SiteNames

HOSPITALS = ["astrakhan", "elista", "rostov"]


def test_the_hospitals_reading_their_data_is_said_after_ray_starts_and_before_flower(tmp_path, monkeypatch):
    said: list[str] = []
    settings = RunSettings(data_dir=str(tmp_path / "hospitals"), out_dir=str(tmp_path / "run"), rounds=1)

    def start_ray(_init_args) -> None:
        said.append("<ray started>")

    def run_simulation(**_kwargs) -> None:  # the ServerApp's part: its results file
        said.append("<flower runs>")
        Path(settings.out_dir).mkdir(parents=True, exist_ok=True)
        (Path(settings.out_dir) / FEDERATION_RESULTS).write_text(json.dumps({}))

    monkeypatch.setattr(simulate_module, "start_ray", start_ray)
    monkeypatch.setattr(flwr.simulation, "run_simulation", run_simulation)
    names = SiteNames(HOSPITALS, store=tmp_path / "names.json")
    simulate_module._run_flower(settings, HOSPITALS, 20_826, names, said.append, False, True)
    assert said[0].startswith("starting Flower's simulation engine"), said
    assert said[1] == "<ray started>" and said[3] == "<flower runs>", said  # said between the two
    assert "astrakhan, elista, rostov" in said[2] and "20,826 variants" in said[2], said
