"""The plan record: every candidate, its score and feasibility, the selection, the start state and the digests
of the provider events and manifests behind it.

``plan_json()`` is canonical JSON (sorted keys, compact, no NaN) and ``plan_digest`` = ``sha256:`` of it: the
plan's identity everywhere after planning. :meth:`PlanData.from_json` rebuilds a plan from recorded JSON so the
approval gate can re-verify the digest. An unscored candidate has ``score = None`` (JSON ``null``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .digests import canonical_json_spliced, is_digest, sha256_digest
from .errors import ApprovalError, ErrorCode, EvidenceError, WorldForgeRosError
from .selection import PooledCandidate, Selection
from .trajectory import StartState, TrajectoryData

PLAN_SCHEMA_VERSION = 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in a plan record")


def new_plan_id() -> str:
    """A fresh plan id, ``plan-<16 hex>``."""
    return "plan-" + uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class PlanCandidate:
    """One candidate as recorded in a plan (mirrors ``msg/Candidate``)."""

    index: int
    policy_provider: str
    policy_candidate_index: int
    trajectory: TrajectoryData
    score: float | None
    feasible: bool
    violations: tuple[str, ...]
    raw_shape: tuple[int, ...]
    raw_digest: str

    def to_dict(self, trajectory: Any = None) -> dict[str, Any]:
        """JSON-native form; ``trajectory`` (when given) stands in for the trajectory's own dict."""
        return {"index": self.index, "policy_provider": self.policy_provider,
                "policy_candidate_index": self.policy_candidate_index,
                "trajectory": self.trajectory.to_dict() if trajectory is None else trajectory,
                "score": self.score, "feasible": self.feasible, "violations": list(self.violations),
                "raw_shape": list(self.raw_shape), "raw_digest": self.raw_digest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PlanCandidate":
        score = data["score"]
        return cls(int(data["index"]), str(data["policy_provider"]), int(data["policy_candidate_index"]),
                   TrajectoryData.from_dict(data["trajectory"]), None if score is None else float(score),
                   bool(data["feasible"]), tuple(str(v) for v in data["violations"]),
                   tuple(int(s) for s in data["raw_shape"]), str(data["raw_digest"]))


@dataclass(frozen=True)
class PlanData:
    """A complete plan. Immutable: any change makes a different plan with a different digest."""

    plan_id: str
    run_id: str
    request_id: str
    task: str
    embodiment: str
    policy_providers: tuple[str, ...]
    score_provider: str
    candidates: tuple[PlanCandidate, ...]
    selected_index: int
    lower_is_better: bool
    selection_mode: str
    selection_reason: str
    start_state: StartState
    max_steps: int = 0
    translator_contract: Mapping[str, Any] = field(default_factory=dict)
    event_digests: tuple[str, ...] = ()
    manifest_digests: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""

    def __post_init__(self) -> None:
        if not self.candidates:
            raise EvidenceError("a plan needs at least one candidate", ErrorCode.EVIDENCE_FORMAT_INVALID)
        for pos, cand in enumerate(self.candidates):
            if cand.index != pos:
                raise EvidenceError(f"candidate at position {pos} has index {cand.index}",
                                    ErrorCode.EVIDENCE_FORMAT_INVALID)
            if not is_digest(cand.raw_digest):
                raise EvidenceError(f"candidate {pos} raw_digest is not a sha256 digest",
                                    ErrorCode.EVIDENCE_FORMAT_INVALID)
        if not 0 <= self.selected_index < len(self.candidates):
            raise EvidenceError(f"selected_index {self.selected_index} out of range", ErrorCode.EVIDENCE_FORMAT_INVALID)
        if not self.candidates[self.selected_index].feasible:
            raise EvidenceError("the selected candidate is infeasible", ErrorCode.EVIDENCE_FORMAT_INVALID)
        bad = [d for d in list(self.event_digests) + list(self.manifest_digests.values()) if not is_digest(d)]
        if bad:
            raise EvidenceError(f"malformed digests {bad[:3]}", ErrorCode.EVIDENCE_FORMAT_INVALID)

    @classmethod
    def from_selection(cls, pooled: Sequence[PooledCandidate], selection: Selection, *, start_state: StartState,
                       task: str, embodiment: str, policy_providers: Sequence[str], score_provider: str = "",
                       plan_id: str = "", run_id: str = "", request_id: str = "", max_steps: int = 0,
                       translator_contract: Mapping[str, Any] | None = None,
                       event_digests: Sequence[str] = (), manifest_digests: Mapping[str, str] | None = None,
                       created_at: str = "") -> "PlanData":
        """Assemble a plan from pooled candidates and a :class:`Selection`."""
        candidates = tuple(
            PlanCandidate(p.index, p.policy_provider, p.policy_candidate_index, p.candidate.trajectory,
                          None if selection.scores is None else selection.scores[p.index], p.candidate.feasible,
                          tuple(p.candidate.violations), tuple(p.candidate.raw_shape), p.candidate.raw_digest)
            for p in pooled)
        return cls(plan_id or new_plan_id(), run_id, request_id, task, embodiment, tuple(policy_providers),
                   score_provider, candidates, selection.selected_index, selection.lower_is_better, selection.mode,
                   selection.reason, start_state, int(max_steps), dict(translator_contract or {}),
                   tuple(event_digests), dict(manifest_digests or {}), created_at)

    @property
    def selected(self) -> PlanCandidate:
        return self.candidates[self.selected_index]

    def to_dict(self, trajectories: Sequence[Any] | None = None) -> dict[str, Any]:
        """JSON-native form (the content of :meth:`plan_json`); ``trajectories`` (one per candidate) stand in for
        the candidates' trajectory dicts."""
        stand_ins = trajectories if trajectories is not None else [None] * len(self.candidates)
        return {
            "schema_version": PLAN_SCHEMA_VERSION, "plan_id": self.plan_id, "run_id": self.run_id,
            "request_id": self.request_id, "task": self.task, "embodiment": self.embodiment,
            "providers": {"policy": list(self.policy_providers), "score": self.score_provider},
            "candidates": [c.to_dict(t) for c, t in zip(self.candidates, stand_ins)],
            "selected_index": self.selected_index,
            "lower_is_better": self.lower_is_better,
            "selection": {"mode": self.selection_mode, "reason": self.selection_reason},
            "start_state": self.start_state.to_dict(), "max_steps": self.max_steps,
            "translator_contract": dict(self.translator_contract), "event_digests": list(self.event_digests),
            "manifest_digests": dict(self.manifest_digests), "created_at": self.created_at,
        }

    def plan_json(self) -> str:
        """Canonical JSON of the plan (sorted keys, compact, UTF-8, NaN refused)."""
        cached = self.__dict__.get("_plan_json")  # immutable plan: serialize once
        if cached is None:
            # Each trajectory's canonical JSON is cached on it (the planner computes them while its scorer works):
            # splice them in instead of serializing every float again. Same text as canonical_json(to_dict()).
            nonce = uuid.uuid4().hex
            placeholders = [f"\0{nonce}:{i}\0" for i in range(len(self.candidates))]
            cached = canonical_json_spliced(self.to_dict(placeholders), {
                p: c.trajectory.to_json() for p, c in zip(placeholders, self.candidates)})
            object.__setattr__(self, "_plan_json", cached)
        return cached

    @property
    def plan_digest(self) -> str:
        """``sha256:<hex>`` of :meth:`plan_json` (computed once: a plan's reply, event and record all carry it)."""
        cached = self.__dict__.get("_plan_digest")
        if cached is None:
            cached = sha256_digest(self.plan_json())
            object.__setattr__(self, "_plan_digest", cached)
        return cached

    def verify_digest(self, expected: str) -> None:
        """``ApprovalError(DIGEST_MISMATCH)`` unless this plan's digest is ``expected``."""
        actual = self.plan_digest
        if actual != expected:
            raise ApprovalError(f"plan digest {actual} does not match {expected}", ErrorCode.DIGEST_MISMATCH)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PlanData":
        """Inverse of :meth:`to_dict`; malformed records raise ``EvidenceError(EVIDENCE_FORMAT_INVALID)``."""
        try:
            if data.get("schema_version") != PLAN_SCHEMA_VERSION:
                raise EvidenceError(f"unsupported plan schema_version {data.get('schema_version')!r}",
                                    ErrorCode.EVIDENCE_FORMAT_INVALID)
            providers = data["providers"]
            return cls(
                str(data["plan_id"]), str(data["run_id"]), str(data["request_id"]), str(data["task"]),
                str(data["embodiment"]), tuple(str(p) for p in providers["policy"]), str(providers["score"]),
                tuple(PlanCandidate.from_dict(c) for c in data["candidates"]), int(data["selected_index"]),
                bool(data["lower_is_better"]), str(data["selection"]["mode"]), str(data["selection"]["reason"]),
                StartState.from_dict(data["start_state"]), int(data["max_steps"]),
                dict(data["translator_contract"]), tuple(str(d) for d in data["event_digests"]),
                {str(k): str(v) for k, v in data["manifest_digests"].items()}, str(data["created_at"]))
        except EvidenceError:
            raise
        except WorldForgeRosError as exc:
            raise EvidenceError(f"plan record invalid: {exc}", ErrorCode.EVIDENCE_FORMAT_INVALID) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EvidenceError(f"plan record malformed: {type(exc).__name__}: {exc}",
                                ErrorCode.EVIDENCE_FORMAT_INVALID) from None

    @classmethod
    def from_json(cls, text: str | bytes, expected_digest: str | None = None) -> "PlanData":
        """Rebuild a plan from recorded JSON; with ``expected_digest`` also verify it (``DIGEST_MISMATCH``)."""
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, TypeError) as exc:
            raise EvidenceError(f"plan record is not JSON: {exc}", ErrorCode.EVIDENCE_FORMAT_INVALID) from None
        if not isinstance(data, dict):
            raise EvidenceError("plan record is not a JSON object", ErrorCode.EVIDENCE_FORMAT_INVALID)
        plan = cls.from_dict(data)
        if expected_digest is not None:
            plan.verify_digest(expected_digest)
        return plan
