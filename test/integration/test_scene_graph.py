"""Plan -> approve -> execute on the MuJoCo scene: bringup (reference providers, planner, gate; no kinematic
sim_controller) with the gate pointed at sim_controller/follow_joint_trajectory, which scene_sim serves.

The plan starts from the scene's own /joint_states; the approved trajectory moves the simulated arm (physics,
position actuators) and the joint states observed during and after execution follow it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from graph_helpers import GOAL, PANDA, bringup, gate_approve, gate_execute, gate_plan, plan_client, write_profile
from ros_harness import installed_executable, wait_until

pytestmark = pytest.mark.graph

from worldforge_ros.scene.scene import import_mujoco

import_mujoco()  # scripts/setup installs mujoco: a missing one is a setup failure, never a skip


def test_approved_plan_moves_the_simulated_arm(ros_graph, node_processes, tmp_path):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import UInt32

    from worldforge_ros.action import ExecutePlan
    from worldforge_ros.srv import Approve

    sim = node_processes(installed_executable("scene_sim") + [
        "--ros-args", "-p", "action_type:=worldforge_ros", "-p", "time_scale:=2.0", "-p", "camera_rate_hz:=2.0"],
        "scene_sim")
    profile = write_profile(
        tmp_path,
        provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
        provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
        approval={"evidence_dir": str(tmp_path / "evidence"), "controller_action_type": "worldforge_ros",
                  "execution_enabled": True})
    bringup(node_processes, profile, "--no-sim-controller", "--controller-action",
            "sim_controller/follow_joint_trajectory")

    states: list = []
    images: list = []
    counts = [None]
    node = ros_graph.node
    node.create_subscription(JointState, "/joint_states", states.append, 50)
    node.create_subscription(Image, "/camera/image_raw", images.append, 2)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(UInt32, "/scene_sim/goals_received", lambda m: counts.append(m.data), latched)
    clients = {"plan": plan_client(ros_graph),
               "approve": ros_graph.client(Approve, "/worldforge/approve"),
               "execute": ros_graph.action_client(ExecutePlan, "/worldforge/execute")}
    assert wait_until(lambda: counts[-1] == 0 and states, timeout=20)

    plan = gate_plan(ros_graph, clients)  # from the planner's latest /joint_states: scene_sim's
    assert plan.selected_index >= 0
    traj = plan.candidates[plan.selected_index].trajectory
    names = list(traj.joint_names)
    assert sorted(names) == sorted(PANDA)
    last = np.array(traj.points[-1].positions)
    start = np.array([states[-1].position[states[-1].name.index(n)] for n in names])
    assert np.abs(last - start).max() > 0.05, "the plan should move the arm"

    approval = gate_approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted and approval.execution_enabled, approval.error_message
    t0 = time.time_ns()
    feedback: list = []
    result = gate_execute(ros_graph, clients, approval.approval_id, plan.plan_digest, feedback)
    assert result.error_code == 0, result.error_string
    assert result.executed and not result.dry_run
    assert counts[-1] == 1

    t_end = time.time_ns()

    def stamp(msg) -> int:
        return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

    # The test's subscription is served by a background executor: wait until a state published after the
    # result has been delivered, so every state of the execution is in ``states``.
    assert wait_until(lambda: states and stamp(states[-1]) > t_end + 200_000_000, timeout=10)

    def pos(msg):
        return np.array([msg.position[msg.name.index(n)] for n in names])

    duration = traj.points[-1].time_from_start.sec + traj.points[-1].time_from_start.nanosec * 1e-9
    # Simulated time runs at time_scale (2) x wall time, never ahead of it (a stalled physics thread slips).
    assert (t_end - t0) / 1e9 >= 0.8 * duration / 2.0, "the simulation ran faster than time_scale"
    during = [pos(m) for m in list(states) if t0 < stamp(m) <= t_end]
    assert len(during) >= 5, f"only {len(during)} joint states published during execution"
    moved = np.array(during)
    j_big = int(np.argmax(np.abs(last - start)))
    frac = (moved[:, j_big] - start[j_big]) / (last[j_big] - start[j_big])
    assert np.any((frac > 0.1) & (frac < 0.9)), "no state between start and goal: the arm did not travel"
    # The recorded states follow the plan: they travel from the start to the plan's last point, monotonically
    # enough that the path's extent matches the plan's (no teleport, no wandering off).
    final = pos(states[-1])
    np.testing.assert_allclose(final, last, atol=0.02)
    for j in range(len(names)):
        lo, hi = sorted((start[j], last[j]))
        assert moved[:, j].min() >= lo - 0.05 and moved[:, j].max() <= hi + 0.05, names[j]
    # Real tracking: the controller's feedback carries a non-zero but bounded error.
    errors = [np.abs(np.array(f.feedback.error.positions)).max() for f in feedback if f.feedback.error.positions]
    assert errors, "controller feedback was not forwarded"
    assert 0.0 < max(errors) < 0.25, max(errors)
    print(f"scene graph: {len(traj.points)} points over {duration:.2f}s, "
          f"max tracking error {max(errors):.4f} rad, final |error| {np.abs(final - last).max():.4f} rad, "
          f"{len(during)} joint states during execution, {len(images)} camera frames, "
          f"execute took {(t_end - t0) / 1e9:.2f}s wall, {len(feedback)} feedback")
    print([line for line in sim.output().splitlines() if "goal done" in line])
    if images:  # a headless GL here: frames of the configured size
        assert images[-1].width == 320 and images[-1].height == 240 and images[-1].encoding == "rgb8"


def test_bringup_simulator_scene_replaces_the_kinematic_sim(ros_graph, node_processes, tmp_path):
    """`bringup --simulator scene` (launch: simulator:=scene) starts the MuJoCo scene under the name
    sim_controller: the same graph, plans from its physics-driven joint states, executes on it."""
    from worldforge_ros.action import ExecutePlan

    profile = write_profile(tmp_path, provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
                            provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
                            approval={"evidence_dir": str(tmp_path / "evidence"), "execution_enabled": True,
                                      "controller_action_type": "worldforge_ros"},
                            sim_controller={"action_type": "worldforge_ros", "time_scale": 2.0,
                                            "camera_rate_hz": 0.0})
    graph = bringup(node_processes, profile, "--simulator", "scene")
    assert wait_until(lambda: "sim_controller" in graph.output() and "bringup: profile" in graph.output(), 60), \
        graph.output()[-2000:]
    from worldforge_ros.srv import Approve

    clients = {"plan": plan_client(ros_graph), "approve": ros_graph.client(Approve, "/worldforge/approve"),
               "execute": ros_graph.action_client(ExecutePlan, "/worldforge/execute")}
    plan = gate_plan(ros_graph, clients)
    approval = gate_approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted, approval.error_message
    result = gate_execute(ros_graph, clients, approval.approval_id, plan.plan_digest)
    assert result.executed and result.error_code == 0, result.error_string
    assert result.controller_action == "/sim_controller/follow_joint_trajectory"
    assert "scene_sim (MuJoCo" in graph.output()  # the scene served it, not the kinematic controller
