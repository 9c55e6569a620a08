"""Known-answer vectors for the evidence hash chain and the plan digest (issue 17, item 5).

Every expected value is computed HERE from the formulas in docs/evidence-format.md and core/digests.py's
docstring with hashlib/json only, and is ALSO pinned as a literal: a change of the formula fails even when the
code and this test's own recomputation were to change together.

- record_digest = "sha256:" + hex(sha256(record bytes))
- link digest   = "sha256:" + hex(sha256(prev_digest + "\\n" + topic + "\\n" + record_digest)), UTF-8
- first prev_digest = "sha256:" + 64 zeros; seq = 1, 2, ...
- plan_digest = "sha256:" + hex(sha256(canonical JSON)), canonical JSON = sorted keys, separators (",", ":"),
  UTF-8 (ensure_ascii=False), NaN/Infinity refused
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from worldforge_ros.core.digests import GENESIS_DIGEST, HashChain, canonical_json, chain_digest, digest_json, \
    sha256_digest
from worldforge_ros.core.plan import PlanCandidate, PlanData
from worldforge_ros.core.trajectory import StartState, TrajectoryData
from worldforge_ros.evidence.chain import ChainLink, link_digest, record_digest


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ---- pinned literals (computed once from the documented formula; see the recomputation in each test) ----------
GENESIS = "sha256:" + "0" * 64
RECORDS = [("/worldforge/events", b"\x00\x01\x00\x00event-1"),
           ("/worldforge/plans", b"\x00\x01\x00\x00plan"),
           ("/worldforge/approvals", b"")]
RECORD_DIGESTS = [
    "sha256:1367a77e39d49a86cc11a8ec6054daf0ece3def5724f92b4c81fe3e7b1fb312b",
    "sha256:53238bce879bd1156b7fb9642deae0b60877dbc5cd547f0f86fd1cfe9b8a7dd2",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
]
LINK_DIGESTS = [
    "sha256:ec2ac36b8cb69615272df4cdb00e906820e96b1674b15e2324c72da8a9513aa8",
    "sha256:9c52b65e67da771d6b8a691ee22dd5405ef128148299bea14d6dcfbee1bc4c9c",
    "sha256:b3b865437385ff3208b81c427e0b59f1e10e67b61623d849a9c6856b87701702",
]
CANONICAL_SAMPLE = {"b": [1, 2.5, "é"], "a": {"z": None, "y": True}, "c": "x"}
CANONICAL_SAMPLE_TEXT = '{"a":{"y":true,"z":null},"b":[1,2.5,"é"],"c":"x"}'
CANONICAL_SAMPLE_DIGEST = "sha256:5bf4d425e9394298214e184eaaed5a3e0d731ad4539f989293c701545b703346"
PLAN_DIGEST = "sha256:fa13e50a3cca741fc43091fdc83c77fef77540792b22db7920d904986cc70599"


def test_genesis_is_sha256_prefix_and_64_zeros():
    assert GENESIS_DIGEST == GENESIS
    assert HashChain().head == GENESIS


def test_record_digest_is_sha256_of_the_stored_bytes():
    for (_, data), pinned in zip(RECORDS, RECORD_DIGESTS):
        assert _sha(data) == pinned  # the documented formula
        assert record_digest(data) == pinned
        assert record_digest(memoryview(data)) == pinned


def test_link_digest_follows_the_documented_formula():
    prev = GENESIS
    for (topic, data), rec_pinned, link_pinned in zip(RECORDS, RECORD_DIGESTS, LINK_DIGESTS):
        expected = _sha((prev + "\n" + topic + "\n" + rec_pinned).encode("utf-8"))
        assert expected == link_pinned
        assert link_digest(prev, topic, record_digest(data)) == link_pinned
        prev = link_pinned


def test_each_input_of_the_link_changes_the_digest():
    topic, data = RECORDS[0]
    base = link_digest(GENESIS, topic, record_digest(data))
    assert link_digest(GENESIS, topic + "x", record_digest(data)) != base
    assert link_digest(LINK_DIGESTS[0], topic, record_digest(data)) != base
    assert link_digest(GENESIS, topic, record_digest(data + b"\x00")) != base
    # the separators are part of the formula: moving a character across one is a different link
    assert link_digest(GENESIS, "/a", "sha256:b") != link_digest(GENESIS, "/a\nsha256:b", "")


def test_core_hash_chain_is_sha256_of_prev_plus_payload():
    chain = HashChain()
    prev = GENESIS
    for i, (topic, data) in enumerate(RECORDS):
        payload = f"\n{topic}\n{RECORD_DIGESTS[i]}"
        seq, got_prev, digest = chain.append(payload)
        assert (seq, got_prev) == (i + 1, prev)
        assert digest == _sha(prev.encode("ascii") + payload.encode("utf-8")) == LINK_DIGESTS[i]
        assert chain_digest(prev, payload) == digest
        prev = digest


def test_written_bag_links_recompute_from_raw_mcap_bytes(tmp_path):
    """EvidenceWriter + verify agree with the formula on real stored bytes, read with the plain mcap reader."""
    from mcap.reader import make_reader

    from worldforge_ros.evidence import samples
    from worldforge_ros.evidence.topics import APPROVALS_TOPIC, EVENTS_TOPIC, PLANS_TOPIC
    from worldforge_ros.evidence.typestore import evidence_typestore
    from worldforge_ros.evidence.verify import verify_bag
    from worldforge_ros.evidence.writer import EvidenceWriter

    ts = evidence_typestore()
    writer = EvidenceWriter(tmp_path / "bag", "run-ka")
    plan = samples.plan_record(ts, run_id="run-ka", candidates=2, steps=3, joints=2)
    writer.record_message(EVENTS_TOPIC, samples.provider_event(ts, 0, run_id="run-ka"))
    writer.record_message(PLANS_TOPIC, plan)
    writer.record_message(APPROVALS_TOPIC, samples.approval_record(ts, plan))
    head = writer.chain_head
    writer.close()

    records, links = [], []
    with open(writer.mcap_path, "rb") as fh:
        for _schema, channel, message in make_reader(fh).iter_messages(log_time_order=False):
            if channel.topic == "/worldforge/evidence_chain":
                links.append(ts.deserialize_cdr(message.data, "worldforge_ros/msg/EvidenceLink"))
            else:
                records.append((channel.topic, message.log_time, bytes(message.data)))
    assert len(records) == len(links) == 3
    prev = GENESIS
    for seq, ((topic, log_time, data), link) in enumerate(zip(records, links), start=1):
        rec = _sha(data)
        assert (link.seq, link.topic, link.record_digest, link.prev_digest) == (seq, topic, rec, prev)
        assert link.log_time_ns == log_time
        assert link.digest == _sha((prev + "\n" + topic + "\n" + rec).encode("utf-8"))
        prev = link.digest
    assert prev == head
    plan_msg = ts.deserialize_cdr(records[1][2], "worldforge_ros/msg/PlanRecord")
    assert plan_msg.plan_digest == _sha(plan_msg.plan_json.encode("utf-8"))
    report = verify_bag(tmp_path / "bag")
    assert report.ok, report


def test_canonical_json_and_digest_json_known_answer():
    assert _canon(CANONICAL_SAMPLE) == CANONICAL_SAMPLE_TEXT
    assert canonical_json(CANONICAL_SAMPLE) == CANONICAL_SAMPLE_TEXT
    assert _sha(CANONICAL_SAMPLE_TEXT.encode("utf-8")) == CANONICAL_SAMPLE_DIGEST
    assert digest_json(CANONICAL_SAMPLE) == CANONICAL_SAMPLE_DIGEST
    assert sha256_digest(CANONICAL_SAMPLE_TEXT) == CANONICAL_SAMPLE_DIGEST
    for bad in (math.nan, math.inf, -math.inf, np.float64("nan")):
        with pytest.raises(ValueError):
            canonical_json({"x": [1.0, bad]})


def _hand_plan() -> tuple[PlanData, dict]:
    """A two-candidate plan built by hand, and the dict the documented plan JSON must contain."""
    names = ("j1", "j2")
    t0 = TrajectoryData(names, [[0.0, 0.5], [0.25, 0.5]], [[0.5, 0.0], [0.0, 0.0]], [0.5, 1.0])
    t1 = TrajectoryData(names, [[0.0, 0.5], [-0.25, 0.75]], [[-0.5, 0.5], [0.0, 0.0]], [0.5, 1.0])
    raw = "sha256:" + "ab" * 32
    cands = (PlanCandidate(0, "reference_policy", 0, t0, 0.5, True, (), (2, 2), raw),
             PlanCandidate(1, "reference_policy", 1, t1, 1.25, False, ("position_max j2",), (2, 2), raw))
    plan = PlanData("plan-0000000000000001", "run-ka", "req-1", "reach é", "two_joint", ("reference_policy",),
                    "reference_scorer", cands, 0, True, "policy+score", "provider's best candidate (feasible)",
                    StartState(names, [0.0, 0.5]), 2, {"type": "joint_space"}, ("sha256:" + "cd" * 32,),
                    {"reference_policy": "sha256:" + "ef" * 32}, "2025-01-01T00:00:00Z")
    traj = lambda t: {"joint_names": list(names), "positions": t.positions.tolist(),  # noqa: E731
                      "velocities": t.velocities.tolist(), "times_s": t.times_s.tolist()}
    expected = {
        "schema_version": 1, "plan_id": "plan-0000000000000001", "run_id": "run-ka", "request_id": "req-1",
        "task": "reach é", "embodiment": "two_joint",
        "providers": {"policy": ["reference_policy"], "score": "reference_scorer"},
        "candidates": [
            {"index": 0, "policy_provider": "reference_policy", "policy_candidate_index": 0, "trajectory": traj(t0),
             "score": 0.5, "feasible": True, "violations": [], "raw_shape": [2, 2], "raw_digest": raw},
            {"index": 1, "policy_provider": "reference_policy", "policy_candidate_index": 1, "trajectory": traj(t1),
             "score": 1.25, "feasible": False, "violations": ["position_max j2"], "raw_shape": [2, 2],
             "raw_digest": raw}],
        "selected_index": 0, "lower_is_better": True,
        "selection": {"mode": "policy+score", "reason": "provider's best candidate (feasible)"},
        "start_state": {"joint_names": ["j1", "j2"], "positions": [0.0, 0.5]}, "max_steps": 2,
        "translator_contract": {"type": "joint_space"}, "event_digests": ["sha256:" + "cd" * 32],
        "manifest_digests": {"reference_policy": "sha256:" + "ef" * 32}, "created_at": "2025-01-01T00:00:00Z"}
    return plan, expected


def test_plan_digest_known_answer():
    plan, expected = _hand_plan()
    text = _canon(expected)
    assert plan.plan_json() == text
    assert _sha(text.encode("utf-8")) == PLAN_DIGEST
    assert plan.plan_digest == PLAN_DIGEST
    assert "é" in text and "\\u00e9" not in text  # UTF-8, not ASCII escapes


def test_plan_from_json_verifies_the_known_digest():
    plan, expected = _hand_plan()
    text = _canon(expected)
    assert PlanData.from_json(text, expected_digest=PLAN_DIGEST).plan_digest == PLAN_DIGEST
    from worldforge_ros.core.errors import ApprovalError, ErrorCode
    tampered = text.replace('"score":0.5', '"score":0.25')
    assert tampered != text
    with pytest.raises(ApprovalError) as err:
        PlanData.from_json(tampered, expected_digest=PLAN_DIGEST)
    assert err.value.code == ErrorCode.DIGEST_MISMATCH


def test_chain_link_fields_round_trip():
    link = ChainLink(1, RECORDS[0][0], 7, RECORD_DIGESTS[0], GENESIS, LINK_DIGESTS[0])
    assert link.as_fields() == {"seq": 1, "topic": RECORDS[0][0], "log_time_ns": 7,
                                "record_digest": RECORD_DIGESTS[0], "prev_digest": GENESIS,
                                "digest": LINK_DIGESTS[0]}
