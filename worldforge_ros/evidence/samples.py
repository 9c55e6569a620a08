"""Synthetic but well-formed evidence records (rosbags messages) for demos, benchmarks and tests.

The values are deterministic functions of the arguments (seeded numpy); a sample plan's ``plan_json`` is its
canonical JSON and ``plan_digest = sha256(plan_json)``, as the planner produces them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.typesys.store import Typestore

from ..core.digests import GENESIS_DIGEST, canonical_json, sha256_digest, tensor_digest
from .topics import (APPROVAL_RECORD_TYPE, EXECUTION_RECORD_TYPE, PLAN_RECORD_TYPE, PROVIDER_EVENT_TYPE)


def _time(ts: Typestore, ns: int) -> Any:
    return ts.types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _duration(ts: Typestore, seconds: float) -> Any:
    ns = int(round(seconds * 1e9))
    return ts.types["builtin_interfaces/msg/Duration"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def joint_names(joints: int) -> list[str]:
    return [f"joint{i + 1}" for i in range(joints)]


def joint_state(ts: Typestore, positions: np.ndarray, stamp_ns: int = 0) -> Any:
    """A ``sensor_msgs/JointState`` with positions only."""
    header = ts.types["std_msgs/msg/Header"](stamp=_time(ts, stamp_ns), frame_id="")
    empty = np.zeros(0, dtype=np.float64)
    return ts.types["sensor_msgs/msg/JointState"](
        header=header, name=joint_names(len(positions)), position=np.asarray(positions, dtype=np.float64),
        velocity=empty, effort=empty)


def trajectory(ts: Typestore, positions: np.ndarray, dt: float = 0.1) -> Any:
    """A ``trajectory_msgs/JointTrajectory`` over ``positions`` (steps x joints) with finite-difference velocities."""
    steps, joints = positions.shape
    velocities = np.gradient(positions, dt, axis=0) if steps > 1 else np.zeros_like(positions)
    velocities[-1] = 0.0
    point_cls = ts.types["trajectory_msgs/msg/JointTrajectoryPoint"]
    empty = np.zeros(0, dtype=np.float64)
    points = [point_cls(positions=positions[k].astype(np.float64), velocities=velocities[k].astype(np.float64),
                        accelerations=empty, effort=empty, time_from_start=_duration(ts, (k + 1) * dt))
              for k in range(steps)]
    header = ts.types["std_msgs/msg/Header"](stamp=_time(ts, 0), frame_id="")
    return ts.types["trajectory_msgs/msg/JointTrajectory"](header=header, joint_names=joint_names(joints),
                                                           points=points)


def provider_event(ts: Typestore, index: int, *, run_id: str = "run-sample", provider: str = "lerobot",
                   operation: str = "policy", duration_ms: float | None = None, stamp_ns: int | None = None) -> Any:
    """A successful ``ProviderEvent`` (chain fields filled with placeholders: the bag chain covers it)."""
    stamp_ns = 1_700_000_000_000_000_000 + index * 50_000_000 if stamp_ns is None else stamp_ns
    return ts.types[PROVIDER_EVENT_TYPE](
        provider=provider, operation=operation, phase="success", attempt=1, max_attempts=1,
        method="SELECT_ACTIONS" if operation == "policy" else operation.upper(), target="127.0.0.1:5555",
        status_code=200, duration_ms=float(12.5 + (index % 7) if duration_ms is None else duration_ms),
        message=f"{operation} call {index}", metadata_json=canonical_json({"index": index, "shape": [16, 7]}),
        run_id=run_id, request_id=f"req-{index}", trace_id="trace-1", span_id=f"span-{index}", artifact_id="",
        input_digest=sha256_digest(f"input-{index}"), stamp=_time(ts, stamp_ns), seq=index + 1,
        prev_digest=GENESIS_DIGEST, digest=sha256_digest(f"event-{index}"))


def plan_record(ts: Typestore, *, candidates: int = 8, steps: int = 16, joints: int = 7, seed: int = 0,
                run_id: str = "run-sample", plan_id: str = "plan-1", scores: list[float] | None = None,
                score_provider: str = "leworldmodel", policy_provider: str = "lerobot") -> Any:
    """A ``PlanRecord`` with ``candidates`` x ``steps`` x ``joints`` smooth trajectories; lowest score selected."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(-0.5, 0.5, size=joints)
    drift = rng.normal(0.0, 0.05, size=(candidates, 1, joints))
    ramp = np.arange(1, steps + 1, dtype=np.float64).reshape(1, steps, 1)
    raw = start.reshape(1, 1, joints) + drift * ramp
    if scores is None:
        scores = [float(x) for x in rng.uniform(0.1, 2.0, size=candidates)]
    if len(scores) != candidates:
        raise ValueError("one score per candidate")
    selected = int(np.argmin(scores))
    cand_cls = ts.types[f"{PLAN_RECORD_TYPE.rsplit('/', 1)[0]}/Candidate"]
    cands, summary = [], []
    for i in range(candidates):
        digest = tensor_digest(raw[i].astype(np.float32))
        cands.append(cand_cls(index=i, policy_provider=policy_provider, policy_candidate_index=i,
                              trajectory=trajectory(ts, raw[i]), score=float(scores[i]), feasible=True, violations=[],
                              raw_shape=np.array([steps, joints], dtype=np.uint32), raw_digest=digest))
        summary.append({"index": i, "policy_provider": policy_provider, "score": float(scores[i]), "feasible": True,
                        "raw_digest": digest, "positions": np.round(raw[i], 9).tolist()})
    plan = {"plan_id": plan_id, "run_id": run_id, "candidates": summary, "selected_index": selected,
            "lower_is_better": True, "score_provider": score_provider, "start_state": start.round(9).tolist()}
    plan_json = canonical_json(plan)
    return ts.types[PLAN_RECORD_TYPE](
        plan_id=plan_id, plan_digest=sha256_digest(plan_json), run_id=run_id, request_id="req-plan",
        stamp=_time(ts, 1_700_000_001_000_000_000), task="pick the cube", embodiment="so100",
        policy_providers=[policy_provider], score_provider=score_provider, candidates=cands,
        selected_index=selected, lower_is_better=True, start_state=joint_state(ts, start), plan_json=plan_json)


