"""Reference providers: a seeded goal-seeking policy and a batched distance-to-goal scorer (not models)."""

import numpy as np
import pytest

from worldforge_ros.core.contracts import PolicyProvider, ScoreProvider
from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.core.selection import pool_candidates, select_candidate
from worldforge_ros.core.trajectory import StartState
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.providers.reference import ReferencePolicy, ReferenceScorer

NAMES = ("a", "b", "c")
START = np.array([0.1, -0.2, 0.3])
GOAL = np.array([0.5, 0.0, -0.1])


def observe(start=START, goal=GOAL, **kw):
    extras = {} if goal is None else {"goal_positions": np.asarray(goal)}
    return ObservationData(joint_names=NAMES[:len(start)], joint_positions=np.asarray(start, dtype=float),
                           extras=extras, **kw)


def test_protocols_health_and_profiles():
    policy, scorer = ReferencePolicy(), ReferenceScorer()
    assert isinstance(policy, PolicyProvider) and isinstance(scorer, ScoreProvider)
    for provider in (policy, scorer):
        health = provider.health()
        assert health.healthy and health.latency_ms >= 0.1 and "not a model" in health.details
        assert provider.profile.implementation_status == "reference"
    assert policy.profile.has("policy") and not policy.profile.has("score")
    assert scorer.profile.has("score") and not scorer.profile.has("policy")


def test_chunks_move_from_start_toward_goal():
    result = ReferencePolicy(horizon=8, noise_std=0.0).select_actions(observe(), 4, "predict_chunk")
    actions = result.actions["action"]
    assert actions.shape == (4, 8, 3) and result.candidate_count == 4
    np.testing.assert_allclose(actions[:, -1], np.repeat(GOAL[None], 4, axis=0))
    np.testing.assert_allclose(actions[0, 0], START + (GOAL - START) / 8)
    steps = np.diff(np.concatenate([np.repeat(START[None, None], 4, axis=0), actions], axis=1), axis=1)
    np.testing.assert_allclose(steps, np.broadcast_to((GOAL - START) / 8, steps.shape))
    assert result.metadata["runtime"] == "reference" and result.metadata["goal_source"] == "observation"


def test_noise_is_seeded_and_input_dependent():
    a = ReferencePolicy(noise_std=0.05, seed=3).select_actions(observe(), 5).actions["action"]
    b = ReferencePolicy(noise_std=0.05, seed=3).select_actions(observe(), 5).actions["action"]
    c = ReferencePolicy(noise_std=0.05, seed=4).select_actions(observe(), 5).actions["action"]
    d = ReferencePolicy(noise_std=0.05, seed=3).select_actions(observe(start=START + 0.01), 5).actions["action"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a[:, -1], d[:, -1])
    assert len({tuple(np.round(x[-1], 12)) for x in a}) == 5  # every candidate differs


def test_max_step_bounds_each_displacement():
    actions = ReferencePolicy(horizon=4, noise_std=0.0, max_step=0.05).select_actions(observe(), 1).actions["action"]
    steps = np.diff(np.concatenate([START[None], actions[0]]), axis=0)
    assert np.all(np.abs(steps) <= 0.05 + 1e-12)
    assert np.abs(steps[:, 0]).max() == pytest.approx(0.05)


