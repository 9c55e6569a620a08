"""The plan record: canonical JSON, a digest stable under key order and sensitive to every value, round trips."""

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from worldforge_ros.core.digests import canonical_json, digest_json, is_digest, sha256_digest
from worldforge_ros.core.errors import ApprovalError, ErrorCode, EvidenceError
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.core.plan import PlanData
from worldforge_ros.core.selection import pool_candidates, select_candidate
from worldforge_ros.core.trajectory import StartState
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.providers.reference import ReferencePolicy, ReferenceScorer

PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
HOME = np.array([0.0, -0.3, 0.0, -2.0, 0.0, 1.8, 0.8])
GOAL = HOME + np.array([0.05, 0.04, -0.03, 0.05, 0.02, -0.04, 0.03])


def build_plan(scored=True):
    """A real plan: reference policy (two providers' worth) -> panda translator -> reference scorer -> selection."""
    obs = ObservationData(task="reach", joint_names=PANDA, joint_positions=HOME, extras={"goal_positions": GOAL})
    translator = TranslatorRegistry.from_config().get("panda_7dof")
    start = StartState(PANDA, HOME)
    groups = []
    for name, seed in (("reference", 1), ("reference_b", 2)):
        raw = ReferencePolicy(horizon=16, noise_std=0.02, seed=seed).select_actions(obs, 3).actions["action"]
        groups.append((name, translator.translate(raw, start, "panda_7dof")))
    pooled = pool_candidates(groups)
    feasible = [p.feasible for p in pooled]
    if scored:
        stacked = np.stack([p.candidate.trajectory.positions for p in pooled])
        result = ReferenceScorer().score_actions(obs, stacked)
        selection = select_candidate(feasible, result.scores, result.best_index, result.lower_is_better)
    else:
        selection = select_candidate(feasible)
    return PlanData.from_selection(
        pooled, selection, start_state=start, task="reach", embodiment="panda_7dof",
        policy_providers=["reference", "reference_b"], score_provider="reference_scorer" if scored else "",
        plan_id="plan-0123456789abcdef", run_id="20260101T000000Z-0badc0de", request_id="req-1",
        translator_contract=translator.contract_summary([3, 16, 7]),
        event_digests=[sha256_digest("event-1"), sha256_digest("event-2")],
        manifest_digests={"reference": sha256_digest("manifest")}, created_at="2026-01-01T00:00:00Z")


@pytest.fixture(scope="module")
def plan():
    return build_plan()


