"""The planning core, ROS-free: observation -> policy requests -> translation -> one batched score -> direction
check -> ranked plan.

The planner node only converts messages and supplies two coroutines that reach the providers
(``ask_policies`` and ``ask_scorer``); this module decides everything else and is unit-tested with plain
``asyncio``. It never imports rclpy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Mapping, Sequence

import numpy as np

from .errors import ErrorCode, ProviderError, RequestError, code_from_int
from .observation import ObservationData
from .plan import PlanData
from .selection import PooledCandidate, Selection, pool_candidates, select_candidate
from .trajectory import StartState
from .translator_registry import TranslatorRegistry
from .wiring import JointMap

NO_SCORER = "none"


@dataclass(frozen=True)
class PlanSettings:
    """One request's effective settings (request fields over the planner's defaults), validated."""

    policies: tuple[str, ...]
    scorer: str
    embodiment: str
    candidates_per_policy: int
    max_steps: int
    deadline_s: float


@dataclass(frozen=True)
class PlannerDefaults:
    """The planner's parameters that shape a request."""

    policies: tuple[str, ...]
    scorer: str
    embodiment: str
    candidates_per_policy: int
    max_candidates_per_policy: int
    deadline_s: float
    max_deadline_s: float
    known_providers: tuple[str, ...]


def resolve_settings(defaults: PlannerDefaults, *, policies: Sequence[str] = (), scorer: str = "",
                     embodiment: str = "", candidates_per_policy: int = 0, max_steps: int = 0,
                     deadline_s: float = 0.0) -> PlanSettings:
    """Apply defaults and validate: deadline range, known and distinct providers, candidate cap (1xx errors)."""
    deadline = float(deadline_s) or defaults.deadline_s
    if not math.isfinite(deadline) or deadline <= 0 or deadline > defaults.max_deadline_s:
        raise RequestError(f"deadline_s must be in (0, {defaults.max_deadline_s}], got {deadline_s}",
                           ErrorCode.INVALID_ARGUMENT)
    chosen = tuple(policies) or tuple(defaults.policies)
    score = scorer or defaults.scorer
    for name in chosen + ((score,) if score != NO_SCORER else ()):
        if name not in defaults.known_providers:
            raise RequestError(f"unknown provider {name!r}; known: {list(defaults.known_providers)}",
                               ErrorCode.UNKNOWN_PROVIDER)
    if len(set(chosen)) != len(chosen):
        raise RequestError(f"policy_providers lists a provider twice: {list(chosen)}", ErrorCode.INVALID_ARGUMENT)
    n = int(candidates_per_policy) or defaults.candidates_per_policy
    if n > defaults.max_candidates_per_policy:
        raise RequestError(f"candidates_per_policy {n} exceeds {defaults.max_candidates_per_policy}",
                           ErrorCode.INVALID_ARGUMENT)
    return PlanSettings(chosen, score, embodiment or defaults.embodiment, n, int(max_steps), deadline)


@dataclass(frozen=True)
class ProviderReply:
    """What one provider answered (success or its typed failure), decoded from the service response.

    Policies fill ``actions`` (the ``(N, H, D)`` 'action' tensor); scorers fill ``scores``, ``best_index`` and
    ``lower_is_better``. ``event_digest`` is the digest of the provider's chained event ('' if none).
    """

    provider: str
    success: bool
    error_code: int = 0
    error_message: str = ""
    actions: np.ndarray | None = None
    scores: tuple[float, ...] = ()
    best_index: int = -1
    lower_is_better: bool = True
    event_digest: str = ""
    event: Any = None


AskPolicies = Callable[[Sequence[str], int], Awaitable[Mapping[str, ProviderReply]]]
"""``ask_policies(names, n)``: every policy asked at once; the replies that arrived before the deadline."""
AskScorer = Callable[[str, np.ndarray], Awaitable["ProviderReply | None"]]
"""``ask_scorer(name, candidates (S, H, D))``: one batched call; awaiting it gives the reply, None when no answer
came before the deadline. The core calls it *before* translating and awaits it after, so an implementation that
sends the request when called (and returns an awaitable for the answer) overlaps translation with the scorer's
work; an ``async def`` works too (it sends when awaited)."""


@dataclass
class PlanOutcome:
    """A finished plan, the provider replies it was built from (their events go into the response) and where the
    time went: ``stages_ms`` (see :data:`STAGES`)."""

    plan: PlanData
    replies: list[ProviderReply] = field(default_factory=list)
    stages_ms: dict[str, float] = field(default_factory=dict)


STAGES = {
    "policies": "asking the policies until every answer is in (their round trips)",
    "score_request": "checking the chunks against the translator contract and sending the one score request",
    "translate": "translating every candidate (while the scorer works)",
    "serialize": "each trajectory's canonical JSON and the caller's while_scoring work (while the scorer works)",
    "score_wait": "waiting for the scorer's answer after that work, and ranking",
    "assemble": "assembling the plan",
}
"""The planning core's stages, in order, as reported in :attr:`PlanOutcome.stages_ms`."""


def _failed(reply: ProviderReply, role: str) -> ProviderError:
    return ProviderError(f"{role} {reply.provider} failed: {reply.error_message}",
                         code_from_int(reply.error_code), provider=reply.provider)


FeasibilityCheck = Callable[[Any, StartState], Sequence[str]]
"""``check(trajectory, start) -> violations`` ('' list = feasible): a scene's collision check of one translated
candidate (policy joint names), e.g. ``worldforge_ros.scene`` (contact pair and time per violation)."""


