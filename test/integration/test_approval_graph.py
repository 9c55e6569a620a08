"""Plan -> approve -> execute on a real graph (bringup: reference providers, planner, gate, sim_controller).

Every adversarial case asserts that the controller received NO goal.
"""

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from graph_helpers import PANDA, PANDA_HOME, bringup, goals_received, plan_request, write_profile
from graph_helpers import CHECKLIST, GOAL
from graph_helpers import gate_approve as _approve
from graph_helpers import gate_bag as _bag
from graph_helpers import gate_execute as _execute
from graph_helpers import gate_graph as _graph
from graph_helpers import gate_plan as _plan
from ros_harness import wait_until
from worldforge_ros.core.errors import ErrorCode

pytestmark = pytest.mark.graph

def test_plan_approve_execute_end_to_end_with_verified_bag(ros_graph, node_processes, tmp_path):
    from rosbags.highlevel import AnyReader

    from worldforge_ros.evidence.verify import verify_bag

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True)
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted, approval.error_message
    assert approval.execution_enabled
    feedback = []
    result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest, feedback)
    assert result.error_code == 0, result.error_string
    assert result.executed and not result.dry_run
    assert feedback, "controller feedback was not forwarded"
    assert counts[-1] == 1
    assert proc.stop() == "SIGINT"  # closes the bag and writes metadata.yaml
    bag = _bag(tmp_path)
    report = verify_bag(bag)
    assert report.ok, report
    with AnyReader([bag]) as reader:  # types come from the bag, not from this package
        topics = {}
        for conn, _t, raw in reader.messages():
            topics.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    assert topics["/worldforge/plans"][-1].plan_digest == plan.plan_digest
    approvals = topics["/worldforge/approvals"]
    assert [a.approval_id for a in approvals if a.approved] == [approval.approval_id]
    # An approve that overtook the plan record (the caller retries, see gate_approve) is recorded as refused.
    assert all(a.error_code == int(ErrorCode.UNKNOWN_PLAN) and not a.approval_id for a in approvals if not a.approved)
    assert all(a.worldforge_certifies_robot_safety is False for a in approvals)
    phases = [e.phase for e in topics["/worldforge/executions"]]
    assert phases == ["intent", "succeeded"]
    assert {e.provider for e in topics["/worldforge/events"]} >= {"reference", "reference_scorer", "planner"}
    bound = json.loads(topics["/worldforge/plans"][-1].plan_json)["event_digests"]
    assert bound and set(bound) <= {e.digest for e in topics["/worldforge/events"]}  # every event the plan binds
    assert len(topics["/worldforge/evidence_chain"]) == sum(len(v) for k, v in topics.items()
                                                              if k != "/worldforge/evidence_chain")


@pytest.mark.parametrize("case,code", [
    ("no_approval", ErrorCode.UNKNOWN_APPROVAL),
    ("wrong_digest", ErrorCode.DIGEST_MISMATCH),
    ("expired", ErrorCode.APPROVAL_EXPIRED),
    ("reused", ErrorCode.APPROVAL_ALREADY_USED),
])
def test_execute_refused_without_valid_approval(ros_graph, node_processes, tmp_path, case, code):
    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True)
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest, ttl_s=0.5 if case == "expired" else 0.0)
    assert approval.accepted, approval.error_message
    approval_id, digest = approval.approval_id, plan.plan_digest
    expected_goals = 0
    if case == "no_approval":
        approval_id = "apr-0000000000000000"
    elif case == "wrong_digest":
        digest = "sha256:" + "f" * 64
    elif case == "expired":
        time.sleep(1.0)
    elif case == "reused":
        assert _execute(ros_graph, clients, approval_id, digest).executed
        expected_goals = 1
    result = _execute(ros_graph, clients, approval_id, digest)
    assert result.error_code == int(code), result.error_string
    assert not result.executed
    time.sleep(0.3)
    assert counts[-1] == expected_goals


