"""A deployed hospital takes part in distributed DP only when its own node config says so, and then
its epsilon against a lying coordinator stays within its own `max-coalition-epsilon`.

The attack (a security audit's finding): under distributed DP a site adds only sigma / sqrt(m) of
the noise, m being `noise-share-sites`, which the site checks only against the SecAgg+ threshold,
itself set by the coordinator in the SETUP stage, with neighbours' public keys the coordinator can
fabricate. A coordinator that claims m = 100 and fakes 100 neighbours holds every share of the
site's mask seed and every pairwise key: it unmasks the site's reply ALONE, at a tenth of the
noise the site's `epsilon` assumes. Each test runs the protocol through the real ClientApp
(`make_client_app`: audit, SecAgg+ and outbound mods) as such a coordinator would.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import FitIns, bytes_to_ndarray, ndarrays_to_parameters
from flwr.common.config import parse_config_args
from flwr.common.secure_aggregation.crypto.shamir import combine_shares
from flwr.common.secure_aggregation.crypto.symmetric_encryption import decrypt, encrypt, generate_shared_key
from flwr.common.secure_aggregation.quantization import dequantize
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.common.secure_aggregation.secaggplus_utils import (
    share_keys_plaintext_concat,
    share_keys_plaintext_separate,
)
from flwr.compat.common import recorddict_compat as compat
from flwr.supercore.primitives.asymmetric import bytes_to_public_key, generate_key_pairs, public_key_to_bytes
from helpers.site_check import check_args

from genofed.cli.main import main
from genofed.client.agent.launch import format_node_config, node_config
from genofed.client.app import make_client_app
from genofed.client.budget import distributed_floor
from genofed.client.site import load_site_tensors, resolve_site, split_seed
from genofed.common.data.layout import hospital_folders
from genofed.common.errors import ConfigError
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.privacy.secagg_masks import mask_stream

BUDGET, DELTA = 3.0, 1e-5
SYBILS = 100  # the "sites" the coordinator claims share the noise, every one of them its own (the audit's)
FEW = 20  # fewer sybils where their number does not matter: SecAgg+ with 100 takes seconds
NODE, CLIP_RANGE, TARGET_RANGE, MOD_RANGE = 7, 8.0, 1 << 22, 1 << 32


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: the site's state goes to tmp_path)."""
    return simulated_cohorts(11)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _deployed(cohorts: Path, state: Path, **extra) -> dict:
    """A deployed hospital's node config (its own files, its budget), plus `extra`."""
    data = hospital_folders(cohorts)[0]
    config = {
        "genotypes": str(data.genotypes),
        "phenotypes": str(data.phenotypes),
        "panel": str(cohorts / "panel.tsv"),
        "state-dir": str(state),
        "site-name": data.name,
        "epsilon-budget": BUDGET,
        "delta": DELTA,
    }
    return {**config, **extra}


