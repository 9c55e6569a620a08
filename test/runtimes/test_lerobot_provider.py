"""LeRobot provider on real LeRobot 0.4.4 policies (tiny, untrained, built and saved here)."""

import json

import numpy as np
import pytest

from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError
from worldforge_ros.core.observation import ImageData, ObservationData
from worldforge_ros.providers.lerobot import LeRobotPolicy, LeRobotSettings, make_lerobot_policy
from worldforge_ros.testing.conformance import check_policy_provider
from worldforge_ros.testing.lerobot_fixtures import PANDA_HOME, write_act_camera, write_act_state, write_diffusion

HOME = np.array(PANDA_HOME)
PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    return {"act_state": write_act_state(root / "act_state", seed=1),
            "act_camera": write_act_camera(root / "act_camera", seed=2),
            "diffusion": write_diffusion(root / "diffusion", seed=3)}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("LEROBOT_POLICY_PATH", "LEROBOT_POLICY_TYPE", "LEROBOT_DEVICE", "LEROBOT_CACHE_DIR",
                 "LEROBOT_EMBODIMENT_TAG"):
        monkeypatch.delenv(name, raising=False)


def observation(image=True, positions=HOME):
    rng = np.random.default_rng(0)
    frames = (ImageData("front", "rgb8", rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)),) if image else ()
    return ObservationData(stamp_ns=1, task="reach", joint_names=PANDA, joint_positions=np.asarray(positions),
                           images=frames, extras={"goal_positions": HOME + 0.3})


def loaded(path, events=None, **config):
    policy = make_lerobot_policy({"policy_path": str(path), **config}, events.append if events is not None else None)
    policy.configure()
    return policy


@pytest.mark.parametrize("name", ["act_state", "act_camera", "diffusion"])
@pytest.mark.parametrize("mode", ["predict_chunk", "select_action"])
def test_conformance_both_modes(checkpoints, name, mode):
    events = []
    policy = loaded(checkpoints[name], events, seed=5)
    assert check_policy_provider(policy, observation(), num_candidates=3, mode=mode, events=events) == []
    result = policy.select_actions(observation(), 3, mode)
    action = result.actions["action"]
    expected_n = 3 if name == "diffusion" else 1
    assert action.shape == (expected_n, 16 if mode == "predict_chunk" else 1, 7)
    assert result.metadata["candidates_returned"] == expected_n
    assert result.metadata["stochastic"] is (name == "diffusion")
    assert result.metadata["processors_applied"] is True


@pytest.mark.parametrize("name", ["act_state", "diffusion"])
def test_postprocessor_unnormalizes_actions(checkpoints, name):
    policy = loaded(checkpoints[name])
    raw = policy.raw_actions(observation(), 2).double().numpy()  # normalized: ~0-centred
    actions = policy.select_actions(observation(), 2).actions["action"]
    # lerobot_fixtures.dataset_stats: action mean = home, std 0.02, min/max = mean -/+ 3 std.
    mode = policy.policy.config.normalization_mapping["ACTION"].value  # ACT: MEAN_STD, Diffusion: MIN_MAX
    scale = {"MEAN_STD": 0.02, "MIN_MAX": 0.06}[mode]
    np.testing.assert_allclose(actions, raw * scale + HOME, atol=1e-5)
    assert not np.allclose(actions, raw, atol=0.1)  # un-normalized differs from the raw output
    assert np.abs(actions - HOME).max() < 0.1  # near home: small, feasible moves


def test_diffusion_candidates_are_distinct_and_reproducible(checkpoints):
    policy = loaded(checkpoints["diffusion"], seed=11)
    first = policy.select_actions(observation(), 4).actions["action"]
    assert len({first[i].tobytes() for i in range(4)}) == 4
    np.testing.assert_array_equal(first, policy.select_actions(observation(), 4).actions["action"])
    other_seed = loaded(checkpoints["diffusion"], seed=12).select_actions(observation(), 4).actions["action"]
    assert not np.allclose(first, other_seed)


def test_reset_clears_the_action_queue(checkpoints):
    policy = loaded(checkpoints["act_state"])
    policy.select_actions(observation(), 1, "select_action")
    assert len(policy.policy._action_queue) == 15  # one step taken, the rest of the chunk queued
    moved = observation(positions=HOME + 0.05)
    first = policy.select_actions(moved, 1, "select_action").actions["action"]
    # reset() at the start of each call: the step comes from the new observation, not the stale queue
    fresh = loaded(checkpoints["act_state"]).select_actions(moved, 1, "select_action").actions["action"]
    np.testing.assert_allclose(first, fresh, atol=1e-6)
    assert len(policy.policy._action_queue) == 15


def test_missing_processor_file_is_a_typed_error(checkpoints, tmp_path):
    import shutil

    copy = tmp_path / "old_format"
    shutil.copytree(checkpoints["act_state"], copy)
    (copy / "policy_preprocessor.json").unlink()
    with pytest.raises(ProviderError) as err:
        loaded(copy)
    assert err.value.code == ErrorCode.PROVIDER_NOT_CONFIGURED and "migrated" in str(err.value)


def test_health_order_without_loading(checkpoints, tmp_path, monkeypatch):
    assert LeRobotPolicy(LeRobotSettings()).health().reason == "not_configured"
    assert LeRobotPolicy(LeRobotSettings(policy_path=str(tmp_path / "nope"))).health().reason == "checkpoint_missing"
    monkeypatch.setenv("LEROBOT_POLICY_PATH", str(checkpoints["act_state"]))
    monkeypatch.setenv("LEROBOT_EMBODIMENT_TAG", "panda_7dof")
    policy = make_lerobot_policy({})
    health = policy.health()
    assert health.healthy and policy.policy is None  # env fallback used, nothing loaded
    assert policy.settings.embodiment_tag == "panda_7dof"
    policy.configure()
    assert policy.select_actions(observation(), 1).embodiment_tag == "panda_7dof"


def test_wrong_policy_type_and_bad_observations_are_typed(checkpoints):
    with pytest.raises(ProviderError, match="'act' policy"):
        loaded(checkpoints["act_state"], policy_type="diffusion")
    policy = loaded(checkpoints["act_state"])
    with pytest.raises(RequestError) as err:
        policy.select_actions(ObservationData(joint_names=PANDA[:6], joint_positions=HOME[:6],
                                              extras={"goal_positions": HOME}), 1)
    assert err.value.code == ErrorCode.SHAPE_MISMATCH
    nan = observation(positions=np.r_[np.nan, HOME[1:]])
    with pytest.raises(RequestError) as err:
        policy.select_actions(nan, 1)
    assert err.value.code == ErrorCode.NON_FINITE_VALUE
    with pytest.raises(RequestError) as err:
        loaded(checkpoints["act_camera"]).select_actions(observation(image=False), 1)
    assert err.value.code == ErrorCode.OBSERVATION_MISSING
    named = loaded(checkpoints["act_state"], joint_names=["elbow"] + list(PANDA[1:]))
    with pytest.raises(RequestError) as err:
        named.select_actions(observation(), 1)
    assert err.value.code == ErrorCode.JOINT_NAMES_MISMATCH


def test_fixture_is_labelled_untrained(checkpoints):
    assert "UNTRAINED" in (checkpoints["diffusion"] / "UNTRAINED.txt").read_text()
    assert json.loads((checkpoints["diffusion"] / "config.json").read_text())["type"] == "diffusion"
