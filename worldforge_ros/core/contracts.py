"""Provider contracts (WorldForge semantics): capabilities, profiles, health, lifecycle and results.

A provider is a plain Python object implementing :class:`PolicyProvider` or :class:`ScoreProvider`; the ROS
``provider_node`` is a thin shell around one. Heavy runtimes are imported lazily inside providers, so a
missing runtime shows up as an unhealthy :class:`ProviderHealth` with a typed reason, never an ImportError.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .observation import ObservationData

CAPABILITIES: tuple[str, ...] = ("predict", "generate", "reason", "embed", "plan", "transfer", "score", "policy")
"""WorldForge's eight capability flags, in order."""

PROMOTION_STATUSES: tuple[str, ...] = ("scaffold", "experimental", "beta", "stable")
"""Promotion statuses, least to most mature. ``reference`` providers are a separate, honest label."""


class Capability(enum.Enum):
    PREDICT = "predict"
    GENERATE = "generate"
    REASON = "reason"
    EMBED = "embed"
    PLAN = "plan"
    TRANSFER = "transfer"
    SCORE = "score"
    POLICY = "policy"


@dataclass(frozen=True)
class ProviderProfile:
    """What a provider is and claims (WorldForge ``ProviderProfile`` fields)."""

    name: str
    capabilities: tuple[str, ...]
    is_local: bool = True
    description: str = ""
    package: str = ""
    implementation_status: str = "experimental"
    deterministic: bool = False
    requires_credentials: bool = False
    credential_env_var: str = ""
    required_env_vars: tuple[str, ...] = ()
    supported_modalities: tuple[str, ...] = ()
    artifact_types: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    default_model: str = ""
    supported_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in self.capabilities if c not in CAPABILITIES]
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}; known: {list(CAPABILITIES)}")

    def has(self, capability: str) -> bool:
        """Whether the provider claims ``capability``; asking about an unknown name is an error."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        return capability in self.capabilities

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class ProviderHealth:
    """Health without loading weights: ``healthy`` plus a redacted ``details`` sentence and a typed ``reason``.

    ``reason`` is empty when healthy, else a stable token such as ``not_configured``, ``checkpoint_missing``,
    ``dependency_missing``, ``server_unreachable``.
    """

    name: str
    healthy: bool
    latency_ms: float
    details: str
    reason: str = ""


@dataclass(frozen=True)
class LifecycleResult:
    """Result of a ``preflight`` / ``warmup`` / ``teardown`` hook."""

    provider: str
    hook: str
    status: str  # no-op | ready | skipped | failed | teardown-failed
    ready: bool
    latency_ms: float
    details: str = ""
    skip_reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class PolicyResult:
    """Raw policy output. ``actions`` maps action keys to arrays; ``"action"`` is ``(N, H, D)``.

    ``metadata`` is JSON-safe and bounded (shapes, loader mode, device ...; never tensors).
    """

    provider: str
    actions: dict[str, np.ndarray]
    embodiment_tag: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def candidate_count(self) -> int:
        main = self.actions.get("action")
        return int(main.shape[0]) if main is not None and main.ndim >= 1 else 0


@dataclass
class ScoreResult:
    """Scores for S candidates; ``best_index`` must agree with ``lower_is_better`` (checked by selection)."""

    provider: str
    scores: np.ndarray
    best_index: int
    lower_is_better: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def best_score(self) -> float:
        return float(self.scores[self.best_index])


@runtime_checkable
class PolicyProvider(Protocol):
    """A provider with the ``policy`` capability."""

    profile: ProviderProfile

    def health(self) -> ProviderHealth: ...

    def configure(self) -> None:
        """Load weights / connect. Raises a typed ProviderError on failure."""

    def select_actions(self, observation: ObservationData, num_candidates: int, mode: str) -> PolicyResult: ...

    def close(self) -> None: ...


@runtime_checkable
class ScoreProvider(Protocol):
    """A provider with the ``score`` capability: scores ``(S, H, D)`` candidates in one batched call."""

    profile: ProviderProfile

    def health(self) -> ProviderHealth: ...

    def configure(self) -> None: ...

    def score_actions(self, observation: ObservationData, candidates: np.ndarray) -> ScoreResult: ...

    def close(self) -> None: ...
