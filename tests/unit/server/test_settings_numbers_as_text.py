"""A run setting's number may be written as text for every numeric setting alike, and text that is
no number is refused for every one (an ML engineer's walkthrough took `epsilon='8'`, accepted, and
`rounds='two'`, refused, for an inconsistency: `rounds='2'` is accepted too)."""

from __future__ import annotations

import pytest

from genofed.common.errors import ConfigError
from genofed.server.settings import RunSettings


def test_numbers_written_as_text_read_as_numbers_for_ints_and_floats_alike():
    settings = RunSettings.from_config({"rounds": "2", "epsilon": "8", "proximal-mu": "0.5"})
    assert (settings.rounds, settings.epsilon, settings.proximal_mu) == (2, 8.0, 0.5)


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [("rounds", "two", "int"), ("epsilon", "eight", "float"), ("rounds", "2.5", "int")],
)
def test_text_that_is_no_number_is_refused_naming_the_setting(key, value, kind):
    with pytest.raises(ConfigError, match=f"run setting {key}='{value}' is not a valid {kind}"):
        RunSettings.from_config({key: value})
