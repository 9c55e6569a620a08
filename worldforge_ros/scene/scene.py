"""``Scene``: the MuJoCo Panda scene — joint positions in the embodiment's convention, position-actuator
stepping, offscreen rendering and contact queries.

Positions passed in and out are ``panda_7dof`` values (``panda_joint1..7``); the ``JOINT_OFFSETS`` of
model.py are applied at this boundary only. Rendering needs a headless GL: ``MUJOCO_GL`` defaults to ``egl``
here (set before mujoco is first imported; ``osmesa`` also works where libOSMesa is installed). A renderer
that cannot start raises ``RenderUnavailable`` whose ``reason`` is ``render_unavailable``.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np

from .model import (EMBODIMENT_JOINTS, FINGER_JOINTS, HOME, JOINT_MAP, JOINT_OFFSETS, SceneUnavailable, scene_xml)


def import_mujoco():
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SceneUnavailable("mujoco_missing", f"import mujoco failed ({exc}); pip install mujoco "
                               "(requirements/runtimes.txt)") from exc
    return mujoco


class RenderUnavailable(SceneUnavailable):
    def __init__(self, message: str) -> None:
        super().__init__("render_unavailable", message)


_OFFSET = dict(zip(EMBODIMENT_JOINTS, JOINT_OFFSETS))


def public_body_name(name: str) -> str:
    """``panda0_link7`` → ``panda_link7``; world bodies keep their names."""
    return "panda_" + name[len("panda0_"):] if name.startswith("panda0_") else name


class Scene:
    """One MuJoCo model + data. Not thread-safe: one owner thread, or an external lock."""

    def __init__(self, *, width: int = 320, height: int = 240, initial_positions: Sequence[float] = HOME) -> None:
        self.mujoco = mj = import_mujoco()
        self.model = mj.MjModel.from_xml_string(scene_xml(width=width, height=height))
        self.data = mj.MjData(self.model)
        self.width, self.height = int(width), int(height)
        self._renderer = None
        self._render_error: str | None = None
        m = self.model
        self.joint_names = EMBODIMENT_JOINTS
        self._qadr = {n: int(m.joint(JOINT_MAP[n]).qposadr[0]) for n in EMBODIMENT_JOINTS}
        self._dadr = {n: int(m.joint(JOINT_MAP[n]).dofadr[0]) for n in EMBODIMENT_JOINTS}
        self._act = {n: int(m.actuator(f"panda0_joint{n[-1]}").id) for n in EMBODIMENT_JOINTS}
        # Feedforward that cancels the joint damping's lag for a position actuator: ctrl = q + (b / kp) * qd.
        self._ff = {n: float(m.dof_damping[self._dadr[n]]) / float(m.actuator_gainprm[self._act[n], 0])
                    for n in EMBODIMENT_JOINTS}
        base = int(m.body("panda0_link0").id)
        robot_bodies = {b for b in range(m.nbody) if self._descends(b, base)}
        self.robot_geom = np.array([int(m.geom_bodyid[g]) in robot_bodies for g in range(m.ngeom)])
        for j in FINGER_JOINTS:  # hold the gripper open
            self.data.qpos[m.joint(j).qposadr[0]] = 0.04
            act = [a for a in range(m.nu) if int(m.actuator_trnid[a, 0]) == int(m.joint(j).id)]
            self.data.ctrl[act] = 0.04
        self.set_joint_positions(EMBODIMENT_JOINTS, initial_positions)

    def _descends(self, body: int, ancestor: int) -> bool:
        while body != 0:
            if body == ancestor:
                return True
            body = int(self.model.body_parentid[body])
        return False

    def _names(self, names: Iterable[str]) -> list[str]:
        out = []
        for n in names:
            if n not in self._qadr:
                raise KeyError(f"unknown joint {n!r}: the scene has {list(EMBODIMENT_JOINTS)}")
            out.append(n)
        return out

    # ---- state ----------------------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    def set_joint_positions(self, names: Sequence[str], positions: Sequence[float]) -> None:
        """Teleport: positions set, velocities zeroed, actuator targets set to hold them, kinematics updated."""
        names = self._names(names)
        for n, q in zip(names, np.asarray(positions, dtype=np.float64), strict=True):
            self.data.qpos[self._qadr[n]] = q + _OFFSET[n]
            self.data.qvel[self._dadr[n]] = 0.0
            self.data.ctrl[self._act[n]] = q + _OFFSET[n]
        self.mujoco.mj_forward(self.model, self.data)

    def joint_positions(self, names: Sequence[str] = EMBODIMENT_JOINTS) -> np.ndarray:
        return np.array([self.data.qpos[self._qadr[n]] - _OFFSET[n] for n in self._names(names)])

    def joint_velocities(self, names: Sequence[str] = EMBODIMENT_JOINTS) -> np.ndarray:
        return np.array([self.data.qvel[self._dadr[n]] for n in self._names(names)])

    def set_targets(self, names: Sequence[str], positions: Sequence[float],
                    velocities: Sequence[float] | None = None) -> None:
        """Position-actuator targets (plus the damping feedforward when desired velocities are given)."""
        names = self._names(names)
        qd = np.zeros(len(names)) if velocities is None else np.asarray(velocities, dtype=np.float64)
        for n, q, v in zip(names, np.asarray(positions, dtype=np.float64), qd, strict=True):
            a = self._act[n]
            lo, hi = self.model.actuator_ctrlrange[a]
            self.data.ctrl[a] = float(np.clip(q + _OFFSET[n] + self._ff[n] * v, lo, hi))

    def step(self, n: int = 1) -> None:
        self.mujoco.mj_step(self.model, self.data, nstep=max(1, int(n)))

    def advance(self, seconds: float) -> None:
        """Step for ``seconds`` of simulated time (rounded to whole physics steps, at least one)."""
        self.step(int(round(seconds / float(self.model.opt.timestep))))

    # ---- collisions -----------------------------------------------------------------------------------------
    def contacts(self, penetration_m: float = 0.0) -> list[tuple[str, str, float]]:
        """Contacts that involve the robot and penetrate deeper than ``penetration_m``: (robot body, other body,
        distance), robot body first, names as ``public_body_name``. MuJoCo already skips parent-child pairs
        (adjacent links) and the excluded base/table pair."""
        m, d = self.model, self.data
        out = []
        for c in d.contact[: d.ncon]:
            g1, g2 = int(c.geom1), int(c.geom2)
            if not (self.robot_geom[g1] or self.robot_geom[g2]) or c.dist >= -penetration_m:
                continue
            if not self.robot_geom[g1]:
                g1, g2 = g2, g1
            out.append((public_body_name(m.body(int(m.geom_bodyid[g1])).name),
                        public_body_name(m.body(int(m.geom_bodyid[g2])).name), float(c.dist)))
        return out

    def contacts_at(self, names: Sequence[str], positions: Sequence[float],
                    penetration_m: float = 0.0) -> list[tuple[str, str, float]]:
        """Kinematic query: contacts with the joints at ``positions`` (the data's positions are changed)."""
        for n, q in zip(self._names(names), positions, strict=True):
            self.data.qpos[self._qadr[n]] = q + _OFFSET[n]
        self.mujoco.mj_kinematics(self.model, self.data)
        self.mujoco.mj_collision(self.model, self.data)
        return self.contacts(penetration_m)

    def end_effector(self) -> np.ndarray:
        return self.data.site("end_effector").xpos.copy()

    def end_effector_at(self, positions: Sequence[float]) -> np.ndarray:
        """Forward kinematics: the end-effector site (world frame, metres) with the arm at ``positions``
        (embodiment order; the data's positions are changed)."""
        for n, q in zip(self.joint_names, positions, strict=True):
            self.data.qpos[self._qadr[n]] = q + _OFFSET[n]
        self.mujoco.mj_kinematics(self.model, self.data)
        return self.end_effector()

    def end_effector_jacobian(self) -> np.ndarray:
        """``(3, 7)`` positional Jacobian of the end-effector site w.r.t. the embodiment joints, at the current
        kinematics (call after ``end_effector_at`` or a step)."""
        mj = self.mujoco
        mj.mj_comPos(self.model, self.data)
        jacp = np.zeros((3, self.model.nv))
        mj.mj_jacSite(self.model, self.data, jacp, None, int(self.model.site("end_effector").id))
        return jacp[:, [self._dadr[n] for n in self.joint_names]]

    # ---- rendering ------------------------------------------------------------------------------------------
    def render(self, camera: str = "front") -> np.ndarray:
        """uint8 (height, width, 3) from a named camera; ``RenderUnavailable`` when no headless GL works.

        The GL context is created on the first call and bound to that thread (EGL refuses to make it current
        on another: ``EGL_BAD_ACCESS``): render from one thread only."""
        if self._render_error is not None:
            raise RenderUnavailable(self._render_error)
        if self._renderer is None:
            try:
                self._renderer = self.mujoco.Renderer(self.model, self.height, self.width)
            except Exception as exc:  # noqa: BLE001 - any GL failure means "no renderer here"
                self._render_error = (f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}: {type(exc).__name__}: {exc}")
                raise RenderUnavailable(self._render_error) from exc
        self._renderer.update_scene(self.data, camera=camera)
        return np.asarray(self._renderer.render(), dtype=np.uint8)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
