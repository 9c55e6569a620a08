"""Provider conformance: check a provider object against its capability's contract.

One function per capability. Each runs the provider for real and returns a list of problems (empty =
conformant), so a test can show every broken rule at once::

    problems = check_policy_provider(policy, observation, num_candidates=4)
    assert not problems, problems

What is checked (WorldForge's conformance idea, plus the rules this package enforces):

- profile: a :class:`ProviderProfile` claiming the capability, a known ``implementation_status``;
- health: a :class:`ProviderHealth` named after the profile, finite latency, ``reason`` empty iff healthy, a
  details sentence that is already redacted;
- results: the documented types and shapes, float dtype, finite values, JSON-safe bounded metadata without
  tensors; for scores, ``best_index`` agrees with ``lower_is_better``;
- determinism where the profile claims it (a second identical call returns identical arrays);
- events (when ``events`` is the list the provider's ``event_sink`` appends to): at least one new event per
  call, from this provider, with a known phase, and nothing a redaction pass would still change.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..core.contracts import PolicyResult, ProviderHealth, ProviderProfile, ScoreResult
from ..core.events import PHASES
from ..core.observation import ObservationData
from ..core.promotion import IMPLEMENTATION_STATUSES
from ..core.redaction import redact_metadata, redact_text

MAX_METADATA_BYTES = 64 * 1024
"""Serialized metadata larger than this is not 'bounded' (events and plan records carry it)."""


def check_profile(profile: Any, capability: str) -> list[str]:
    """Profile shape: type, capability claimed, known status."""
    if not isinstance(profile, ProviderProfile):
        return [f"profile is {type(profile).__name__}, not ProviderProfile"]
    problems = []
    if not profile.name:
        problems.append("profile.name is empty")
    if not profile.has(capability):
        problems.append(f"profile does not claim the {capability!r} capability")
    if profile.implementation_status not in IMPLEMENTATION_STATUSES:
        problems.append(f"unknown implementation_status {profile.implementation_status!r}")
    return problems


def check_health(provider: Any) -> list[str]:
    """``health()`` returns a well-formed, redacted :class:`ProviderHealth`."""
    try:
        health = provider.health()
    except Exception as exc:  # health must never raise
        return [f"health() raised {type(exc).__name__}: {exc}"]
    if not isinstance(health, ProviderHealth):
        return [f"health() returned {type(health).__name__}, not ProviderHealth"]
    problems = []
    if health.name != provider.profile.name:
        problems.append(f"health.name {health.name!r} != profile.name {provider.profile.name!r}")
    if not isinstance(health.healthy, bool):
        problems.append("health.healthy is not a bool")
    if not (isinstance(health.latency_ms, (int, float)) and math.isfinite(health.latency_ms)
            and health.latency_ms >= 0):
        problems.append(f"health.latency_ms {health.latency_ms!r} is not a finite non-negative number")
    if health.healthy == bool(health.reason):
        problems.append(f"health.reason {health.reason!r} must be empty exactly when healthy ({health.healthy})")
    if redact_text(health.details) != health.details:
        problems.append("health.details contains text that redaction would change (a secret or signed URL)")
    return problems


def check_metadata(metadata: Any, where: str) -> list[str]:
    """JSON-safe, bounded, no tensors, nothing left to redact."""
    if not isinstance(metadata, dict):
        return [f"{where} metadata is {type(metadata).__name__}, not a dict"]
    problems = []
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return [f"{where} metadata is not strict JSON ({exc}): tensors, bytes or NaN left in it?"]
    if len(text) > MAX_METADATA_BYTES:
        problems.append(f"{where} metadata serializes to {len(text)} bytes > {MAX_METADATA_BYTES}")
    if redact_metadata(metadata) != metadata:
        problems.append(f"{where} metadata contains values redaction would change")
    return problems


def _array_problems(array: Any, what: str) -> list[str]:
    if not isinstance(array, np.ndarray):
        return [f"{what} is {type(array).__name__}, not a numpy array"]
    problems = []
    if array.dtype.kind != "f":
        problems.append(f"{what} dtype {array.dtype} is not floating point")
    elif not np.all(np.isfinite(array)):
        problems.append(f"{what} contains NaN/Inf")
    return problems


def _event_problems(events: list | None, before: int, provider_name: str, call: str) -> list[str]:
    if events is None:
        return []
    new = events[before:]
    if not new:
        return [f"{call} emitted no event"]
    problems = []
    for event in new:
        data = event.to_dict() if hasattr(event, "to_dict") else event
        if data.get("provider") != provider_name:
            problems.append(f"{call} event provider {data.get('provider')!r} != {provider_name!r}")
        if data.get("phase") not in PHASES:
            problems.append(f"{call} event phase {data.get('phase')!r} not in {PHASES}")
        if redact_metadata(data) != data:
            problems.append(f"{call} event contains values redaction would change")
    return problems


def _call(fn: Any, *args: Any) -> tuple[Any, list[str]]:
    try:
        return fn(*args), []
    except Exception as exc:
        return None, [f"{getattr(fn, '__name__', 'call')} raised {type(exc).__name__}: {exc}"]


def check_policy_provider(provider: Any, observation: ObservationData, *, num_candidates: int = 1,
                          mode: str = "predict_chunk", expect_deterministic: bool | None = None,
                          events: list | None = None) -> list[str]:
    """Run ``select_actions`` (twice when determinism is claimed) and check the policy contract."""
    problems = check_profile(provider.profile, "policy") + check_health(provider)
    before = len(events) if events is not None else 0
    result, raised = _call(provider.select_actions, observation, num_candidates, mode)
    if raised:
        return problems + raised
    problems += _event_problems(events, before, provider.profile.name, "select_actions")
    if not isinstance(result, PolicyResult):
        return problems + [f"select_actions returned {type(result).__name__}, not PolicyResult"]
    if result.provider != provider.profile.name:
        problems.append(f"result.provider {result.provider!r} != profile.name {provider.profile.name!r}")
    action = result.actions.get("action")
    problems += _array_problems(action, "actions['action']")
    if isinstance(action, np.ndarray):
        if action.ndim != 3:
            problems.append(f"actions['action'] has shape {action.shape}, expected (N, H, D)")
        elif not 1 <= action.shape[0] <= num_candidates:
            problems.append(f"{action.shape[0]} candidates returned for num_candidates={num_candidates}")
        elif mode == "select_action" and action.shape[1] != 1:
            problems.append(f"select_action mode returned H={action.shape[1]}, expected 1")
    for key, value in result.actions.items():
        if key != "action":
            problems += _array_problems(value, f"actions[{key!r}]")
    problems += check_metadata(result.metadata, "policy result")
    deterministic = provider.profile.deterministic if expect_deterministic is None else expect_deterministic
    if deterministic and isinstance(action, np.ndarray):
        again, raised = _call(provider.select_actions, observation, num_candidates, mode)
        problems += raised
        if again is not None and not np.array_equal(again.actions.get("action"), action):
            problems.append("deterministic provider returned different actions for the same input")
    return problems


def check_score_provider(provider: Any, observation: ObservationData, candidates: np.ndarray, *,
                         expect_deterministic: bool | None = None, events: list | None = None) -> list[str]:
    """Score ``candidates`` ``(S, H, D)`` and check the score contract incl. the direction of ``best_index``."""
    problems = check_profile(provider.profile, "score") + check_health(provider)
    before = len(events) if events is not None else 0
    result, raised = _call(provider.score_actions, observation, candidates)
    if raised:
        return problems + raised
    problems += _event_problems(events, before, provider.profile.name, "score_actions")
    if not isinstance(result, ScoreResult):
        return problems + [f"score_actions returned {type(result).__name__}, not ScoreResult"]
    scores = np.asarray(result.scores)
    problems += _array_problems(scores, "scores")
    if scores.shape != (len(candidates),):
        problems.append(f"scores shape {scores.shape} != ({len(candidates)},)")
    elif np.all(np.isfinite(scores)):
        if not 0 <= result.best_index < len(scores):
            problems.append(f"best_index {result.best_index} out of range for {len(scores)} scores")
        else:
            best = scores.min() if result.lower_is_better else scores.max()
            if scores[result.best_index] != best:
                problems.append(f"best_index {result.best_index} disagrees with lower_is_better="
                                f"{result.lower_is_better}")
    problems += check_metadata(result.metadata, "score result")
    deterministic = provider.profile.deterministic if expect_deterministic is None else expect_deterministic
    if deterministic:
        again, raised = _call(provider.score_actions, observation, candidates)
        problems += raised
        if again is not None and not np.array_equal(np.asarray(again.scores), scores):
            problems.append("deterministic provider returned different scores for the same input")
    return problems
