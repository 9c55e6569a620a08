"""Forward kinematics of the Panda's end effector from the MuJoCo scene, for envelope workspace boxes.

``scene_fk_for(embodiment)`` is the ``fk_for`` of ``core.envelope.EnvelopeGate`` and of the evidence verifier:
for the Panda embodiments it returns ``fk(joint_names, positions (T, J)) -> (T, 3)`` (the ``end_effector`` site,
world frame, metres: the table top is z = 0 and the arm's base stands at the origin), else None; None too when
mujoco cannot load (a workspace box is then refused, typed). Joints the trajectory lacks stay at the home pose.
Thread-safe: one private scene per process, built on first use, behind a lock.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np

from .model import EMBODIMENT_JOINTS, HOME, SceneUnavailable

PANDA_EMBODIMENTS = ("panda_7dof", "panda_7dof_delta")
"""Embodiments whose joints are the scene's ``panda_joint1..7``."""

FK = Callable[[Sequence[str], np.ndarray], np.ndarray]

_lock = threading.Lock()
_scene = None
_unavailable: str | None = None


def _shared_scene():
    global _scene, _unavailable
    if _scene is None and _unavailable is None:
        try:
            from .scene import Scene

            _scene = Scene()
        except SceneUnavailable as exc:
            _unavailable = str(exc)
    return _scene


def panda_end_effector(joint_names: Sequence[str], positions) -> np.ndarray:
    """``(T, 3)`` end-effector positions for ``positions`` ``(T, J)`` over ``joint_names`` (a subset of
    ``panda_joint1..7``; the others at home). ``KeyError`` for a joint the Panda does not have."""
    index = {name: EMBODIMENT_JOINTS.index(name) for name in joint_names}  # KeyError/ValueError: not a Panda joint
    rows = np.atleast_2d(np.asarray(positions, dtype=np.float64))
    with _lock:
        scene = _shared_scene()
        if scene is None:
            raise SceneUnavailable("scene_unavailable", _unavailable or "no scene")
        out = np.empty((rows.shape[0], 3))
        for t, row in enumerate(rows):
            q = np.array(HOME, dtype=np.float64)
            for name, value in zip(joint_names, row):
                q[index[name]] = value
            out[t] = scene.end_effector_at(q)
    return out


def scene_fk_for(embodiment: str) -> FK | None:
    """Forward kinematics for ``embodiment`` from the scene, or None (not a Panda, or no mujoco here)."""
    if embodiment not in PANDA_EMBODIMENTS:
        return None
    with _lock:
        if _shared_scene() is None:
            return None
    return panda_end_effector
