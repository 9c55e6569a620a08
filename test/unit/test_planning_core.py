"""core/planning.py without a graph: settings, the policy -> translate -> one batched score -> direction check
pipeline, joint maps, and the typed errors of each step (plain asyncio, no rclpy)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from worldforge_ros.core.errors import ErrorCode, WorldForgeRosError
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.core.planning import STAGES, PlannerDefaults, PlanningCore, ProviderReply, resolve_settings
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.core.wiring import JointMap, camera_sources, parse_pairs

PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
DEFAULTS = PlannerDefaults(("p1",), "s1", "panda_7dof", 4, 16, 5.0, 30.0, ("p1", "p2", "s1"))


def _chunks(n: int, goal: np.ndarray, seed: int = 0) -> np.ndarray:
    """n straight 16-step lines from HOME to goal + small noise: feasible panda chunks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 16, 7))
    for i in range(n):
        target = goal + rng.normal(0, 0.02, 7)
        out[i] = HOME + (target - HOME) * (np.arange(1, 17)[:, None] / 16.0)
    return out


GOAL = HOME + np.array([0.1, 0.05, -0.05, 0.1, 0.0, 0.05, 0.1])


def _observation(names=PANDA, positions=HOME) -> ObservationData:
    return ObservationData(stamp_ns=1, joint_names=tuple(names), joint_positions=np.asarray(positions, float))


def _run(core, settings, obs, policies, scorer):
    return asyncio.run(core.plan(settings, obs, policies, scorer, run_id="r", request_id="q"))


def _policies(chunks_by_name):
    asked = []

    async def ask(names, n):
        asked.append((tuple(names), n))
        return {name: ProviderReply(name, True, actions=chunks_by_name[name][:n], event_digest="sha256:" + "a" * 64)
                for name in names if name in chunks_by_name}

    ask.asked = asked
    return ask


def _distance_scorer(goal, lower_is_better=True, lie_about_best=False):
    """Distance of each candidate's last step to ``goal``, computed here (the oracle), batched."""
    calls = []

    async def score(name, candidates):
        calls.append(candidates.shape)
        d = np.linalg.norm(candidates[:, -1, :] - goal, axis=1)
        scores = d if lower_is_better else -d
        best = int(np.argmin(d))
        if lie_about_best:
            best = int(np.argmax(d))
        return ProviderReply(name, True, scores=tuple(float(s) for s in scores), best_index=best,
                             lower_is_better=lower_is_better, event_digest="sha256:" + "b" * 64)

    score.calls = calls
    return score


@pytest.fixture
def core():
    return PlanningCore(TranslatorRegistry.from_config(None))


def test_selects_the_candidate_closest_to_the_goal_in_one_batched_call(core):
    chunks = {"p1": _chunks(4, GOAL, 1), "p2": _chunks(4, GOAL + 0.05, 2)}
    settings = resolve_settings(DEFAULTS, policies=["p1", "p2"])
    scorer = _distance_scorer(GOAL)
    outcome = _run(core, settings, _observation(), _policies(chunks), scorer)
    assert scorer.calls == [(8, 16, 7)]  # every candidate of both policies in ONE call
    finals = np.concatenate([chunks["p1"], chunks["p2"]])[:, -1, :]
    truth = int(np.argmin(np.linalg.norm(finals - GOAL, axis=1)))
    assert outcome.plan.selected_index == truth
    assert [c.policy_provider for c in outcome.plan.candidates] == ["p1"] * 4 + ["p2"] * 4
    assert len(outcome.plan.event_digests) == 3 and outcome.plan.plan_digest.startswith("sha256:")


def test_higher_is_better_scorer_still_selects_the_closest(core):
    chunks = {"p1": _chunks(4, GOAL, 3)}
    outcome = _run(core, resolve_settings(DEFAULTS), _observation(), _policies(chunks),
                   _distance_scorer(GOAL, lower_is_better=False))
    truth = int(np.argmin(np.linalg.norm(chunks["p1"][:, -1, :] - GOAL, axis=1)))
    assert outcome.plan.selected_index == truth and not outcome.plan.lower_is_better


def test_a_scorer_whose_best_index_contradicts_its_direction_is_refused(core):
    with pytest.raises(WorldForgeRosError) as err:
        _run(core, resolve_settings(DEFAULTS), _observation(), _policies({"p1": _chunks(4, GOAL, 4)}),
             _distance_scorer(GOAL, lie_about_best=True))
    assert err.value.code == ErrorCode.SCORE_DIRECTION_MISMATCH