def reorder(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


def test_plan_json_is_canonical_and_digest_is_sha256_of_it(plan):
    text = plan.plan_json()
    assert text == canonical_json(json.loads(text))
    assert plan.plan_digest == sha256_digest(text) == digest_json(plan.to_dict())
    assert is_digest(plan.plan_digest)
    assert plan.plan_digest == build_plan().plan_digest  # the same inputs give the same plan


def test_plan_contents(plan):
    data = plan.to_dict()
    assert data["providers"] == {"policy": ["reference", "reference_b"], "score": "reference_scorer"}
    assert len(data["candidates"]) == 6
    cand = data["candidates"][4]
    assert (cand["index"], cand["policy_provider"], cand["policy_candidate_index"]) == (4, "reference_b", 1)
    assert set(cand) >= {"trajectory", "score", "feasible", "violations", "raw_shape", "raw_digest"}
    assert cand["raw_shape"] == [16, 7]
    assert data["start_state"]["joint_names"] == list(PANDA)
    assert data["lower_is_better"] is True and data["selection"]["mode"] == "policy+score"
    scores = [c["score"] for c in data["candidates"]]
    assert scores[plan.selected_index] == min(scores)
    assert plan.selected.feasible


def test_digest_stable_under_key_order(plan):
    shuffled = json.dumps(reorder(plan.to_dict()), indent=2)
    assert shuffled != plan.plan_json()
    rebuilt = PlanData.from_json(shuffled)
    assert rebuilt.plan_digest == plan.plan_digest
    assert rebuilt.plan_json() == plan.plan_json()


def test_from_json_round_trip(plan):
    rebuilt = PlanData.from_json(plan.plan_json(), expected_digest=plan.plan_digest)
    assert rebuilt == plan
    assert rebuilt.selected.trajectory == plan.selected.trajectory
    assert PlanData.from_json(plan.plan_json().encode("utf-8")) == plan


def test_policy_only_plan_round_trips_with_null_scores():
    plan = build_plan(scored=False)
    assert plan.selection_mode == "policy_only" and plan.selected_index == 0
    assert all(c.score is None for c in plan.candidates)
    assert PlanData.from_json(plan.plan_json()).plan_digest == plan.plan_digest


MUTATIONS = {
    "position": lambda d: d["candidates"][2]["trajectory"]["positions"][5].__setitem__(
        3, d["candidates"][2]["trajectory"]["positions"][5][3] + 1e-9),
    "velocity": lambda d: d["candidates"][0]["trajectory"]["velocities"][1].__setitem__(0, 0.123),
    "time": lambda d: d["candidates"][1]["trajectory"]["times_s"].__setitem__(15, 1.7),
    "joint_name": lambda d: d["candidates"][1]["trajectory"]["joint_names"].__setitem__(0, "panda_jointX"),
    "score": lambda d: d["candidates"][3].__setitem__("score", d["candidates"][3]["score"] + 1e-12),
    "feasible": lambda d: d["candidates"][(d["selected_index"] + 1) % 6].__setitem__("feasible", False),
    "violations": lambda d: d["candidates"][5]["violations"].append("position_limit:panda_joint1:step0"),
    "raw_shape": lambda d: d["candidates"][0].__setitem__("raw_shape", [16, 8]),
    "raw_digest": lambda d: d["candidates"][0].__setitem__("raw_digest", sha256_digest("other")),
    "provenance": lambda d: d["candidates"][0].__setitem__("policy_provider", "lerobot"),
    "start_state": lambda d: d["start_state"]["positions"].__setitem__(0, 0.001),
    "lower_is_better": lambda d: d.__setitem__("lower_is_better", False),
    "event_digest": lambda d: d["event_digests"].__setitem__(1, sha256_digest("event-3")),
    "manifest_digest": lambda d: d["manifest_digests"].__setitem__("reference", sha256_digest("m2")),
    "task": lambda d: d.__setitem__("task", "reach "),
    "request_id": lambda d: d.__setitem__("request_id", "req-2"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_digest_changes_when_any_value_changes(plan, name):
    data = copy.deepcopy(plan.to_dict())
    MUTATIONS[name](data)
    changed = PlanData.from_dict(data)
    assert changed.plan_digest != plan.plan_digest
    with pytest.raises(ApprovalError) as exc:
        PlanData.from_json(changed.plan_json(), expected_digest=plan.plan_digest)
    assert exc.value.code == ErrorCode.DIGEST_MISMATCH


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5), st.integers(0, 15), st.integers(0, 6),
       st.floats(-1e-3, 1e-3, allow_nan=False).filter(lambda x: x != 0.0))
def test_property_any_trajectory_value_change_changes_digest(plan, cand, step, joint, delta):
    data = copy.deepcopy(plan.to_dict())
    row = data["candidates"][cand]["trajectory"]["positions"][step]
    if row[joint] + delta == row[joint]:
        return  # below float resolution: not a change
    row[joint] += delta
    assert PlanData.from_dict(data).plan_digest != plan.plan_digest


@pytest.mark.parametrize("edit", [
    lambda d: d.pop("candidates"),
    lambda d: d.__setitem__("schema_version", 99),
    lambda d: d.__setitem__("selected_index", 6),
    lambda d: d["candidates"][d["selected_index"]].__setitem__("feasible", False),
    lambda d: d["candidates"][1].__setitem__("index", 7),
    lambda d: d["candidates"][1].__setitem__("raw_digest", "md5:abc"),
    lambda d: d["event_digests"].append("not-a-digest"),
    lambda d: d["candidates"][0]["trajectory"].__setitem__("times_s", [0.1, 0.2]),
    lambda d: d["start_state"]["positions"].pop(),
])
def test_malformed_records_are_evidence_format_errors(plan, edit):
    data = copy.deepcopy(plan.to_dict())
    edit(data)
    with pytest.raises(EvidenceError) as exc:
        PlanData.from_json(json.dumps(data))
    assert exc.value.code == ErrorCode.EVIDENCE_FORMAT_INVALID


@pytest.mark.parametrize("text", ["", "[]", "{not json", '{"schema_version": 1, "score": NaN}'])
def test_non_json_or_non_finite_records_rejected(text):
    with pytest.raises(EvidenceError) as exc:
        PlanData.from_json(text)
    assert exc.value.code == ErrorCode.EVIDENCE_FORMAT_INVALID


def test_nan_inside_a_recorded_trajectory_is_rejected(plan):
    text = plan.plan_json().replace('"score":', '"score":NaN,"x":', 1)
    with pytest.raises(EvidenceError):
        PlanData.from_json(text)


@pytest.mark.parametrize("task", ["\0", "\0deadbeef:0\0", '"\\u0000x:0\\u0000"', "reach \u00e9\u4e16 \0 0\0"])
def test_spliced_plan_json_equals_a_full_serialization_for_any_task_text(task):
    """plan_json splices each trajectory's cached JSON in place of a random-nonce placeholder: a task that looks
    like a placeholder (NULs, escapes) must not change the text, which must equal serializing everything at once."""
    plan = build_plan()
    object.__setattr__(plan, "task", task)
    for c in plan.candidates[:2]:
        c.trajectory.to_json()  # warmed, as the planner does while its scorer works
    assert plan.plan_json() == canonical_json(plan.to_dict())
    assert json.loads(plan.plan_json())["task"] == task


def test_splicing_refuses_a_placeholder_that_is_not_there_exactly_once():
    from worldforge_ros.core.digests import canonical_json_spliced

    assert canonical_json_spliced({"b": "P", "a": 1}, {"P": "[1.5,2]"}) == '{"a":1,"b":[1.5,2]}'
    for value in ({"a": 1}, {"a": "P", "b": "P"}):
        with pytest.raises(ValueError):
            canonical_json_spliced(value, {"P": "0"})
    # several placeholders, in any order of the mapping: each lands where its own placeholder was
    assert canonical_json_spliced({"z": ["Q", "P"], "a": "R"}, {"P": "1", "Q": "[2]", "R": "{}"}) == \
        '{"a":{},"z":[[2],1]}'
    with pytest.raises(ValueError):  # one placeholder's quoted text inside another's: refused, not garbled
        canonical_json_spliced({"a": 'x"b'}, {'x"b': "1", "b": "2"})