def approval_record(ts: Typestore, plan: Any, *, approval_id: str = "approval-1", approved: bool = True) -> Any:
    """An ``ApprovalRecord`` for ``plan`` with the full checklist."""
    return ts.types[APPROVAL_RECORD_TYPE](
        approval_id=approval_id, plan_digest=plan.plan_digest, plan_id=plan.plan_id, run_id=plan.run_id,
        approved=approved, operator_id="operator-a", note="looks fine", workspace_clear=True,
        emergency_stop_available=True, operator_present=True, controller_isolated=True, start_state=plan.start_state,
        start_tolerance=0.05, approved_at=_time(ts, 1_700_000_002_000_000_000),
        expires_at=_time(ts, 1_700_000_062_000_000_000), execution_enabled=False,
        worldforge_certifies_robot_safety=False, error_code=0, error_message="")


def execution_record(ts: Typestore, plan: Any, *, phase: str = "dry_run", approval_id: str = "approval-1",
                     execution_id: str = "exec-1") -> Any:
    """An ``ExecutionRecord`` carrying ``plan``'s selected trajectory."""
    selected = plan.candidates[plan.selected_index].trajectory
    return ts.types[EXECUTION_RECORD_TYPE](
        execution_id=execution_id, approval_id=approval_id, plan_digest=plan.plan_digest, run_id=plan.run_id,
        phase=phase, dry_run=phase == "dry_run", error_code=0, error_message="", controller_error_code=0,
        controller_error_string="", controller_action="/arm_controller/follow_joint_trajectory",
        trajectory=selected, trajectory_digest=sha256_digest(plan.plan_digest + ":selected"),
        live_state=plan.start_state, start_deviation=0.001, stamp=_time(ts, 1_700_000_003_000_000_000))
