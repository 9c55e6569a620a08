"""The evidence bag's topics, their message types and the QoS profiles recorded for them.

The QoS profiles are the ones the publishers offer on the graph (design section 3); they are written into the
bag's channel metadata and ``metadata.yaml`` as ``offered_qos_profiles`` so ``ros2 bag play`` re-offers them.
"""

from __future__ import annotations

from typing import Any

from worldforge_ros.core import names

PACKAGE = "worldforge_ros"

# The bag's canonical (absolute) names of the graph's relative record topics (core.names), whatever namespace
# the graph ran in.
EVENTS_TOPIC = names.bag_topic(names.EVENTS_TOPIC)
PLANS_TOPIC = names.bag_topic(names.PLANS_TOPIC)
APPROVALS_TOPIC = names.bag_topic(names.APPROVALS_TOPIC)
EXECUTIONS_TOPIC = names.bag_topic(names.EXECUTIONS_TOPIC)
ENVELOPES_TOPIC = names.bag_topic(names.ENVELOPES_TOPIC)
CHUNKS_TOPIC = names.bag_topic(names.CHUNKS_TOPIC)
CHAIN_TOPIC = "/worldforge/evidence_chain"

PROVIDER_EVENT_TYPE = f"{PACKAGE}/msg/ProviderEvent"
PLAN_RECORD_TYPE = f"{PACKAGE}/msg/PlanRecord"
APPROVAL_RECORD_TYPE = f"{PACKAGE}/msg/ApprovalRecord"
EXECUTION_RECORD_TYPE = f"{PACKAGE}/msg/ExecutionRecord"
ENVELOPE_RECORD_TYPE = f"{PACKAGE}/msg/EnvelopeRecord"
CHUNK_RECORD_TYPE = f"{PACKAGE}/msg/ChunkRecord"
EVIDENCE_LINK_TYPE = f"{PACKAGE}/msg/EvidenceLink"

RECORD_TOPICS: dict[str, str] = {
    EVENTS_TOPIC: PROVIDER_EVENT_TYPE,
    PLANS_TOPIC: PLAN_RECORD_TYPE,
    APPROVALS_TOPIC: APPROVAL_RECORD_TYPE,
    EXECUTIONS_TOPIC: EXECUTION_RECORD_TYPE,
    ENVELOPES_TOPIC: ENVELOPE_RECORD_TYPE,
    CHUNKS_TOPIC: CHUNK_RECORD_TYPE,
}
"""Record topics (each record is followed by a link on :data:`CHAIN_TOPIC`) and their message types."""

ALL_TOPICS: dict[str, str] = {**RECORD_TOPICS, CHAIN_TOPIC: EVIDENCE_LINK_TYPE}

def qos_profile(depth: int, *, transient_local: bool) -> Any:
    """A reliable keep-last profile with default deadline/lifespan/liveliness, as rosbags' ``Qos`` (imported
    here, so nodes that only publish need no rosbags)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    infinite = QosTime(9223372036, 854775807)  # rmw's "infinite" duration as rosbag2 writes it
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=infinite,
        lifespan=infinite,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=infinite,
        avoid_ros_namespace_conventions=False,
    )


PLANS_DEPTH = 50
"""History of ``/worldforge/plans`` (writer and readers): latched for late joiners, and deep enough that a recorder
briefly behind back-to-back plans loses none (with depth 1 a reliable keep-last writer overwrote unread plans:
the soak lost 3 of 211)."""

TOPIC_HISTORY: dict[str, tuple[int, bool]] = {
    EVENTS_TOPIC: (100, True),
    PLANS_TOPIC: (PLANS_DEPTH, True),
    APPROVALS_TOPIC: (10, True),
    EXECUTIONS_TOPIC: (10, True),
    ENVELOPES_TOPIC: (10, True),
    CHUNKS_TOPIC: (100, True),
    CHAIN_TOPIC: (100, False),
}
"""``(depth, latched)`` offered per topic, reliable keep-last (events latched depth 100, plans latched depth 50,
approvals/executions/envelopes latched 10, chunks latched 100). The one table: the nodes' rclpy profiles
(``nodes/evidence_qos.py``) and the bag's ``offered_qos_profiles`` (:data:`TOPIC_QOS`) both come from it.

Events are latched too: a volatile writer drops what it publishes before it has matched the recorder's reader
(a provider or recorder just started or respawned), and a plan binds the digests of its events."""


def __getattr__(name: str) -> Any:
    if name == "TOPIC_QOS":  # rosbags' Qos per topic, built on first use (rosbags is imported only then)
        return {topic: qos_profile(depth, transient_local=latched) for topic, (depth, latched) in
                TOPIC_HISTORY.items()}
    raise AttributeError(name)


def normalize_msgtype(msgtype: str) -> str:
    """``pkg/Type`` or ``pkg/msg/Type`` -> ``pkg/msg/Type``."""
    parts = msgtype.strip("/").split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return "/".join(parts)
