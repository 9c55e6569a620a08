"""Typed errors with stable numeric codes (design §5).

Ranges: 0 ok; 1xx request/observation; 2xx provider; 3xx translator/feasibility; 4xx approval/execution;
5xx evidence. Every failure inside a node becomes a :class:`WorldForgeRosError`, which maps onto the
``success / error_code / error_message`` fields of a service response; nothing raises out of a callback.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.IntEnum):
    """Stable numeric error codes. Never renumber: they are recorded in evidence bags."""

    OK = 0

    # 1xx — request / observation
    INVALID_REQUEST = 100
    INVALID_ARGUMENT = 101
    NON_FINITE_VALUE = 102
    SHAPE_MISMATCH = 103
    PAYLOAD_TOO_LARGE = 104
    UNKNOWN_PROVIDER = 105
    UNKNOWN_EMBODIMENT = 106
    OBSERVATION_MISSING = 110
    OBSERVATION_STALE = 111
    OBSERVATION_INVALID = 112
    JOINT_NAMES_MISMATCH = 113

    # 2xx — provider
    PROVIDER_UNAVAILABLE = 200
    PROVIDER_TIMEOUT = 201
    PROVIDER_RUNTIME_ERROR = 202
    PROVIDER_CONTRACT_VIOLATION = 203
    PROVIDER_NOT_ACTIVE = 204
    PROVIDER_DEPENDENCY_MISSING = 205
    PROVIDER_NOT_CONFIGURED = 206
    PROVIDER_AUTH_FAILED = 207
    PROVIDER_BUDGET_EXCEEDED = 208
    PROVIDER_STATUS_BLOCKED = 209
    SCORE_DIRECTION_MISMATCH = 210
    UNTRUSTED_CHECKPOINT = 211

    # 3xx — translator / feasibility
    TRANSLATOR_MISSING = 300
    TRANSLATOR_CONTRACT_VIOLATION = 301
    EMBODIMENT_MISMATCH = 302
    ACTION_DIM_MISMATCH = 303
    HORIZON_MISMATCH = 304
    NON_FINITE_ACTION = 305
    NO_FEASIBLE_CANDIDATE = 310
    JOINT_LIMIT_VIOLATION = 311
    VELOCITY_LIMIT_VIOLATION = 312
    START_STATE_DISTANCE = 313
    NON_MONOTONIC_TIME = 314
    NONZERO_FINAL_VELOCITY = 315

    # 4xx — approval / execution
    UNKNOWN_PLAN = 400
    DIGEST_MISMATCH = 401
    APPROVAL_EXPIRED = 402
    APPROVAL_ALREADY_USED = 403
    CHECKLIST_INCOMPLETE = 404
    START_STATE_DRIFT = 405
    EXECUTION_DISABLED = 406
    CONTROLLER_UNAVAILABLE = 407
    CONTROLLER_REJECTED = 408
    CONTROLLER_ABORTED = 409
    UNKNOWN_APPROVAL = 410
    APPROVAL_REFUSED = 411
    EXECUTION_CANCELED = 412
    EXECUTION_IN_PROGRESS = 413
    TRAJECTORY_INVALID = 414
    CONTROLLER_NO_REPLY = 415
    CONTROLLER_AMBIGUOUS = 416
    JOINT_STATE_MISSING = 418
    JOINT_STATE_STALE = 419
    ENVELOPE_VIOLATION = 420
    HEARTBEAT_LOST = 421
    UNKNOWN_ENVELOPE = 422
    ENVELOPE_LIMIT_REACHED = 423
    ENVELOPE_INVALID = 424
    WORKSPACE_UNSUPPORTED = 425
    PROVIDER_DIGEST_CHANGED = 426

    # 5xx — evidence
    RECORDER_UNAVAILABLE = 500
    RECORDER_WRITE_FAILED = 501
    EVIDENCE_CHAIN_BROKEN = 502
    EVIDENCE_FORMAT_INVALID = 503
    EVIDENCE_DISK_FULL = 504

    # 6xx — internal: a bug, not the caller's or a provider's fault (recorded like any other failure)
    INTERNAL_ERROR = 600

    @property
    def category(self) -> str:
        """``ok``, ``request``, ``provider``, ``translator``, ``approval`` or ``evidence``."""
        return _CATEGORIES[int(self) // 100]


_CATEGORIES = {0: "ok", 1: "request", 2: "provider", 3: "translator", 4: "approval", 5: "evidence", 6: "internal"}


class WorldForgeRosError(Exception):
    """Base of every typed error: a stable :class:`ErrorCode` plus a human message and safe details."""

    default_code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, code: ErrorCode | int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.code = ErrorCode(code) if code is not None else self.default_code
        self.message = message
        self.details = details

    @property
    def name(self) -> str:
        """Stable upper-case name of the code, e.g. ``OBSERVATION_STALE``."""
        return self.code.name

    def __str__(self) -> str:
        return f"{self.code.name} ({int(self.code)}): {self.message}"

    def as_response(self) -> dict[str, Any]:
        """Fields for a service response: ``success=False``, ``error_code``, ``error_message``."""
        return {"success": False, "error_code": int(self.code), "error_message": str(self)}


class RequestError(WorldForgeRosError):
    """1xx: the caller's request or observation is malformed, stale or unknown."""

    default_code = ErrorCode.INVALID_REQUEST


class ProviderError(WorldForgeRosError):
    """2xx: a provider is unavailable, slow, failing or violates its contract."""

    default_code = ErrorCode.PROVIDER_RUNTIME_ERROR


class TranslatorError(WorldForgeRosError):
    """3xx: raw actions do not fit the embodiment, or no candidate is feasible."""

    default_code = ErrorCode.TRANSLATOR_CONTRACT_VIOLATION


class ApprovalError(WorldForgeRosError):
    """4xx: approval or execution refused."""

    default_code = ErrorCode.UNKNOWN_PLAN


class EvidenceError(WorldForgeRosError):
    """5xx: the evidence recorder is unavailable or the record is damaged. Fail closed: no motion."""

    default_code = ErrorCode.RECORDER_UNAVAILABLE


_BY_RANGE: dict[int, type[WorldForgeRosError]] = {
    1: RequestError, 2: ProviderError, 3: TranslatorError, 4: ApprovalError, 5: EvidenceError,
}


def error_for(code: ErrorCode | int, message: str, **details: Any) -> WorldForgeRosError:
    """Build the error class that owns ``code``'s range."""
    code = ErrorCode(code)
    cls = _BY_RANGE.get(int(code) // 100, WorldForgeRosError)
    return cls(message, code, **details)


def code_from_int(value: int, default: ErrorCode = ErrorCode.PROVIDER_RUNTIME_ERROR) -> ErrorCode:
    """The :class:`ErrorCode` numbered ``value`` (e.g. a code received from another node), else ``default``."""
    try:
        return ErrorCode(int(value))
    except ValueError:
        return default


def as_typed(exc: BaseException) -> WorldForgeRosError:
    """The one error boundary of every callback: a typed error stays itself, anything else is a bug and becomes
    ``INTERNAL_ERROR`` with its type and (redacted by the caller) message."""
    if isinstance(exc, WorldForgeRosError):
        return exc
    return WorldForgeRosError(f"internal error: {type(exc).__name__}: {exc}", ErrorCode.INTERNAL_ERROR,
                              exception=type(exc).__name__)


def ok_response() -> dict[str, Any]:
    """Fields for a successful service response."""
    return {"success": True, "error_code": int(ErrorCode.OK), "error_message": ""}
