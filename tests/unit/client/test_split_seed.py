"""`stored_split_seed`: what `genofed adapt --state-dir` holds out is the deployed agent's own split."""

from __future__ import annotations

import pytest

from genofed.client.site import SiteConfig, split_seed, stored_split_seed
from genofed.common.errors import ConfigError


def _deployed_site(state_dir) -> SiteConfig:
    return SiteConfig(
        name="rostov",
        genotypes=state_dir / "g.vcf",
        phenotypes=state_dir / "p.csv",
        panel=state_dir / "panel.tsv",
        state_dir=state_dir,
        epsilon_budget=None,
    )


def test_the_stored_seed_is_the_agents_split_seed(tmp_path):
    site = _deployed_site(tmp_path / "state")
    agent = split_seed(site, simulation_seed=7)  # creates the agent's secret, as the agent does
    assert stored_split_seed(site.state_dir) == agent
    assert split_seed(site, simulation_seed=8) == agent  # a deployed agent ignores the run's seed


def test_a_folder_without_the_agents_secret_is_refused_and_left_as_it_is(tmp_path):
    with pytest.raises(ConfigError, match="holds no secret.key"):
        stored_split_seed(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_virtual_hospitals_secret_is_its_simulated_secret(tmp_path):
    """bench/adapt_calibration.py reproduces a simulated agent's split from `simulated_secret`
    (a virtual hospital of a federation genofed simulated: `secret_from_seed`)."""
    from dataclasses import replace

    from genofed.client.site import derived_seed, simulated_secret

    site = replace(_deployed_site(tmp_path), simulated=True, secret_from_seed=True)
    assert split_seed(site, simulation_seed=42) == derived_seed(simulated_secret(42, "rostov"), "split")
    assert simulated_secret(42, "rostov") != simulated_secret(43, "rostov")
    assert not (tmp_path / "secret.key").exists()  # a virtual hospital keeps no secret file


@pytest.mark.parametrize(("secret", "says"), [(b"", "is empty"), (b"garbage", "holds 7 bytes")])
def test_a_secret_the_agent_did_not_write_is_refused(tmp_path, secret, says):
    """`site_secret` writes 32 random bytes; anything else in secret.key is not the agent's."""
    (tmp_path / "secret.key").write_bytes(secret)
    with pytest.raises(ConfigError, match=f"secret.key {says}, but the hospital agent writes a 32-byte"):
        stored_split_seed(tmp_path)
    assert (tmp_path / "secret.key").read_bytes() == secret  # left as it is
