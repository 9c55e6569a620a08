"""LeRobot provider on real LeRobot 0.4.4 policies (tiny, untrained, built and saved here by the fixtures)."""

import json
import shutil
import sys

import numpy as np
import pytest

from worldforge_ros.bridges.lerobot_observation import build_batch
from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError
from worldforge_ros.core.observation import ImageData, ObservationData
from worldforge_ros.providers import registry
from worldforge_ros.providers.lerobot import LeRobotPolicy, LeRobotSettings, make_lerobot_policy
from worldforge_ros.testing.conformance import check_policy_provider
from worldforge_ros.testing.lerobot_fixtures import (PANDA_HOME, README, dataset_stats, write_act_camera,
                                                     write_act_state, write_diffusion)

HOME = np.array(PANDA_HOME)
PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
ENV_VARS = ("LEROBOT_POLICY_PATH", "LEROBOT_POLICY", "LEROBOT_POLICY_TYPE", "LEROBOT_DEVICE", "LEROBOT_CACHE_DIR",
            "LEROBOT_EMBODIMENT_TAG")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    return {"act_state": write_act_state(root / "act_state", seed=1),
            "act_camera": write_act_camera(root / "act_camera", seed=2),
            "diffusion": write_diffusion(root / "diffusion", seed=3)}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def observation(image=True, positions=HOME, goal=HOME + 0.3, encoding="rgb8"):
    rng = np.random.default_rng(0)
    frames = (ImageData("front", encoding, rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)),) if image else ()
    return ObservationData(stamp_ns=1, task="reach", embodiment_tag="panda_7dof", joint_names=PANDA,
                           joint_positions=np.asarray(positions, dtype=np.float64), images=frames,
                           extras={"goal_positions": np.asarray(goal)})


def loaded(path, events=None, **config):
    policy = make_lerobot_policy({"policy_path": str(path), **config}, events.append if events is not None else None)
    policy.configure()
    return policy


# ---------------------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize("name", ["act_state", "act_camera", "diffusion"])
@pytest.mark.parametrize("mode", ["predict_chunk", "select_action"])
def test_conformance_both_modes(checkpoints, name, mode):
    events = []
    policy = loaded(checkpoints[name], events, seed=5)
    # Seeded sampling: even Diffusion reproduces its candidates, so determinism is checked for all three.
    problems = check_policy_provider(policy, observation(), num_candidates=3, mode=mode, expect_deterministic=True,
                                     events=events)
    assert problems == []
    result = policy.select_actions(observation(), 3, mode)
    action = result.actions["action"]
    expected_n = 3 if name == "diffusion" else 1
    assert action.shape == (expected_n, 16 if mode == "predict_chunk" else 1, 7) and action.dtype == np.float64
    meta = result.metadata
    assert meta["candidates_requested"] == 3 and meta["candidates_returned"] == expected_n
    assert meta["stochastic"] is (name == "diffusion") and meta["mode"] == mode
    assert meta["processors_applied"] is True and "UnnormalizerProcessorStep" in meta["processors"]["post"]
    assert "NormalizerProcessorStep" in meta["processors"]["pre"]
    assert meta["device"] == "cpu" and meta["policy_type"] == ("diffusion" if name == "diffusion" else "act")
    assert result.embodiment_tag == "panda_7dof" and events[-1].phase == "success"
    assert events[-1].metadata["candidates_returned"] == expected_n


@pytest.mark.parametrize("name", ["act_state", "act_camera", "diffusion"])
def test_select_action_is_the_first_step_of_the_chunk(checkpoints, name):
    policy = loaded(checkpoints[name], seed=2)
    chunk = policy.select_actions(observation(), 2, "predict_chunk").actions["action"]
    step = policy.select_actions(observation(), 2, "select_action").actions["action"]
    np.testing.assert_allclose(step[:, 0], chunk[:, 0], atol=1e-6)


