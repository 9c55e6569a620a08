"""LeWorldModel provider on a real stable-worldmodel cost model (tiny, untrained, built here)."""

import os

import numpy as np
import pytest

from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError
from worldforge_ros.core.observation import ImageData, ObservationData
from worldforge_ros.providers.leworldmodel import (LeWorldModelScorer, LeWorldModelSettings,
                                                   make_leworldmodel_scorer, resolve_checkpoint)
from worldforge_ros.testing.conformance import check_score_provider
from worldforge_ros.testing.lewm_fixtures import render_joint_image, write_tiny_lewm

HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("stablewm")
    write_tiny_lewm(root, "panda/lewm", action_dim=7, seed=0)
    return root


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STABLEWM_HOME", str(tmp_path / "swm-home"))  # never the user's home
    for name in ("LEWORLDMODEL_POLICY", "LEWORLDMODEL_CACHE_DIR", "LEWORLDMODEL_DEVICE"):
        monkeypatch.delenv(name, raising=False)


def scorer(root, events=None, **overrides):
    config = {"policy": "panda/lewm", "cache_dir": str(root / "checkpoints"), "trusted_roots": [str(root)],
              "camera": "front", **overrides}
    provider = make_leworldmodel_scorer(config, events.append if events is not None else None)
    provider.configure()
    return provider


def observation(goal_offset=0.3, image=True):
    goal = HOME + goal_offset
    return ObservationData(stamp_ns=1, task="reach", joint_names=PANDA, joint_positions=HOME.copy(),
                           images=(ImageData("front", "rgb8", render_joint_image(HOME)),) if image else (),
                           extras={"goal_image": render_joint_image(goal)})


def candidates(count=8, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.linspace(0, 1, 16)[None, :, None]
    targets = HOME + rng.normal(0.0, 0.3, size=(count, 7))
    return HOME[None, None, :] + steps * (targets[:, None, :] - HOME[None, None, :])


def test_conformance_and_one_batched_call_for_all_candidates(root):
    events = []
    provider = scorer(root, events)
    model = provider.model
    calls = []
    original = model.get_cost

    def counting(info, action):  # wraps the real loaded model: counts calls, records the batch shape
        calls.append(tuple(action.shape))
        return original(info, action)

    model.get_cost = counting
    cands = candidates(16)
    assert check_score_provider(provider, observation(), cands, events=events) == []
    calls.clear()
    result = provider.score_actions(observation(), cands)
    assert calls == [(1, 16, 16, 7)]
    assert result.scores.shape == (16,) and np.all(np.isfinite(result.scores))
    assert result.lower_is_better and result.best_index == int(np.argmin(result.scores))
    assert result.metadata["input_shapes"]["pixels"] == [1, 16, 1, 3, 56, 56]
    assert result.metadata["score_shape"] == [1, 16]


def test_perturbed_model_ranks_consistently_and_tells_candidates_apart(root):
    provider = scorer(root)
    cands = candidates(8, seed=1)
    first = provider.score_actions(observation(), cands).scores
    assert np.ptp(first) > 0
    permutation = np.random.default_rng(2).permutation(8)
    permuted = provider.score_actions(observation(), cands[permutation]).scores
    np.testing.assert_allclose(permuted, first[permutation], rtol=1e-5)
    assert list(np.argsort(permuted)) == list(np.argsort(first[permutation]))


def test_no_state_leaks_between_calls(root):
    provider = scorer(root)
    a, b = observation(0.3), observation(-0.4)
    cands = candidates(6)
    first = provider.score_actions(a, cands).scores
    other = provider.score_actions(b, cands).scores
    again = provider.score_actions(a, cands).scores
    assert not np.allclose(first, other)  # the goal image matters (a stale cached goal would hide it)
    np.testing.assert_allclose(again, first, rtol=1e-6)


def test_untrusted_checkpoints_are_refused(root, tmp_path):
    with pytest.raises(ProviderError) as err:
        scorer(root, trusted_roots=[str(tmp_path)])
    assert err.value.code == ErrorCode.UNTRUSTED_CHECKPOINT
    with pytest.raises(ProviderError):
        scorer(root, trusted_roots=[])  # nothing trusted: nothing loads
    # A symlink inside a trusted root pointing outside it is judged by its real path.
    trusted = tmp_path / "trusted"
    (trusted / "panda").mkdir(parents=True)
    os.symlink(root / "checkpoints" / "panda" / "lewm_object.ckpt", trusted / "panda" / "lewm_object.ckpt")
    with pytest.raises(ProviderError) as err:
        scorer(root, cache_dir=str(trusted), trusted_roots=[str(trusted)])
    assert err.value.code == ErrorCode.UNTRUSTED_CHECKPOINT
    health = LeWorldModelScorer(LeWorldModelSettings("panda/lewm", str(trusted), "cpu", (str(trusted),))).health()
    assert not health.healthy and health.reason == "untrusted_checkpoint"


def test_health_order_without_loading(root, tmp_path, monkeypatch):
    assert LeWorldModelScorer(LeWorldModelSettings()).health().reason == "not_configured"
    missing = LeWorldModelScorer(LeWorldModelSettings("nope/lewm", str(tmp_path), "cpu", (str(tmp_path),)))
    assert missing.health().reason == "checkpoint_missing"
    monkeypatch.setenv("LEWORLDMODEL_POLICY", "panda/lewm")
    monkeypatch.setenv("STABLEWM_HOME", str(root))  # <home>/checkpoints/panda/lewm_object.ckpt
    provider = make_leworldmodel_scorer({"trusted_roots": [str(root)]})
    health = provider.health()
    assert health.healthy and health.reason == "" and provider._model is None  # not loaded by health
    assert resolve_checkpoint("panda/lewm", str(root / "checkpoints")) == \
        root / "checkpoints" / "panda" / "lewm_object.ckpt"
    assert resolve_checkpoint(str(root / "checkpoints" / "panda")).name == "lewm_object.ckpt"  # newest in a dir


def test_typed_errors_for_bad_inputs(root):
    provider = scorer(root)
    with pytest.raises(RequestError) as err:
        provider.score_actions(observation(image=False), candidates(4))
    assert err.value.code == ErrorCode.OBSERVATION_MISSING
    with pytest.raises(RequestError) as err:
        provider.score_actions(observation(), candidates(4)[:, :, :6])
    assert err.value.code == ErrorCode.SHAPE_MISMATCH
    bad = candidates(4)
    bad[1, 3, 2] = np.nan
    with pytest.raises(RequestError) as err:
        provider.score_actions(observation(), bad)
    assert err.value.code == ErrorCode.NON_FINITE_VALUE
    no_goal = observation()
    no_goal.extras.pop("goal_image")
    with pytest.raises(RequestError, match="goal image"):
        provider.score_actions(no_goal, candidates(4))
