"""``worldforge_ros/msg/Envelope`` <-> :class:`core.envelope.Envelope` (gate and CLI)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from worldforge_ros.core.envelope import Envelope
from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.msg import Envelope as EnvelopeMsg


def envelope_from_msg(msg: EnvelopeMsg) -> Envelope:
    if len(msg.provider_names) != len(msg.provider_digests):
        raise RequestError("provider_names and provider_digests differ in length", ErrorCode.ENVELOPE_INVALID)
    return Envelope(
        policy_providers=tuple(msg.policy_providers), score_provider=msg.score_provider, embodiment=msg.embodiment,
        joint_names=tuple(msg.joint_names), position_min=tuple(msg.position_min),
        position_max=tuple(msg.position_max), velocity_max=tuple(msg.velocity_max),
        max_duration_s=float(msg.max_duration_s), max_chunks=int(msg.max_chunks),
        heartbeat_timeout_s=float(msg.heartbeat_timeout_s), heartbeat_topic=msg.heartbeat_topic,
        score_threshold=float(msg.score_threshold) if msg.has_score_threshold else None,
        lower_is_better=bool(msg.lower_is_better),
        provider_digests=dict(zip(msg.provider_names, msg.provider_digests)),
        workspace_min=tuple(msg.workspace_min), workspace_max=tuple(msg.workspace_max), task=msg.task,
        candidates_per_policy=int(msg.candidates_per_policy), max_steps=int(msg.max_steps),
        chunk_deadline_s=float(msg.chunk_deadline_s) or 5.0)


def envelope_to_msg(env: Envelope) -> EnvelopeMsg:
    msg = EnvelopeMsg(policy_providers=list(env.policy_providers), score_provider=env.score_provider,
                      embodiment=env.embodiment, task=env.task, joint_names=list(env.joint_names),
                      position_min=list(env.position_min), position_max=list(env.position_max),
                      velocity_max=list(env.velocity_max), workspace_min=list(env.workspace_min),
                      workspace_max=list(env.workspace_max), max_duration_s=float(env.max_duration_s),
                      max_chunks=int(env.max_chunks), lower_is_better=bool(env.lower_is_better),
                      heartbeat_topic=env.heartbeat_topic, heartbeat_timeout_s=float(env.heartbeat_timeout_s),
                      candidates_per_policy=int(env.candidates_per_policy), max_steps=int(env.max_steps),
                      chunk_deadline_s=float(env.chunk_deadline_s))
    msg.provider_names = list(env.provider_digests)
    msg.provider_digests = [env.provider_digests[k] for k in msg.provider_names]
    if env.score_threshold is not None and math.isfinite(env.score_threshold):
        msg.has_score_threshold, msg.score_threshold = True, float(env.score_threshold)
    return msg


def envelope_from_mapping(data: Mapping[str, Any]) -> Envelope:
    """From a YAML/JSON mapping (the CLI's envelope file); same fields as :class:`Envelope`."""
    return Envelope.from_dict(dict(data))