# ---------------------------------------------------------------------------------------------------- processors
@pytest.mark.parametrize("name", ["act_state", "act_camera", "diffusion"])
def test_postprocessor_unnormalizes_actions(checkpoints, name):
    policy = loaded(checkpoints[name])
    raw = policy.raw_actions(observation(), 2).double().numpy()  # the model's normalized output
    actions = policy.select_actions(observation(), 2).actions["action"]
    # lerobot_fixtures.dataset_stats: action mean = home, std 0.02, min/max = mean -/+ 3 std.
    kind = policy.policy.config.normalization_mapping["ACTION"].value  # ACT: MEAN_STD, Diffusion: MIN_MAX
    scale = {"MEAN_STD": 0.02, "MIN_MAX": 0.06}[kind]
    np.testing.assert_allclose(actions, raw * scale + HOME, atol=1e-5)
    assert not np.allclose(actions, raw, atol=0.1)  # un-normalized differs from the raw output
    assert np.abs(actions - HOME).max() < 0.5  # near home: small moves


def test_preprocessor_normalizes_inputs(checkpoints):
    import torch

    policy = loaded(checkpoints["act_state"])
    obs = observation(positions=HOME + 0.05)
    applied = policy.raw_actions(obs).numpy()
    stats = dataset_stats()
    unnormalized = build_batch(obs, policy.policy.config.input_features)
    # ACT's normalization_mapping covers STATE (mean/std); ENV (the goal) is passed through un-normalized.
    by_hand = dict(unnormalized)
    by_hand["observation.state"] = (unnormalized["observation.state"] - stats["observation.state"]["mean"]) / \
        stats["observation.state"]["std"]
    with torch.inference_mode():
        policy.policy.reset()
        expected = policy.policy.predict_action_chunk(by_hand).numpy()
        policy.policy.reset()
        skipped = policy.policy.predict_action_chunk(unnormalized).numpy()
    np.testing.assert_allclose(applied, expected, atol=1e-5)  # the preprocessor's normalization ran
    assert not np.allclose(applied, skipped, atol=1e-3)  # and it matters


# ---------------------------------------------------------------------------------------------------- candidates
def test_diffusion_candidates_are_distinct_and_reproducible(checkpoints):
    policy = loaded(checkpoints["diffusion"], seed=11)
    first = policy.select_actions(observation(), 4)
    action = first.actions["action"]
    assert len({action[i].tobytes() for i in range(4)}) == 4
    assert first.metadata["seeds"] == [11, 12, 13, 14]
    np.testing.assert_array_equal(action, policy.select_actions(observation(), 4).actions["action"])
    again = loaded(checkpoints["diffusion"], seed=11).select_actions(observation(), 4).actions["action"]
    np.testing.assert_array_equal(action, again)  # a fresh load with the same seeds reproduces them
    other_seed = loaded(checkpoints["diffusion"], seed=12).select_actions(observation(), 4).actions["action"]
    assert not np.allclose(action, other_seed)


def test_act_returns_one_candidate_whatever_is_asked(checkpoints):
    result = loaded(checkpoints["act_state"]).select_actions(observation(), 8)
    assert result.actions["action"].shape[0] == 1
    assert result.metadata["stochastic"] is False and result.metadata["candidates_returned"] == 1


def test_reset_clears_the_action_queue(checkpoints):
    policy = loaded(checkpoints["act_state"])
    policy.select_actions(observation(), 1, "select_action")
    assert len(policy.policy._action_queue) == 15  # one step taken, the rest of the chunk queued
    moved = observation(positions=HOME + 0.05)
    stale_next = policy.policy.select_action(policy.preprocessor(build_batch(moved, policy.policy.config.input_features)))
    first = policy.select_actions(moved, 1, "select_action").actions["action"]
    # reset() at the start of each call: the step comes from the new observation, not the stale queue
    fresh = loaded(checkpoints["act_state"]).select_actions(moved, 1, "select_action").actions["action"]
    np.testing.assert_allclose(first, fresh, atol=1e-6)
    assert not np.allclose(first[0, 0], policy.postprocessor(stale_next).numpy()[0], atol=1e-6)
    assert len(policy.policy._action_queue) == 15


# ---------------------------------------------------------------------------------------------------- errors
def test_old_format_checkpoint_is_a_typed_migration_error(checkpoints, tmp_path):
    copy = tmp_path / "old_format"
    shutil.copytree(checkpoints["act_state"], copy)
    for name in ("policy_preprocessor.json", "policy_postprocessor.json"):
        (copy / name).unlink()
    health = make_lerobot_policy({"policy_path": str(copy)}).health()
    assert not health.healthy and health.reason == "checkpoint_missing" and "policy_preprocessor.json" in health.details
    with pytest.raises(ProviderError) as err:  # LeRobot's ProcessorMigrationError, mapped
        loaded(copy)
    assert err.value.code == ErrorCode.PROVIDER_NOT_CONFIGURED and err.value.details["reason"] == "processor_missing"
    assert "migrate_policy_normalization" in str(err.value) and "before LeRobot 0.4" in str(err.value)


