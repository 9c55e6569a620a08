"""Which FollowJointTrajectory type to use: control_msgs when importable (what ros2_control controllers
serve), else this package's wire-identical copy.

Measured on Kilted with rmw_fastrtps_cpp (test_control_msgs_gate.py): endpoints of the two wire-identical types
DO match across processes (Fast DDS compares the type structure, not the package name), so the copy reaches a
control_msgs controller in another process too. Within one process rclpy refuses two types on one action name.
The type choice is therefore not an isolation barrier: the gate's own checks (approval, start state, a single
controller) are."""

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
                from worldforge_ros.core.errors import ErrorCode, RequestError

                raise RequestError("controller_action_type is control_msgs but control_msgs is not installed "
                                   "(apt install ros-<distro>-control-msgs, or use auto / worldforge_ros)",
                                   ErrorCode.INVALID_ARGUMENT) from None
    from worldforge_ros.action import FollowJointTrajectory

    return FollowJointTrajectory, "worldforge_ros/action/FollowJointTrajectory"
