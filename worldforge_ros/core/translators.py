"""Embodiment translators: raw policy tensors ``(N, H, D)`` -> timed joint trajectories, failing loudly.

The :class:`EmbodimentContract` (WorldForge semantics) checks the embodiment tag, that raw actions are rectangular,
numeric and finite, ``shape[-1] == action_dim`` and ``shape[-2] == action_horizon``. It **never pads or projects**:
each mismatch is its own :class:`TranslatorError` code. A translator then turns every candidate chunk into a
:class:`TrajectoryData` (velocities consistent with positions, ``time_from_start = (k+1)*dt``, zero final velocity)
and marks it infeasible with named violations (see :mod:`.feasibility`) instead of silently clipping it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .digests import tensor_digests
from .errors import ErrorCode, RequestError, TranslatorError
from .feasibility import JointLimits, batch_violations, check_margin
from .trajectory import StartState, TrajectoryData

SEMANTICS = ("absolute", "delta", "relative")
"""``absolute``: targets as given; ``delta``: increments from the previous target (the first from the start
state); ``relative``: offsets from the start state."""


@dataclass(frozen=True)
class EmbodimentContract:
    """What raw actions must look like for one embodiment: tag, ``action_dim`` (D) and ``action_horizon`` (H)."""

    embodiment_tag: str
    action_dim: int
    action_horizon: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.embodiment_tag:
            raise TranslatorError("contract needs an embodiment_tag", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        for name in ("action_dim", "action_horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TranslatorError(f"contract {name} must be a positive int, got {value!r}",
                                      ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)

    def check_tag(self, embodiment_tag: str) -> None:
        """``EMBODIMENT_MISMATCH`` when a non-empty tag differs from the contract's."""
        if embodiment_tag and embodiment_tag != self.embodiment_tag:
            raise TranslatorError(f"raw actions are for embodiment {embodiment_tag!r}, translator expects "
                                  f"{self.embodiment_tag!r}", ErrorCode.EMBODIMENT_MISMATCH,
                                  expected=self.embodiment_tag, got=embodiment_tag)

    def check(self, raw_actions: Any, embodiment_tag: str = "") -> np.ndarray:
        """Validate ``raw_actions`` ``(N, H, D)`` and return them as they were (numeric ndarray, dtype kept)."""
        self.check_tag(embodiment_tag)
        try:
            arr = np.asarray(raw_actions)
        except (TypeError, ValueError) as exc:
            raise TranslatorError(f"raw actions are not rectangular: {exc}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION) from None
        if arr.dtype.kind not in "iuf":
            raise TranslatorError(f"raw actions must be a rectangular real numeric array, got dtype {arr.dtype}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION, dtype=str(arr.dtype))
        if arr.ndim != 3:
            raise TranslatorError(f"raw actions must be (N, H, D) = (N, {self.action_horizon}, {self.action_dim}); "
                                  f"got shape {list(arr.shape)}", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION,
                                  shape=list(arr.shape))
        if arr.shape[0] < 1:
            raise TranslatorError("raw actions hold no candidate", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0].tolist()
            raise TranslatorError(f"raw actions contain NaN/Inf (first at index {bad})", ErrorCode.NON_FINITE_ACTION,
                                  index=bad)
        if arr.shape[-1] != self.action_dim:
            raise TranslatorError(f"action_dim mismatch: raw shape[-1]={arr.shape[-1]}, {self.embodiment_tag} expects "
                                  f"{self.action_dim} (never padded or projected)", ErrorCode.ACTION_DIM_MISMATCH,
                                  expected=self.action_dim, got=int(arr.shape[-1]))
        if arr.shape[-2] != self.action_horizon:
            raise TranslatorError(f"horizon mismatch: raw shape[-2]={arr.shape[-2]}, {self.embodiment_tag} expects "
                                  f"{self.action_horizon} (never padded or cut)", ErrorCode.HORIZON_MISMATCH,
                                  expected=self.action_horizon, got=int(arr.shape[-2]))
        return arr

    def contract_summary(self, raw_action_shape: Sequence[int] | None = None) -> dict[str, Any]:
        """``embodiment_tag, action_dim, action_horizon, raw_action_shape, metadata`` (JSON-native)."""
        return {"embodiment_tag": self.embodiment_tag, "action_dim": self.action_dim,
                "action_horizon": self.action_horizon,
                "raw_action_shape": list(raw_action_shape) if raw_action_shape is not None else None,
                "metadata": dict(self.metadata)}


@dataclass(frozen=True)
class TranslatedCandidate:
    """One candidate after translation. ``raw_shape`` is ``[H, D]``; ``raw_digest`` covers dtype+shape+bytes."""

    trajectory: TrajectoryData
    feasible: bool
    violations: tuple[str, ...]
    raw_shape: tuple[int, ...]
    raw_digest: str


@dataclass(frozen=True)
class CheckedActions:
    """Raw actions ``(N, H, D)`` that passed a translator's checks; ``steps`` kept per chunk; the start positions
    in the translator's joint order (None when no start state was given)."""

    raw: np.ndarray
    steps: int
    start_positions: np.ndarray | None

    @property
    def count(self) -> int:
        return int(self.raw.shape[0])


def velocities_from_positions(positions: np.ndarray, dt: float, start: np.ndarray | None = None) -> np.ndarray:
    """Velocities consistent with ``positions`` ``(..., T, J)`` sampled every ``dt`` from t=dt; the final one is 0.

    Interior points use central differences; the first point uses the start state at t=0 as its previous
    neighbour when given (central difference), else a forward difference. Leading axes are candidates: each
    gets exactly what it would get alone.
    """
    pos = np.asarray(positions, dtype=np.float64)
    vel = np.zeros_like(pos)
    if pos.shape[-2] >= 2:
        vel[..., 1:-1, :] = (pos[..., 2:, :] - pos[..., :-2, :]) / (2.0 * dt)
        if start is not None:
            vel[..., 0, :] = (pos[..., 1, :] - np.asarray(start, dtype=np.float64)) / (2.0 * dt)
        else:
            vel[..., 0, :] = (pos[..., 1, :] - pos[..., 0, :]) / dt
        vel[..., -1, :] = 0.0
    return vel


class EmbodimentTranslator:
    """Base of translators. Subclasses set ``contract`` and ``joint_names`` and implement :meth:`targets`."""

    contract: EmbodimentContract
    joint_names: tuple[str, ...]
    dt: float
    limits: JointLimits | None = None
    margin: float = 0.0
    max_start_distance: float | None = None
    requires_start: bool = False

    @property
    def name(self) -> str:
        return self.contract.embodiment_tag

    def targets(self, chunk: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        """Joint targets ``(T, J)`` for one float64 chunk ``(T, D)``."""
        raise NotImplementedError

    def targets_batch(self, chunks: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        """Joint targets ``(N, T, J)`` for float64 chunks ``(N, T, D)``: :meth:`targets` per chunk unless a
        subclass does the whole batch at once (the built-in translators do)."""
        return np.stack([self.targets(chunk, start) for chunk in chunks])

    def contract_summary(self, raw_action_shape: Sequence[int] | None = None) -> dict[str, Any]:
        """The contract summary plus joint names, dt, limits, margin and start-distance bound."""
        summary = self.contract.contract_summary(raw_action_shape)
        summary.update({"translator": type(self).__name__, "joint_names": list(self.joint_names), "dt": self.dt,
                        "margin": self.margin, "max_start_distance": self.max_start_distance,
                        "limits": self.limits.to_dict() if self.limits is not None else None})
        return summary

    def check(self, raw_actions: Any, start: StartState | None = None, embodiment_tag: str = "",
              max_steps: int = 0) -> CheckedActions:
        """The cheap half of :meth:`translate`: contract, ``max_steps`` and start-state checks (typed errors),
        without touching a candidate. The planner asks its scorer between this and :meth:`translate_checked`."""
        raw = self.contract.check(raw_actions, embodiment_tag)
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 0:
            raise RequestError(f"max_steps must be an int >= 0, got {max_steps!r}", ErrorCode.INVALID_ARGUMENT)
        start_pos = start.positions_for(self.joint_names) if start is not None else None
        if start_pos is None and (self.requires_start or self.max_start_distance is not None):
            raise RequestError(f"translator {self.name} needs the current joint state (start state)",
                               ErrorCode.OBSERVATION_MISSING)
        steps = self.contract.action_horizon if max_steps == 0 else min(int(max_steps), self.contract.action_horizon)
        return CheckedActions(raw, steps, start_pos)

    def translate_checked(self, checked: CheckedActions) -> list[TranslatedCandidate]:
        """Translate every candidate of actions that passed :meth:`check` (trajectory, feasibility, digest).

        The whole batch goes through numpy at once; each candidate gets exactly what translating it alone gives."""
        raw, steps, start_pos = checked.raw, checked.steps, checked.start_positions
        times = self.dt * np.arange(1, steps + 1, dtype=np.float64)
        chunks = raw[:, :steps].astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            positions = np.asarray(self.targets_batch(chunks, start_pos), dtype=np.float64)
            velocities = velocities_from_positions(positions, self.dt, start_pos)
        finite = np.isfinite(positions).all(axis=(1, 2)) & np.isfinite(velocities).all(axis=(1, 2))
        if not finite.all():
            i = int(np.argmin(finite))
            raise TranslatorError(f"candidate {i}: raw action magnitudes overflow to non-finite positions or "
                                  "velocities", ErrorCode.NON_FINITE_ACTION, candidate=i)
        trajectories = TrajectoryData.batch(self.joint_names, positions, velocities, times)
        if self.limits is not None:
            violations = batch_violations(trajectories, self.limits, self.margin, start_pos, self.max_start_distance)
        else:
            for traj in trajectories:
                traj.validate()
            violations = [[] for _ in trajectories]
        shape = tuple(int(s) for s in raw.shape[1:])
        return [TranslatedCandidate(traj, not bad, tuple(bad), shape, digest)
                for traj, bad, digest in zip(trajectories, violations, tensor_digests(raw))]

    def translate(self, raw_actions: Any, start: StartState | None = None, embodiment_tag: str = "",
                  max_steps: int = 0) -> list[TranslatedCandidate]:
        """Check the contract, then translate every candidate of ``raw_actions`` ``(N, H, D)``.

        ``max_steps > 0`` keeps the first ``max_steps`` steps of each (already contract-checked) chunk, so the
        truncated trajectory still ends at zero velocity. ``start`` is required for ``delta``/``relative``
        semantics and whenever ``max_start_distance`` is set (``OBSERVATION_MISSING`` otherwise).
        """
        return self.translate_checked(self.check(raw_actions, start, embodiment_tag, max_steps))


def _positive_float(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not np.isfinite(out) or out <= 0:
        raise TranslatorError(f"{what} must be a finite number > 0, got {value!r}",
                              ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
    return out


class JointSpaceTranslator(EmbodimentTranslator):
    """Actions are joint targets (``absolute``), per-step increments (``delta``) or offsets from the start state
    (``relative``); one action dimension per joint, in ``joint_names`` order."""

    def __init__(self, embodiment_tag: str, joint_names: Sequence[str], action_horizon: int, dt: float,
                 semantics: str = "absolute", limits: JointLimits | Mapping[str, Any] | None = None,
                 margin: float = 0.0, max_start_distance: float | None = None,
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.joint_names = tuple(str(n) for n in joint_names)
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            raise TranslatorError(f"joint_names must be unique and non-empty, got {list(self.joint_names)}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        if semantics not in SEMANTICS:
            raise TranslatorError(f"semantics {semantics!r} not in {list(SEMANTICS)}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        self.semantics = semantics
        self.requires_start = semantics != "absolute"
        self.dt = _positive_float(dt, "dt")
        self.margin = check_margin(margin)
        self.max_start_distance = (None if max_start_distance is None
                                   else _positive_float(max_start_distance, "max_start_distance"))
        if isinstance(limits, Mapping):
            limits = JointLimits.from_config(self.joint_names, limits)
        if limits is not None and limits.joint_names != self.joint_names:
            raise TranslatorError("limits joint names differ from the translator's",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        self.limits = limits
        meta = {"semantics": semantics, **dict(metadata or {})}
        self.contract = EmbodimentContract(embodiment_tag, len(self.joint_names), action_horizon, meta)

    def targets(self, chunk: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        if self.semantics == "absolute":
            return chunk
        assert start is not None  # translate() enforces it
        if self.semantics == "delta":
            return start + np.cumsum(chunk, axis=-2)
        return start + chunk

    def targets_batch(self, chunks: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        if type(self).targets in _STEPWISE_TARGETS:  # elementwise along the step axis: a batch is the same arithmetic
            return self.targets(chunks, start)
        return super().targets_batch(chunks, start)  # a subclass's own targets may expect one chunk

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> "JointSpaceTranslator":
        """Build from a registry entry (see ``config/embodiments.yaml``)."""
        joint_names = tuple(spec.get("joint_names") or ())
        _check_action_dim(name, spec, len(joint_names))
        return cls(spec.get("embodiment_tag", name), joint_names, _horizon(name, spec), spec.get("dt"),
                   spec.get("semantics", "absolute"), spec.get("limits"), spec.get("margin", 0.0),
                   spec.get("max_start_distance"), spec.get("metadata"))


class PushTPlanarTranslator(JointSpaceTranslator):
    """PushT agent targets in pixel space ``[0, workspace_px]`` -> a 2-joint planar trajectory in metres.

    ``position = pixels * scale`` for joints ``(x, y)`` (default ``pusht_x``, ``pusht_y``); the position limits
    are the workspace ``[0, workspace_px * scale]``, so an off-table target is a ``position_limit`` violation.
    """

    def __init__(self, embodiment_tag: str = "pusht_planar", action_horizon: int = 10, dt: float = 0.1,
                 scale: float = 0.001, velocity_max: float = 1.0, margin: float = 0.0,
                 max_start_distance: float | None = None, joint_names: Sequence[str] = ("pusht_x", "pusht_y"),
                 workspace_px: float = 512.0, metadata: Mapping[str, Any] | None = None) -> None:
        self.scale = _positive_float(scale, "scale")
        self.workspace_px = _positive_float(workspace_px, "workspace_px")
        names = tuple(joint_names)
        if len(names) != 2:
            raise TranslatorError(f"pusht_planar needs exactly 2 joint names, got {list(names)}",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        limits = JointLimits(names, [0.0, 0.0], [self.workspace_px * self.scale] * 2, velocity_max)
        meta = {"action_space": f"pusht pixels [0, {self.workspace_px:g}]", "scale_m_per_px": self.scale,
                **dict(metadata or {})}
        super().__init__(embodiment_tag, names, action_horizon, dt, "absolute", limits, margin, max_start_distance,
                         meta)

    def targets(self, chunk: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        return chunk * self.scale

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> "PushTPlanarTranslator":
        _check_action_dim(name, spec, 2)
        return cls(spec.get("embodiment_tag", name), _horizon(name, spec), spec.get("dt", 0.1),
                   spec.get("scale", 0.001), spec.get("velocity_max", 1.0), spec.get("margin", 0.0),
                   spec.get("max_start_distance"), tuple(spec.get("joint_names") or ("pusht_x", "pusht_y")),
                   spec.get("workspace_px", 512.0), spec.get("metadata"))


_STEPWISE_TARGETS = (JointSpaceTranslator.targets, PushTPlanarTranslator.targets)
"""``targets`` implementations that take ``(..., T, D)`` as well as one chunk."""


def _horizon(name: str, spec: Mapping[str, Any]) -> int:
    horizon = spec.get("horizon", spec.get("action_horizon"))
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise TranslatorError(f"embodiment {name}: horizon must be a positive int, got {horizon!r}",
                              ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
    return horizon


def _check_action_dim(name: str, spec: Mapping[str, Any], expected: int) -> None:
    dim = spec.get("action_dim", expected)
    if dim != expected:
        raise TranslatorError(f"embodiment {name}: action_dim {dim!r} must equal the {expected} translated joints "
                              "(actions are never padded or projected)", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
