"""A run's augmentation refused under DP quotes the spec as the user wrote it, then how it was read:
the refusal had quoted the normalised description as if typed ("augment 'segment mix 10% of
records (segments of 20 variants), call noise 1% ...'" for `--augment mix=0.1,noise=0.01`)."""

from __future__ import annotations

import pytest

from genofed.server.settings import RunSettings, SettingsError


def test_the_refusal_quotes_the_spec_as_written_and_says_how_it_was_read():
    with pytest.raises(SettingsError) as refused:
        RunSettings(augment="mix=0.1,noise=0.01")
    message = str(refused.value)
    assert "augment 'mix=0.1,noise=0.01' (read as: segment mix 10% of records" in message
    assert "call noise 1% of calls" in message
