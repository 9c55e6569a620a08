"""core.envelope: identity, validation against the translator limits, every per-chunk rule, approvals."""

from __future__ import annotations

import numpy as np
import pytest

from worldforge_ros.core.approval import CHECKLIST
from worldforge_ros.core.envelope import (Envelope, EnvelopeGate, check_chunk, provider_digest, start_deviation,
                                          violation_code)
from worldforge_ros.core.errors import ErrorCode, WorldForgeRosError
from worldforge_ros.core.trajectory import TrajectoryData
from worldforge_ros.core.translator_registry import TranslatorRegistry

PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
TICKS = dict.fromkeys(CHECKLIST, True)
REG = TranslatorRegistry.from_config(None)
D_POL = provider_digest("reference", {"runtime": "reference", "seed": 7})
D_SC = provider_digest("reference_scorer", {"runtime": "reference", "score_type": "distance_to_goal"})
DIGESTS = {"reference": D_POL, "reference_scorer": D_SC}


def envelope(**over) -> Envelope:
    fields = dict(policy_providers=("reference",), score_provider="reference_scorer", embodiment="panda_7dof",
                  joint_names=PANDA, position_min=HOME - 0.5, position_max=HOME + 0.5, velocity_max=[1.0] * 7,
                  max_duration_s=10.0, max_chunks=5, heartbeat_timeout_s=0.5, score_threshold=1.0,
                  lower_is_better=True, provider_digests=DIGESTS)
    fields.update(over)
    return Envelope(**fields)


def chunk(step=0.02, points=8, dt=0.1, names=PANDA) -> TrajectoryData:
    k = np.arange(1, points + 1)[:, None]
    pos = HOME[None, :] + k * step
    vel = np.full_like(pos, step / dt)
    vel[-1] = 0.0
    return TrajectoryData(names, pos, vel, k[:, 0] * dt)


def check(env=None, traj=None, score=0.5, lower=True, digests=DIGESTS, elapsed=0.0, index=0, fk=None):
    return check_chunk(env or envelope(), traj or chunk(), score, lower, digests, elapsed, index, fk)


def test_digest_is_canonical_and_round_trips():
    env = envelope()
    assert env.digest == envelope().digest
    assert Envelope.from_json(env.envelope_json(), expected_digest=env.digest) == env
    assert envelope(max_chunks=6).digest != env.digest
    with pytest.raises(WorldForgeRosError) as err:
        Envelope.from_json(env.envelope_json(), expected_digest=envelope(max_chunks=6).digest)
    assert err.value.code == ErrorCode.DIGEST_MISMATCH


def test_inside_chunk_passes():
    assert check() == []


def test_joint_bounds():
    assert check(traj=chunk(step=0.1)) == ["position_max:panda_joint1:step5", "position_max:panda_joint2:step5",
                                           "position_max:panda_joint3:step5", "position_max:panda_joint4:step5",
                                           "position_max:panda_joint5:step5", "position_max:panda_joint6:step5",
                                           "position_max:panda_joint7:step5"]  # 1.0 rad/s: at the bound
    low = check(traj=chunk(step=-0.07, dt=0.1))
    assert "position_min:panda_joint1:step7" in low


def test_velocity_bound_from_positions_too():
    traj = chunk(step=0.05, dt=0.04)  # 1.25 rad/s
    assert all(v.startswith("velocity:") for v in check(traj=traj))
    slow_field = TrajectoryData(PANDA, traj.positions, np.zeros_like(traj.positions), traj.times_s)
    assert check(traj=slow_field)  # finite differences catch a lying velocities field


def test_score_threshold_both_directions():
    assert check(score=1.5) == ["score:1.5>1"]
    higher = envelope(lower_is_better=False, score_threshold=0.8)
    assert check(env=higher, score=0.5, lower=False) == ["score:0.5<0.8"]
    assert check(env=higher, score=0.9, lower=False) == []
    assert check(score=0.5, lower=False)[0].startswith("score_direction")
    assert check(score=None) == ["score:missing"]
    assert check(env=envelope(score_threshold=None), score=None) == []


def test_run_limits():
    assert check(index=5) == ["max_chunks:6>5"]
    assert check(elapsed=9.5) == ["max_duration:10.300s>10s"]
    assert violation_code(["max_chunks:6>5"]) == ErrorCode.ENVELOPE_LIMIT_REACHED
    assert violation_code(["max_chunks:6>5", "score:2>1"]) == ErrorCode.ENVELOPE_VIOLATION


def test_provider_digests():
    changed = dict(DIGESTS, reference=provider_digest("reference", {"runtime": "reference", "seed": 8}))
    assert check(digests=changed) == ["provider_digest:reference"]
    assert check(digests={"reference": D_POL}) == ["provider_digest_missing:reference_scorer"]
    assert violation_code(["provider_digest:reference"]) == ErrorCode.PROVIDER_DIGEST_CHANGED
    # per-call metadata does not change the digest; identity keys do
    assert provider_digest("p", {"runtime": "r", "candidate_count": 3}) == provider_digest("p", {"runtime": "r"})
    unpinned = envelope(provider_digests={})
    assert check(env=unpinned, digests=changed) == []
    pinned = unpinned.pinned(DIGESTS)
    assert pinned.provider_digests == DIGESTS and check(env=pinned, digests=changed) == [
        "provider_digest:reference"]