def test_missing_failed_and_malformed_policies_are_typed(core):
    settings = resolve_settings(DEFAULTS, policies=["p1", "p2"])
    with pytest.raises(WorldForgeRosError) as err:
        _run(core, settings, _observation(), _policies({"p1": _chunks(4, GOAL)}), _distance_scorer(GOAL))
    assert err.value.code == ErrorCode.PROVIDER_TIMEOUT and "p2" in str(err.value)

    async def failing(names, n):
        return {name: ProviderReply(name, False, int(ErrorCode.PROVIDER_AUTH_FAILED), "bad token") for name in names}

    with pytest.raises(WorldForgeRosError) as err:
        _run(core, resolve_settings(DEFAULTS), _observation(), failing, _distance_scorer(GOAL))
    assert err.value.code == ErrorCode.PROVIDER_AUTH_FAILED

    async def unknown_code(names, n):
        return {name: ProviderReply(name, False, 777, "odd") for name in names}

    with pytest.raises(WorldForgeRosError) as err:
        _run(core, resolve_settings(DEFAULTS), _observation(), unknown_code, _distance_scorer(GOAL))
    assert err.value.code == ErrorCode.PROVIDER_RUNTIME_ERROR

    async def nan_actions(names, n):
        bad = _chunks(n, GOAL)
        bad[0, 3, 2] = np.nan
        return {name: ProviderReply(name, True, actions=bad) for name in names}

    with pytest.raises(WorldForgeRosError) as err:
        _run(core, resolve_settings(DEFAULTS), _observation(), nan_actions, _distance_scorer(GOAL))
    assert err.value.code == ErrorCode.NON_FINITE_ACTION


def test_scorer_timeout_and_policy_only_mode(core):
    async def silent(name, candidates):
        return None

    with pytest.raises(WorldForgeRosError) as err:
        _run(core, resolve_settings(DEFAULTS), _observation(), _policies({"p1": _chunks(4, GOAL)}), silent)
    assert err.value.code == ErrorCode.PROVIDER_TIMEOUT and "s1" in str(err.value)
    outcome = _run(core, resolve_settings(DEFAULTS, scorer="none"), _observation(),
                   _policies({"p1": _chunks(4, GOAL)}), silent)
    assert outcome.plan.selected_index == 0 and outcome.plan.selection_mode == "policy_only"


class _SentScore:
    """A scorer in the planner node's shape: the request is 'sent' when ask_scorer is called (recorded with how
    many candidates were translated by then); awaiting gives the reply; close() forgets it."""

    def __init__(self, reply, translated_before_send, log):
        self.reply, self.closed = reply, False
        log.append(("sent", translated_before_send))
        self.log = log

    def __await__(self):
        self.log.append(("awaited", None))
        return self.reply
        yield  # noqa: unreachable - makes this a generator

    def close(self):
        self.closed = True


def _counting_translator(core):
    """Wrap the panda translator so each translated policy chunk set is counted."""
    translator = core.translators.get("panda_7dof")
    count = {"n": 0}
    original = translator.translate_checked

    def counted(checked):
        out = original(checked)
        count["n"] += len(out)
        return out

    translator.translate_checked = counted
    return count


def test_the_scorer_is_asked_before_translation_and_awaited_after(core):
    count, log, sent = _counting_translator(core), [], []

    def ask_scorer(name, candidates):
        d = np.linalg.norm(candidates[:, -1, :] - GOAL, axis=1)  # the oracle, from the raw chunks
        reply = ProviderReply(name, True, scores=tuple(float(v) for v in d), best_index=int(np.argmin(d)))
        sent.append(_SentScore(reply, count["n"], log))
        return sent[-1]

    chunks = {"p1": _chunks(4, GOAL, 5)}
    outcome = _run(core, resolve_settings(DEFAULTS), _observation(), _policies(chunks), ask_scorer)
    assert log == [("sent", 0), ("awaited", None)]  # sent before any candidate was translated
    assert count["n"] == 4 and not sent[0].closed
    truth = int(np.argmin(np.linalg.norm(chunks["p1"][:, -1, :] - GOAL, axis=1)))
    assert outcome.plan.selected_index == truth