class _LyingCoordinator:
    """Runs SecAgg+ with `sybils` fabricated neighbours whose keys it holds, then unmasks the
    site's reply alone: its private mask seed from the sybils' shares, every pairwise mask from
    the sybils' keys."""

    def __init__(self, app, context: Context, sybils: int, clip_range: float = CLIP_RANGE) -> None:
        self.app, self.context, self.m, self.clip_range = app, context, sybils, clip_range
        self.sybils: dict[int, tuple] = {}
        self.site_keys: tuple[bytes, bytes] = (b"", b"")
        self.seed_shares: list[bytes] = []

    def _send(self, configs: dict, extra: dict | None = None) -> Message:
        content = RecordDict(extra or {})
        content[RECORD_KEY_CONFIGS] = ConfigRecord(configs)
        msg = Message(content, message_type=MessageType.TRAIN, dst_node_id=NODE)
        return self.app(msg, self.context)

    def _configs(self, reply: Message) -> ConfigRecord:
        assert not reply.has_error(), reply.error
        return reply.content.config_records[RECORD_KEY_CONFIGS]

    def setup_and_share_keys(self, max_weight: float) -> None:
        """SETUP with threshold m (the coordinator's say), SHARE_KEYS with m fabricated neighbours."""
        setup = {
            Key.STAGE: Stage.SETUP,
            Key.SAMPLE_NUMBER: self.m + 1,
            Key.SHARE_NUMBER: self.m + 1,
            Key.THRESHOLD: self.m,
            Key.CLIPPING_RANGE: self.clip_range,
            Key.TARGET_RANGE: TARGET_RANGE,
            Key.MOD_RANGE: MOD_RANGE,
            Key.MAX_WEIGHT: max_weight,
        }
        reply = self._configs(self._send(setup))
        self.site_keys = (reply[Key.PUBLIC_KEY_1], reply[Key.PUBLIC_KEY_2])
        for i in range(self.m):
            (sk1, pk1), (sk2, pk2) = generate_key_pairs(), generate_key_pairs()
            self.sybils[1000 + i] = (sk1, public_key_to_bytes(pk1), sk2, public_key_to_bytes(pk2))
        keys = {str(NODE): list(self.site_keys), **{str(n): [k[1], k[3]] for n, k in self.sybils.items()}}
        reply = self._configs(self._send({Key.STAGE: Stage.SHARE_KEYS, **keys}))
        site_pk2 = bytes_to_public_key(self.site_keys[1])
        for dst, ciphertext in zip(reply[Key.DESTINATION_LIST], reply[Key.CIPHERTEXT_LIST], strict=True):
            plain = decrypt(generate_shared_key(self.sybils[dst][2], site_pk2), ciphertext)
            self.seed_shares.append(share_keys_plaintext_separate(plain)[2])

    def train(self, weights: list[np.ndarray], config: dict) -> Message:
        """COLLECT_MASKED_VECTORS: the train round itself (the site's reply, or its refusal)."""
        fitins = compat.fitins_to_recorddict(FitIns(ndarrays_to_parameters(weights), config), keep_input=True)
        site_pk2 = bytes_to_public_key(self.site_keys[1])
        ciphertexts, sources = [], []
        for n, (_sk1, _pk1, sk2, _pk2) in self.sybils.items():
            plain = share_keys_plaintext_concat(n, NODE, b"\0" * 32, b"\0" * 32)
            ciphertexts.append(encrypt(generate_shared_key(sk2, site_pk2), plain))
            sources.append(n)
        stage = {Key.STAGE: Stage.COLLECT_MASKED_VECTORS, Key.CIPHERTEXT_LIST: ciphertexts}
        return self._send({**stage, Key.SOURCE_LIST: sources}, dict(fitins))

    def unmask(self, reply: Message) -> list[np.ndarray]:
        """The site's own reply, unmasked without any other site's help."""
        masked = [bytes_to_ndarray(b) for b in self._configs(reply)[Key.MASKED_PARAMETERS]]
        dims = [a.shape for a in masked]
        seed = combine_shares(self.seed_shares[: self.m])
        vector = [
            (a - p) % MOD_RANGE for a, p in zip(masked, mask_stream(seed, MOD_RANGE, dims), strict=True)
        ]
        site_pk1 = bytes_to_public_key(self.site_keys[0])
        for (
            sk1,
            *_,
        ) in self.sybils.values():  # the site (node 7 < every sybil id) subtracted each pairwise mask
            mask = mask_stream(generate_shared_key(sk1, site_pk1), MOD_RANGE, dims)
            vector = [(a + p) % MOD_RANGE for a, p in zip(vector, mask, strict=True)]
        return dequantize(vector[1:], self.clip_range, TARGET_RANGE)  # vector[0]: the weight factor


def _attack(
    node: dict,
    sybils: int = SYBILS,
    run_config: dict | None = None,
    *,
    clip_range: float = CLIP_RANGE,
    bias: float = 0.0,
) -> tuple[Message, _LyingCoordinator]:
    """The lying coordinator's distributed round at one site, m = `sybils` (all fabricated), q = 1,
    one batch, at the zero logistic model (lr 1) but for its `bias`, in a SecAgg+ session with
    `clip_range`: the reply, and the coordinator that can unmask it."""
    context = Context(
        run_id=1, node_id=NODE, node_config=node, state=RecordDict(), run_config=dict(run_config or {})
    )
    site = resolve_site(node, dict(run_config or {}))
    data = load_site_tensors(site, split_seed(site, 0))
    model = ModelConfig(n_variants=data.n_variants, architecture="logistic")
    weights = [v.numpy() for v in build_model(model, seed=0).state_dict().values()]
    weights[2] = np.full_like(weights[2], bias)  # (column scale, weight, bias)
    coordinator = _LyingCoordinator(make_client_app(run_config or {}), context, sybils, clip_range)
    coordinator.setup_and_share_keys(max_weight=float(data.public_train))
    return coordinator.train(weights, _round_config(model, sybils)), coordinator