def test_one_missing_processor_file_is_typed(checkpoints, tmp_path):
    copy = tmp_path / "half"
    shutil.copytree(checkpoints["act_state"], copy)
    (copy / "policy_postprocessor.json").unlink()
    with pytest.raises(ProviderError) as err:
        loaded(copy)
    assert err.value.code == ErrorCode.PROVIDER_NOT_CONFIGURED and "policy_postprocessor.json" in str(err.value)


def test_nan_output_is_a_contract_violation(checkpoints, tmp_path):
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "nan_act"
    shutil.copytree(checkpoints["act_state"], copy)
    weights = load_file(copy / "model.safetensors")
    weights["model.action_head.bias"].fill_(float("nan"))
    save_file(weights, copy / "model.safetensors")
    events = []
    policy = loaded(copy, events)
    with pytest.raises(ProviderError) as err:
        policy.select_actions(observation(), 1)
    assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION and "NaN" in str(err.value)
    assert events[-1].phase == "failure" and events[-1].status_code == int(ErrorCode.PROVIDER_CONTRACT_VIOLATION)


def test_bad_observations_and_requests_are_typed(checkpoints):
    policy = loaded(checkpoints["act_state"])
    cases = {
        ErrorCode.SHAPE_MISMATCH: ObservationData(joint_names=PANDA[:6], joint_positions=HOME[:6],
                                                  extras={"goal_positions": HOME}),
        ErrorCode.NON_FINITE_VALUE: observation(positions=np.r_[np.nan, HOME[1:]]),
        ErrorCode.OBSERVATION_MISSING: ObservationData(joint_names=PANDA, joint_positions=HOME),  # no goal extra
    }
    for code, obs in cases.items():
        with pytest.raises(RequestError) as err:
            policy.select_actions(obs, 1)
        assert err.value.code == code, err.value
    with pytest.raises(RequestError) as err:
        policy.select_actions(observation(goal=HOME[:5]), 1)
    assert err.value.code == ErrorCode.SHAPE_MISMATCH and "goal_positions" in str(err.value)
    with pytest.raises(RequestError) as err:
        policy.select_actions(observation(), 1, "rollout")
    assert err.value.code == ErrorCode.INVALID_ARGUMENT
    with pytest.raises(RequestError):
        policy.select_actions(observation(), 0)
    with pytest.raises(RequestError) as err:
        loaded(checkpoints["act_camera"]).select_actions(observation(image=False), 1)
    assert err.value.code == ErrorCode.OBSERVATION_MISSING and "front" in str(err.value)
    named = loaded(checkpoints["act_state"], joint_names=["elbow"] + list(PANDA[1:]))
    with pytest.raises(RequestError) as err:
        named.select_actions(observation(), 1)
    assert err.value.code == ErrorCode.JOINT_NAMES_MISMATCH and "elbow" in str(err.value)


def test_configured_joint_order_is_used(checkpoints):
    reversed_names = tuple(reversed(PANDA))
    shuffled = ObservationData(joint_names=reversed_names, joint_positions=HOME[::-1].copy(),
                               extras={"goal_positions": HOME + 0.3})
    by_name = loaded(checkpoints["act_state"], joint_names=list(PANDA)).select_actions(shuffled, 1)
    in_order = loaded(checkpoints["act_state"]).select_actions(observation(image=False), 1)
    np.testing.assert_allclose(by_name.actions["action"], in_order.actions["action"], atol=1e-6)
    assert by_name.metadata["joint_order"] == "configured"


def test_bgr_and_rgb_frames_give_the_same_actions(checkpoints):
    policy = loaded(checkpoints["act_camera"])
    rgb = observation()
    bgr = ObservationData(joint_names=PANDA, joint_positions=HOME, extras=rgb.extras,
                          images=(ImageData("front", "bgr8", rgb.images[0].pixels[..., ::-1].copy()),))
    np.testing.assert_allclose(policy.select_actions(rgb, 1).actions["action"],
                               policy.select_actions(bgr, 1).actions["action"], atol=1e-6)
    assert policy.select_actions(rgb, 1).metadata["input_shapes"]["observation.images.front"] == [1, 3, 64, 64]