def test_an_approval_that_overtakes_its_plan_record_waits_for_it(ros_graph, node_processes, tmp_path):
    """The planner publishes a plan's record right after its reply, and DDS does not order that topic against the
    approve call: a caller that approves at once can reach the gate first. The gate waits (plan_arrival_s) for the
    record instead of refusing UNKNOWN_PLAN. Here the record of a fresh plan (a real one, re-identified) is
    published only 0.5 s after the approval was sent, by a node the gate takes plans from."""
    import dataclasses

    import rclpy

    from worldforge_ros.core.plan import PlanData, new_plan_id
    from worldforge_ros.msg import PlanRecord
    from worldforge_ros.nodes.conversions import plan_record_msg
    from worldforge_ros.nodes.evidence_qos import PLANS_QOS
    from worldforge_ros.srv import Approve

    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                    approval={"plan_arrival_s": 10.0, "plan_publishers": ["planner", "late_planner"]})
    plan = _plan(ros_graph, clients)
    records = []
    ros_graph.node.create_subscription(PlanRecord, "/worldforge/plans", records.append, PLANS_QOS)
    assert wait_until(lambda: any(r.plan_digest == plan.plan_digest for r in records))
    seen = next(r for r in records if r.plan_digest == plan.plan_digest)
    fresh = dataclasses.replace(PlanData.from_json(seen.plan_json, expected_digest=seen.plan_digest),
                                plan_id=new_plan_id())
    late = rclpy.create_node("late_planner", context=ros_graph.node.context)
    try:
        pub = late.create_publisher(PlanRecord, "/worldforge/plans", PLANS_QOS)
        assert wait_until(lambda: pub.get_subscription_count() >= 2)  # the gate's and this test's
        req = Approve.Request(plan_digest=fresh.plan_digest, approve=True, operator_id="alice", note="overtaken",
                              **CHECKLIST)
        future = clients["approve"].call_async(req)
        time.sleep(0.5)  # the approval is at the gate long before its plan's record
        assert not future.done(), "the gate answered before the plan's record was published"
        record = plan_record_msg(fresh)
        # Republished until the answer: the gate drops a record whose publisher it cannot name yet (a new node).
        assert wait_until(lambda: future.done() or pub.publish(record), timeout=20, interval=0.2)
    finally:
        late.destroy_node()
    resp = future.result()
    assert resp.accepted, resp.error_message
    assert counts[-1] == 0


def test_incomplete_checklist_refuses_approval(ros_graph, node_processes, tmp_path):
    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True)
    plan = _plan(ros_graph, clients)
    resp = _approve(ros_graph, clients, plan.plan_digest, controller_isolated=False)
    assert not resp.accepted and resp.error_code == int(ErrorCode.CHECKLIST_INCOMPLETE)
    assert "controller_isolated" in resp.error_message
    assert counts[-1] == 0


def test_start_state_drift_beyond_tolerance_refuses(ros_graph, node_processes, tmp_path):
    from sensor_msgs.msg import JointState

    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                    approval={"joint_states_topic": "/drift/joint_states"})
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted
    pub = ros_graph.node.create_publisher(JointState, "/drift/joint_states", 10)
    drifted = list(plan.start_state.position)
    drifted[3] += 0.05  # 0.05 rad > the 0.01 rad tolerance
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            pub.publish(JointState(name=PANDA, position=drifted))
            time.sleep(0.05)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest)
    finally:
        stop.set()
        thread.join()
    assert result.error_code == int(ErrorCode.START_STATE_DRIFT), result.error_string
    assert counts[-1] == 0


def test_dry_run_records_what_would_have_been_sent(ros_graph, node_processes, tmp_path):
    from worldforge_ros.evidence.reader import read_bag

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=False)
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted and not approval.execution_enabled
    result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest)
    assert result.dry_run and not result.executed and result.error_code == 0
    time.sleep(0.3)
    assert counts[-1] == 0
    proc.stop()
    records = [r for r in read_bag(_bag(tmp_path)).records if r.topic == "/worldforge/executions"]
    assert [r.message.phase for r in records] == ["dry_run"]
    sent = records[0].message.trajectory
    selected = plan.candidates[plan.selected_index].trajectory
    assert np.allclose([p.positions for p in sent.points], [p.positions for p in selected.points])


def test_recorder_down_fails_closed(ros_graph, node_processes, tmp_path):
    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                    approval={"record_evidence": False})
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    assert not approval.accepted and approval.error_code == int(ErrorCode.RECORDER_UNAVAILABLE)
    result = _execute(ros_graph, clients, "apr-anything", plan.plan_digest)
    assert result.error_code == int(ErrorCode.RECORDER_UNAVAILABLE)
    assert counts[-1] == 0