def _round_config(model: ModelConfig, sites: int, server_round: int = 1) -> dict:
    """A distributed round's train config: q = 1, one batch, lr 1, `sites` sharing the noise."""
    return {
        "server-round": server_round,
        "num-rounds": server_round,
        "plan-id": "sybil",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 1.0,
        "clip": 1.0,
        "momentum": 0.0,
        "epsilon": BUDGET,
        "delta": DELTA,
        "model": json.dumps(model.to_dict()),
        "site-evaluations": 0,
        "privacy": "distributed",
        "noise-share-sites": sites,
        "noise-share-rate": 1.0,
    }


def _noise_in(reply: list[np.ndarray], node: dict) -> float:
    """The noise per coordinate, in units of the clip, of the site's unmasked reply: the reply
    minus what it would be without noise, w - lr * (sum of clipped gradients) / n at w = 0."""
    site = resolve_site(node, {})
    data = load_site_tensors(site, split_seed(site, 0))
    x = np.concatenate([data.train_x, np.ones((len(data.train_y), 1), np.float32)], 1).astype(np.float64)
    gradients = (0.5 - data.train_y)[:, None] * x  # BCE at the zero model, per patient
    gradients *= np.minimum(1.0, 1.0 / np.linalg.norm(gradients, axis=1))[:, None]  # clipped to 1
    expected = -gradients.sum(0) / data.public_train
    _scale, weight, bias = reply
    got = np.concatenate([weight[0], bias])
    return float(np.std((got - expected) * data.public_train))


def test_a_deployed_site_without_the_setting_refuses_distributed_dp_and_charges_nothing(cohorts, tmp_path):
    node = _deployed(cohorts, tmp_path / "state")
    reply, _ = _attack(node, FEW)
    assert reply.has_error()
    reason = reply.error.reason
    assert "\n" not in reason
    assert "max-coalition-epsilon" in reason and "genofed hospital check" in reason
    ledger = PrivacyLedger(tmp_path / "state" / LEDGER_FILE)
    assert ledger.charges == [] and ledger.plan("sybil") is None


def test_with_a_cap_the_coalition_epsilon_holds_against_fabricated_neighbours(cohorts, tmp_path):
    """m = 100 claimed, every neighbour fabricated, the reply unmasked alone: its noise is the share
    the ledger charged, and the epsilon that share gives stays within the hospital's cap."""
    cap = 6.0
    node = _deployed(cohorts, tmp_path / "state", **{"max-coalition-epsilon": cap})
    reply, coordinator = _attack(node)
    assert not reply.has_error(), reply.error
    noise = _noise_in(coordinator.unmask(reply), node)
    ledger = PrivacyLedger(tmp_path / "state" / LEDGER_FILE)
    (charge,) = ledger.charges
    assert noise == pytest.approx(charge.coalition_noise_multiplier, rel=0.15)
    # the cap binds: the site's share is the one the cap needs, and sigma what the coordinator faces
    # with the other m - 1 shares at the run's floor, far above the ~1.5 the budget needs
    others = (SYBILS - 1) * distributed_floor(BUDGET, 1.0, 1, DELTA) ** 2 / SYBILS
    assert charge.noise_multiplier == pytest.approx(math.sqrt(charge.coalition_noise_multiplier**2 + others))
    assert 0.9 * cap < ledger.coalition_epsilon(DELTA) <= cap * (1 + 1e-6)
    assert ledger.epsilon(DELTA) <= BUDGET * (1 + 1e-6)


