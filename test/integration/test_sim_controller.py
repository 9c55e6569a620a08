"""sim_controller (the named stand-in for the host controller): integrates, reports, aborts, cancels."""

import numpy as np
import pytest

from graph_helpers import fjt_goal, simulated_controller_client
from ros_harness import installed_executable, wait_until

pytestmark = pytest.mark.graph

JOINTS = ["a", "b"]


def _goal(action_type, positions, dt=0.1, names=JOINTS):
    return fjt_goal(action_type, positions, dt, names)


def _start(node_processes, *extra):
    argv = installed_executable("sim_controller") + [
        "--ros-args", "-p", "joint_names:=[a, b]", "-p", "initial_positions:=[0.0, 0.0]",
        "-p", "action_name:=/test_sim/fjt", "-p", "time_scale:=4.0", "-p", "action_type:=worldforge_ros", *extra]
    return node_processes(argv, "sim_controller")


def _client(ros_graph):
    return simulated_controller_client(ros_graph, "/test_sim/fjt")


def _goals_received(ros_graph):
    from std_msgs.msg import UInt32
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    seen = []
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_graph.node.create_subscription(UInt32, "/sim_controller/goals_received", lambda m: seen.append(m.data), qos)
    return seen


def test_follows_trajectory_and_publishes_joint_states(ros_graph, node_processes):
    from sensor_msgs.msg import JointState
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes)
    states = []
    ros_graph.node.create_subscription(JointState, "/joint_states", states.append, 10)
    counts = _goals_received(ros_graph)
    client = _client(ros_graph)
    feedback = []
    goal = _goal(FollowJointTrajectory, [[0.1, -0.1], [0.2, -0.2], [0.3, -0.3]])
    handle = ros_graph.wait(client.send_goal_async(goal, feedback_callback=feedback.append))
    assert handle.accepted
    result = ros_graph.wait(handle.get_result_async()).result
    assert result.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    assert feedback and list(feedback[-1].feedback.joint_names) == JOINTS
    assert wait_until(lambda: states and np.allclose(states[-1].position, [0.3, -0.3], atol=0.02))
    assert wait_until(lambda: counts and counts[-1] >= 2)  # the rejected probe and this goal


def test_rejects_goal_with_wrong_joints(ros_graph, node_processes):
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes)
    client = _client(ros_graph)
    handle = ros_graph.wait(client.send_goal_async(_goal(FollowJointTrajectory, [[0.1, 0.1], [0.2, 0.2]], names=["a", "z"])))
    assert not handle.accepted


def test_fault_injection_aborts_with_path_tolerance(ros_graph, node_processes):
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes, "-p", "fault_abort_at_fraction:=0.3", "-p", "path_tolerance:=0.05")
    client = _client(ros_graph)
    goal = _goal(FollowJointTrajectory, np.linspace([0.1, 0.1], [1.0, 1.0], 10))
    handle = ros_graph.wait(client.send_goal_async(goal))
    result = ros_graph.wait(handle.get_result_async()).result
    assert result.error_code == FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED
    assert "path tolerance" in result.error_string


def test_cancel_stops_motion(ros_graph, node_processes):
    from action_msgs.msg import GoalStatus
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes)
    client = _client(ros_graph)
    feedback = []
    goal = _goal(FollowJointTrajectory, np.linspace([0.05, 0.05], [2.0, 2.0], 80))
    handle = ros_graph.wait(client.send_goal_async(goal, feedback_callback=feedback.append))
    assert wait_until(lambda: len(feedback) >= 3)
    ros_graph.wait(handle.cancel_goal_async())
    res = ros_graph.wait(handle.get_result_async())
    assert res.status == GoalStatus.STATUS_CANCELED
    assert feedback[-1].feedback.actual.positions[0] < 2.0


@pytest.mark.parametrize("module, cls", [("sim_controller", "SimController"), ("approval_node", "ApprovalNode")])
def test_a_destroyed_node_leaves_no_action_entities_in_the_graph(ros_graph, tmp_path, module, cls):
    """rclpy's destroy_node leaves action servers and clients alive while the process lives: a destroyed
    simulated controller kept answering the graph as a second server (a gate then refused as CONTROLLER_AMBIGUOUS).
    Nodes with actions destroy them first."""
    import importlib

    import rclpy
    from rclpy.context import Context

    node_cls = getattr(importlib.import_module(f"worldforge_ros.nodes.{module}"), cls)
    overrides = {"evidence_dir": str(tmp_path / "ev"), "record_evidence": False} if module == "approval_node" else {}
    from rclpy.parameter import Parameter

    context = Context()
    rclpy.init(context=context)
    try:
        node = node_cls(namespace="/destroy_probe", context=context,
                        parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        topic = ("/destroy_probe/sim_controller/follow_joint_trajectory/_action/status" if module == "sim_controller"
                 else "/destroy_probe/worldforge/execute/_action/status")
        observer = ros_graph.node
        assert wait_until(lambda: len(observer.get_publishers_info_by_topic(topic)) == 1, timeout=15)
        node.destroy_node()  # the context (and its DDS participant) stays up, as in a composed process
        assert wait_until(lambda: not observer.get_publishers_info_by_topic(topic), timeout=15), \
            observer.get_publishers_info_by_topic(topic)
    finally:
        context.try_shutdown()