def test_joint_names_and_non_finite():
    assert check(traj=chunk(names=PANDA[::-1]))[0].startswith("joint_names:")
    bad = chunk()
    pos = bad.positions.copy()
    pos[2, 1] = np.nan
    assert check(traj=TrajectoryData(PANDA, pos, bad.velocities, bad.times_s)) == ["non_finite"]


def test_workspace_with_and_without_kinematics():
    box = envelope(workspace_min=[-1, -1, 0], workspace_max=[1, 1, 1])
    fk = lambda names, pos: np.c_[pos[:, 0], pos[:, 1], np.full(len(pos), 0.5)]  # noqa: E731
    assert check(env=box, fk=fk) == []
    far = TrajectoryData(PANDA, np.tile(HOME + 0.01, (3, 1)), np.zeros((3, 7)), [0.1, 0.2, 0.3])
    assert check(env=box, traj=far, fk=lambda n, p: np.tile([2.0, 0, 0.5], (len(p), 1))) == ["workspace:step0"]
    with pytest.raises(WorldForgeRosError) as err:
        box.validate(REG, None)
    assert err.value.code == ErrorCode.WORKSPACE_UNSUPPORTED
    box.validate(REG, fk)


@pytest.mark.parametrize("over, text", [
    (dict(position_max=HOME + 5.0), "position_max"),
    (dict(position_min=HOME - 5.0), "position_min"),
    (dict(velocity_max=[2.17] * 7), "velocity_max"),  # 2.175 * (1 - margin 0.02) = 2.1315
    (dict(joint_names=PANDA[:6] + ("elbow",)), "unknown joint"),
    (dict(embodiment="nope"), "nope"),
    (dict(max_chunks=0), "max_chunks"),
    (dict(heartbeat_timeout_s=0.0), "heartbeat"),
    (dict(provider_digests={"reference": "sha256:abc"}), "not a sha256"),
])
def test_validate_refuses(over, text):
    with pytest.raises(WorldForgeRosError) as err:
        envelope(**over).validate(REG)
    assert err.value.code == ErrorCode.ENVELOPE_INVALID and text in err.value.message


def test_malformed_fields_are_typed():
    with pytest.raises(WorldForgeRosError) as err:
        envelope(position_min=HOME[:3])
    assert err.value.code == ErrorCode.ENVELOPE_INVALID
    with pytest.raises(WorldForgeRosError):
        Envelope.from_dict({**envelope().to_dict(), "surprise": 1})


def test_gate_binds_operator_digest_start_and_is_single_use():
    gate = EnvelopeGate(translators=REG, default_ttl_s=10.0, start_tolerance=0.01)
    env = envelope()
    with pytest.raises(WorldForgeRosError) as err:
        gate.approve(env, "alice", dict(TICKS, operator_present=False), PANDA, HOME, 0)
    assert err.value.code == ErrorCode.CHECKLIST_INCOMPLETE
    with pytest.raises(WorldForgeRosError):
        gate.approve(env, " ", TICKS, PANDA, HOME, 0)
    apr = gate.approve(env, "alice", TICKS, PANDA, HOME, 0, ttl_s=100.0)
    assert apr.envelope_digest == env.digest and apr.expires_at_ns == 10 * 10**9  # capped by the default
    for args, code in [(("env-nope", env.digest, PANDA, HOME, 1), ErrorCode.UNKNOWN_ENVELOPE),
                       ((apr.envelope_id, envelope(max_chunks=4).digest, PANDA, HOME, 1), ErrorCode.DIGEST_MISMATCH),
                       ((apr.envelope_id, env.digest, PANDA, HOME + 0.02, 1), ErrorCode.START_STATE_DRIFT),
                       ((apr.envelope_id, env.digest, PANDA[:6], HOME[:6], 1), ErrorCode.START_STATE_DRIFT),
                       ((apr.envelope_id, env.digest, PANDA, HOME, 11 * 10**9), ErrorCode.APPROVAL_EXPIRED)]:
        with pytest.raises(WorldForgeRosError) as err:
            gate.begin_run(*args)
        assert err.value.code == code
    assert gate.begin_run(apr.envelope_id, env.digest, PANDA, HOME + 0.005, 1).run_id.startswith("run-")
    with pytest.raises(WorldForgeRosError) as err:
        gate.begin_run(apr.envelope_id, env.digest, PANDA, HOME, 2)
    assert err.value.code == ErrorCode.APPROVAL_ALREADY_USED


def test_start_deviation():
    assert start_deviation(PANDA, HOME, PANDA, HOME + 0.003) == pytest.approx(0.003)
    assert start_deviation(PANDA, HOME, PANDA, np.r_[HOME[:6], np.nan]) == float("inf")