def test_a_site_that_needs_more_noise_than_the_run_asks_for_adds_it_itself(cohorts, tmp_path):
    """A hospital whose own budget (1) is below the run's (3) beside sites that plan the run's
    noise: its share alone, unmasked, carries what the others' shares at the run's floor leave, so
    the honest coordinator's sum holds its charged sigma. Before (an audit), every site added
    sigma / sqrt(m) of its own sigma: the sum held noise 2.40 where the ledger charged 4.05, epsilon
    1.77 against an honest coordinator for a site with budget 1."""
    own = {"epsilon-budget": 1.0, "max-coalition-epsilon": math.inf}
    node = _deployed(cohorts, tmp_path / "state", **own)
    reply, coordinator = _attack(node, 3)
    assert not reply.has_error(), reply.error
    share = _noise_in(coordinator.unmask(reply), node)
    ledger = PrivacyLedger(tmp_path / "state" / LEDGER_FILE)
    (charge,) = ledger.charges
    others = 2 * distributed_floor(BUDGET, 1.0, 1, DELTA) ** 2 / 3  # two shares at the run's floor
    assert math.sqrt(share**2 + others) == pytest.approx(charge.noise_multiplier, rel=0.1)
    assert share == pytest.approx(charge.coalition_noise_multiplier, rel=0.15)
    assert share > 1.5 * charge.noise_multiplier / math.sqrt(3)  # the share every site added before
    assert ledger.epsilon(DELTA) <= 1.0 * (1 + 1e-6)


def test_an_explicit_inf_is_the_hospitals_informed_choice(cohorts, tmp_path):
    """`max-coalition-epsilon=inf` (as the agent's node config writes it) opts in without a cap:
    the site answers, and its ledger shows the coalition epsilon a lying coordinator gets."""
    node = _deployed(cohorts, tmp_path / "state", **{"max-coalition-epsilon": math.inf})
    reply, _ = _attack(node, FEW)
    assert not reply.has_error(), reply.error
    ledger = PrivacyLedger(tmp_path / "state" / LEDGER_FILE)
    assert ledger.epsilon(DELTA) <= BUDGET * (1 + 1e-6) < 4 * BUDGET < ledger.coalition_epsilon(DELTA)


def test_a_simulated_site_keeps_no_cap_unless_the_run_sets_one(cohorts, tmp_path):
    """The person running `genofed simulate` is every hospital: no opt-in needed (run config key
    `max-coalition-epsilon`, default inf)."""
    run = {"data-dir": str(cohorts), "ledger-dir": str(tmp_path / "ledgers")}
    assert resolve_site({"partition-id": 0}, run).max_coalition_epsilon == math.inf
    assert (
        resolve_site({"partition-id": 0}, {**run, "max-coalition-epsilon": 4.0}).max_coalition_epsilon == 4.0
    )
    reply, _ = _attack({"partition-id": 0}, FEW, run)
    assert not reply.has_error(), reply.error


def test_the_clipping_range_refusal_of_a_distributed_reply_is_decided_on_public_values(cohorts, tmp_path):
    """A coordinator that crafts a large bias and sets SecAgg+'s clipping range just below or just
    above the reply's largest weight (an audit: the unmasked refusal told which, and a binary
    search read the one reply, which carries only this site's share of the noise, to 6e-5): both
    ranges are refused in the same words, naming the bound public values give, and a range above
    that bound is taken. A simulated site redoes the same round identically in each session."""
    run = {"data-dir": str(cohorts), "ledger-dir": str(tmp_path / "ledgers")}
    node = {"partition-id": 0}
    reply, coordinator = _attack(node, 3, run, clip_range=16.0, bias=5.0)
    assert not reply.has_error(), reply.error
    largest = max(float(np.abs(a).max()) for a in coordinator.unmask(reply))
    assert 4 < largest < 5
    below, _ = _attack(node, 3, run, clip_range=largest * 0.999, bias=5.0)
    above, _ = _attack(node, 3, run, clip_range=largest * 1.001, bias=5.0)
    assert below.has_error() and above.has_error()
    words = [m.error.reason.replace(f"{largest * f:g}", "L") for m, f in ((below, 0.999), (above, 1.001))]
    assert words[0] == words[1] and "below what this distributed round's reply can reach" in words[0]
    bound = float(re.search(r"reach \(\+-([0-9.]+)", words[0]).group(1))
    assert largest < bound < 16
    taken, _ = _attack(node, 3, run, clip_range=bound * 1.01, bias=5.0)
    assert not taken.has_error(), taken.error


