"""Approval envelopes: what an operator approves once for a closed-loop policy run, and the check of every chunk.

An :class:`Envelope` names the providers (and their digests), the embodiment, per-joint position and velocity
bounds (inside the translator's limits with margin), an optional end-effector workspace box (only with forward
kinematics for the embodiment), the run's maximum duration and number of chunks, the score a chunk must meet (in
the direction the scorer reports) and a dead-man heartbeat. Its canonical JSON digest is its identity.
:func:`check_chunk` names every way a chunk leaves the envelope; :class:`EnvelopeGate` binds an approval to the
operator, the digest, the start state and an expiry, single use, like :class:`~.approval.ApprovalGate`.
ROS-free: the gate node and ``evidence verify`` run the same rules.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .approval import CHECKLIST
from .digests import canonical_json, digest_json, is_digest
from .feasibility import first_steps
from .errors import ApprovalError, ErrorCode, RequestError, WorldForgeRosError
from .trajectory import TrajectoryData

ENVELOPE_SCHEMA_VERSION = 1
FK = Callable[[Sequence[str], np.ndarray], np.ndarray]
"""Forward kinematics: ``(joint_names, positions (T, J)) -> end-effector positions (T, 3)`` in metres."""

# Metadata keys that identify a provider's model/config (per-call keys such as counts or shapes are left out).
IDENTITY_KEYS = ("runtime", "loader_mode", "policy_type", "checkpoint", "checkpoint_digest", "manifest_digest",
                 "device", "stochastic", "seed", "noise_std", "max_step", "score_type", "score_direction",
                 "image_size", "model", "revision", "transport", "embodiment_tag")


def provider_digest(provider: str, metadata: Mapping[str, Any], target: str = "", manifest: str = "") -> str:
    """Digest of what identifies a provider in one call: its name, target, runtime manifest digest and the
    identity keys of its event metadata. A change between chunks means another model or config answered."""
    ident = {k: metadata[k] for k in IDENTITY_KEYS if k in metadata}
    return digest_json({"provider": provider, "target": target, "manifest": manifest, "identity": ident})


def _floats(values: Any, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise RequestError(f"{what} must be a list of numbers", ErrorCode.ENVELOPE_INVALID) from None
    if not all(math.isfinite(v) for v in out):
        raise RequestError(f"{what} holds NaN or infinite values", ErrorCode.ENVELOPE_INVALID)
    return out


@dataclass(frozen=True)
class Envelope:
    """Everything a supervised run may do. Immutable; any change is a different digest."""

    policy_providers: tuple[str, ...]
    score_provider: str
    embodiment: str
    joint_names: tuple[str, ...]
    position_min: tuple[float, ...]
    position_max: tuple[float, ...]
    velocity_max: tuple[float, ...]
    max_duration_s: float
    max_chunks: int
    heartbeat_timeout_s: float
    heartbeat_topic: str = "worldforge/heartbeat"
    score_threshold: float | None = None
    lower_is_better: bool = True
    provider_digests: Mapping[str, str] = field(default_factory=dict)
    """Provider name -> expected digest; ``""`` = pinned from the first chunk (then a change stops the run)."""
    workspace_min: tuple[float, ...] = ()
    workspace_max: tuple[float, ...] = ()
    task: str = ""
    candidates_per_policy: int = 0
    max_steps: int = 0
    chunk_deadline_s: float = 5.0

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        for name in ("position_min", "position_max", "velocity_max"):
            values = _floats(getattr(self, name), name)
            if len(values) != n:
                raise RequestError(f"{name} has {len(values)} values for {n} joints", ErrorCode.ENVELOPE_INVALID)
            object.__setattr__(self, name, values)
        for name in ("workspace_min", "workspace_max"):
            object.__setattr__(self, name, _floats(getattr(self, name), name))
        object.__setattr__(self, "joint_names", tuple(str(j) for j in self.joint_names))
        object.__setattr__(self, "policy_providers", tuple(str(p) for p in self.policy_providers))
        object.__setattr__(self, "provider_digests", {str(k): str(v) for k, v in self.provider_digests.items()})
        if self.score_threshold is not None and not math.isfinite(float(self.score_threshold)):
            object.__setattr__(self, "score_threshold", None)

    # ---- identity -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": ENVELOPE_SCHEMA_VERSION, "policy_providers": list(self.policy_providers),
                "score_provider": self.score_provider, "provider_digests": dict(self.provider_digests),
                "embodiment": self.embodiment, "joint_names": list(self.joint_names),
                "position_min": list(self.position_min), "position_max": list(self.position_max),
                "velocity_max": list(self.velocity_max), "workspace_min": list(self.workspace_min),
                "workspace_max": list(self.workspace_max), "max_duration_s": float(self.max_duration_s),
                "max_chunks": int(self.max_chunks), "score_threshold": self.score_threshold,
                "lower_is_better": bool(self.lower_is_better), "heartbeat_topic": self.heartbeat_topic,
                "heartbeat_timeout_s": float(self.heartbeat_timeout_s), "task": self.task,
                "candidates_per_policy": int(self.candidates_per_policy), "max_steps": int(self.max_steps),
                "chunk_deadline_s": float(self.chunk_deadline_s)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Envelope":
        d = {k: v for k, v in data.items() if k != "schema_version"}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise RequestError(f"unknown envelope fields {unknown}", ErrorCode.ENVELOPE_INVALID)
        try:
            return cls(**d)
        except TypeError as exc:
            raise RequestError(f"envelope incomplete: {exc}", ErrorCode.ENVELOPE_INVALID) from None

    def envelope_json(self) -> str:
        return canonical_json(self.to_dict())

    @property
    def digest(self) -> str:
        return digest_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str, expected_digest: str | None = None) -> "Envelope":
        env = cls.from_dict(json.loads(text))
        if expected_digest is not None and env.digest != expected_digest:
            raise ApprovalError(f"envelope digest {env.digest} does not match {expected_digest}",
                                ErrorCode.DIGEST_MISMATCH)
        return env

    @property
    def has_workspace(self) -> bool:
        return bool(self.workspace_min or self.workspace_max)

    # ---- validation -----------------------------------------------------------------------------------------
    def validate(self, translators: Any = None, fk: FK | None = None) -> "Envelope":
        """Refuse (``ENVELOPE_INVALID``) an envelope that is malformed or wider than the embodiment's translator
        limits with margin; ``WORKSPACE_UNSUPPORTED`` for a workspace box without forward kinematics."""
        bad = []
        if not self.policy_providers:
            bad.append("policy_providers is empty")
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            bad.append("joint_names must be non-empty and unique")
        if not (math.isfinite(self.max_duration_s) and self.max_duration_s > 0):
            bad.append("max_duration_s must be > 0")
        if int(self.max_chunks) < 1:
            bad.append("max_chunks must be >= 1")
        if not (math.isfinite(self.heartbeat_timeout_s) and self.heartbeat_timeout_s > 0) or not self.heartbeat_topic:
            bad.append("a heartbeat topic and a heartbeat_timeout_s > 0 are required (dead-man)")
        if not (math.isfinite(self.chunk_deadline_s) and self.chunk_deadline_s > 0):
            bad.append("chunk_deadline_s must be > 0")
        if any(lo >= hi for lo, hi in zip(self.position_min, self.position_max)):
            bad.append("position_min must be < position_max for every joint")
        if any(v <= 0 for v in self.velocity_max):
            bad.append("velocity_max must be > 0 for every joint")
        bad += [f"provider digest of {k} is not a sha256 digest" for k, v in self.provider_digests.items()
                if v and not is_digest(v)]
        if self.has_workspace and (len(self.workspace_min) != 3 or len(self.workspace_max) != 3
                                   or any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max))):
            bad.append("workspace_min/max must be 3 values each (x, y, z in m) with min < max")
        if bad:
            raise RequestError("envelope invalid: " + "; ".join(bad), ErrorCode.ENVELOPE_INVALID)
        self._check_translator_limits(translators)
        if self.has_workspace and fk is None:
            raise ApprovalError(f"a workspace box needs forward kinematics for {self.embodiment!r}; none is "
                                "available: refusing (drop the box or provide kinematics)",
                                ErrorCode.WORKSPACE_UNSUPPORTED)
        return self

    def _check_translator_limits(self, translators: Any) -> None:
        translator = None
        if translators is not None:
            try:
                translator = translators.get(self.embodiment)
            except WorldForgeRosError as exc:
                raise RequestError(f"embodiment {self.embodiment!r}: {exc.message}", ErrorCode.ENVELOPE_INVALID) \
                    from None
        limits = getattr(translator, "limits", None)
        if limits is None:
            raise RequestError(f"no joint limits known for embodiment {self.embodiment!r}: refusing",
                               ErrorCode.ENVELOPE_INVALID)
        lo, hi, speed = limits.allowed(getattr(translator, "margin", 0.0))
        index = {n: i for i, n in enumerate(limits.joint_names)}
        bad = [f"unknown joint {j}" for j in self.joint_names if j not in index]
        for j, name in enumerate(self.joint_names):
            if name not in index:
                continue
            k = index[name]
            if self.position_min[j] < lo[k] - 1e-12:
                bad.append(f"{name} position_min {self.position_min[j]:g} < translator {lo[k]:g}")
            if self.position_max[j] > hi[k] + 1e-12:
                bad.append(f"{name} position_max {self.position_max[j]:g} > translator {hi[k]:g}")
            if self.velocity_max[j] > speed[k] + 1e-12:
                bad.append(f"{name} velocity_max {self.velocity_max[j]:g} > translator {speed[k]:g}")
        if bad:
            raise RequestError("envelope outside the translator limits (with margin): " + "; ".join(bad),
                               ErrorCode.ENVELOPE_INVALID)

    def pinned(self, observed: Mapping[str, str]) -> "Envelope":
        """This envelope with its empty provider digests filled from ``observed`` (the first chunk's)."""
        wanted = set(self.policy_providers) | ({self.score_provider} if self.score_provider else set())
        digests = {p: self.provider_digests.get(p, "") or observed.get(p, "") for p in sorted(wanted)}
        return replace(self, provider_digests=digests)


# ---- the per-chunk check ------------------------------------------------------------------------------------
def check_chunk(env: Envelope, traj: TrajectoryData, score: float | None, lower_is_better: bool,
                provider_digests: Mapping[str, str], elapsed_s: float, chunk_index: int,
                fk: FK | None = None) -> list[str]:
    """Every way the chunk leaves ``env`` (empty = inside), named like ``position_max:joint3:step7``.

    ``elapsed_s`` is the run time before this chunk; the chunk must end within ``max_duration_s``.
    ``provider_digests`` are this chunk's (a digest that the envelope pins must match; a missing one fails).
    """
    out: list[str] = []
    if chunk_index >= int(env.max_chunks):
        out.append(f"max_chunks:{chunk_index + 1}>{env.max_chunks}")
    for name in env.policy_providers + ((env.score_provider,) if env.score_provider else ()):
        expected, seen = env.provider_digests.get(name, ""), provider_digests.get(name, "")
        if not seen:
            out.append(f"provider_digest_missing:{name}")
        elif expected and seen != expected:
            out.append(f"provider_digest:{name}")
    if score is None or not math.isfinite(float(score)):
        if env.score_threshold is not None:
            out.append("score:missing")
    elif env.score_threshold is not None:
        if bool(lower_is_better) != bool(env.lower_is_better):
            out.append("score_direction:scorer reports " + ("lower" if lower_is_better else "higher") + "_is_better")
        elif env.lower_is_better and float(score) > env.score_threshold:
            out.append(f"score:{float(score):.6g}>{env.score_threshold:.6g}")
        elif not env.lower_is_better and float(score) < env.score_threshold:
            out.append(f"score:{float(score):.6g}<{env.score_threshold:.6g}")
    pos, vel, times = traj.positions, traj.velocities, traj.times_s
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel)) and np.all(np.isfinite(times))):
        return out + ["non_finite"]
    if not (times[0] > 0 and np.all(np.diff(times) > 0)):
        out.append("time_not_increasing")
    if float(elapsed_s) + float(times[-1]) > env.max_duration_s + 1e-9:
        out.append(f"max_duration:{float(elapsed_s) + float(times[-1]):.3f}s>{env.max_duration_s:g}s")
    if tuple(traj.joint_names) != env.joint_names:
        return out + [f"joint_names:{','.join(traj.joint_names)}"]
    lo, hi, vmax = (np.asarray(v) for v in (env.position_min, env.position_max, env.velocity_max))
    out += first_steps(pos < lo[None, :], env.joint_names, "position_min")
    out += first_steps(pos > hi[None, :], env.joint_names, "position_max")
    speed = np.abs(vel)
    if pos.shape[0] > 1 and np.all(np.diff(times) > 0):
        seg = np.abs(np.diff(pos, axis=0)) / np.diff(times)[:, None]
        speed = np.maximum(speed, np.vstack([seg[:1], seg]))
    out += first_steps(speed > vmax[None, :] + 1e-9, env.joint_names, "velocity")
    if env.has_workspace:
        if fk is None:
            out.append("workspace:no_kinematics")
        else:
            ee = np.asarray(fk(env.joint_names, pos), dtype=np.float64).reshape(-1, 3)
            wlo, whi = np.asarray(env.workspace_min), np.asarray(env.workspace_max)
            outside = np.nonzero(np.any((ee < wlo) | (ee > whi), axis=1))[0]
            if outside.size:
                out.append(f"workspace:step{int(outside[0])}")
    return out




