"""The empirical privacy audit (bench/privacy_audit.py): its statistics and its crafted models.

The statistics must be right for the audit to mean anything: a bound that is too generous would
"find" privacy bugs that are not there, one that is too strict would hide real ones. So they are
checked against closed forms and against a mechanism whose epsilon is known exactly (randomized
response). The tiny end-to-end run through the real ClientApp is in
tests/e2e/test_privacy_audit_run.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import load_bench_script

audit = load_bench_script("privacy_audit")


def test_p_value_without_delta_is_the_binomial_tail():
    q = 1 / (1 + math.exp(-1.0))
    expected = sum(math.comb(20, i) * q**i * (1 - q) ** (20 - i) for i in range(15, 21))
    assert audit.p_value(100, 20, 15, 1.0, 0.0) == pytest.approx(expected, rel=1e-9)


def test_delta_only_makes_the_p_value_larger():
    assert audit.p_value(1000, 100, 80, 1.0, 1e-5) > audit.p_value(1000, 100, 80, 1.0, 0.0)
    # a larger claimed epsilon makes many right guesses more plausible: the p-value grows with it
    assert audit.p_value(1000, 100, 80, 1.0, 1e-5) >= audit.p_value(1000, 100, 80, 0.5, 1e-5)


def test_all_guesses_right_gives_the_closed_form_ceiling():
    """With delta 0 and r of r right, the bound solves q^r = alpha for q = e^eps / (1 + e^eps)."""
    q = 0.05 ** (1 / 50)
    assert audit.epsilon_lower_bound(1000, 50, 50, 0.0, 0.05) == pytest.approx(
        math.log(q / (1 - q)), abs=1e-6
    )


def test_chance_guessing_shows_nothing():
    assert audit.epsilon_lower_bound(1000, 100, 50, 1e-5, 0.05) == 0.0
    assert audit.epsilon_lower_bound(1000, 0, 0, 1e-5, 0.05) == 0.0


def test_the_bound_holds_on_a_mechanism_with_known_epsilon():
    """Randomized response with epsilon 1 on each canary (an exactly 1-DP mechanism): the audit's
    bound may exceed 1 in at most ~5 % of runs (here: well under 15 % of 60)."""
    rng = np.random.default_rng(0)
    eps, m = 1.0, 400
    keep = math.exp(eps) / (1 + math.exp(eps))
    above = 0
    for _ in range(60):
        included = rng.random(m) < 0.5
        reported = np.where(rng.random(m) < keep, included, ~included)
        scores = reported + 0.01 * rng.random(m)  # ties broken independently of the truth
        guesses = audit.audit_guesses(scores, included, [20, 40, 80], 0.0, 0.95)
        above += max(g.epsilon for g in guesses) > eps
    assert above <= 9


def test_guesses_ignore_unscored_canaries():
    scores = np.array([3.0, -np.inf, 2.0, -np.inf])
    included = np.array([True, True, False, False])
    (guess,) = audit.audit_guesses(scores, included, [4], 0.0, 0.95)
    assert (guess.k, guess.correct) == (2, 1)


def test_gdp_epsilon_matches_known_values():
    """mu-GDP at delta 1e-5: epsilon grows with mu; mu 1 is about 4.4 (Dong, Roth & Su's curve)."""
    assert audit.gdp_epsilon(1.0, 1e-5) == pytest.approx(4.38, abs=0.02)
    assert audit.gdp_epsilon(0.0, 1e-5) == 0.0


@pytest.fixture(scope="module")
def audited_site(simulated_cohorts, tmp_path_factory):
    """The small preset's first hospital with 100 canaries added, written as a clinic's files."""
    from genofed.common.data.layout import GENOTYPES, TEST
    from genofed.common.data.readers import read_genotypes

    root = tmp_path_factory.mktemp("audit")
    federation = simulated_cohorts(5)  # read only: the audit site is written to root / "site"
    donors = len(read_genotypes(federation / TEST / GENOTYPES).sample_ids)
    canaries = audit.draw_canaries(100, donors, np.random.default_rng(1))
    site = audit.write_audit_site(federation, "rostov", canaries, root / "site", 20)
    return site, canaries


def _site_rows(site):
    """The site's own encoded rows, as its loader produces them."""
    from genofed.client.site import load_site_tensors, resolve_site

    config = {
        "genotypes": str(site.genotypes),
        "phenotypes": str(site.phenotypes),
        "panel": str(site.panel),
        "state-dir": str(site.state_dir),
        "epsilon-budget": 8.0,
    }
    data = load_site_tensors(resolve_site(config, {}), 0)
    return np.concatenate([data.train_x, data.val_x])


def test_the_written_site_holds_exactly_the_included_canaries(audited_site):
    site, canaries = audited_site
    rows = _site_rows(site)
    own = rows[:, site.first_canary : site.first_canary + len(canaries)]
    carriers = own > 1.0
    assert (
        carriers.sum(axis=0).tolist() == canaries.included.astype(int).tolist()
    )  # one carrier each, if included
    assert len(rows) == site.real_patients + canaries.included.sum()
    assert np.allclose(own[~carriers], site.other_x, atol=1e-6)


def test_training_model_puts_a_canarys_gradient_on_its_own_weight(audited_site):
    """The crafted training model: a carrier's gradient is mostly its own weight; nobody else's
    gradient touches that weight."""
    site, canaries = audited_site
    rows = torch.as_tensor(_site_rows(site))
    model = audit.build_model(site.model, seed=0)
    model.load_state_dict(audit.training_state(site, len(canaries)))
    own = rows[:, site.first_canary : site.first_canary + len(canaries)].numpy()
    for i in range(len(rows)):
        model.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(rows[i : i + 1]), torch.ones(1))
        loss.backward()
        weights = model.blocks.weight.grad[:, :, 0]
        norm = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm()
        carried = np.flatnonzero(own[i] > 1.0)
        if carried.size:
            block, within = audit._canary_position(site, int(carried[0]))
            assert -weights[block, within] / norm > 0.85  # a case's weight goes up: gradient negative
        else:
            assert weights.abs().max() < 1e-6


def test_evaluation_model_bins_each_assigned_canary_alone(audited_site):
    site, canaries = audited_site
    cells = audit.assign_cells(canaries, site, 2, np.random.default_rng(0))
    assert len({(c.evaluation, int(canaries.labels[c.canary]), c.bin) for c in cells}) == len(cells)
    for evaluation in range(2):
        audit.evaluation_state(
            site, len(canaries), [c for c in cells if c.evaluation == evaluation]
        )  # checks its bins
