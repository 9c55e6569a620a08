"""The approval gate's logic: bind a human approval to what will actually execute, and re-check it all later.

An approval binds the plan digest, the plan's start state with a tolerance, an expiry, the operator and the four
checklist items; it is single-use. :meth:`ApprovalGate.begin_execution` re-checks everything numerically at
execute time (digest, expiry, use, checklist, live start-state distance, joint limits with margin, monotonic time,
zero final velocity) and consumes the approval atomically, so two concurrent executes of one approval cannot both
run. ``worldforge_certifies_robot_safety`` is always false: the gate is a review aid, not a safety system.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .digests import sha256_digest
from .errors import ApprovalError, ErrorCode, RequestError

CHECKLIST = ("workspace_clear", "emergency_stop_available", "operator_present", "controller_isolated")


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits for the execute-time re-check (rad or m; rad/s or m/s)."""

    position_min: float = -np.inf
    position_max: float = np.inf
    velocity_max: float = np.inf


@dataclass(frozen=True)
class ApprovablePlan:
    """What the gate knows of a plan: identity, start state and the selected trajectory."""

    plan_id: str
    plan_digest: str
    embodiment: str
    start_names: tuple[str, ...]
    start_positions: np.ndarray
    joint_names: tuple[str, ...]
    positions: np.ndarray  # (T, J)
    velocities: np.ndarray  # (T, J)
    times_s: np.ndarray  # (T,)
    selected_feasible: bool = True


@dataclass
class Approval:
    approval_id: str
    plan: ApprovablePlan
    operator_id: str
    note: str
    checklist: dict[str, bool]
    tolerance: float
    approved_at_ns: int
    expires_at_ns: int
    used: bool = False
    execution_id: str = ""


@dataclass(frozen=True)
class ExecutionTicket:
    """A consumed approval cleared for execution: the trajectory to send and the measured start deviation."""

    execution_id: str
    approval: Approval
    start_deviation: float


