"""Collision feasibility of a timed joint trajectory against the scene (a ``FeasibilityChecker``-style check).

Resolution: the trajectory is sampled every ``resolution_s`` (default 0.02 s) from its first point's
``time_from_start`` to its last (plus every waypoint itself), by **linear interpolation** between points; when
``start_positions`` is given the segment from it at t = 0 to the first point is checked too. At each sample
the joints are set kinematically (no dynamics) and MuJoCo's collision pass is run. A contact counts when it
involves a robot geom and penetrates (distance < 0): robot self-collision (MuJoCo excludes parent-child,
i.e. adjacent, links) and robot–world (table, objects, floor; the base link is bolted to the table and excluded).

The result is ``(feasible, violations)``; on the first sample with a contact the violations are one string per
touching pair, robot link first: ``"collision panda_link7/table at t=0.84s"``. Joints the scene has but the
trajectory lacks stay at the scene's home pose (or ``hold_positions``). Unknown joints give
``"unknown_joint:<name>"`` and no collision check.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from .model import EMBODIMENT_JOINTS, HOME

DEFAULT_RESOLUTION_S = 0.02


def sample_times(times_s: np.ndarray, resolution_s: float, with_start: bool) -> np.ndarray:
    t0 = 0.0 if with_start else float(times_s[0])
    grid = np.arange(t0, float(times_s[-1]), resolution_s)
    return np.unique(np.concatenate([grid, times_s, [t0]]))


class SceneFeasibilityChecker:
    """Owns one private ``Scene`` (so checks never disturb a simulation), serialised by a lock."""

    def __init__(self, scene=None, *, resolution_s: float = DEFAULT_RESOLUTION_S) -> None:
        if scene is None:
            from .scene import Scene
            scene = Scene()
        if resolution_s <= 0:
            raise ValueError("resolution_s must be > 0")
        self.scene = scene
        self.resolution_s = float(resolution_s)
        self._lock = threading.Lock()

    def check(self, times_s: Sequence[float], positions, joint_names: Sequence[str], *,
              start_positions: Sequence[float] | None = None,
              hold_positions: Sequence[float] | None = None) -> tuple[bool, list[str]]:
        times = np.asarray(times_s, dtype=np.float64).reshape(-1)
        pos = np.asarray(positions, dtype=np.float64).reshape(len(times), -1)
        names = list(joint_names)
        unknown = [n for n in names if n not in EMBODIMENT_JOINTS]
        if unknown:
            return False, [f"unknown_joint:{n}" for n in unknown]
        if pos.shape[1] != len(names) or len(times) == 0:
            raise ValueError(f"positions must be ({len(times)}, {len(names)}), got {pos.shape}")
        if not np.all(np.isfinite(pos)) or not np.all(np.isfinite(times)):
            return False, ["non_finite"]
        knots_t, knots_q = times, pos
        if start_positions is not None:
            knots_t = np.concatenate([[0.0], times])
            knots_q = np.vstack([np.asarray(start_positions, dtype=np.float64).reshape(1, -1), pos])
        ts = sample_times(times, self.resolution_s, start_positions is not None)
        hold = np.asarray(HOME if hold_positions is None else hold_positions, dtype=np.float64)
        with self._lock:
            self.scene.set_joint_positions(EMBODIMENT_JOINTS, hold)
            for t in ts:
                q = np.array([np.interp(t, knots_t, knots_q[:, j]) for j in range(len(names))])
                touching = self.scene.contacts_at(names, q)
                if touching:
                    pairs = sorted({(a, b) for a, b, _ in touching})
                    return False, [f"collision {a}/{b} at t={t:.2f}s" for a, b in pairs]
        return True, []


_default: SceneFeasibilityChecker | None = None
_default_lock = threading.Lock()


def check_trajectory(times_s: Sequence[float], positions, joint_names: Sequence[str],
                     **kwargs) -> tuple[bool, list[str]]:
    """``(feasible, violations)`` for a trajectory in ``panda_7dof`` joints; see the module doc. One shared
    checker (its scene built on first use, ~0.1 s) serves every call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SceneFeasibilityChecker()
        checker = _default
    return checker.check(times_s, positions, joint_names, **kwargs)
