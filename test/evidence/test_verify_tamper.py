"""verify: a clean bag passes; any single edit, drop or reorder made by rewriting the bag is pinpointed."""

from __future__ import annotations

import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldforge_ros.evidence.reader import read_bag
from worldforge_ros.evidence.topics import CHAIN_TOPIC, EVENTS_TOPIC, PLANS_TOPIC
from worldforge_ros.evidence.verify import UNFINISHED_REASON, verify_bag


def _record_positions(messages):
    return [i for i, (topic, _, _) in enumerate(messages) if topic != CHAIN_TOPIC]


def test_clean_bag_verifies(make_bag):
    bag = make_bag(events=6)
    report = verify_bag(bag.path)
    assert report.ok, report.summary()
    assert (report.records, report.links, report.chain_head) == (9, 9, bag.chain_head)
    # a faithful rewrite by another tool keeps it valid: the chain covers bytes, not the container
    assert verify_bag(bag.path).ok


def test_untouched_rewrite_still_verifies(make_bag, rewrite_bag):
    bag = make_bag(events=3)
    assert verify_bag(rewrite_bag(bag.path, lambda m: m)).ok


def test_edited_string_byte_is_pinpointed(make_bag, rewrite_bag):
    bag = make_bag(events=6)

    def edit(messages):
        pos = _record_positions(messages)[3]  # 4th record: ProviderEvent index 3, message "score call 3"
        topic, t, data = messages[pos]
        assert b"score call 3" in data
        messages[pos] = [topic, t, data.replace(b"score call 3", b"score call 9")]
        return messages

    report = verify_bag(rewrite_bag(bag.path, edit))
    assert not report.ok
    assert (report.first_bad.topic, report.first_bad.seq) == (EVENTS_TOPIC, 4)
    assert report.first_bad.log_time_ns == bag.links[3].log_time_ns
    assert "edited" in report.reason


def test_dropped_record_is_pinpointed(make_bag, rewrite_bag):
    bag = make_bag(events=6)
    plan_pos = 6  # records 0-5 are events, record 6 is the plan

    def drop_record_only(messages):
        pos = _record_positions(messages)[plan_pos]
        return messages[:pos] + messages[pos + 1:]

    report = verify_bag(rewrite_bag(bag.path, drop_record_only, "drop1"))
    assert not report.ok and report.first_bad.topic == PLANS_TOPIC and report.first_bad.seq == 7
    assert report.first_bad.log_time_ns == bag.links[plan_pos].log_time_ns

    def drop_record_and_link(messages):
        pos = _record_positions(messages)[2]
        return messages[:pos] + messages[pos + 2:]

    report = verify_bag(rewrite_bag(bag.path, drop_record_and_link, "drop2"))
    assert not report.ok and report.first_bad.seq == 3 and "missing" in report.reason
    # the first record after the gap is named
    assert report.first_bad.log_time_ns == bag.links[3].log_time_ns


def test_reordered_records_are_pinpointed(make_bag, rewrite_bag):
    bag = make_bag(events=6)

    def swap_payloads(messages):
        a, b = _record_positions(messages)[1], _record_positions(messages)[4]
        messages[a][2], messages[b][2] = messages[b][2], messages[a][2]
        return messages

    report = verify_bag(rewrite_bag(bag.path, swap_payloads, "swap"))
    assert not report.ok and report.first_bad.seq == 2 and report.first_bad.topic == EVENTS_TOPIC

    def swap_times_of_pairs(messages):
        # move record 2 and its link behind record 3 and its link (keeping each pair intact)
        a = _record_positions(messages)[2]
        (ra, la), (rb, lb) = messages[a:a + 2], messages[a + 2:a + 4]
        ra[1], la[1], rb[1], lb[1] = rb[1], lb[1], ra[1], la[1]
        return sorted(messages, key=lambda m: m[1])

    report = verify_bag(rewrite_bag(bag.path, swap_times_of_pairs, "swap-pairs"))
    assert not report.ok and report.first_bad.seq == 3


def test_metadata_chain_head_must_match(make_bag, rewrite_bag):
    bag = make_bag(events=3)

    def drop_tail(messages):
        return messages[:-2]  # remove the last record and its link: the chain itself stays consistent

    report = verify_bag(rewrite_bag(bag.path, drop_tail, "tail"))
    assert not report.ok and report.first_bad is None and "chain_head" in report.reason


