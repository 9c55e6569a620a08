"""How a lab's robot is wired to the policies: camera topics -> camera keys, robot joints -> policy joints.

Both come from string-array parameters of ``key=value`` entries (ROS parameters have no maps):

- ``camera_topics: ["front=/camera/front/image_raw", "wrist=/wrist_cam/image_raw/compressed"]`` — the policy's
  camera key, then the topic. A topic ending in ``/compressed`` is a ``sensor_msgs/CompressedImage``
  (image_transport's convention); any other is a ``sensor_msgs/Image``. A bare topic (no ``=``) keeps the old
  meaning: the camera key is the image's ``header.frame_id``.
- ``joint_map: ["fr3_joint1=panda_joint1", ...]`` — robot joint -> policy (embodiment) joint. With a map, the
  policies see exactly the mapped joints under their policy names (extra robot joints such as gripper fingers
  are ignored unless mapped), and the plan's trajectories and start state use the robot's names again, so the
  gate and the controller only ever see robot names. Without a map, names pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .errors import ErrorCode, RequestError

COMPRESSED_SUFFIX = "/compressed"


def parse_pairs(entries: Iterable[str], what: str) -> dict[str, str]:
    """``["a=b", ...]`` -> ``{"a": "b"}``; a malformed or repeated key is an ``INVALID_ARGUMENT``."""
    out: dict[str, str] = {}
    for entry in entries:
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise RequestError(f"{what}: {entry!r} is not 'key=value'", ErrorCode.INVALID_ARGUMENT)
        if key in out:
            raise RequestError(f"{what}: {key!r} appears twice", ErrorCode.INVALID_ARGUMENT)
        out[key] = value
    return out


@dataclass(frozen=True)
class CameraSource:
    """One configured camera: the key the policy knows it by ('' = the image's frame_id), its topic and type."""

    key: str
    topic: str

    @property
    def compressed(self) -> bool:
        return self.topic.rstrip("/").endswith(COMPRESSED_SUFFIX)


def camera_sources(entries: Sequence[str]) -> list[CameraSource]:
    """Camera sources from ``camera_topics`` entries (``key=topic`` or a bare ``topic``)."""
    sources: list[CameraSource] = []
    for entry in entries:
        if not entry:
            continue
        if "=" in entry:
            ((key, topic),) = parse_pairs([entry], "camera_topics").items()
        else:
            key, topic = "", entry.strip()
        sources.append(CameraSource(key, topic))
    topics = [s.topic for s in sources]
    keys = [s.key for s in sources if s.key]
    if len(set(topics)) != len(topics) or len(set(keys)) != len(keys):
        raise RequestError(f"camera_topics names a topic or camera key twice: {list(entries)}",
                           ErrorCode.INVALID_ARGUMENT)
    return sources


class JointMap:
    """Robot joint names <-> policy joint names (identity when empty)."""

    def __init__(self, robot_to_policy: dict[str, str] | None = None) -> None:
        self.robot_to_policy = dict(robot_to_policy or {})
        policy = list(self.robot_to_policy.values())
        if len(set(policy)) != len(policy):
            raise RequestError(f"joint_map maps two robot joints onto one policy joint: {self.robot_to_policy}",
                               ErrorCode.INVALID_ARGUMENT)
        self.policy_to_robot = {v: k for k, v in self.robot_to_policy.items()}

    @classmethod
    def from_entries(cls, entries: Sequence[str]) -> "JointMap":
        return cls(parse_pairs(entries, "joint_map"))

    @property
    def identity(self) -> bool:
        return not self.robot_to_policy

    def to_policy(self, robot_names: Sequence[str], positions: np.ndarray,
                  velocities: np.ndarray | None = None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """The mapped joints of a robot joint state, under policy names (unmapped joints dropped). Every mapped
        robot joint must be present: a partial state is ``JOINT_NAMES_MISMATCH``."""
        pos = np.asarray(positions, dtype=np.float64)
        vel = np.asarray(velocities if velocities is not None else [], dtype=np.float64)
        if self.identity:
            return tuple(robot_names), pos, vel
        index = {n: i for i, n in enumerate(robot_names)}
        missing = [r for r in self.robot_to_policy if r not in index]
        if missing:
            raise RequestError(f"joint state lacks mapped robot joints {missing} (has {list(robot_names)})",
                               ErrorCode.JOINT_NAMES_MISMATCH, missing=missing)
        rows = [index[r] for r in self.robot_to_policy]
        names = tuple(self.robot_to_policy[r] for r in self.robot_to_policy)
        return names, pos[rows], (vel[rows] if vel.size == pos.size else np.zeros(0))

    def to_robot(self, policy_names: Sequence[str]) -> tuple[str, ...]:
        """Robot names of ``policy_names`` (a policy joint without a robot joint is ``JOINT_NAMES_MISMATCH``)."""
        if self.identity:
            return tuple(policy_names)
        missing = [p for p in policy_names if p not in self.policy_to_robot]
        if missing:
            raise RequestError(f"joint_map has no robot joint for policy joints {missing}",
                               ErrorCode.JOINT_NAMES_MISMATCH, missing=missing)
        return tuple(self.policy_to_robot[p] for p in policy_names)
