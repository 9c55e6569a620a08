"""Gate failure paths at the core (issue 17, item 2): a refused approve leaves nothing approvable, and a failed
execute re-check does not consume the approval (the operator can fix the cause and execute the same approval)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from worldforge_ros.core.approval import CHECKLIST, ApprovablePlan, ApprovalGate
from worldforge_ros.core.digests import sha256_digest
from worldforge_ros.core.errors import ApprovalError, ErrorCode
from worldforge_ros.core.translator_registry import TranslatorRegistry

S = 1_000_000_000
ALL = {item: True for item in CHECKLIST}


def _registry():
    return TranslatorRegistry.from_config({"two": {
        "type": "joint_space", "joint_names": ["a", "b"], "action_dim": 2, "horizon": 3, "dt": 0.1,
        "limits": {"position_min": [-1.0, -1.0], "position_max": [1.0, 1.0], "velocity_max": [5.0, 5.0]},
        "margin": 0.0}})


def _plan(feasible=True):
    pos = np.array([[0.1, 0.2], [0.2, 0.3], [0.3, 0.4]])
    vel = np.gradient(pos, 0.1, axis=0)
    vel[-1] = 0.0
    plan_json = '{"plan":"failure-paths-%s"}' % feasible
    plan = ApprovablePlan(plan_id="p1", plan_digest=sha256_digest(plan_json), embodiment="two",
                          start_names=("a", "b"), start_positions=np.array([0.0, 0.1]), joint_names=("a", "b"),
                          positions=pos, velocities=vel, times_s=np.array([0.1, 0.2, 0.3]),
                          selected_feasible=feasible)
    return plan, plan_json


def _gate():
    return ApprovalGate(translators=_registry(), default_ttl_s=60.0, start_tolerance=0.01)


def test_a_plan_whose_selected_candidate_is_infeasible_cannot_be_approved():
    gate = _gate()
    plan, plan_json = _plan(feasible=False)
    gate.register_plan(plan, plan_json)
    with pytest.raises(ApprovalError) as err:
        gate.approve(plan.plan_digest, "alice", ALL, now_ns=1 * S)
    assert err.value.code == ErrorCode.TRAJECTORY_INVALID
    assert gate.summary() == {"plans": 1, "approvals": 0, "used": 0}  # nothing approvable was created
    # the same trajectory marked feasible is approvable: the refusal is the feasibility flag, not the trajectory
    ok, ok_json = _plan(feasible=True)
    gate.register_plan(ok, ok_json)
    assert gate.approve(ok.plan_digest, "alice", ALL, now_ns=1 * S).approval_id


@pytest.mark.parametrize("live_names,live_positions,code", [
    (("a", "b"), [0.2, 0.1], ErrorCode.START_STATE_DRIFT),  # drifted
    (("a",), [0.0], ErrorCode.START_STATE_DRIFT),  # a joint missing from the live state
    (("a", "b"), [np.nan, 0.1], ErrorCode.START_STATE_DRIFT),  # non-finite live state
])
def test_failed_start_check_does_not_consume_the_approval(live_names, live_positions, code):
    gate = _gate()
    plan, plan_json = _plan()
    gate.register_plan(plan, plan_json)
    approval = gate.approve(plan.plan_digest, "alice", ALL, now_ns=1 * S)
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval.approval_id, plan.plan_digest, live_names, np.array(live_positions), 2 * S)
    assert err.value.code == code
    assert not gate.approval(approval.approval_id).used
    ticket = gate.begin_execution(approval.approval_id, plan.plan_digest, ("a", "b"), np.array([0.0, 0.1]), 3 * S)
    assert ticket.approval.used and gate.summary()["used"] == 1


def test_wrong_digest_and_expiry_do_not_consume_and_expiry_wins_over_a_good_state():
    gate = _gate()
    plan, plan_json = _plan()
    gate.register_plan(plan, plan_json)
    approval = gate.approve(plan.plan_digest, "alice", ALL, now_ns=1 * S)
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval.approval_id, "sha256:" + "0" * 64, ("a", "b"), np.array([0.0, 0.1]), 2 * S)
    assert err.value.code == ErrorCode.DIGEST_MISMATCH and not gate.approval(approval.approval_id).used
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval.approval_id, plan.plan_digest, ("a", "b"), np.array([0.0, 0.1]), 62 * S)
    assert err.value.code == ErrorCode.APPROVAL_EXPIRED and not gate.approval(approval.approval_id).used


def test_a_trajectory_outside_the_limits_is_refused_at_execute_even_if_approved():
    gate = _gate()
    plan, plan_json = _plan()
    bad = dataclasses.replace(plan, positions=plan.positions + np.array([0.0, 0.7]))  # b ends at 1.1 > 1.0
    gate.register_plan(bad, plan_json)
    approval = gate.approve(bad.plan_digest, "alice", ALL, now_ns=1 * S)
    with pytest.raises(ApprovalError) as err:
        gate.begin_execution(approval.approval_id, bad.plan_digest, ("a", "b"), np.array([0.0, 0.1]), 2 * S)
    assert err.value.code == ErrorCode.TRAJECTORY_INVALID and not gate.approval(approval.approval_id).used