def test_plan_digest_must_match_plan_json(make_bag, rewrite_bag, ts):
    bag = make_bag(events=2)
    text = bag.plan.plan_json

    def forge_plan(messages):
        # change the plan JSON consistently: the attacker recomputes nothing, verify sees the record edit first
        pos = _record_positions(messages)[2]
        topic, t, data = messages[pos]
        forged = text.replace('"selected_index":', '"selected_index" :', 1)[: len(text)]
        messages[pos] = [topic, t, data.replace(text.encode(), forged.encode())]
        return messages

    report = verify_bag(rewrite_bag(bag.path, forge_plan, "plan"))
    assert not report.ok and report.first_bad.topic == PLANS_TOPIC and report.first_bad.seq == 3


def test_plan_whose_json_does_not_match_its_digest_fails_with_a_valid_chain(tmp_path, ts):
    from worldforge_ros.evidence import samples
    from worldforge_ros.evidence.writer import EvidenceWriter

    plan = samples.plan_record(ts)
    plan.plan_json = plan.plan_json.replace('"selected_index":', '"selected_index": ', 1)
    writer = EvidenceWriter(tmp_path / "bag", "run-plan")
    writer.record_message(EVENTS_TOPIC, samples.provider_event(ts, 0))
    writer.record_message(PLANS_TOPIC, plan)
    writer.close()
    report = verify_bag(tmp_path / "bag")
    assert not report.ok and report.first_bad.topic == PLANS_TOPIC and report.first_bad.seq == 2
    assert "sha256(plan_json)" in report.reason


def test_missing_metadata_is_reported_as_unfinished(make_bag):
    bag = make_bag(events=2)
    (bag.path / "metadata.yaml").unlink()
    report = verify_bag(bag.path)
    assert not report.ok and report.reason == UNFINISHED_REASON and report.records == 5
    assert read_bag(bag.path).finished is False


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=st.integers(min_value=0, max_value=8), offset=st.integers(min_value=0, max_value=10_000),
       delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_edit_is_pinpointed(make_bag, rewrite_bag, tmp_path, record, offset, delta):
    for child in tmp_path.iterdir():
        shutil.rmtree(child)
    bag = make_bag(events=6)

    def edit(messages):
        pos = _record_positions(messages)[record]
        topic, t, data = messages[pos]
        k = 4 + offset % (len(data) - 4)  # anywhere after the CDR header
        messages[pos] = [topic, t, data[:k] + bytes([(data[k] + delta) % 256]) + data[k + 1:]]
        return messages

    report = verify_bag(rewrite_bag(bag.path, edit))
    assert not report.ok
    assert report.first_bad is not None and report.first_bad.seq == record + 1


def test_dropped_link_is_pinpointed(make_bag, rewrite_bag):
    bag = make_bag(events=4)

    def drop_link(messages):
        pos = _record_positions(messages)[1] + 1
        assert messages[pos][0] == CHAIN_TOPIC
        return messages[:pos] + messages[pos + 1:]

    report = verify_bag(rewrite_bag(bag.path, drop_link))
    assert not report.ok and report.first_bad.seq == 2 and "not followed by its evidence link" in report.reason


def test_edited_schema_is_detected(make_bag, tmp_path):
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer

    bag = make_bag(events=2)
    dst = tmp_path / "schema" / "bag"
    dst.parent.mkdir()
    with AnyReader([bag.path]) as reader, Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        out = {}
        for c in reader.connections:
            msgdef = c.msgdef.data
            if c.topic == EVENTS_TOPIC:  # rename a field but keep the recorded hash
                msgdef = msgdef.replace("string message\n", "string remark\n", 1)
            out[c.id] = writer.add_connection(c.topic, c.msgtype, msgdef=msgdef, rihs01=c.digest,
                                              offered_qos_profiles=c.ext.offered_qos_profiles)
        for c, t, raw in reader.messages():
            writer.write(out[c.id], t, raw)
        meta = read_bag(bag.path).custom_data
        for key, value in meta.items():
            writer.set_custom_data(key, value)
    report = verify_bag(dst)
    assert not report.ok and "schema edited" in report.reason and "ProviderEvent" in report.reason