def test_policy_type_is_checked(checkpoints):
    with pytest.raises(ProviderError, match="'act' policy"):
        loaded(checkpoints["act_state"], policy_type="diffusion")
    unknown = make_lerobot_policy({"policy_path": str(checkpoints["act_state"]), "policy_type": "mystery"})
    assert unknown.health().reason == "not_configured" and "mystery" in unknown.health().details
    assert make_lerobot_policy({"policy_type": "pi0fast"}).settings.policy_type == "pi0_fast"  # WorldForge alias


# ---------------------------------------------------------------------------------------------------- health / env
def test_health_order_without_loading(checkpoints, tmp_path, monkeypatch):
    assert LeRobotPolicy(LeRobotSettings()).health().reason == "not_configured"
    missing = LeRobotPolicy(LeRobotSettings(policy_path=str(tmp_path / "nope")))
    assert missing.health().reason == "checkpoint_missing"
    present = make_lerobot_policy({"policy_path": str(checkpoints["act_state"])})
    with monkeypatch.context() as blocked:  # lerobot not importable: the import system refuses it
        blocked.setitem(sys.modules, "lerobot", None)
        health = present.health()
        assert not health.healthy and health.reason == "dependency_missing" and "lerobot" in health.details
        # ... but a missing checkpoint is still reported first (WorldForge's order)
        assert missing.health().reason == "checkpoint_missing"
    health = present.health()
    assert health.healthy and health.reason == "" and present.policy is None  # health never loads weights
    assert "configured for act_state" in health.details and "device=cpu" in health.details


def test_environment_fallbacks(checkpoints, monkeypatch):
    monkeypatch.setenv("LEROBOT_POLICY_PATH", str(checkpoints["diffusion"]))
    monkeypatch.setenv("LEROBOT_POLICY_TYPE", "diffusion")
    monkeypatch.setenv("LEROBOT_DEVICE", "cpu")
    monkeypatch.setenv("LEROBOT_CACHE_DIR", "/tmp/lerobot-cache")
    monkeypatch.setenv("LEROBOT_EMBODIMENT_TAG", "panda_7dof")
    # the registry drops empty parameters so the environment applies
    policy = registry.get("lerobot").create({"policy_path": "", "policy_type": "", "device": "", "seed": 3})
    assert isinstance(policy, LeRobotPolicy)
    settings = policy.settings
    assert (settings.policy_path, settings.policy_type, settings.device, settings.cache_dir,
            settings.embodiment_tag, settings.seed) == (str(checkpoints["diffusion"]), "diffusion", "cpu",
                                                        "/tmp/lerobot-cache", "panda_7dof", 3)
    assert policy.health().healthy and policy.policy is None
    result = policy.select_actions(ObservationData(joint_names=PANDA, joint_positions=HOME,
                                                   extras={"goal_positions": HOME}), 2)  # lazy load
    assert result.embodiment_tag == "panda_7dof" and result.actions["action"].shape == (2, 16, 7)
    # parameters win over the environment
    given = make_lerobot_policy({"policy_path": str(checkpoints["act_state"]), "embodiment_tag": "lab_arm"})
    assert given.settings.policy_path == str(checkpoints["act_state"]) and given.settings.embodiment_tag == "lab_arm"
    monkeypatch.delenv("LEROBOT_POLICY_PATH")
    monkeypatch.setenv("LEROBOT_POLICY", str(checkpoints["act_state"]))  # WorldForge's alias
    assert make_lerobot_policy({}).settings.policy_path == str(checkpoints["act_state"])


def test_fixtures_are_labelled_untrained(checkpoints):
    for path in checkpoints.values():
        assert (path / README).read_text().startswith("UNTRAINED")
        assert {"policy_preprocessor.json", "policy_postprocessor.json", "model.safetensors"} <= \
            {p.name for p in path.iterdir()}
    assert json.loads((checkpoints["diffusion"] / "config.json").read_text())["type"] == "diffusion"
