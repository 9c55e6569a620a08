"""Verify that every executed (or dry-run) chunk of a supervised policy run lies inside its approved envelope.

Rules, on top of the hash chain: an approved ``EnvelopeRecord`` satisfies ``sha256(envelope_json) ==
envelope_digest``; a ``ChunkRecord`` in phase ``sent`` or ``dry_run`` names an envelope approved earlier in the
bag (same id and digest), says it passed with no violations, and re-checked with :func:`core.envelope.check_chunk`
(provider digests pinned from its run's first chunk, as the gate does) it has none. A workspace box is re-checked
with the MuJoCo scene's forward kinematics for the Panda embodiments where mujoco is installed; without it (or
for another embodiment) that rule alone is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.digests import sha256_digest
from ..core.envelope import Envelope, check_chunk
from ..core.errors import WorldForgeRosError
from ..core.trajectory import TrajectoryData
from .reader import BagRecord
from .topics import CHAIN_TOPIC, CHUNKS_TOPIC, ENVELOPES_TOPIC

CHECKED_PHASES = ("sent", "dry_run")


@dataclass(frozen=True)
class EnvelopeFailure:
    record: BagRecord
    seq: int
    position: int
    reason: str


def _duration_s(d: Any) -> float:
    return int(d.sec) + int(d.nanosec) * 1e-9


def trajectory_from_record(traj: Any) -> TrajectoryData:
    """A rosbags-decoded ``trajectory_msgs/JointTrajectory`` as :class:`TrajectoryData`."""
    points = list(traj.points)
    pos = np.array([np.asarray(p.positions, dtype=np.float64) for p in points])
    vel = np.array([np.asarray(p.velocities, dtype=np.float64) if len(p.velocities) else
                    np.zeros(len(p.positions)) for p in points])
    times = np.array([_duration_s(p.time_from_start) for p in points])
    return TrajectoryData(tuple(traj.joint_names), pos, vel, times)


def check_envelopes(records: list[BagRecord]) -> EnvelopeFailure | None:
    """The first chunk outside its approved envelope (or an envelope that does not hash to its digest)."""
    approved: dict[tuple[str, str], Envelope] = {}
    pinned: dict[str, Envelope] = {}
    seq = 0
    for pos, rec in enumerate(records):
        if rec.topic == CHAIN_TOPIC:
            continue
        seq += 1
        msg = rec.message

        def fail(reason: str) -> EnvelopeFailure:
            return EnvelopeFailure(rec, seq, pos, reason)

        if rec.topic == ENVELOPES_TOPIC and msg.approved:
            if sha256_digest(msg.envelope_json) != msg.envelope_digest:
                return fail(f"envelope {msg.envelope_id!r}: sha256(envelope_json) is not {msg.envelope_digest}")
            try:
                approved[(msg.envelope_id, msg.envelope_digest)] = Envelope.from_json(msg.envelope_json)
            except (WorldForgeRosError, ValueError) as exc:
                return fail(f"envelope {msg.envelope_id!r} does not parse: {exc}")
        elif rec.topic == CHUNKS_TOPIC and msg.phase in CHECKED_PHASES:
            where = f"chunk {msg.chunk_index} of run {msg.policy_run_id!r}"
            env = approved.get((msg.envelope_id, msg.envelope_digest))
            if env is None:
                return fail(f"{where} ({msg.phase}) names no envelope approved earlier in the bag")
            if not msg.passed or list(msg.violations):
                return fail(f"{where} was {msg.phase} although it failed the envelope check")
            digests = dict(zip(msg.provider_names, msg.provider_digests))
            env = pinned.setdefault(msg.policy_run_id, env.pinned(digests))
            try:
                traj = trajectory_from_record(msg.trajectory)
            except (WorldForgeRosError, ValueError) as exc:
                return fail(f"{where}: trajectory unreadable: {exc}")
            violations = [v for v in check_chunk(env, traj, float(msg.score), bool(msg.lower_is_better), digests,
                                                 float(msg.elapsed_s), int(msg.chunk_index),
                                                 fk=_kinematics(env.embodiment) if env.has_workspace else None)
                          if v != "workspace:no_kinematics"]
            if violations:
                return fail(f"{where} ({msg.phase}) is outside its approved envelope: {', '.join(violations)}")
    return None


def _kinematics(embodiment: str):
    """The scene's forward kinematics where mujoco is installed (the workspace box is re-checked), else None
    (the box is not re-checked: a verifier without mujoco says nothing about it)."""
    try:
        from ..scene.kinematics import scene_fk_for
    except ImportError:
        return None
    return scene_fk_for(embodiment)