class PlanningCore:
    """Turns a validated request and an observation (policy joint names) into a ranked, digested plan.

    ``feasibility`` (optional) checks every candidate the translator found feasible; its violations make the
    candidate infeasible (never selected, never approvable) and are recorded with it."""

    def __init__(self, translators: TranslatorRegistry, joint_map: JointMap | None = None,
                 feasibility: FeasibilityCheck | None = None) -> None:
        self.translators = translators
        self.joint_map = joint_map or JointMap()
        self.feasibility = feasibility

    async def plan(self, settings: PlanSettings, observation: ObservationData, ask_policies: AskPolicies,
                   ask_scorer: AskScorer, *, run_id: str, request_id: str,
                   replies: list[ProviderReply] | None = None,
                   while_scoring: Callable[[list[PooledCandidate]], Any] | None = None) -> PlanOutcome:
        """Run one plan. ``replies`` (optional) collects every provider reply as it arrives, so a caller still
        has the providers' events when a later step fails. ``while_scoring`` (optional) gets the translated
        candidates while the scorer works (the node builds their trajectory messages then)."""
        got: list[ProviderReply] = [] if replies is None else replies
        translator = self.translators.get(settings.embodiment)
        if not observation.joint_names:
            raise RequestError("the observation has no joint state: a plan needs a start state",
                               ErrorCode.OBSERVATION_MISSING)
        start = StartState(observation.joint_names, observation.joint_positions)
        clock = _StageClock()

        answers = await ask_policies(settings.policies, settings.candidates_per_policy)
        clock.lap("policies")
        got.extend(answers[name] for name in settings.policies if name in answers)
        missing = [name for name in settings.policies if name not in answers]
        if missing:
            raise ProviderError(f"policy provider(s) {missing} did not answer within deadline_s="
                                f"{settings.deadline_s}", ErrorCode.PROVIDER_TIMEOUT, providers=missing)
        checked, raws = [], []
        for name in settings.policies:
            reply = answers[name]
            if not reply.success:
                raise _failed(reply, "policy")
            if reply.actions is None:
                raise ProviderError(f"policy {name} returned no 'action' tensor",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            ok = translator.check(reply.actions, start, embodiment_tag=observation.embodiment_tag,
                                  max_steps=settings.max_steps)
            checked.append((name, ok))
            raws.append(np.asarray(reply.actions)[:, :ok.steps])
        if not sum(ok.count for _, ok in checked):
            raise ProviderError("policies returned no candidates", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        # The scorer needs only the raw chunks: ask it first, translate while it works (its round trip would
        # otherwise leave this thread idle), then await its answer.
        pending = None if settings.scorer == NO_SCORER else ask_scorer(settings.scorer, np.concatenate(raws, axis=0))
        clock.lap("score_request")
        try:
            pooled = pool_candidates([(name, [self._robot_named(self._checked(c, start))
                                              for c in translator.translate_checked(ok)]) for name, ok in checked])
            clock.lap("translate")
            for p in pooled:
                p.candidate.trajectory.to_json()  # cached: the plan's canonical JSON splices it in
            if while_scoring is not None:
                while_scoring(pooled)
            clock.lap("serialize")
        except BaseException:
            _discard(pending)
            raise
        selection = await self._rank(settings, pooled, pending, got)
        clock.lap("score_wait")
        robot_start = StartState(self.joint_map.to_robot(start.joint_names), start.positions)
        plan = PlanData.from_selection(
            pooled, selection, start_state=robot_start, task=observation.task, embodiment=translator.name,
            policy_providers=settings.policies, score_provider=settings.scorer, run_id=run_id, request_id=request_id,
            max_steps=settings.max_steps, event_digests=[r.event_digest for r in got if r.event_digest],
            translator_contract=translator.contract_summary(list(raws[0].shape[1:]) if raws else None),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        clock.lap("assemble")
        return PlanOutcome(plan, got, clock.laps)

    def _checked(self, candidate: Any, start: StartState) -> Any:
        if self.feasibility is None or not candidate.feasible:
            return candidate
        violations = tuple(self.feasibility(candidate.trajectory, start))
        if not violations:
            return candidate
        return replace(candidate, feasible=False, violations=tuple(candidate.violations) + violations)

    def _robot_named(self, candidate: Any) -> Any:
        if self.joint_map.identity:
            return candidate
        traj = candidate.trajectory
        return replace(candidate, trajectory=replace(traj, joint_names=self.joint_map.to_robot(traj.joint_names)))

    @staticmethod
    async def _rank(settings: PlanSettings, pooled: list[PooledCandidate], pending: Awaitable[Any] | None,
                    got: list[ProviderReply]) -> Selection:
        feasible = [c.feasible for c in pooled]
        if pending is None:
            return select_candidate(feasible)
        reply = await pending
        if reply is None:
            raise ProviderError(f"score provider {settings.scorer} did not answer within deadline_s="
                                f"{settings.deadline_s}", ErrorCode.PROVIDER_TIMEOUT, providers=[settings.scorer])
        got.append(reply)
        if not reply.success:
            raise _failed(reply, "score provider")
        return select_candidate(feasible, list(reply.scores), int(reply.best_index), bool(reply.lower_is_better),
                                settings.scorer)


class _StageClock:
    """Milliseconds between successive ``lap(name)`` calls (a monotonic clock)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._at = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._at) * 1000.0, 3)
        self._at = now


def _discard(pending: Any) -> None:
    """Close a scorer awaitable that will never be awaited (a later step failed): no 'never awaited' warning,
    and its ``finally`` blocks run (the node forgets the pending request)."""
    close = getattr(pending, "close", None)
    if callable(close):
        close()
