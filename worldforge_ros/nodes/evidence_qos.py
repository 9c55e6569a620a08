"""rclpy QoS of the evidence topics, derived from the one table the bag records (``evidence.topics.TOPIC_HISTORY``),
so what the nodes offer on the graph and what ``metadata.yaml`` says they offered cannot drift apart. Plain data:
a node that only publishes (a provider on a GPU host) needs no rosbags."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from worldforge_ros.evidence.topics import (APPROVALS_TOPIC, CHUNKS_TOPIC, ENVELOPES_TOPIC, EVENTS_TOPIC,
                                            EXECUTIONS_TOPIC, PLANS_TOPIC, TOPIC_HISTORY)


def evidence_qos(topic: str) -> QoSProfile:
    """The reliable keep-last profile ``topic`` is recorded with (depth and durability from ``TOPIC_HISTORY``)."""
    depth, latched = TOPIC_HISTORY[topic]
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


EVENTS_QOS = evidence_qos(EVENTS_TOPIC)
PLANS_QOS = evidence_qos(PLANS_TOPIC)
APPROVALS_QOS = evidence_qos(APPROVALS_TOPIC)
EXECUTIONS_QOS = evidence_qos(EXECUTIONS_TOPIC)
ENVELOPES_QOS = evidence_qos(ENVELOPES_TOPIC)
CHUNKS_QOS = evidence_qos(CHUNKS_TOPIC)