def violation_code(violations: Sequence[str]) -> ErrorCode:
    """The typed code a run stops with for ``violations``: a provider change, a run limit, else a violation."""
    kinds = {v.split(":", 1)[0] for v in violations}
    if kinds & {"provider_digest", "provider_digest_missing"}:
        return ErrorCode.PROVIDER_DIGEST_CHANGED
    if kinds and kinds <= {"max_chunks", "max_duration"}:
        return ErrorCode.ENVELOPE_LIMIT_REACHED
    return ErrorCode.ENVELOPE_VIOLATION


# ---- approvals ----------------------------------------------------------------------------------------------
@dataclass
class EnvelopeApproval:
    envelope_id: str
    envelope: Envelope
    envelope_digest: str
    operator_id: str
    note: str
    checklist: dict[str, bool]
    start_names: tuple[str, ...]
    start_positions: np.ndarray
    tolerance: float
    approved_at_ns: int
    expires_at_ns: int
    used: bool = False
    run_id: str = ""


@dataclass
class EnvelopeGate:
    """Envelope approvals and their single use. Thread-safe. ``fk_for(embodiment)`` returns forward kinematics
    or None (then a workspace box is refused)."""

    translators: Any = None
    fk_for: Callable[[str], FK | None] = lambda _embodiment: None
    default_ttl_s: float = 120.0
    start_tolerance: float = 0.01

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._approvals: dict[str, EnvelopeApproval] = {}

    def approve(self, envelope: Envelope, operator_id: str, checklist: Mapping[str, bool],
                start_names: Sequence[str], start_positions: Any, now_ns: int, note: str = "",
                ttl_s: float = 0.0) -> EnvelopeApproval:
        if not operator_id.strip():
            raise RequestError("operator_id is required", ErrorCode.INVALID_ARGUMENT)
        if not math.isfinite(ttl_s) or ttl_s < 0:
            raise RequestError(f"ttl_s must be a finite number >= 0, got {ttl_s}", ErrorCode.INVALID_ARGUMENT)
        missing = [item for item in CHECKLIST if not checklist.get(item, False)]
        if missing:
            raise ApprovalError(f"checklist incomplete: {', '.join(missing)}", ErrorCode.CHECKLIST_INCOMPLETE)
        envelope.validate(self.translators, self.fk_for(envelope.embodiment) if envelope.has_workspace else None)
        ttl = min(ttl_s, self.default_ttl_s) if ttl_s > 0 else self.default_ttl_s
        approval = EnvelopeApproval(
            "env-" + secrets.token_hex(8), envelope, envelope.digest, operator_id.strip(), note,
            {item: True for item in CHECKLIST}, tuple(start_names), np.asarray(start_positions, dtype=np.float64),
            self.start_tolerance, now_ns, now_ns + int(ttl * 1e9))
        with self._lock:
            self._approvals[approval.envelope_id] = approval
        return approval

    def begin_run(self, envelope_id: str, envelope_digest: str, live_names: Sequence[str], live_positions: Any,
                  now_ns: int) -> EnvelopeApproval:
        """Re-check the approval and consume it (exactly once); typed 4xx errors otherwise."""
        with self._lock:
            approval = self._approvals.get(envelope_id)
            if approval is None:
                raise ApprovalError(f"no approved envelope {envelope_id!r}", ErrorCode.UNKNOWN_ENVELOPE)
            if approval.envelope_digest != envelope_digest:
                raise ApprovalError("envelope digest does not match the approved envelope", ErrorCode.DIGEST_MISMATCH)
            if approval.used:
                raise ApprovalError(f"envelope approval {envelope_id} was already used",
                                    ErrorCode.APPROVAL_ALREADY_USED)
            if now_ns > approval.expires_at_ns:
                raise ApprovalError(f"envelope approval {envelope_id} expired", ErrorCode.APPROVAL_EXPIRED)
            deviation = start_deviation(approval.start_names, approval.start_positions, live_names, live_positions)
            if deviation > approval.tolerance:
                raise ApprovalError(f"start state drifted {deviation:.4f} beyond the approved tolerance "
                                    f"{approval.tolerance:.4f}", ErrorCode.START_STATE_DRIFT)
            approval.used = True
            approval.run_id = "run-" + secrets.token_hex(8)
            return approval

    def approval(self, envelope_id: str) -> EnvelopeApproval | None:
        with self._lock:
            return self._approvals.get(envelope_id)


def start_deviation(start_names: Sequence[str], start_positions: Any, live_names: Sequence[str],
                    live_positions: Any) -> float:
    """Max |live - approved start| over the approved joints; a missing or non-finite joint is infinite."""
    live = dict(zip(live_names, np.asarray(live_positions, dtype=np.float64)))
    worst = 0.0
    for name, approved in zip(start_names, np.asarray(start_positions, dtype=np.float64)):
        if name not in live or not np.isfinite(live[name]):
            return float("inf")
        worst = max(worst, abs(float(live[name]) - float(approved)))
    return worst
