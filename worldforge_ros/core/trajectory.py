"""ROS-free timed joint trajectories: what nodes convert to ``trajectory_msgs/JointTrajectory``.

A :class:`TrajectoryData` holds joint names, positions and velocities ``(T, J)`` float64 and ``times_s`` ``(T,)``
(``time_from_start`` of each point). Construction checks structure (names, shapes); :meth:`TrajectoryData.validate`
checks the execution contract a joint trajectory controller expects (finite values, strictly increasing positive
times, zero final velocity), raising a :class:`TranslatorError` with a specific code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .digests import canonical_json, float_array_json
from .errors import ErrorCode, RequestError, TranslatorError


def _float_matrix(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise TranslatorError(f"{what} is not a rectangular numeric array: {exc}",
                              ErrorCode.TRANSLATOR_CONTRACT_VIOLATION) from None
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class StartState:
    """Joint positions at planning time (the state a trajectory starts from), aligned with ``joint_names``."""

    joint_names: tuple[str, ...]
    positions: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(str(n) for n in self.joint_names))
        pos = _float_matrix(self.positions, "start positions").reshape(-1)
        if pos.shape != (len(self.joint_names),):
            raise RequestError(f"start state has {len(self.joint_names)} joint names but {pos.size} positions",
                               ErrorCode.JOINT_NAMES_MISMATCH)
        if len(set(self.joint_names)) != len(self.joint_names):
            raise RequestError("start state joint names are not unique", ErrorCode.JOINT_NAMES_MISMATCH)
        if not np.all(np.isfinite(pos)):
            raise RequestError("start state has non-finite positions", ErrorCode.NON_FINITE_VALUE)
        object.__setattr__(self, "positions", pos)

    def positions_for(self, joint_names: Sequence[str]) -> np.ndarray:
        """Positions reordered to ``joint_names``; a missing joint is a ``JOINT_NAMES_MISMATCH`` RequestError."""
        index = {name: i for i, name in enumerate(self.joint_names)}
        missing = [n for n in joint_names if n not in index]
        if missing:
            raise RequestError(f"start state lacks joints {missing} (has {list(self.joint_names)})",
                               ErrorCode.JOINT_NAMES_MISMATCH, missing=missing)
        return np.array([self.positions[index[n]] for n in joint_names], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"joint_names": list(self.joint_names), "positions": self.positions.tolist()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StartState):
            return NotImplemented
        return self.joint_names == other.joint_names and np.array_equal(self.positions, other.positions)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StartState":
        return cls(tuple(data["joint_names"]), np.asarray(data["positions"], dtype=np.float64))


@dataclass(frozen=True)
class TrajectoryData:
    """A timed joint trajectory: ``positions``/``velocities`` ``(T, J)`` float64, ``times_s`` ``(T,)`` seconds.

    Arrays are copied and made read-only. Structural problems (shape, empty names, duplicate names) raise
    ``TranslatorError(TRANSLATOR_CONTRACT_VIOLATION)`` at construction; call :meth:`validate` for the
    execution contract.
    """

    joint_names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    times_s: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.joint_names)
        object.__setattr__(self, "joint_names", names)
        pos = _float_matrix(self.positions, "positions")
        vel = _float_matrix(self.velocities, "velocities")
        times = _float_matrix(self.times_s, "times_s")
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "velocities", vel)
        object.__setattr__(self, "times_s", times)
        if not names or any(not n for n in names):
            raise TranslatorError("trajectory needs non-empty joint names", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if len(set(names)) != len(names):
            raise TranslatorError(f"duplicate joint names {list(names)}", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if pos.ndim != 2 or pos.shape[1] != len(names) or pos.shape[0] < 1:
            raise TranslatorError(f"positions shape {list(pos.shape)} is not (T>=1, {len(names)})",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if vel.shape != pos.shape:
            raise TranslatorError(f"velocities shape {list(vel.shape)} differs from positions {list(pos.shape)}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if times.shape != (pos.shape[0],):
            raise TranslatorError(f"times_s shape {list(times.shape)} is not ({pos.shape[0]},)",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)

    @classmethod
    def batch(cls, joint_names: Sequence[str], positions: np.ndarray, velocities: np.ndarray,
              times_s: np.ndarray) -> list["TrajectoryData"]:
        """One trajectory per leading index of ``positions``/``velocities`` ``(N, T, J)`` sharing ``times_s``: the
        structure is checked once for the batch, then each trajectory holds read-only views of one private copy."""
        pos = _float_matrix(positions, "positions")
        vel = _float_matrix(velocities, "velocities")
        if pos.ndim != 3 or pos.shape[0] < 1:
            raise TranslatorError(f"batch positions shape {list(pos.shape)} is not (N>=1, T, J)",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        first = cls(tuple(joint_names), pos[0], vel[0], times_s)  # checks names, shapes and times once
        if vel.shape != pos.shape:
            raise TranslatorError(f"velocities shape {list(vel.shape)} differs from positions {list(pos.shape)}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        out = [first]
        for i in range(1, pos.shape[0]):
            traj = object.__new__(cls)
            for name, value in (("joint_names", first.joint_names), ("positions", pos[i]), ("velocities", vel[i]),
                                ("times_s", first.times_s)):
                object.__setattr__(traj, name, value)
            out.append(traj)
        return out

    @property
    def num_points(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    # ---- validation helpers ---------------------------------------------------------------------------------
    def check_finite(self) -> None:
        """``NON_FINITE_ACTION`` if any position, velocity or time is NaN/Inf."""
        for name, arr in (("positions", self.positions), ("velocities", self.velocities), ("times_s", self.times_s)):
            if not np.all(np.isfinite(arr)):
                raise TranslatorError(f"trajectory {name} contain non-finite values", ErrorCode.NON_FINITE_ACTION)

    def check_times(self) -> None:
        """``NON_MONOTONIC_TIME`` unless ``times_s`` are > 0 and strictly increasing."""
        t = self.times_s
        if not np.all(np.isfinite(t)):
            raise TranslatorError("time_from_start contains non-finite values", ErrorCode.NON_MONOTONIC_TIME)
        if t[0] <= 0.0:
            raise TranslatorError(f"first time_from_start {t[0]!r} s is not > 0", ErrorCode.NON_MONOTONIC_TIME)
        bad = np.nonzero(np.diff(t) <= 0.0)[0]
        if bad.size:
            k = int(bad[0]) + 1
            raise TranslatorError(f"time_from_start not strictly increasing at point {k} "
                                  f"({t[k - 1]!r} s -> {t[k]!r} s)", ErrorCode.NON_MONOTONIC_TIME, step=k)

    def check_final_velocity_zero(self, tolerance: float = 0.0) -> None:
        """``NONZERO_FINAL_VELOCITY`` if any final velocity exceeds ``tolerance`` in magnitude."""
        final = np.abs(self.velocities[-1])
        if np.any(final > tolerance):
            j = int(np.argmax(final))
            raise TranslatorError(f"final velocity of {self.joint_names[j]} is {self.velocities[-1, j]!r}, not 0",
                                  ErrorCode.NONZERO_FINAL_VELOCITY, joint=self.joint_names[j])

    def validate(self, final_velocity_tolerance: float = 0.0) -> "TrajectoryData":
        """Run every execution-contract check; returns ``self`` so calls chain."""
        self.check_finite()
        self.check_times()
        self.check_final_velocity_zero(final_velocity_tolerance)
        return self

    # ---- transforms and serialization -----------------------------------------------------------------------
    def truncated(self, max_steps: int) -> "TrajectoryData":
        """The first ``max_steps`` points (``max_steps <= 0`` or >= T: unchanged) with the final velocity set to 0.

        Interior velocities computed by central differences depend only on neighbours, so this equals translating
        the truncated chunk.
        """
        if max_steps <= 0 or max_steps >= self.num_points:
            return self
        vel = self.velocities[:max_steps].copy()
        vel[-1] = 0.0
        return TrajectoryData(self.joint_names, self.positions[:max_steps], vel, self.times_s[:max_steps])

    def to_json(self) -> str:
        """``canonical_json(self.to_dict())``, computed once (the arrays are read-only): the planner computes it
        while its scorer works, and a plan's canonical JSON splices it in. Written key by key in sorted order, each
        array by :func:`float_array_json`."""
        cached = self.__dict__.get("_json")
        if cached is None:
            cached = (f'{{"joint_names":{canonical_json(list(self.joint_names))},'
                      f'"positions":{float_array_json(self.positions)},"times_s":{float_array_json(self.times_s)},'
                      f'"velocities":{float_array_json(self.velocities)}}}')
            object.__setattr__(self, "_json", cached)
        return cached

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form: ``joint_names``, ``positions``, ``velocities`` (lists of rows), ``times_s``."""
        return {
            "joint_names": list(self.joint_names),
            "positions": self.positions.tolist(),
            "velocities": self.velocities.tolist(),
            "times_s": self.times_s.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrajectoryData":
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(tuple(data["joint_names"]), data["positions"], data["velocities"], data["times_s"])
        except KeyError as exc:
            raise TranslatorError(f"trajectory dict lacks {exc}", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrajectoryData):
            return NotImplemented
        return (self.joint_names == other.joint_names and np.array_equal(self.positions, other.positions)
                and np.array_equal(self.velocities, other.velocities) and np.array_equal(self.times_s, other.times_s))

    __hash__ = None  # type: ignore[assignment]