def test_a_translation_failure_closes_the_sent_score_request(core):
    log, sent = [], []

    def ask_scorer(name, candidates):
        sent.append(_SentScore(None, 0, log))
        return sent[-1]

    delta = resolve_settings(DEFAULTS, embodiment="panda_7dof_delta")
    huge = np.full((4, 16, 7), 1e308)  # finite raw actions whose running sum overflows in translation
    with pytest.raises(WorldForgeRosError) as err:
        _run(core, delta, _observation(), _policies({"p1": huge}), ask_scorer)
    assert err.value.code == ErrorCode.NON_FINITE_ACTION
    assert log == [("sent", 0)] and sent[0].closed  # asked, never awaited, forgotten


def test_no_joint_state_is_observation_missing_before_any_provider_is_asked(core):
    ask = _policies({"p1": _chunks(4, GOAL)})
    with pytest.raises(WorldForgeRosError) as err:
        _run(core, resolve_settings(DEFAULTS), ObservationData(stamp_ns=1), ask, _distance_scorer(GOAL))
    assert err.value.code == ErrorCode.OBSERVATION_MISSING and ask.asked == []


@pytest.mark.parametrize("fields, code", [
    ({"deadline_s": -1.0}, ErrorCode.INVALID_ARGUMENT),
    ({"deadline_s": float("nan")}, ErrorCode.INVALID_ARGUMENT),
    ({"deadline_s": 31.0}, ErrorCode.INVALID_ARGUMENT),
    ({"policies": ["nope"]}, ErrorCode.UNKNOWN_PROVIDER),
    ({"scorer": "nope"}, ErrorCode.UNKNOWN_PROVIDER),
    ({"policies": ["p1", "p1"]}, ErrorCode.INVALID_ARGUMENT),
    ({"candidates_per_policy": 17}, ErrorCode.INVALID_ARGUMENT),
])
def test_settings_are_validated(fields, code):
    with pytest.raises(WorldForgeRosError) as err:
        resolve_settings(DEFAULTS, **fields)
    assert err.value.code == code


def test_joint_map_policies_see_policy_names_and_plans_use_robot_names():
    robot = tuple(f"fr3_joint{i}" for i in range(1, 8))
    jmap = JointMap(dict(zip(robot, PANDA)))
    names, pos, vel = jmap.to_policy(robot + ("fr3_finger",), np.append(HOME, 0.04))
    assert names == PANDA and np.array_equal(pos, HOME) and vel.size == 0
    core = PlanningCore(TranslatorRegistry.from_config(None), jmap)
    outcome = _run(core, resolve_settings(DEFAULTS), _observation(names, pos), _policies({"p1": _chunks(4, GOAL)}),
                   _distance_scorer(GOAL))
    assert outcome.plan.start_state.joint_names == robot
    assert all(c.trajectory.joint_names == robot for c in outcome.plan.candidates)
    with pytest.raises(WorldForgeRosError) as err:
        jmap.to_policy(robot[:6], HOME[:6])
    assert err.value.code == ErrorCode.JOINT_NAMES_MISMATCH
    with pytest.raises(WorldForgeRosError):
        JointMap({"a": "x", "b": "x"})


def test_wiring_entries_are_parsed_strictly():
    cams = camera_sources(["front=/cam/front/image_raw", "wrist=/wrist/image_raw/compressed", "/legacy/image"])
    assert [(c.key, c.topic, c.compressed) for c in cams] == [
        ("front", "/cam/front/image_raw", False), ("wrist", "/wrist/image_raw/compressed", True),
        ("", "/legacy/image", False)]
    for bad in (["front="], ["=topic"], ["a=b", "a=c"]):
        with pytest.raises(WorldForgeRosError) as err:
            parse_pairs(bad, "x")
        assert err.value.code == ErrorCode.INVALID_ARGUMENT
    with pytest.raises(WorldForgeRosError):
        camera_sources(["a=/t", "b=/t"])


def test_stages_say_where_the_time_went(core):
    """Every stage of STAGES is reported, in order; a slow policy and a slow scorer land in their own stages."""
    chunks = {"p1": _chunks(4, GOAL, 1)}
    fast = _distance_scorer(GOAL)

    async def slow_policies(names, n):
        await asyncio.sleep(0.05)
        return await _policies(chunks)(names, n)

    async def slow_scorer(name, candidates):
        await asyncio.sleep(0.08)
        return await fast(name, candidates)

    started = time.perf_counter()
    outcome = _run(core, resolve_settings(DEFAULTS), _observation(), slow_policies, slow_scorer)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    stages = outcome.stages_ms
    assert list(stages) == list(STAGES) and all(v >= 0.0 for v in stages.values())
    assert stages["policies"] >= 50.0 and stages["score_wait"] >= 70.0  # the scorer's sleep outlasts translation
    assert sum(stages.values()) <= elapsed_ms
