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
from dataclasses import dataclass
from typing import Any

import numpy as np

from .digests import sha256_digest
from .errors import ApprovalError, ErrorCode, RequestError, WorldForgeRosError
from .feasibility import feasibility_violations
from .trajectory import TrajectoryData

CHECKLIST = ("workspace_clear", "emergency_stop_available", "operator_present", "controller_isolated")


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

    translators: Any = None  # TranslatorRegistry: limits and margin per embodiment
    default_ttl_s: float = 120.0
    start_tolerance: float = 0.01
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
        """Numeric re-check of the trajectory that will be sent, against the embodiment's limits and margin.

        Fails closed: a plan whose embodiment has no known limits is refused.
        """
        try:
            traj = TrajectoryData(plan.joint_names, plan.positions, plan.velocities, plan.times_s).validate()
        except WorldForgeRosError as exc:
            raise ApprovalError(f"trajectory invalid: {exc.message}", ErrorCode.TRAJECTORY_INVALID) from None
        translator = None
        if self.translators is not None:
            try:
                translator = self.translators.get(plan.embodiment)
            except WorldForgeRosError:
                translator = None
        limits = getattr(translator, "limits", None)
        if limits is None:
            raise ApprovalError(f"no joint limits known for embodiment {plan.embodiment!r}: refusing",
                                ErrorCode.TRAJECTORY_INVALID)
        violations = feasibility_violations(traj, limits, translator.margin)
        if violations:
            raise ApprovalError(f"trajectory violates limits: {', '.join(violations)}", ErrorCode.TRAJECTORY_INVALID)

    def approval(self, approval_id: str) -> Approval | None:
        with self._lock:
            return self._approvals.get(approval_id)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"plans": len(self._plans), "approvals": len(self._approvals),
                    "used": sum(a.used for a in self._approvals.values())}
