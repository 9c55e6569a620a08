"""What both simulated controllers (``sim_controller``, ``scene_sim``) check of a FollowJointTrajectory goal, the
way ros2_control's JointTrajectoryController does: the joints it owns, points, finite positions, increasing time,
and the path/goal tolerances with the goal's own values over the controller's defaults."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from worldforge_ros.nodes.conversions import duration_to_seconds, trajectory_arrays


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
