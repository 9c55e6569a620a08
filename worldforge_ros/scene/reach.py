"""Reach tasks on the MuJoCo Panda scene: targets, inverse kinematics, the scripted expert, and the physics
check of whether a chunk reached its target. ROS-free; used to generate training data (``training``), by the
success-rate benchmark (``bench/reach_success.py``) and by the demo.

A task is a start configuration near ``HOME`` and an end-effector target in ``TARGET_BOX`` (world frame, metres,
above the table and clear of its objects). ``solve_ik`` finds the goal joint positions (damped least squares,
position only, pulled towards the start in the null space); the expert chunk is a minimum-jerk joint
interpolation from start to goal over one ``panda_7dof`` chunk (16 steps of 0.1 s); ``execute_chunk`` runs a chunk
through the position actuators with physics and returns where the end effector ended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import EMBODIMENT_JOINTS, HOME, JOINT_MAP, JOINT_OFFSETS

HORIZON = 16
DT_S = 0.1
TARGET_BOX = ((0.35, 0.6), (-0.3, 0.3), (0.2, 0.45))
"""x, y, z ranges of reach targets (the table top is z = 0; its objects are lower than 0.07 m)."""
START_NOISE_RAD = 0.15
SUCCESS_TOLERANCE_M = 0.05
"""A reach succeeds when the end effector ends within this distance of its target."""
SETTLE_S = 0.3


@dataclass(frozen=True)
class ReachTask:
    """One reach: ``start`` and ``goal`` joint positions (``panda_7dof`` order) and the end-effector ``target``."""

    seed: int
    start: np.ndarray
    target: np.ndarray
    goal: np.ndarray


def sample_task(scene, seed: int) -> ReachTask:
    """A seeded task whose target the arm can reach (IK residual below 5 mm); re-draws until it can."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array([b[0] for b in TARGET_BOX]), np.array([b[1] for b in TARGET_BOX])
    while True:
        start = np.asarray(HOME) + rng.uniform(-START_NOISE_RAD, START_NOISE_RAD, size=7)
        target = rng.uniform(lo, hi)
        goal = solve_ik(scene, target, start)
        if goal is not None:
            return ReachTask(seed, start, target, goal)


def solve_ik(scene, target, start, iterations: int = 300, damping: float = 0.05,
             tolerance_m: float = 0.005) -> np.ndarray | None:
    """Joint positions that put the end effector at ``target`` (``None`` when it cannot, within joint limits)."""
    ranges = np.array([scene.model.jnt_range[scene.model.joint(JOINT_MAP[n]).id] for n in EMBODIMENT_JOINTS])
    lo, hi = ranges[:, 0] - np.asarray(JOINT_OFFSETS), ranges[:, 1] - np.asarray(JOINT_OFFSETS)
    q = np.clip(np.asarray(start, dtype=np.float64), lo + 0.05, hi - 0.05)
    anchor = q.copy()
    target = np.asarray(target, dtype=np.float64)
    for _ in range(iterations):
        err = target - scene.end_effector_at(q)
        if np.linalg.norm(err) < tolerance_m:
            return q
        jac = scene.end_effector_jacobian()
        jjt = jac @ jac.T + damping ** 2 * np.eye(3)
        step = jac.T @ np.linalg.solve(jjt, err)
        null = np.eye(7) - jac.T @ np.linalg.solve(jjt, jac)
        step = step + 0.1 * null @ (anchor - q)
        q = np.clip(q + np.clip(step, -0.2, 0.2), lo + 0.05, hi - 0.05)
    return q if np.linalg.norm(target - scene.end_effector_at(q)) < tolerance_m else None


def minimum_jerk(start, goal, horizon: int = HORIZON) -> np.ndarray:
    """``(horizon, 7)`` absolute joint targets at t = dt .. horizon*dt on a minimum-jerk path start -> goal."""
    s = np.arange(1, horizon + 1) / horizon
    blend = 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5
    start, goal = np.asarray(start, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    return start + blend[:, None] * (goal - start)


def execute_chunk(scene, start, chunk, dt: float = DT_S, settle_s: float = SETTLE_S) -> np.ndarray:
    """Run ``chunk`` ((H, 7) absolute targets every ``dt``) from ``start`` through the position actuators with
    physics, hold the last target ``settle_s``; the end effector's final world position."""
    chunk = np.asarray(chunk, dtype=np.float64)
    scene.set_joint_positions(EMBODIMENT_JOINTS, start)
    velocities = np.gradient(np.vstack([np.asarray(start)[None], chunk]), dt, axis=0)[1:]
    for target, velocity in zip(chunk, velocities):
        scene.set_targets(EMBODIMENT_JOINTS, target, velocity)
        scene.advance(dt)
    scene.set_targets(EMBODIMENT_JOINTS, chunk[-1])
    scene.advance(settle_s)
    return scene.end_effector()


def reach_error(scene, task: ReachTask, chunk) -> float:
    """Distance (m) from the target to where ``chunk`` left the end effector."""
    return float(np.linalg.norm(execute_chunk(scene, task.start, chunk) - task.target))
