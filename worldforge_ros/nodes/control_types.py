"""Which FollowJointTrajectory type to use: control_msgs when importable (real ros2_control controllers only
talk to it: ROS 2 matches endpoints by full type name), else this package's wire-identical copy."""

from __future__ import annotations

from typing import Any


def follow_joint_trajectory_type(prefer: str = "auto") -> tuple[Any, str]:
    """``(action type, type name)``; ``prefer`` is ``auto``, ``control_msgs`` or ``worldforge_ros``."""
    if prefer in ("auto", "control_msgs"):
        try:
            from control_msgs.action import FollowJointTrajectory  # type: ignore[import-not-found]

            return FollowJointTrajectory, "control_msgs/action/FollowJointTrajectory"
        except ImportError:
            if prefer == "control_msgs":
                raise
    from worldforge_ros.action import FollowJointTrajectory

    return FollowJointTrajectory, "worldforge_ros/action/FollowJointTrajectory"