def test_the_same_round_is_quantized_the_same_way_twice(cohorts, tmp_path):
    """SecAgg+ rounds each reply stochastically; unseeded, two runs of the same command summed to
    models about 1e-6 apart, so the next round's input digest, and its whole noise draw, differed
    (an ML engineer's walkthrough). The rounding now follows from the reply itself, and NumPy's
    own generator is left as it was."""
    run = {"data-dir": str(cohorts), "ledger-dir": str(tmp_path / "ledgers")}
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    replies = []
    for _ in range(2):
        reply, coordinator = _attack({"partition-id": 0}, 3, run)
        assert not reply.has_error(), reply.error
        replies.append(coordinator.unmask(reply))
    for first, second in zip(*replies, strict=True):
        np.testing.assert_array_equal(first, second)
    assert np.array_equal(np.random.get_state()[1], before)


def test_the_clipping_range_refusal_quotes_no_count_and_charges_nothing(cohorts, tmp_path):
    """Three hospitals of 48, 64 and 80 training patients, each declaring 50 patients (40 for
    training): a coordinator's range below the bound gets the same words from all three, so the
    refusal tells nothing of their real counts (a privacy review: counted from the exact rows where
    they exceeded the declared size, the quoted bound gave the coordinator their number), and it
    comes before the round is computed or charged."""
    run = {"data-dir": str(cohorts), "ledger-dir": str(tmp_path / "ledgers")}
    words = set()
    for partition in range(3):
        node = {"partition-id": partition, "declared-size": 50}
        refused, _ = _attack(node, 3, run, clip_range=1.0, bias=0.5)
        assert (
            refused.has_error()
            and "below what this distributed round's reply can reach" in refused.error.reason
        )
        assert "nothing was computed or charged" in refused.error.reason
        words.add(refused.error.reason)
        ledger = PrivacyLedger(resolve_site(node, run).state_dir / LEDGER_FILE)
        assert ledger.charges == [] and ledger.plan("sybil") is None  # no plan left behind either
    assert len(words) == 1, words


def test_a_site_holding_far_more_than_it_declared_refuses_distributed_rounds_in_fixed_words(
    cohorts, tmp_path
):
    """64 and 48 training patients, each declaring 20 (16 for training, at most 42 rows): the reply's
    public bound would not hold, so both refuse, in the same words that quote no count, and
    nothing is charged; declared 80, the first takes part."""
    run = {"data-dir": str(cohorts), "ledger-dir": str(tmp_path / "ledgers")}
    words = set()
    for partition in (0, 1):
        node = {"partition-id": partition, "declared-size": 20}
        refused, _ = _attack(node, 3, run)
        assert refused.has_error()
        assert "more training patients than a distributed round allows" in refused.error.reason
        assert not re.search(r"\b(48|64)\b", refused.error.reason)
        words.add(refused.error.reason)
        assert PrivacyLedger(resolve_site(node, run).state_dir / LEDGER_FILE).charges == []
    assert len(words) == 1
    taken, _ = _attack(
        {"partition-id": 0, "declared-size": 80}, 3, {**run, "ledger-dir": str(tmp_path / "l2")}
    )
    assert not taken.has_error(), taken.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), (2.5, 2.5), ("2.5", 2.5), (math.inf, math.inf), ("inf", math.inf)],
)
def test_a_deployed_site_tells_unset_from_inf(cohorts, tmp_path, value, expected):
    extra = {} if value is None else {"max-coalition-epsilon": value}
    assert resolve_site(_deployed(cohorts, tmp_path, **extra), {}).max_coalition_epsilon == expected


@pytest.mark.parametrize("value", ["0", "-1", "nan", "many"])
def test_a_deployed_site_refuses_a_cap_that_is_not_a_positive_number(cohorts, tmp_path, value):
    with pytest.raises(ConfigError, match="max-coalition-epsilon"):
        resolve_site(_deployed(cohorts, tmp_path, **{"max-coalition-epsilon": value}), {})


def _check(site: Path, cohorts: Path, *options: str) -> int:
    return main(check_args(site, cohorts, "--epsilon-budget", "8", *options))


def _agent_node_config(site: Path) -> dict:
    """The node config the agent's SuperNode gets, as Flower parses its --node-config."""
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    return parse_config_args([format_node_config(config)])


