"""EvidenceWriter: rosbag2 conformance, round trip through rosbags and mcap readers, rclpy interop, typestore."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from worldforge_ros.core.errors import ErrorCode, EvidenceError
from worldforge_ros.evidence import samples
from worldforge_ros.evidence.chain import GENESIS_DIGEST, link_digest, record_digest
from worldforge_ros.evidence.reader import load_metadata, read_bag
from worldforge_ros.evidence.topics import (ALL_TOPICS, CHAIN_TOPIC, EVENTS_TOPIC, PLANS_TOPIC, PROVIDER_EVENT_TYPE,
                                            RECORD_TOPICS, TOPIC_QOS)
from worldforge_ros.evidence.verify import verify_bag
from worldforge_ros.evidence.writer import EvidenceWriter

REPO = Path(__file__).resolve().parents[2]


def test_round_trip_with_types_from_the_bag(make_bag, ts):
    bag = make_bag(events=5)
    # The Kilted store alone does not know worldforge_ros types: the definitions must come from the bag.
    kilted = get_typestore(Stores.ROS2_KILTED)
    assert PROVIDER_EVENT_TYPE not in kilted.types
    with AnyReader([bag.path], default_typestore=kilted) as reader:
        got = [(c.topic, reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages()]
    topics = [t for t, _ in got]
    assert topics == [EVENTS_TOPIC, CHAIN_TOPIC] * 5 + [PLANS_TOPIC, CHAIN_TOPIC,
                                                        "/worldforge/approvals", CHAIN_TOPIC,
                                                        "/worldforge/executions", CHAIN_TOPIC]
    event = got[4][1]
    expected = samples.provider_event(ts, 2, run_id=bag.run_id, provider="lerobot", operation="policy")
    for field in ("provider", "operation", "phase", "method", "duration_ms", "message", "metadata_json", "run_id",
                  "input_digest", "digest"):
        assert getattr(event, field) == getattr(expected, field)
    assert (event.stamp.sec, event.stamp.nanosec) == (expected.stamp.sec, expected.stamp.nanosec)
    plan = got[10][1]
    assert plan.plan_digest == bag.plan.plan_digest and plan.plan_json == bag.plan.plan_json
    assert len(plan.candidates) == 8 and plan.selected_index == bag.plan.selected_index
    for a, b in zip(plan.candidates, bag.plan.candidates):
        assert a.score == b.score and a.raw_digest == b.raw_digest
        np.testing.assert_array_equal(a.trajectory.points[-1].positions, b.trajectory.points[-1].positions)
    links = [m for t, m in got if t == CHAIN_TOPIC]
    assert [link.seq for link in links] == list(range(1, 9))
    assert links[0].prev_digest == GENESIS_DIGEST and links[-1].digest == bag.chain_head


def test_links_cover_exact_bytes_and_times_increase(tmp_path, ts):
    writer = EvidenceWriter(tmp_path / "bag", "run-x")
    data = bytes(ts.serialize_cdr(samples.provider_event(ts, 0), PROVIDER_EVENT_TYPE))
    first = writer.record(EVENTS_TOPIC, "worldforge_ros/ProviderEvent", data, log_time_ns=1000)
    second = writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, data, log_time_ns=1000)  # same time requested
    writer.close()
    assert first.record_digest == record_digest(data)
    assert first.digest == link_digest(GENESIS_DIGEST, EVENTS_TOPIC, first.record_digest)
    assert second.prev_digest == first.digest and second.seq == 2
    assert second.log_time_ns > first.log_time_ns + 1
    times = [r.log_time_ns for r in read_bag(tmp_path / "bag").records]
    assert times == sorted(set(times))


def test_metadata_yaml_v9_with_real_qos_and_custom_data(make_bag):
    bag = make_bag(events=3)
    info = load_metadata(bag.path)
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["bag.mcap"]
    assert info["custom_data"] == {"run_id": bag.run_id, "chain_head": bag.chain_head, "chain_length": "6",
                                   "package_version": "0.1.0", "writer": "worldforge_ros"}
    topics = {t["topic_metadata"]["name"]: t for t in info["topics_with_message_count"]}
    assert set(topics) == set(ALL_TOPICS)
    assert topics[EVENTS_TOPIC]["message_count"] == 3 and topics[CHAIN_TOPIC]["message_count"] == 6
    for name, topic in topics.items():
        meta = topic["topic_metadata"]
        assert meta["type_description_hash"].startswith("RIHS01_")
        (qos,) = meta["offered_qos_profiles"]
        assert qos["reliability"] == "reliable" and qos["history"] == "keep_last"
        assert qos["depth"] == TOPIC_QOS[name].depth
    durability = {n: t["topic_metadata"]["offered_qos_profiles"][0]["durability"] for n, t in topics.items()}
    assert durability == {"/worldforge/events": "transient_local", "/worldforge/plans": "transient_local",
                          "/worldforge/approvals": "transient_local", "/worldforge/executions": "transient_local",
                          "/worldforge/envelopes": "transient_local", "/worldforge/chunks": "transient_local",
                          CHAIN_TOPIC: "volatile"}


def test_mcap_file_readable_by_mcap_reader(make_bag):
    bag = make_bag(events=4)
    with (bag.path / "bag.mcap").open("rb") as stream:
        reader = make_reader(stream)
        header = reader.get_header()
        summary = reader.get_summary()
        assert header.profile == "ros2"
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        assert all("offered_qos_profiles" in c.metadata and "reliable" in c.metadata["offered_qos_profiles"]
                   for c in summary.channels.values())
        assert summary.statistics.message_count == 14 and summary.chunk_indexes == []  # unchunked
        names = [m.name for m in reader.iter_metadata()]
        assert "rosbag2" in names and "worldforge_ros" in names
        rosbag2 = next(m for m in reader.iter_metadata() if m.name == "rosbag2")
        assert bag.chain_head in rosbag2.metadata["serialized_metadata"]
        topics = [channel.topic for _, channel, _ in reader.iter_messages()]
    assert topics.count(CHAIN_TOPIC) == 7


def test_rihs01_hashes_equal_rosidl(ts):
    share = REPO / "install" / "worldforge_ros" / "share" / "worldforge_ros" / "msg"
    assert share.is_dir(), "run scripts/build first: the colcon build writes the rosidl type descriptions"
    for msgtype in ALL_TOPICS.values():
        name = msgtype.rsplit("/", 1)[1]
        described = json.loads((share / f"{name}.json").read_text())
        rosidl = {h["type_name"]: h["hash_string"] for h in described["type_hashes"]}
        assert ts.hash_rihs01(msgtype) == rosidl[msgtype]


def test_rclpy_serialized_messages_record_and_read_back(tmp_path, ts):
    from rclpy.serialization import deserialize_message, serialize_message
    from worldforge_ros.msg import PlanRecord, ProviderEvent

    event = ProviderEvent(provider="gr00t", operation="policy", phase="failure", attempt=2, max_attempts=3,
                          status_code=504, duration_ms=1234.5, message="timed out", run_id="run-rclpy")
    event.stamp.sec = 42
    plan = PlanRecord(plan_id="p-rclpy", plan_digest="sha256:" + "1" * 64, selected_index=0, plan_json="{}")
    writer = EvidenceWriter(tmp_path / "bag", "run-rclpy")
    writer.record(EVENTS_TOPIC, "worldforge_ros/msg/ProviderEvent", serialize_message(event))
    writer.record(PLANS_TOPIC, "worldforge_ros/msg/PlanRecord", serialize_message(plan))
    writer.close()
    records = [r for r in read_bag(tmp_path / "bag").records if r.topic in RECORD_TOPICS]
    got_event, got_plan = records[0].message, records[1].message
    assert (got_event.provider, got_event.phase, got_event.attempt) == ("gr00t", "failure", 2)
    assert got_event.status_code == 504
    assert got_event.duration_ms == 1234.5 and got_event.stamp.sec == 42
    assert got_plan.plan_id == "p-rclpy"
    # Stored canonically (rclpy leaves uninitialized padding and trailing bytes); rclpy decodes it to the same message.
    assert len(records[1].data) < len(bytes(serialize_message(plan)))
    for rec in records:
        assert rec.data == bytes(ts.serialize_cdr(ts.deserialize_cdr(rec.data, rec.msgtype), rec.msgtype))
    assert deserialize_message(records[0].data, ProviderEvent) == event
    assert deserialize_message(records[1].data, PlanRecord) == plan
    report = verify_bag(tmp_path / "bag")
    # sha256("{}") != the made-up digest: verify pinpoints the plan, with the chain itself intact up to it.
    assert not report.ok and report.first_bad.topic == PLANS_TOPIC and report.first_bad.seq == 2


def test_concurrent_records_keep_one_chain(tmp_path, ts):
    writer = EvidenceWriter(tmp_path / "bag", "run-threads")
    payloads = [bytes(ts.serialize_cdr(samples.provider_event(ts, i), PROVIDER_EVENT_TYPE)) for i in range(40)]

    def work(chunk):
        for data in chunk:
            writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, data)

    threads = [threading.Thread(target=work, args=(payloads[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    report = verify_bag(tmp_path / "bag")
    assert report.ok and report.records == 40 and report.links == 40


def test_unknown_topic_or_type_is_refused_without_failing_the_writer(tmp_path, ts):
    writer = EvidenceWriter(tmp_path / "bag", "run-bad")
    data = bytes(ts.serialize_cdr(samples.provider_event(ts, 0), PROVIDER_EVENT_TYPE))
    with pytest.raises(EvidenceError) as err:
        writer.record("/somewhere/else", PROVIDER_EVENT_TYPE, data)
    assert err.value.code == ErrorCode.EVIDENCE_FORMAT_INVALID
    with pytest.raises(EvidenceError):
        writer.record(PLANS_TOPIC, PROVIDER_EVENT_TYPE, data)
    writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, data)
    writer.close()
    with pytest.raises(EvidenceError) as err:
        writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, data)
    assert err.value.code == ErrorCode.RECORDER_UNAVAILABLE
    assert verify_bag(tmp_path / "bag").ok


def test_bytes_of_another_type_are_refused(tmp_path, ts):
    writer = EvidenceWriter(tmp_path / "bag", "run-wrong")
    plan_bytes = bytes(ts.serialize_cdr(samples.plan_record(ts), "worldforge_ros/msg/PlanRecord"))
    with pytest.raises(EvidenceError) as err:
        writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, plan_bytes)
    assert err.value.code == ErrorCode.EVIDENCE_FORMAT_INVALID
    with pytest.raises(EvidenceError):
        writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, b"\x07\x07\x00\x00junk")
    writer.close()
    assert verify_bag(tmp_path / "bag").records == 0


def test_existing_bag_is_never_overwritten_but_an_empty_dir_is_used(make_bag, tmp_path, ts):
    bag = make_bag(events=1)
    with pytest.raises(EvidenceError) as err:
        EvidenceWriter(bag.path, "again")
    assert err.value.code == ErrorCode.RECORDER_UNAVAILABLE
    assert verify_bag(bag.path).ok
    empty = tmp_path / "run" / "bag"
    empty.mkdir(parents=True)
    with EvidenceWriter(empty, "run-empty-dir") as writer:
        writer.record_message(EVENTS_TOPIC, samples.provider_event(ts, 0))
    assert verify_bag(empty).ok


def test_evidence_package_never_imports_rclpy():
    package = REPO / "worldforge_ros" / "evidence"
    offenders = []
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "rclpy" or n.startswith("rclpy.") for n in names):
                offenders.append(path.name)
    assert offenders == []
