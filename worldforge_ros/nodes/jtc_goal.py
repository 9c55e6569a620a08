"""What both simulated controllers (``sim_controller``, ``scene_sim``) check of a FollowJointTrajectory goal, the
way ros2_control's JointTrajectoryController does: the joints it owns, points, finite positions, increasing time,
and the path/goal tolerances with the goal's own values over the controller's defaults."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from worldforge_ros.core import names
from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.nodes.conversions import duration_to_seconds, trajectory_arrays

ENDPOINT_PARAMS = (
    ParamSpec("action_name", names.SIM_CONTROLLER_ACTION,
              "FollowJointTrajectory action name (relative: follows the namespace). Never a real controller's name.",
              read_only=True, non_empty=True),
    ParamSpec("joint_states_topic", names.JOINT_STATES_TOPIC, "Where the simulated joint states are published.",
              read_only=True, non_empty=True),
    ParamSpec("action_type", "auto", "auto (control_msgs when importable), control_msgs or worldforge_ros.",
              read_only=True, choices=("auto", "control_msgs", "worldforge_ros")),
)
"""The parameters both simulated controllers declare for their graph endpoints."""


def refuse_real_controller_name(node_kind: str, action_name: str) -> None:
    """A simulator never takes ros2_control's JointTrajectoryController name (``INVALID_ARGUMENT``)."""
    if action_name.strip("/").endswith(names.REAL_CONTROLLER_ACTION):
        raise RequestError(f"{node_kind} refuses action_name {action_name}: that is a real ros2_control "
                           "controller's name", ErrorCode.INVALID_ARGUMENT)


def invalid_reason(goal: Any, joint_names: Sequence[str]) -> str:
    """Why the controller must reject ``goal`` ('' when it may accept it)."""
    traj = goal.trajectory
    if sorted(traj.joint_names) != sorted(joint_names):
        return f"joint names {list(traj.joint_names)} do not match {list(joint_names)}"
    if not traj.points:
        return "trajectory has no points"
    try:
        _, pos, _, times = trajectory_arrays(traj)
    except ValueError as exc:
        return f"malformed points: {exc}"
    if not np.all(np.isfinite(pos)) or not np.all(np.diff(np.concatenate([[0.0], times])) > 0):
        return "positions must be finite and time_from_start strictly increasing from > 0"
    return ""


def tolerances(goal: Any, names: list[str], path_default: float, goal_default: float,
               goal_time_default: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-joint path and goal position tolerances (a negative value = unlimited, 0 = the default) and the
    goal time tolerance (0 = the default), in the goal's joint order."""
    path = np.full(len(names), path_default)
    final = np.full(len(names), goal_default)
    for tol_list, arr in ((goal.path_tolerance, path), (goal.goal_tolerance, final)):
        for tol in tol_list:
            if tol.name in names and tol.position != 0.0:
                arr[names.index(tol.name)] = np.inf if tol.position < 0 else tol.position
    gtt = duration_to_seconds(goal.goal_time_tolerance) or goal_time_default
    return path, final, gtt


SUCCEEDED, ABORTED = "succeeded", "aborted"


def tick_verdict(result: Any, t: float, end: float, goal_time_tolerance: float, error: np.ndarray,
                 final_error: np.ndarray, path_tol: np.ndarray, goal_tol: np.ndarray, joints: Sequence[str]) -> str:
    """JTC's decision at one control tick ``t`` of a trajectory ending at ``end``: ``ABORTED`` (path tolerance
    violated on the way, or the goal tolerance not met ``goal_time_tolerance`` after the end), ``SUCCEEDED``
    (past the end, inside the goal tolerance) with ``result``'s error fields filled, or '' (keep going).
    ``error`` is desired - actual now, ``final_error`` last point - actual."""
    if t <= end and np.any(np.abs(error) > path_tol):
        joint = joints[int(np.argmax(np.abs(error) - path_tol))]
        result.error_code = result.PATH_TOLERANCE_VIOLATED
        result.error_string = f"path tolerance violated on {joint} at t={t:.3f}s"
        return ABORTED
    if t > end:
        if np.all(np.abs(final_error) <= goal_tol):
            result.error_code, result.error_string = result.SUCCESSFUL, ""
            return SUCCEEDED
        if t > end + goal_time_tolerance:
            result.error_code = result.GOAL_TOLERANCE_VIOLATED
            result.error_string = f"goal tolerance not reached within {goal_time_tolerance:.3f}s"
            return ABORTED
    return ""


class JtcGoalChecks:
    """The goal-side callbacks both simulated controllers share (mixed into the node class): count every goal
    on the latched ``~/goals_received`` topic, reject invalid ones, resolve tolerances from the node's ``p``."""

    def _on_goal(self, goal: Any) -> Any:
        from rclpy.action import GoalResponse
        from std_msgs.msg import UInt32

        self.goals_received += 1
        self._count_pub.publish(UInt32(data=self.goals_received))
        self._before_reply()
        reason = invalid_reason(goal, self.joint_names)
        if reason:
            self.get_logger().error(f"goal rejected: {reason}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _before_reply(self) -> None:
        """Hook before the accept/reject reply (fault injection in sim_controller)."""

    def _tolerances(self, goal: Any, names: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
        return tolerances(goal, names, self.p["path_tolerance"], self.p["goal_tolerance"],
                          self.p["goal_time_tolerance"])
