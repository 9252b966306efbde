"""The experiments' shared grid check refuses a privacy level that is not > 0 (inf is "no DP")
at once, in the config, before any cohort is simulated or model trained."""

from __future__ import annotations

import math

import pytest

from genofed.common.errors import ConfigError
from genofed.simulations.experiments.augmentation.config import AugmentConfig
from genofed.simulations.experiments.base.grid import check_grid
from genofed.simulations.experiments.synthetic_utility.config import SynthUtilityConfig
from genofed.simulations.experiments.transfer.config import TransferConfig


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_an_epsilon_not_above_zero_is_refused(bad):
    with pytest.raises(ConfigError, match=r"epsilons must be > 0 \(inf = no DP\)"):
        check_grid((40,), (1,), (math.inf, bad))


def test_inf_and_positive_epsilons_pass():
    check_grid((40,), (1,), (math.inf,))
    check_grid((40,), (1,), (math.inf, 8.0, 0.5))


@pytest.mark.parametrize("config", [TransferConfig, AugmentConfig, SynthUtilityConfig])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_the_experiments_refuse_it_in_their_config(config, bad, tmp_path):
    with pytest.raises(ConfigError, match="epsilons must be > 0"):
        config(out_dir=str(tmp_path), epsilons=(bad,))
    assert config(out_dir=str(tmp_path), epsilons=(math.inf,)).epsilons == (math.inf,)