def test_hospital_check_max_coalition_epsilon_lands_in_the_agents_node_config(
    cohorts, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))  # the hospitals' ledger index
    site = tmp_path / "site"
    assert main(["hospital", "init", str(site), "--name", hospital_folders(cohorts)[0].name]) == 0
    capsys.readouterr()

    assert _check(site, cohorts) == 0
    assert "distributed DP: refused" in capsys.readouterr().out
    parsed = _agent_node_config(site)
    assert "max-coalition-epsilon" not in parsed
    assert resolve_site(parsed, {}).max_coalition_epsilon is None

    assert _check(site, cohorts, "--max-coalition-epsilon", "4") == 0
    assert "capped at 4" in capsys.readouterr().out
    assert json.loads((site / "hospital.json").read_text())["data"]["max_coalition_epsilon"] == 4.0
    parsed = _agent_node_config(site)
    assert parsed["max-coalition-epsilon"] == 4.0
    assert resolve_site(parsed, {}).max_coalition_epsilon == 4.0

    # raising the cap is the data-protection officer's decision, as raising the budget is
    assert _check(site, cohorts, "--max-coalition-epsilon", "inf") == 2
    assert "--change-budget REASON" in capsys.readouterr().err
    assert _check(site, cohorts, "--max-coalition-epsilon", "inf", "--change-budget", "DPO decision") == 0
    assert "no cap" in capsys.readouterr().out
    assert resolve_site(_agent_node_config(site), {}).max_coalition_epsilon == math.inf

    before = (site / "hospital.json").read_text()
    for bad in ("0", "-2", "nan"):
        assert _check(site, cohorts, "--max-coalition-epsilon", bad) == 2
        err = capsys.readouterr().err.strip()
        assert "--max-coalition-epsilon" in err and len(err.splitlines()) == 1, err
    with pytest.raises(SystemExit):
        _check(site, cohorts, "--max-coalition-epsilon", "lots")
    assert (site / "hospital.json").read_text() == before  # a refusal changes nothing


def _plain_train(weights: list[np.ndarray], config: dict) -> Message:
    """The same round as a PLAIN train message (no SecAgg+ configs): the reply is not masked."""
    arrays = ArrayRecord(
        {
            k: torch.as_tensor(w)
            for k, w in zip(("scale", "linear.weight", "linear.bias"), weights, strict=True)
        }
    )
    content = RecordDict({"arrays": arrays, "config": ConfigRecord(config)})
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=NODE)


def test_a_plain_message_after_the_key_exchange_is_not_a_masked_round(cohorts, tmp_path):
    """SETUP and SHARE_KEYS leave the protocol state in the context; a plain train message after
    them was taken for the masked stage, and the site's noise share went out in the clear."""
    node = _deployed(cohorts, tmp_path / "state", **{"max-coalition-epsilon": 6.0})
    reply, coordinator = _attack(node, FEW)  # a first, real masked round (round 1)
    assert not reply.has_error(), reply.error
    coordinator.setup_and_share_keys(max_weight=100.0)  # the next round's key exchange ...
    site = resolve_site(node, {})
    model = ModelConfig(
        n_variants=load_site_tensors(site, split_seed(site, 0)).n_variants, architecture="logistic"
    )
    weights = [v.numpy() for v in build_model(model, seed=0).state_dict().values()]
    config = _round_config(model, FEW, server_round=2)
    plain = coordinator.app(_plain_train(weights, config), coordinator.context)  # ... then a plain message
    assert plain.has_error() and "outside a secure-aggregation round" in plain.error.reason
    assert len(PrivacyLedger(tmp_path / "state" / LEDGER_FILE).charges) == 1  # round 1 only


def test_a_charged_distributed_round_is_not_sent_again_in_another_session(cohorts, tmp_path):
    """Resending a round's masked share in a second SecAgg+ session (other neighbours) would let
    the coordinator difference the two sums; the first session's reply is the only one."""
    node = _deployed(cohorts, tmp_path / "state", **{"max-coalition-epsilon": 6.0})
    first, _ = _attack(node, FEW)
    assert not first.has_error(), first.error
    again, _ = _attack(node, FEW)  # the same round, a new session (fresh keys)
    assert again.has_error() and "already sent its masked noise share" in again.error.reason
    assert len(PrivacyLedger(tmp_path / "state" / LEDGER_FILE).charges) == 1