def test_two_concurrent_executes_of_one_approval_run_once(ros_graph, node_processes, tmp_path):
    from worldforge_ros.action import ExecutePlan

    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True)
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    goal = ExecutePlan.Goal(approval_id=approval.approval_id, plan_digest=plan.plan_digest)
    handles = [ros_graph.wait(f) for f in [clients["execute"].send_goal_async(goal) for _ in range(2)]]
    results = [ros_graph.wait(h.get_result_async(), timeout=60).result for h in handles]
    assert sorted(r.executed for r in results) == [False, True]
    assert sorted(r.error_code for r in results) == [0, int(ErrorCode.APPROVAL_ALREADY_USED)]
    assert counts[-1] == 1


def test_controller_abort_is_forwarded_and_recorded(ros_graph, node_processes, tmp_path):
    from worldforge_ros.evidence.reader import read_bag

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                   sim={"fault_abort_at_fraction": 0.3, "path_tolerance": 0.001, "time_scale": 1.0})
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest)
    assert result.error_code == int(ErrorCode.CONTROLLER_ABORTED), result.error_string
    assert result.controller_error_code == -4  # PATH_TOLERANCE_VIOLATED
    proc.stop()
    phases = [r.message.phase for r in read_bag(_bag(tmp_path)).records if r.topic == "/worldforge/executions"]
    assert phases == ["intent", "aborted"]


def _controller_goal_statuses(ros_graph):
    """goal id (hex) -> latest status, from the sim controller's action status topic."""
    from action_msgs.msg import GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    statuses = {}
    ros_graph.node.create_subscription(
        GoalStatusArray, "/sim_controller/follow_joint_trajectory/_action/status",
        lambda m: statuses.update({bytes(s.goal_info.goal_id.uuid).hex(): s.status for s in m.status_list}),
        qos_profile_action_status_default)
    return statuses


def test_unanswered_controller_goal_is_canceled_and_recorded(ros_graph, node_processes, tmp_path):
    """A controller reply that comes too late (or never): typed 415, and the goal is canceled once it runs."""
    from action_msgs.msg import GoalStatus
    from worldforge_ros.evidence.reader import read_bag

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                   approval={"controller_reply_timeout_s": 1.0},
                                   sim={"fault_goal_reply_delay_s": 4.0, "time_scale": 0.25})
    statuses = _controller_goal_statuses(ros_graph)
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest)
    assert result.error_code == int(ErrorCode.CONTROLLER_NO_REPLY), result.error_string
    assert not result.executed
    goal_id = re.search(r"goal ([0-9a-f]{32})", result.error_string).group(1)
    # the controller accepts it after its delay; the gate cancels it at once
    assert wait_until(lambda: statuses.get(goal_id) == GoalStatus.STATUS_CANCELED, timeout=20), statuses
    assert counts[-1] == 1
    proc.stop()
    records = [r.message for r in read_bag(_bag(tmp_path)).records if r.topic == "/worldforge/executions"]
    assert [r.phase for r in records] == ["intent", "rejected"]
    assert records[-1].error_code == int(ErrorCode.CONTROLLER_NO_REPLY)


def test_controller_without_result_in_time_is_canceled(ros_graph, node_processes, tmp_path):
    """No result by trajectory end + goal_time_tolerance + result_timeout_s: typed error and the goal is canceled."""
    from action_msgs.msg import GoalStatus

    _proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                    approval={"result_timeout_s": 1.0}, sim={"time_scale": 0.02})
    statuses = _controller_goal_statuses(ros_graph)
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest)
    assert result.error_code == int(ErrorCode.CONTROLLER_ABORTED), result.error_string
    assert "no result from the controller in time" in result.error_string
    assert counts[-1] == 1
    assert wait_until(lambda: GoalStatus.STATUS_CANCELED in statuses.values(), timeout=20), statuses


def test_operator_cancel_is_forwarded_and_recorded(ros_graph, node_processes, tmp_path):
    from worldforge_ros.evidence.reader import read_bag

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                   sim={"time_scale": 0.25})
    plan = _plan(ros_graph, clients)
    approval = _approve(ros_graph, clients, plan.plan_digest)
    result = _execute(ros_graph, clients, approval.approval_id, plan.plan_digest, cancel_after_feedback=True)
    assert result.error_code == int(ErrorCode.EXECUTION_CANCELED), result.error_string
    assert not result.executed
    proc.stop()
    phases = [r.message.phase for r in read_bag(_bag(tmp_path)).records if r.topic == "/worldforge/executions"]
    assert phases == ["intent", "canceled"]
