"""Crash paths of a launched graph (one process per node, as ``ros2 launch`` starts them): a node process dies
and the callers get a typed error, and nothing moves."""

from __future__ import annotations

import signal
import subprocess

import pytest

from graph_helpers import CHECKLIST, GOAL, plan_client, plan_request, planner, provider
from ros_harness import installed_executable, node_env, wait_until
from worldforge_ros.core.errors import ErrorCode

pytestmark = pytest.mark.graph


def _launched_graph(node_processes, tmp_path):
    provider(node_processes, "reference", "-p", f"reference.goal_positions:={GOAL}", "-p", "reference.max_step:=0.05")
    provider(node_processes, "reference_scorer", "-p", f"reference_scorer.goal_positions:={GOAL}")
    planner_proc = planner(node_processes)
    sim = node_processes(installed_executable("sim_controller") + [
        "--ros-args", "-p", "action_type:=worldforge_ros", "-p", "time_scale:=4.0"], "sim_controller")
    gate = node_processes(installed_executable("approval_node") + [
        "--ros-args", "-p", f"evidence_dir:={tmp_path / 'evidence'}", "-p", "execution_enabled:=true",
        "-p", "controller_action:=sim_controller/follow_joint_trajectory",
        "-p", "controller_action_type:=worldforge_ros"], "approval")
    return planner_proc, sim, gate


def _goals(ros_graph):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt32

    seen = [None]
    ros_graph.node.create_subscription(UInt32, "/sim_controller/goals_received", lambda m: seen.append(m.data),
                                       QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                                  durability=DurabilityPolicy.TRANSIENT_LOCAL))
    return seen


def _cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(["worldforge-ros", *args], capture_output=True, text=True, timeout=timeout,
                          env=node_env(), stdin=subprocess.DEVNULL)


def test_the_gate_process_dies_after_approval_nothing_moves(ros_graph, node_processes, tmp_path):
    """The gate (and recorder) is killed after an approval: execute and approve get typed timeouts (exit 3) from
    the CLI, the controller gets no goal, and the bag keeps every flushed decision (recover + verify)."""
    from worldforge_ros.msg import Observation
    from worldforge_ros.srv import Approve

    _planner, _sim, gate = _launched_graph(node_processes, tmp_path)
    goals = _goals(ros_graph)
    assert wait_until(lambda: goals[-1] == 0)
    client = plan_client(ros_graph)
    resp = None

    def planned():
        nonlocal resp
        resp = ros_graph.call(client, plan_request(observation=Observation()))
        return resp.success

    assert wait_until(planned, 20), resp.error_message
    approve = ros_graph.client(Approve, "/worldforge/approve")
    approval = None

    def approved():
        nonlocal approval
        approval = ros_graph.call(approve, Approve.Request(plan_digest=resp.plan_digest, approve=True,
                                                           operator_id="alice", **CHECKLIST))
        return approval.error_code != int(ErrorCode.UNKNOWN_PLAN)

    assert wait_until(approved, 10) and approval.accepted, approval.error_message
    gate.kill(signal.SIGKILL)
    executed = _cli("execute", "--approval", approval.approval_id, "--digest", resp.plan_digest, "--timeout", "5",
                    timeout=90)
    assert executed.returncode == 3, (executed.stdout, executed.stderr)
    assert "not available" in executed.stderr or "no answer" in executed.stderr
    approved_again = _cli("approve", "--digest", resp.plan_digest, "--operator", "alice", "--yes",
                          "--checklist-confirmed", "--timeout", "5", timeout=90)
    assert approved_again.returncode == 3, (approved_again.stdout, approved_again.stderr)
    assert goals[-1] == 0  # nothing reached the controller
    bag = next((tmp_path / "evidence").glob("runs/*/bag"))
    assert _cli("evidence", "recover", str(bag)).returncode == 0
    verified = _cli("evidence", "verify", str(bag))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_planner_process_dies_callers_get_a_typed_timeout(ros_graph, node_processes, tmp_path):
    planner_proc, _sim, _gate = _launched_graph(node_processes, tmp_path)
    goals = _goals(ros_graph)
    client = plan_client(ros_graph)
    assert client is not None
    planner_proc.kill(signal.SIGKILL)
    planned = _cli("plan", "--task", "reach", "--timeout", "5", timeout=90)
    assert planned.returncode == 3, (planned.stdout, planned.stderr)
    assert "worldforge-ros plan:" in planned.stderr
    assert goals[-1] in (None, 0)
