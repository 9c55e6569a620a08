"""Reference providers: a seeded goal-seeking policy and a distance-to-goal scorer.

For tests, benchmarks and the light demo only. They are **not models**: their profiles say so
(``implementation_status="reference"``) and every result's metadata carries ``runtime: "reference"``.

Both work in the embodiment's action space (absolute targets). The current position is
``observation.joint_positions * action_scale`` (e.g. 1000 px/m for PushT); the goal is the observation extra
``goal_positions`` when present, else the configured ``goal_positions``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.contracts import PolicyResult, ProviderHealth, ProviderProfile, ScoreResult
from ..core.digests import tensor_digest
from ..core.errors import ErrorCode, RequestError
from ..core.observation import ObservationData

MODES = ("select_action", "predict_chunk")
GOAL_EXTRA = "goal_positions"
NOT_A_MODEL = "reference provider: deterministic arithmetic for tests, benchmarks and demos; not a learned model"

POLICY_PROFILE = ProviderProfile(
    name="reference", capabilities=("policy",), is_local=True, package="worldforge_ros",
    description="Seeded policy proposing N noisy straight-line chunks from the current joint state to a goal.",
    implementation_status="reference", deterministic=True, supported_modalities=("joint_state",),
    artifact_types=("action_chunk",), notes=(NOT_A_MODEL,))

SCORER_PROFILE = ProviderProfile(
    name="reference_scorer", capabilities=("score",), is_local=True, package="worldforge_ros",
    description="Scores candidates by the Euclidean distance of their final step to a goal (lower is better).",
    implementation_status="reference", deterministic=True, supported_modalities=("joint_state",),
    artifact_types=("score",), notes=(NOT_A_MODEL,))


def _vector(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise RequestError(f"{what} is not numeric", ErrorCode.INVALID_ARGUMENT) from None
    if arr.size == 0:
        raise RequestError(f"{what} is empty", ErrorCode.OBSERVATION_MISSING)
    if not np.all(np.isfinite(arr)):
        raise RequestError(f"{what} contains NaN/Inf", ErrorCode.NON_FINITE_VALUE)
    return arr


def _goal(observation: ObservationData, configured: np.ndarray | None, dim: int) -> tuple[np.ndarray, str]:
    if GOAL_EXTRA in observation.extras:
        goal, source = _vector(observation.extras[GOAL_EXTRA], f"observation extra {GOAL_EXTRA!r}"), "observation"
    elif configured is not None:
        goal, source = configured, "config"
    else:
        raise RequestError(f"no goal: neither an observation extra {GOAL_EXTRA!r} nor configured goal_positions",
                           ErrorCode.OBSERVATION_MISSING)
    if goal.shape != (dim,):
        raise RequestError(f"goal has {goal.size} values, action space has {dim}", ErrorCode.SHAPE_MISMATCH)
    return goal, source


def _health(name: str, started: float, details: str) -> ProviderHealth:
    return ProviderHealth(name, True, max(0.1, (time.perf_counter() - started) * 1000.0), details)


class ReferencePolicy:
    """Proposes ``(N, H, D)`` chunks: straight lines from the current position to ``goal + noise_i``.

    Candidate ``i`` aims at ``goal + e_i`` with ``e_i ~ N(0, noise_std)`` per dimension; step ``k`` (1..H) is at
    fraction ``k/H`` of the way, each step's displacement clipped to ``max_step`` when set. The noise generator is
    seeded from ``seed`` and the inputs' digests, so the same observation gives the same candidates.
    """

    profile = POLICY_PROFILE

    def __init__(self, horizon: int = 16, goal_positions: Sequence[float] | None = None, noise_std: float = 0.05,
                 seed: int = 0, max_step: float | None = None, action_scale: float = 1.0,
                 embodiment_tag: str = "") -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise RequestError(f"horizon must be a positive int, got {horizon!r}", ErrorCode.INVALID_ARGUMENT)
        if not (np.isfinite(noise_std) and noise_std >= 0):
            raise RequestError(f"noise_std must be >= 0, got {noise_std!r}", ErrorCode.INVALID_ARGUMENT)
        if max_step is not None and not (np.isfinite(max_step) and max_step > 0):
            raise RequestError(f"max_step must be > 0, got {max_step!r}", ErrorCode.INVALID_ARGUMENT)
        if not (np.isfinite(action_scale) and action_scale > 0):
            raise RequestError(f"action_scale must be > 0, got {action_scale!r}", ErrorCode.INVALID_ARGUMENT)
        self.horizon = horizon
        self.goal_positions = None if goal_positions is None or len(goal_positions) == 0 \
            else _vector(goal_positions, "goal_positions")
        self.noise_std = float(noise_std)
        self.seed = int(seed)
        self.max_step = None if max_step is None else float(max_step)
        self.action_scale = float(action_scale)
        self.embodiment_tag = embodiment_tag
        self.calls = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ReferencePolicy":
        """From a parameter mapping (keys as in ``__init__``; a non-positive ``max_step`` means none)."""
        max_step = config.get("max_step")
        return cls(int(config.get("horizon", 16)), config.get("goal_positions") or None,
                   float(config.get("noise_std", 0.05)), int(config.get("seed", 0)),
                   None if not max_step or max_step <= 0 else float(max_step), float(config.get("action_scale", 1.0)),
                   str(config.get("embodiment_tag", "")))

    def health(self) -> ProviderHealth:
        started = time.perf_counter()
        return _health(self.profile.name, started, f"ready; seed={self.seed}; horizon={self.horizon}; not a model")

    def configure(self) -> None:
        """Nothing to load."""

    def close(self) -> None:
        """Nothing to release."""

    def _rng(self, start: np.ndarray, goal: np.ndarray, count: int) -> np.random.Generator:
        key = f"{self.seed}|{tensor_digest(start)}|{tensor_digest(goal)}|{count}".encode("utf-8")
        return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))

    def chunks(self, start: np.ndarray, goal: np.ndarray, num_candidates: int) -> np.ndarray:
        """The ``(N, H, D)`` float64 proposals for a start and goal (the arithmetic behind ``select_actions``)."""
        rng = self._rng(start, goal, num_candidates)
        noise = rng.normal(0.0, self.noise_std, size=(num_candidates, start.size)) if self.noise_std else \
            np.zeros((num_candidates, start.size))
        step = (goal[None, :] + noise - start[None, :]) / self.horizon
        if self.max_step is not None:
            step = np.clip(step, -self.max_step, self.max_step)
        k = np.arange(1, self.horizon + 1, dtype=np.float64)[None, :, None]
        return start[None, None, :] + k * step[:, None, :]

    def select_actions(self, observation: ObservationData, num_candidates: int = 1,
                       mode: str = "predict_chunk") -> PolicyResult:
        """``predict_chunk`` -> ``(N, H, D)``; ``select_action`` -> the first step only, ``(N, 1, D)``."""
        if mode not in MODES:
            raise RequestError(f"mode {mode!r} not in {list(MODES)}", ErrorCode.INVALID_ARGUMENT)
        if isinstance(num_candidates, bool) or not isinstance(num_candidates, (int, np.integer)) or num_candidates < 1:
            raise RequestError(f"num_candidates must be >= 1, got {num_candidates!r}", ErrorCode.INVALID_ARGUMENT)
        start = _vector(observation.joint_positions, "observation joint positions") * self.action_scale
        goal, source = _goal(observation, self.goal_positions, start.size)
        actions = self.chunks(start, goal, int(num_candidates))
        if mode == "select_action":
            actions = actions[:, :1]
        self.calls += 1
        meta = {"runtime": "reference", "seed": self.seed, "mode": mode, "candidate_count": int(num_candidates),
                "action_horizon": int(actions.shape[1]), "goal_source": source, "noise_std": self.noise_std,
                "note": NOT_A_MODEL}
        return PolicyResult(self.profile.name, {"action": actions},
                            self.embodiment_tag or observation.embodiment_tag, meta)


class ReferenceScorer:
    """Scores ``(S, H, D)`` candidates in one batched call: ``||candidate[-1] - goal||``, lower is better."""

    profile = SCORER_PROFILE

    def __init__(self, goal_positions: Sequence[float] | None = None) -> None:
        self.goal_positions = None if goal_positions is None or len(goal_positions) == 0 \
            else _vector(goal_positions, "goal_positions")
        self.calls = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ReferenceScorer":
        return cls(config.get("goal_positions") or None)

    def health(self) -> ProviderHealth:
        started = time.perf_counter()
        return _health(self.profile.name, started, "ready; distance-to-goal of the final step; not a model")

    def configure(self) -> None:
        """Nothing to load."""

    def close(self) -> None:
        """Nothing to release."""

    def score_actions(self, observation: ObservationData, candidates: np.ndarray) -> ScoreResult:
        arr = np.asarray(candidates)
        if arr.dtype.kind not in "iuf" or arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise RequestError(f"candidates must be a numeric (S>=1, H>=1, D) array, got shape {list(arr.shape)} "
                               f"dtype {arr.dtype}", ErrorCode.SHAPE_MISMATCH)
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise RequestError("candidates contain NaN/Inf", ErrorCode.NON_FINITE_VALUE)
        goal, source = _goal(observation, self.goal_positions, arr.shape[2])
        scores = np.linalg.norm(arr[:, -1, :] - goal[None, :], axis=1)
        self.calls += 1
        best = int(np.argmin(scores))
        meta = {"runtime": "reference", "score_type": "distance_to_goal", "score_direction": "lower_is_better",
                "candidate_count": int(arr.shape[0]), "score_shape": list(scores.shape), "goal_source": source,
                "note": NOT_A_MODEL}
        return ScoreResult(self.profile.name, scores, best, True, meta)
