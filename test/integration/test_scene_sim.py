"""scene_sim (MuJoCo Panda behind FollowJointTrajectory): tracks with physics, aborts, cancels, publishes images."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from graph_helpers import PANDA, PANDA_HOME, fjt_goal, simulated_controller_client
from ros_harness import installed_executable, node_env, wait_until

pytestmark = pytest.mark.graph

from worldforge_ros.scene.scene import import_mujoco

import_mujoco()  # scripts/setup installs mujoco: a missing one is a setup failure, never a skip

ACTION = "/test_scene/fjt"


def _goal(action_type, positions, dt=0.1, names=PANDA):
    return fjt_goal(action_type, positions, dt, names)


def _start(node_processes, *extra):
    argv = installed_executable("scene_sim") + [
        "--ros-args", "-p", f"action_name:={ACTION}", "-p", "time_scale:=2.0", "-p", "action_type:=worldforge_ros",
        *extra]
    return node_processes(argv, "scene_sim")


def _client(ros_graph):
    return simulated_controller_client(ros_graph, ACTION)


def _reach(n=15, delta=0.3):
    home = np.array(PANDA_HOME)
    return np.linspace(home + delta / n, home + delta, n)


def test_tracks_with_real_error_and_publishes_state_and_camera(ros_graph, node_processes):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import UInt32

    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes, "-p", "camera_rate_hz:=4.0")
    states, images, counts = [], [], []
    ros_graph.node.create_subscription(JointState, "/joint_states", states.append, 10)
    ros_graph.node.create_subscription(Image, "/camera/image_raw", images.append, 2)
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_graph.node.create_subscription(UInt32, "/scene_sim/goals_received", lambda m: counts.append(m.data), qos)
    client = _client(ros_graph)
    feedback = []
    path = _reach()
    wall0 = time.monotonic()
    handle = ros_graph.wait(client.send_goal_async(_goal(FollowJointTrajectory, path),
                                                   feedback_callback=feedback.append))
    assert handle.accepted
    result = ros_graph.wait(handle.get_result_async(), timeout=30).result
    assert time.monotonic() - wall0 >= 0.8 * 1.5 / 2.0  # 1.5 s trajectory at time_scale 2, never faster
    assert result.error_code == FollowJointTrajectory.Result.SUCCESSFUL, result.error_string
    errors = np.array([np.abs(f.feedback.error.positions).max() for f in feedback])
    assert 0.0 < errors.max() < 0.25  # a servoed arm: never exact, never far
    assert wait_until(lambda: states and np.allclose(states[-1].position, path[-1], atol=0.02))
    assert wait_until(lambda: counts and counts[-1] >= 2)  # the rejected probe and this goal
    if wait_until(lambda: images, timeout=5):
        img = images[-1]
        assert (img.height, img.width, img.encoding, img.step) == (240, 320, "rgb8", 960)
        assert np.frombuffer(bytes(img.data), np.uint8).std() > 5


def test_rejects_goal_with_wrong_joints(ros_graph, node_processes):
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes)
    client = _client(ros_graph)
    bad = _goal(FollowJointTrajectory, _reach(3), names=PANDA[:6] + ["elbow"])
    assert not ros_graph.wait(client.send_goal_async(bad)).accepted


def test_tight_path_tolerance_aborts_on_the_real_tracking_error(ros_graph, node_processes):
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes, "-p", "path_tolerance:=0.0005")
    client = _client(ros_graph)
    handle = ros_graph.wait(client.send_goal_async(_goal(FollowJointTrajectory, _reach())))
    result = ros_graph.wait(handle.get_result_async(), timeout=30).result
    assert result.error_code == FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED
    assert "path tolerance" in result.error_string


def test_unreachable_goal_aborts_with_goal_tolerance(ros_graph, node_processes):
    """A last point beyond the joint limit: the simulated joint stops at its limit and never gets there."""
    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes, "-p", "path_tolerance:=10.0", "-p", "goal_time_tolerance:=0.3")
    client = _client(ros_graph)
    path = _reach(10, 0.05)
    path[-1, 3] = 0.3  # panda_joint4 upper limit is -0.0698
    handle = ros_graph.wait(client.send_goal_async(_goal(FollowJointTrajectory, path)))
    result = ros_graph.wait(handle.get_result_async(), timeout=30).result
    assert result.error_code == FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED, result.error_string


def test_cancel_stops_motion(ros_graph, node_processes):
    from action_msgs.msg import GoalStatus

    from worldforge_ros.action import FollowJointTrajectory

    _start(node_processes)
    client = _client(ros_graph)
    feedback = []
    path = _reach(60, 0.6)
    handle = ros_graph.wait(client.send_goal_async(_goal(FollowJointTrajectory, path),
                                                   feedback_callback=feedback.append))
    assert wait_until(lambda: len(feedback) >= 3)
    ros_graph.wait(handle.cancel_goal_async())
    res = ros_graph.wait(handle.get_result_async())
    assert res.status == GoalStatus.STATUS_CANCELED
    assert feedback[-1].feedback.actual.positions[0] < path[-1, 0] - 0.1


def test_refuses_a_real_controllers_action_name():
    argv = installed_executable("scene_sim") + [
        "--ros-args", "-p", "action_name:=joint_trajectory_controller/follow_joint_trajectory"]
    proc = subprocess.run(argv, env=node_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "real" in proc.stderr


def test_publishes_simulated_time_on_clock_and_a_sim_time_node_follows_it(ros_graph, node_processes):
    from rosgraph_msgs.msg import Clock

    from worldforge_ros.core.profiles import apply_arguments, load_profile

    # bringup/launch: use_sim_time with the scene as simulator makes the scene the clock source
    profile = apply_arguments(load_profile("dry_run"), use_sim_controller=True, use_sim_time=True, simulator="scene")
    sim = profile.node("sim_controller")
    assert sim.executable == "scene_sim" and sim.parameters["publish_clock"] is True
    kinematic = apply_arguments(load_profile("dry_run"), use_sim_controller=True, use_sim_time=True)
    assert "publish_clock" not in kinematic.node("sim_controller").parameters

    _start(node_processes, "-p", "publish_clock:=true", "-p", "use_sim_time:=true", "-p", "camera_rate_hz:=0.0")
    ticks = []
    ros_graph.node.create_subscription(Clock, "/clock", lambda m: ticks.append(m.clock.sec * 10**9 + m.clock.nanosec),
                                       10)
    assert wait_until(lambda: len(ticks) >= 50, timeout=20), f"{len(ticks)} /clock messages"
    assert all(b > a for a, b in zip(ticks, ticks[1:]))  # simulated time only moves forward
    # The sim's own stamps (use_sim_time) are simulated time, not wall time: far below the epoch's seconds.
    from sensor_msgs.msg import JointState

    stamps = []
    ros_graph.node.create_subscription(JointState, "joint_states", lambda m: stamps.append(m.header.stamp.sec), 10)
    assert wait_until(lambda: len(stamps) >= 3, timeout=20)
    assert max(stamps) < 3600 < time.time()
