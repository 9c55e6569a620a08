"""Numeric feasibility of a timed joint trajectory: joint limits with a margin, velocity limits, start distance.

Used by the translators (a candidate with violations is infeasible and never selected) and again by the approval
gate at execute time. Violations are stable names, 0-based steps, first offending step per joint and kind::

    position_limit:<joint>:step<k>    position outside [min + m*range, max - m*range]
    velocity_limit:<joint>:step<k>    |velocity| (stated, or implied by the segment ending at k) > (1-m)*max
    start_distance:<joint>            |first point - current position| > max_start_distance
    non_finite                        NaN/Inf anywhere (no other check is meaningful then)
    time_not_increasing:step<k>       time_from_start not > 0 and strictly increasing at k
    nonzero_final_velocity:<joint>    the last point does not stop
    unknown_joint:<joint>             no limits configured for a trajectory joint
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ErrorCode, RequestError, TranslatorError
from .trajectory import TrajectoryData


def _per_joint(value: Any, count: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.full(count, float(arr[0]))
    if arr.shape != (count,) or not np.all(np.isfinite(arr)):
        raise TranslatorError(f"limit {what} needs {count} finite values, got {np.asarray(value).tolist()!r}",
                              ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
    return arr


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits aligned with ``joint_names``: positions in rad or m, ``velocity_max`` > 0 per second."""

    joint_names: tuple[str, ...]
    position_min: np.ndarray
    position_max: np.ndarray
    velocity_max: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(self.joint_names)
        n = len(names)
        object.__setattr__(self, "joint_names", names)
        lo = _per_joint(self.position_min, n, "position_min")
        hi = _per_joint(self.position_max, n, "position_max")
        vmax = _per_joint(self.velocity_max, n, "velocity_max")
        if np.any(lo >= hi):
            raise TranslatorError("position_min must be < position_max for every joint",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if np.any(vmax <= 0):
            raise TranslatorError("velocity_max must be > 0 for every joint", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        for name, arr in (("position_min", lo), ("position_max", hi), ("velocity_max", vmax)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def from_config(cls, joint_names: Sequence[str], config: Mapping[str, Any]) -> "JointLimits":
        """From ``{position_min: [...], position_max: [...], velocity_max: [...] | scalar}``."""
        try:
            return cls(tuple(joint_names), config["position_min"], config["position_max"], config["velocity_max"])
        except KeyError as exc:
            raise TranslatorError(f"limits lack {exc}", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION) from None

    def allowed(self, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lower, upper, speed)`` after keeping ``margin`` (a fraction in [0, 0.5)) clear of every limit."""
        check_margin(margin)
        span = self.position_max - self.position_min
        return self.position_min + margin * span, self.position_max - margin * span, (1.0 - margin) * self.velocity_max

    def to_dict(self) -> dict[str, Any]:
        return {"joint_names": list(self.joint_names), "position_min": self.position_min.tolist(),
                "position_max": self.position_max.tolist(), "velocity_max": self.velocity_max.tolist()}


def check_margin(margin: float) -> float:
    """A margin is a fraction in [0, 0.5) of each position range (both ends) and of each velocity limit."""
    if not (isinstance(margin, (int, float)) and 0.0 <= float(margin) < 0.5):
        raise TranslatorError(f"margin {margin!r} is not a fraction in [0, 0.5)",
                              ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
    return float(margin)


def first_steps(mask: np.ndarray, names: Sequence[str], kind: str) -> list[str]:
    """``kind:joint:stepK`` for each joint's first step where ``mask`` (steps x joints) is true."""
    out = []
    for j, name in enumerate(names):
        steps = np.nonzero(mask[:, j])[0]
        if steps.size:
            out.append(f"{kind}:{name}:step{int(steps[0])}")
    return out


def feasibility_violations(traj: TrajectoryData, limits: JointLimits, margin: float = 0.0,
                           start_positions: np.ndarray | None = None,
                           max_start_distance: float | None = None) -> list[str]:
    """Every named violation of ``traj`` (empty list = feasible). See the module docstring for the names.

    ``start_positions`` (aligned with ``traj.joint_names``) enables the start-distance check and the velocity of
    the segment from the start state to the first point (at t=0).
    """
    start_all = None
    if start_positions is not None:
        start_all = np.asarray(start_positions, dtype=np.float64).reshape(-1)
        if start_all.shape != (traj.num_joints,) or not np.all(np.isfinite(start_all)):
            raise RequestError(f"start positions need {traj.num_joints} finite values, got {start_all.size}",
                               ErrorCode.JOINT_NAMES_MISMATCH)
    if not (np.all(np.isfinite(traj.positions)) and np.all(np.isfinite(traj.velocities))
            and np.all(np.isfinite(traj.times_s))):
        return ["non_finite"]
    violations: list[str] = []
    index = {n: i for i, n in enumerate(limits.joint_names)}
    unknown = [n for n in traj.joint_names if n not in index]
    violations += [f"unknown_joint:{n}" for n in unknown]
    known = [j for j, n in enumerate(traj.joint_names) if n in index]
    names = [traj.joint_names[j] for j in known]
    lo, hi, speed = limits.allowed(margin)
    sel = [index[n] for n in names]
    lo, hi, speed = lo[sel], hi[sel], speed[sel]
    pos = traj.positions[:, known]
    vel = traj.velocities[:, known]

    times_ok = traj.times_s[0] > 0.0 and bool(np.all(np.diff(traj.times_s) > 0.0))
    if not times_ok:
        bad = [0] if traj.times_s[0] <= 0.0 else [int(np.nonzero(np.diff(traj.times_s) <= 0.0)[0][0]) + 1]
        violations.append(f"time_not_increasing:step{bad[0]}")

    violations += first_steps((pos < lo) | (pos > hi), names, "position_limit")

    over = np.abs(vel) > speed
    if times_ok:
        start = start_all[known] if start_all is not None else None
        prev = np.vstack([start[None, :] if start is not None else pos[:1], pos[:-1]])
        t_prev = np.concatenate([[0.0], traj.times_s[:-1]])
        seg = (pos - prev) / (traj.times_s - t_prev)[:, None]
        if start is None:
            seg[0] = 0.0
        over |= np.abs(seg) > speed
    violations += first_steps(over, names, "velocity_limit")

    final = traj.velocities[-1]
    violations += [f"nonzero_final_velocity:{traj.joint_names[j]}" for j in range(traj.num_joints) if final[j] != 0.0]

    if start_all is not None and max_start_distance is not None:
        dist = np.abs(traj.positions[0] - start_all)
        violations += [f"start_distance:{traj.joint_names[j]}" for j in range(traj.num_joints)
                       if not dist[j] <= max_start_distance]
    return violations


def batch_violations(trajectories: Sequence[TrajectoryData], limits: JointLimits, margin: float = 0.0,
                     start_positions: np.ndarray | None = None,
                     max_start_distance: float | None = None) -> list[list[str]]:
    """:func:`feasibility_violations` of each trajectory of a batch that shares joint names and times.

    One vectorized pass finds the candidates that may violate anything; only those are named one by one by
    :func:`feasibility_violations`, so every result is exactly the per-trajectory one."""
    if not trajectories:
        return []
    first = trajectories[0]
    pos = np.stack([t.positions for t in trajectories])
    vel = np.stack([t.velocities for t in trajectories])
    times = first.times_s
    index = {n: i for i, n in enumerate(limits.joint_names)}
    known = [j for j, n in enumerate(first.joint_names) if n in index]
    shared_bad = (len(known) != first.num_joints or not (times[0] > 0.0 and bool(np.all(np.diff(times) > 0.0)))
                  or not np.all(np.isfinite(times)))
    if shared_bad or start_positions is not None and np.asarray(start_positions).size != first.num_joints:
        return [feasibility_violations(t, limits, margin, start_positions, max_start_distance) for t in trajectories]
    lo, hi, speed = limits.allowed(margin)
    sel = [index[first.joint_names[j]] for j in known]
    lo, hi, speed = lo[sel], hi[sel], speed[sel]
    with np.errstate(invalid="ignore", over="ignore"):
        suspect = ~(np.isfinite(pos).all(axis=(1, 2)) & np.isfinite(vel).all(axis=(1, 2)))
        suspect |= ((pos < lo) | (pos > hi) | (np.abs(vel) > speed)).any(axis=(1, 2))
        start = None if start_positions is None else np.asarray(start_positions, dtype=np.float64).reshape(-1)
        first_prev = np.broadcast_to(start, pos[:, :1].shape) if start is not None else pos[:, :1]
        prev = np.concatenate([first_prev, pos[:, :-1]], axis=1)
        t_prev = np.concatenate([[0.0], times[:-1]])
        seg = (pos - prev) / (times - t_prev)[:, None]
        if start is None:
            seg[:, 0] = 0.0
        suspect |= (np.abs(seg) > speed).any(axis=(1, 2))
        suspect |= (vel[:, -1] != 0.0).any(axis=1)
        if start is not None and max_start_distance is not None:
            suspect |= ~(np.abs(pos[:, 0] - start) <= max_start_distance).all(axis=1)
    return [feasibility_violations(t, limits, margin, start_positions, max_start_distance) if bad else []
            for t, bad in zip(trajectories, suspect.tolist())]
