"""`worldforge-ros evidence replay` republishes every record of a bag under /replay (never onto the live topics)."""

import subprocess
import sys

import pytest

from ros_harness import node_env, wait_until
from worldforge_ros.evidence import samples
from worldforge_ros.evidence.topics import APPROVALS_TOPIC, EVENTS_TOPIC, EXECUTIONS_TOPIC, PLANS_TOPIC
from worldforge_ros.evidence.typestore import evidence_typestore
from worldforge_ros.evidence.writer import EvidenceWriter

pytestmark = pytest.mark.graph


def test_replay_publishes_every_record(ros_graph, tmp_path):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from worldforge_ros.msg import ApprovalRecord, ExecutionRecord, PlanRecord, ProviderEvent

    ts = evidence_typestore()
    writer = EvidenceWriter(tmp_path / "bag", "run-replay")
    for i in range(5):
        writer.record_message(EVENTS_TOPIC, samples.provider_event(ts, i))
    plan = samples.plan_record(ts)
    writer.record_message(PLANS_TOPIC, plan)
    writer.record_message(APPROVALS_TOPIC, samples.approval_record(ts, plan))
    writer.record_message(EXECUTIONS_TOPIC, samples.execution_record(ts, plan))
    writer.close()

    got = {t: [] for t in (EVENTS_TOPIC, PLANS_TOPIC, APPROVALS_TOPIC, EXECUTIONS_TOPIC)}
    live = []
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    for topic, cls in ((EVENTS_TOPIC, ProviderEvent), (PLANS_TOPIC, PlanRecord), (APPROVALS_TOPIC, ApprovalRecord),
                       (EXECUTIONS_TOPIC, ExecutionRecord)):
        ros_graph.node.create_subscription(cls, "/replay" + topic, got[topic].append, qos)
    ros_graph.node.create_subscription(PlanRecord, PLANS_TOPIC, live.append, qos)
    out = subprocess.run([sys.executable, "-m", "worldforge_ros.cli", "evidence", "replay", str(tmp_path / "bag"),
                          "--fast", "--discovery-wait", "2.0"], capture_output=True, text=True, timeout=120,
                         env=node_env())
    assert out.returncode == 0, out.stderr
    assert wait_until(lambda: len(got[EVENTS_TOPIC]) == 5 and all(len(got[t]) == 1 for t in got if t != EVENTS_TOPIC))
    assert got[PLANS_TOPIC][0].plan_digest == plan.plan_digest
    assert live == []  # nothing reached the live plan topic