@dataclass
class ApprovalGate:
    """Plans, approvals and their single use. Thread-safe."""

    default_ttl_s: float = 120.0
    start_tolerance: float = 0.01
    limit_margin: float = 0.0
    limits: dict[str, JointLimits] = field(default_factory=dict)
    max_plans: int = 1000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, ApprovablePlan] = {}
        self._approvals: dict[str, Approval] = {}

    # ---- plans ----------------------------------------------------------------------------------------------
    def register_plan(self, plan: ApprovablePlan, plan_json: str) -> None:
        """Accept a plan only when its JSON hashes to its digest (the plan's identity)."""
        if sha256_digest(plan_json) != plan.plan_digest:
            raise ApprovalError(f"plan {plan.plan_id}: plan_json does not hash to {plan.plan_digest}",
                                ErrorCode.DIGEST_MISMATCH)
        with self._lock:
            self._plans[plan.plan_digest] = plan
            while len(self._plans) > self.max_plans:
                self._plans.pop(next(iter(self._plans)))

    def plan(self, plan_digest: str) -> ApprovablePlan | None:
        with self._lock:
            return self._plans.get(plan_digest)

    # ---- approve --------------------------------------------------------------------------------------------
    def approve(self, plan_digest: str, operator_id: str, checklist: dict[str, bool], now_ns: int,
                note: str = "", ttl_s: float = 0.0) -> Approval:
        """Approve a known plan; raises typed errors for unknown plans, missing operator or checklist items."""
        if not operator_id.strip():
            raise RequestError("operator_id is required", ErrorCode.INVALID_ARGUMENT)
        if not np.isfinite(ttl_s) or ttl_s < 0:
            raise RequestError(f"ttl_s must be a finite number >= 0, got {ttl_s}", ErrorCode.INVALID_ARGUMENT)
        missing = [item for item in CHECKLIST if not checklist.get(item, False)]
        plan = self.plan(plan_digest)
        if plan is None:
            raise ApprovalError(f"no plan with digest {plan_digest!r} is known to the gate", ErrorCode.UNKNOWN_PLAN)
        if missing:
            raise ApprovalError(f"checklist incomplete: {', '.join(missing)}", ErrorCode.CHECKLIST_INCOMPLETE)
        if not plan.selected_feasible:
            raise ApprovalError("the plan's selected candidate is infeasible", ErrorCode.TRAJECTORY_INVALID)
        ttl = min(ttl_s, self.default_ttl_s) if ttl_s > 0 else self.default_ttl_s
        approval = Approval(
            approval_id="apr-" + secrets.token_hex(8), plan=plan, operator_id=operator_id.strip(), note=note,
            checklist={item: bool(checklist.get(item, False)) for item in CHECKLIST}, tolerance=self.start_tolerance,
            approved_at_ns=now_ns, expires_at_ns=now_ns + int(ttl * 1e9))
        with self._lock:
            self._approvals[approval.approval_id] = approval
        return approval

    # ---- execute --------------------------------------------------------------------------------------------
    def begin_execution(self, approval_id: str, plan_digest: str, live_names: tuple[str, ...],
                        live_positions: np.ndarray, now_ns: int) -> ExecutionTicket:
        """Re-check everything and consume the approval (exactly once). Raises a typed 4xx error otherwise."""
        with self._lock:
            approval = self._approvals.get(approval_id)
            if approval is None:
                raise ApprovalError(f"no approval {approval_id!r}", ErrorCode.UNKNOWN_APPROVAL)
            if approval.plan.plan_digest != plan_digest:
                raise ApprovalError("plan digest does not match the approved plan", ErrorCode.DIGEST_MISMATCH)
            if approval.used:
                raise ApprovalError(f"approval {approval_id} was already used", ErrorCode.APPROVAL_ALREADY_USED)
            if now_ns > approval.expires_at_ns:
                raise ApprovalError(f"approval {approval_id} expired", ErrorCode.APPROVAL_EXPIRED)
            if not all(approval.checklist.get(item, False) for item in CHECKLIST):
                raise ApprovalError("checklist incomplete", ErrorCode.CHECKLIST_INCOMPLETE)
            deviation = self.start_deviation(approval.plan, live_names, live_positions)
            if deviation > approval.tolerance:
                raise ApprovalError(f"start state drifted {deviation:.4f} beyond the approved tolerance "
                                    f"{approval.tolerance:.4f}", ErrorCode.START_STATE_DRIFT)
            self.check_trajectory(approval.plan)
            approval.used = True
            approval.execution_id = "exe-" + secrets.token_hex(8)
            return ExecutionTicket(approval.execution_id, approval, deviation)

    @staticmethod
    def start_deviation(plan: ApprovablePlan, live_names: tuple[str, ...], live_positions: np.ndarray) -> float:
        """Max |live - approved start| over the plan's joints; a missing joint is infinite drift."""
        live = dict(zip(live_names, np.asarray(live_positions, dtype=np.float64)))
        worst = 0.0
        for name, approved in zip(plan.start_names, plan.start_positions):
            if name not in live or not np.isfinite(live[name]):
                return float("inf")
            worst = max(worst, abs(float(live[name]) - float(approved)))
        return worst

    def check_trajectory(self, plan: ApprovablePlan) -> None:
        """Numeric re-check of the trajectory that will be sent (never trust the stored flags alone)."""
        pos, vel, times = plan.positions, plan.velocities, plan.times_s
        if pos.ndim != 2 or pos.shape[0] == 0 or pos.shape != vel.shape or times.shape != (pos.shape[0],) \
                or pos.shape[1] != len(plan.joint_names):
            raise ApprovalError("trajectory arrays are malformed", ErrorCode.TRAJECTORY_INVALID)
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel)) and np.all(np.isfinite(times))):
            raise ApprovalError("trajectory holds non-finite values", ErrorCode.TRAJECTORY_INVALID)
        if times[0] <= 0 or np.any(np.diff(times) <= 0):
            raise ApprovalError("time_from_start is not strictly increasing from > 0", ErrorCode.TRAJECTORY_INVALID)
        if np.any(np.abs(vel[-1]) > 1e-9):
            raise ApprovalError("final velocity is not zero", ErrorCode.TRAJECTORY_INVALID)
        m = self.limit_margin
        for j, name in enumerate(plan.joint_names):
            lim = self.limits.get(name)
            if lim is None:
                continue
            if np.any(pos[:, j] < lim.position_min + m) or np.any(pos[:, j] > lim.position_max - m):
                raise ApprovalError(f"joint {name} leaves its position limits (margin {m})",
                                    ErrorCode.TRAJECTORY_INVALID)
            if np.any(np.abs(vel[:, j]) > lim.velocity_max):
                raise ApprovalError(f"joint {name} exceeds its velocity limit", ErrorCode.TRAJECTORY_INVALID)

    def approval(self, approval_id: str) -> Approval | None:
        with self._lock:
            return self._approvals.get(approval_id)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"plans": len(self._plans), "approvals": len(self._approvals),
                    "used": sum(a.used for a in self._approvals.values())}
