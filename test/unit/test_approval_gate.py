"""The approval gate's rules, without a graph: binding, single use, expiry, drift, numeric re-checks."""

import dataclasses
import threading

import numpy as np
import pytest

from worldforge_ros.core.approval import ApprovablePlan, ApprovalGate, CHECKLIST
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.core.digests import sha256_digest
from worldforge_ros.core.errors import ApprovalError, ErrorCode, RequestError

S = 1_000_000_000
ALL_CHECKED = {item: True for item in CHECKLIST}


def _registry(position_max_b=1.0):
    return TranslatorRegistry.from_config({"two": {
        "type": "joint_space", "joint_names": ["a", "b"], "action_dim": 2, "horizon": 3, "dt": 0.1,
        "limits": {"position_min": [-1.0, -1.0], "position_max": [1.0, position_max_b], "velocity_max": [5.0, 5.0]},
        "margin": 0.0}})


def _plan(final_velocity=0.0, positions=None, times=None):
    pos = np.array(positions if positions is not None else [[0.1, 0.2], [0.2, 0.3], [0.3, 0.4]])
    vel = np.gradient(pos, 0.1, axis=0)
    vel[-1] = final_velocity
    plan_json = '{"plan":"%s"}' % pos.tobytes().hex()
    plan = ApprovablePlan(plan_id="p1", plan_digest=sha256_digest(plan_json), embodiment="two",
                          start_names=("a", "b"), start_positions=np.array([0.0, 0.1]), joint_names=("a", "b"),
                          positions=pos, velocities=vel,
                          times_s=np.array(times if times is not None else [0.1, 0.2, 0.3]))
    return plan, plan_json


def _gate(**kw):
    gate = ApprovalGate(translators=_registry(), default_ttl_s=60.0, start_tolerance=0.01, **kw)
    plan, plan_json = _plan()
    gate.register_plan(plan, plan_json)
    return gate, plan


def test_plan_must_hash_to_its_digest():
    gate = ApprovalGate()
    plan, plan_json = _plan()
    with pytest.raises(ApprovalError) as err:
        gate.register_plan(plan, plan_json + " ")
    assert err.value.code == ErrorCode.DIGEST_MISMATCH


def test_approve_and_execute_once():
    gate, plan = _gate()
    approval = gate.approve(plan.plan_digest, "alice", ALL_CHECKED, now_ns=10 * S)
    assert approval.expires_at_ns == 70 * S
    ticket = gate.begin_execution(approval.approval_id, plan.plan_digest, ("b", "a"), np.array([0.105, 0.004]),
                                  now_ns=11 * S)
    assert ticket.start_deviation == pytest.approx(0.005)
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval.approval_id, plan.plan_digest, ("a", "b"), np.array([0.0, 0.1]), 12 * S)
    assert err.value.code == ErrorCode.APPROVAL_ALREADY_USED


@pytest.mark.parametrize("case,code", [
    ("unknown_plan", ErrorCode.UNKNOWN_PLAN),
    ("checklist", ErrorCode.CHECKLIST_INCOMPLETE),
])
def test_approve_refusals(case, code):
    gate, plan = _gate()
    digest = "sha256:" + "1" * 64 if case == "unknown_plan" else plan.plan_digest
    checklist = dict(ALL_CHECKED, operator_present=False) if case == "checklist" else ALL_CHECKED
    with pytest.raises(ApprovalError) as err:
        gate.approve(digest, "alice", checklist, now_ns=0)
    assert err.value.code == code


def test_operator_required():
    gate, plan = _gate()
    with pytest.raises(RequestError):
        gate.approve(plan.plan_digest, "  ", ALL_CHECKED, now_ns=0)


@pytest.mark.parametrize("case,code", [
    ("wrong_digest", ErrorCode.DIGEST_MISMATCH),
    ("expired", ErrorCode.APPROVAL_EXPIRED),
    ("drift", ErrorCode.START_STATE_DRIFT),
    ("missing_joint", ErrorCode.START_STATE_DRIFT),
    ("unknown_approval", ErrorCode.UNKNOWN_APPROVAL),
])
def test_execute_refusals_leave_nothing_consumed(case, code):
    gate, plan = _gate()
    approval = gate.approve(plan.plan_digest, "alice", ALL_CHECKED, now_ns=0, ttl_s=5.0)
    names, live, now = ("a", "b"), np.array([0.0, 0.1]), 1 * S
    approval_id, digest = approval.approval_id, plan.plan_digest
    if case == "wrong_digest":
        digest = "sha256:" + "2" * 64
    elif case == "expired":
        now = 6 * S
    elif case == "drift":
        live = np.array([0.02, 0.1])
    elif case == "missing_joint":
        names, live = ("a",), np.array([0.0])
    elif case == "unknown_approval":
        approval_id = "apr-nope"
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval_id, digest, names, live, now)
    assert err.value.code == code
    assert not approval.used


def test_ttl_is_capped_by_gate_default():
    gate, plan = _gate()
    approval = gate.approve(plan.plan_digest, "alice", ALL_CHECKED, now_ns=0, ttl_s=10_000)
    assert approval.expires_at_ns == 60 * S


@pytest.mark.parametrize("mutation", ["final_velocity", "time_order", "limit", "nan", "unknown_embodiment"])
def test_numeric_recheck_of_trajectory(mutation):
    kw = {}
    registry = _registry()
    if mutation == "final_velocity":
        kw["final_velocity"] = 0.5
    elif mutation == "time_order":
        kw["times"] = [0.1, 0.3, 0.2]
    elif mutation == "limit":
        registry = _registry(position_max_b=0.35)
    elif mutation == "nan":
        kw["positions"] = [[0.1, 0.2], [np.nan, 0.3], [0.3, 0.4]]
    gate = ApprovalGate(translators=registry)
    plan, plan_json = _plan(**kw)
    if mutation == "unknown_embodiment":
        plan = dataclasses.replace(plan, embodiment="nope")
    gate.register_plan(plan, plan_json)
    approval = gate.approve(plan.plan_digest, "alice", ALL_CHECKED, now_ns=0)
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval.approval_id, plan.plan_digest, ("a", "b"), np.array([0.0, 0.1]), 1)
    assert err.value.code == ErrorCode.TRAJECTORY_INVALID


def test_concurrent_executes_of_one_approval_run_once():
    gate, plan = _gate()
    approval = gate.approve(plan.plan_digest, "alice", ALL_CHECKED, now_ns=0)
    outcomes = []
    barrier = threading.Barrier(8)

    def attempt():
        barrier.wait()
        try:
            gate.begin_execution(approval.approval_id, plan.plan_digest, ("a", "b"), np.array([0.0, 0.1]), 1)
            outcomes.append("ran")
        except ApprovalError as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ran") == 1
    assert outcomes.count(ErrorCode.APPROVAL_ALREADY_USED) == 7