def test_goal_sources_and_errors():
    configured = ReferencePolicy(noise_std=0.0, goal_positions=[1.0, 1.0, 1.0])
    out = configured.select_actions(observe(goal=None), 1)
    assert out.metadata["goal_source"] == "config"
    np.testing.assert_allclose(out.actions["action"][0, -1], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(configured.select_actions(observe(), 1).actions["action"][0, -1], GOAL)
    cases = [
        (lambda: ReferencePolicy().select_actions(observe(goal=None), 1), ErrorCode.OBSERVATION_MISSING),
        (lambda: ReferencePolicy().select_actions(observe(goal=[1.0, 2.0]), 1), ErrorCode.SHAPE_MISMATCH),
        (lambda: ReferencePolicy().select_actions(observe(goal=[np.nan, 0, 0]), 1), ErrorCode.NON_FINITE_VALUE),
        (lambda: ReferencePolicy().select_actions(observe(start=[]), 1), ErrorCode.OBSERVATION_MISSING),
        (lambda: ReferencePolicy().select_actions(observe(), 0), ErrorCode.INVALID_ARGUMENT),
        (lambda: ReferencePolicy().select_actions(observe(), 2, "sample"), ErrorCode.INVALID_ARGUMENT),
        (lambda: ReferencePolicy(horizon=0), ErrorCode.INVALID_ARGUMENT),
        (lambda: ReferenceScorer().score_actions(observe(goal=None), np.zeros((2, 4, 3))),
         ErrorCode.OBSERVATION_MISSING),
        (lambda: ReferenceScorer().score_actions(observe(), np.zeros((4, 3))), ErrorCode.SHAPE_MISMATCH),
        (lambda: ReferenceScorer().score_actions(observe(), np.zeros((2, 4, 2))), ErrorCode.SHAPE_MISMATCH),
        (lambda: ReferenceScorer().score_actions(observe(), np.full((2, 4, 3), np.inf)), ErrorCode.NON_FINITE_VALUE),
    ]
    for call, code in cases:
        with pytest.raises(RequestError) as exc:
            call()
        assert exc.value.code == code


def test_select_action_mode_returns_the_first_step():
    policy = ReferencePolicy(horizon=6, noise_std=0.01, seed=9)
    chunk = policy.select_actions(observe(), 3, "predict_chunk").actions["action"]
    step = policy.select_actions(observe(), 3, "select_action").actions["action"]
    assert step.shape == (3, 1, 3)
    np.testing.assert_array_equal(step[:, 0], chunk[:, 0])


def test_scorer_distance_to_goal_lower_is_better():
    finals = GOAL + np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.5], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    candidates = np.zeros((4, 5, 3))
    candidates[:, -1] = finals
    result = ReferenceScorer().score_actions(observe(), candidates)
    np.testing.assert_allclose(result.scores, [5.0, 0.5, 1.0, 1.0])
    assert result.best_index == 1 and result.lower_is_better and result.best_score == pytest.approx(0.5)
    assert result.metadata["score_direction"] == "lower_is_better" and result.metadata["candidate_count"] == 4


def test_scorer_is_batched_one_call_for_all_candidates():
    scorer = ReferenceScorer(goal_positions=GOAL)
    result = scorer.score_actions(observe(goal=None), np.random.default_rng(0).normal(size=(64, 8, 3)))
    assert scorer.calls == 1 and result.scores.shape == (64,)


def test_reference_pair_drives_a_pusht_plan():
    registry = TranslatorRegistry.from_config()
    pusht = registry.get("pusht_planar")
    agent_m = np.array([0.256, 0.300])
    goal_px = np.array([300.0, 280.0])
    obs = ObservationData(joint_names=("pusht_x", "pusht_y"), joint_positions=agent_m,
                          extras={"goal_positions": goal_px}, embodiment_tag="pusht_planar")
    policy = ReferencePolicy(horizon=10, noise_std=8.0, seed=5, action_scale=1000.0)
    raw = policy.select_actions(obs, 6).actions["action"]
    assert np.all((raw >= 0) & (raw <= 512))
    cands = pusht.translate(raw, StartState(obs.joint_names, agent_m), "pusht_planar")
    pooled = pool_candidates([("reference", cands)])
    scores = ReferenceScorer().score_actions(obs, raw)
    sel = select_candidate([p.feasible for p in pooled], scores.scores, scores.best_index, True)
    assert all(p.feasible for p in pooled)
    assert sel.selected_index == int(np.argmin(np.linalg.norm(raw[:, -1] - goal_px, axis=1)))
    np.testing.assert_allclose(pooled[sel.selected_index].candidate.trajectory.positions[-1],
                               raw[sel.selected_index, -1] / 1000.0)
