"""Fixtures for the evidence tests: real bags written by EvidenceWriter, and an attacker's bag rewriter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from worldforge_ros.evidence import samples
from worldforge_ros.evidence.reader import load_metadata
from worldforge_ros.evidence.topics import APPROVALS_TOPIC, EVENTS_TOPIC, EXECUTIONS_TOPIC, PLANS_TOPIC
from worldforge_ros.evidence.typestore import evidence_typestore
from worldforge_ros.evidence.writer import EvidenceWriter


@dataclass
class SampleBag:
    path: Path
    run_id: str
    plan: object
    links: list
    chain_head: str


@pytest.fixture(scope="session")
def ts():
    return evidence_typestore()


@pytest.fixture
def make_bag(tmp_path, ts) -> Callable[..., SampleBag]:
    """Write a run: ``events`` ProviderEvents, one plan, an approval and a dry-run execution."""

    def make(name: str = "bag", *, events: int = 6, scores: list[float] | None = None, run_id: str = "run-test",
             event_ms: float | None = None, seed: int = 0) -> SampleBag:
        path = tmp_path / name / "bag"
        writer = EvidenceWriter(path, run_id)
        links = []
        for i in range(events):
            links.append(writer.record_message(EVENTS_TOPIC, samples.provider_event(
                ts, i, run_id=run_id, provider="lerobot" if i % 2 == 0 else "leworldmodel",
                operation="policy" if i % 2 == 0 else "score", duration_ms=event_ms)))
        plan = samples.plan_record(ts, run_id=run_id, scores=scores, seed=seed)
        links.append(writer.record_message(PLANS_TOPIC, plan))
        links.append(writer.record_message(APPROVALS_TOPIC, samples.approval_record(ts, plan)))
        links.append(writer.record_message(EXECUTIONS_TOPIC, samples.execution_record(ts, plan)))
        writer.close()
        return SampleBag(path, run_id, plan, links, writer.chain_head)

    return make


@pytest.fixture
def rewrite_bag(tmp_path) -> Callable:
    """The attacker: read a bag with rosbags and write it again with a plain rosbags Writer after ``edit``.

    ``edit`` receives and returns a list of ``[topic, log_time_ns, bytes]`` in log-time order. The original
    ``metadata.yaml`` custom_data is carried over unchanged.
    """

    def rewrite(src: Path, edit: Callable[[list], list], name: str = "tampered") -> Path:
        dst = tmp_path / name / "bag"
        dst.parent.mkdir(parents=True, exist_ok=True)
        with AnyReader([src], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
            conns = {c.topic: c for c in reader.connections}
            messages = [[c.topic, t, bytes(raw)] for c, t, raw in reader.messages()]
            custom = (load_metadata(src) or {}).get("custom_data") or {}
        messages = edit(messages)
        with Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            out = {topic: writer.add_connection(topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest,
                                                offered_qos_profiles=c.ext.offered_qos_profiles)
                   for topic, c in conns.items()}
            for topic, t, data in messages:
                writer.write(out[topic], t, data)
            for key, value in custom.items():
                writer.set_custom_data(key, value)
        return dst

    return rewrite
