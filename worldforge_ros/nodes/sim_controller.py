"""sim_controller: a JTC-like FollowJointTrajectory server for the demo and tests. NEVER for hardware.

It is the named stand-in for the host-owned controller: it integrates the trajectory in time (cubic Hermite
between points), publishes ``/joint_states``, reports desired/actual/error feedback, enforces path and goal
tolerances (aborting with the control_msgs error codes), honours cancel, and counts every goal it receives on
the latched ``~/goals_received`` topic so tests can prove that nothing reached it.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import UInt32
from trajectory_msgs.msg import JointTrajectoryPoint

from worldforge_ros.core import names
from worldforge_ros.core.errors import WorldForgeRosError
from worldforge_ros.core.interpolation import sample
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.nodes.control_types import follow_joint_trajectory_type
from worldforge_ros.nodes.conversions import trajectory_arrays
from worldforge_ros.nodes.jtc_goal import (ENDPOINT_PARAMS, SUCCEEDED, JtcGoalChecks, refuse_real_controller_name,
                                           tick_verdict)
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.spin import destroy_actions, run_node

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

PARAMS = (
    ParamSpec("joint_names", ["panda_joint1", "panda_joint2", "panda_joint3", "panda_joint4", "panda_joint5",
                              "panda_joint6", "panda_joint7"], "Joints this simulated controller owns.",
              read_only=True, non_empty=True),
    ParamSpec("initial_positions", [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785],
              "Start positions (rad or m), one per joint.", read_only=True),
    *ENDPOINT_PARAMS,
    ParamSpec("rate_hz", 50.0, "Integration, feedback and /joint_states rate.", min_value=1.0, max_value=1000.0),
    ParamSpec("time_scale", 1.0, "Simulated seconds per wall-clock second (tests run faster than real time).",
              min_value=0.01, max_value=1000.0),
    ParamSpec("tracking_gain", 1.0, "Fraction of the desired-actual gap closed per tick (1 = perfect tracking).",
              min_value=0.01, max_value=1.0),
    ParamSpec("path_tolerance", 0.5, "Default max |desired - actual| per joint during motion (rad or m).",
              min_value=0.0),
    ParamSpec("goal_tolerance", 0.02, "Default max |goal - actual| per joint at the end (rad or m).", min_value=0.0),
    ParamSpec("goal_time_tolerance", 0.5, "Default time allowed after the end to reach the goal tolerance (s).",
              min_value=0.0),
    ParamSpec("fault_abort_at_fraction", -1.0,
              "FAULT INJECTION for tests: stall the joints at this fraction of the trajectory so the path "
              "tolerance trips (-1 = off).", min_value=-1.0, max_value=1.0),
    ParamSpec("fault_goal_reply_delay_s", 0.0,
              "FAULT INJECTION for tests: hold every goal's accept/reject reply this long (a controller whose "
              "reply is late or lost; 0 = off).", min_value=0.0, max_value=60.0),
)


class SimController(JtcGoalChecks, Node):
    def __init__(self, node_name: str = "sim_controller", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p = declare_and_validate(self, PARAMS)
        refuse_real_controller_name("sim_controller", self.p["action_name"])
        self.joint_names = list(self.p["joint_names"])
        init = list(self.p["initial_positions"]) or [0.0] * len(self.joint_names)
        if len(init) != len(self.joint_names):
            raise ValueError("initial_positions must have one value per joint")
        self.positions = np.asarray(init, dtype=np.float64)
        self.velocities = np.zeros_like(self.positions)
        self._lock = threading.Lock()
        self._busy = threading.Lock()
        self._stopping = threading.Event()
        self.goals_received = 0
        self.action_type, self.action_type_name = follow_joint_trajectory_type(self.p["action_type"])
        group = ReentrantCallbackGroup()
        self._js_pub = self.create_publisher(JointState, self.p["joint_states_topic"], 10)
        self._count_pub = self.create_publisher(UInt32, names.GOALS_RECEIVED_TOPIC, LATCHED)
        self._count_pub.publish(UInt32(data=0))
        self.create_timer(1.0 / self.p["rate_hz"], self._publish_state, callback_group=group)
        self._server = ActionServer(self, self.action_type, self.p["action_name"], self._execute,
                                    goal_callback=self._on_goal, cancel_callback=lambda _g: CancelResponse.ACCEPT,
                                    callback_group=group)
        self.get_logger().warning(f"sim_controller ({self.action_type_name}) on "
                                  f"{self.resolve_topic_name(self.p['action_name'])}: "
                                  "a simulated controller for demos and tests, never for hardware")

    # ---- state ----------------------------------------------------------------------------------------------
    def _publish_state(self) -> None:
        with self._lock:
            msg = JointState(name=self.joint_names, position=self.positions.tolist(), velocity=self.velocities.tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self._js_pub.publish(msg)

    # ---- goals ----------------------------------------------------------------------------------------------
    def _before_reply(self) -> None:
        if self.p["fault_goal_reply_delay_s"] > 0.0:
            time.sleep(self.p["fault_goal_reply_delay_s"])

    def _execute(self, goal_handle: Any) -> Any:
        with self._busy:  # one trajectory at a time, like a JTC
            return self._run(goal_handle)

    def _run(self, goal_handle: Any) -> Any:
        goal = goal_handle.request
        result = self.action_type.Result()
        names, pos, vel, times = trajectory_arrays(goal.trajectory)
        order = [self.joint_names.index(n) for n in names]
        path_tol, goal_tol, gtt = self._tolerances(goal, list(names))
        with self._lock:
            start = self.positions[order].copy()
        period = 1.0 / self.p["rate_hz"]
        t0 = time.monotonic()
        end = times[-1]
        stall_at = self.p["fault_abort_at_fraction"] * end if self.p["fault_abort_at_fraction"] >= 0 else None
        while True:
            time.sleep(period)
            t = (time.monotonic() - t0) * self.p["time_scale"]
            desired_p, desired_v = sample(start, pos, vel, times, t)
            with self._lock:
                actual = self.positions[order]
                if stall_at is None or t < stall_at:
                    actual = actual + self.p["tracking_gain"] * (desired_p - actual)
                self.positions[order] = actual
                self.velocities[order] = desired_v if stall_at is None or t < stall_at else 0.0
            error = desired_p - actual
            fb = self.action_type.Feedback()
            fb.header.stamp = self.get_clock().now().to_msg()
            fb.joint_names = list(names)
            fb.desired = JointTrajectoryPoint(positions=desired_p.tolist(), velocities=desired_v.tolist())
            fb.actual = JointTrajectoryPoint(positions=actual.tolist())
            fb.error = JointTrajectoryPoint(positions=error.tolist())
            goal_handle.publish_feedback(fb)
            if goal_handle.is_cancel_requested or self._stopping.is_set():
                with self._lock:
                    self.velocities[order] = 0.0
                goal_handle.canceled()
                result.error_code, result.error_string = result.SUCCESSFUL, "canceled by client"
                return result
            verdict = tick_verdict(result, t, end, gtt, error, pos[-1] - actual, path_tol, goal_tol, names)
            if verdict:
                with self._lock:
                    self.velocities[order] = 0.0
                goal_handle.succeed() if verdict == SUCCEEDED else goal_handle.abort()
                return result


    def destroy_node(self) -> None:
        self._stopping.set()  # ends a running trajectory at once (as canceled)
        destroy_actions(self)
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    return run_node("sim_controller", SimController, argv, startup_errors=(WorldForgeRosError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
