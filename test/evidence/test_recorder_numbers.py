"""Measured (printed, never asserted against a clock): recorder throughput with a flush per event, bag size per plan."""

from __future__ import annotations

import time

from worldforge_ros.evidence import samples
from worldforge_ros.evidence.topics import EVENTS_TOPIC, PLANS_TOPIC, PROVIDER_EVENT_TYPE
from worldforge_ros.evidence.verify import verify_bag
from worldforge_ros.evidence.writer import EvidenceWriter


def test_throughput_and_plan_size(tmp_path, ts):
    events = [bytes(ts.serialize_cdr(samples.provider_event(ts, i), PROVIDER_EVENT_TYPE)) for i in range(5000)]
    writer = EvidenceWriter(tmp_path / "bag", "run-bench")
    start = time.perf_counter()
    for data in events:
        writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, data)
    elapsed = time.perf_counter() - start
    size_before = writer.mcap_path.stat().st_size
    plan = samples.plan_record(ts, candidates=8, steps=16, joints=7)
    writer.record_message(PLANS_TOPIC, plan)
    plan_bytes = writer.mcap_path.stat().st_size - size_before
    writer.close()
    plan_record_bytes = len(bytes(ts.serialize_cdr(plan, "worldforge_ros/msg/PlanRecord")))
    print(f"\nrecorder: 5000 ProviderEvents (+5000 links), flush per message: {5000 / elapsed:,.0f} events/s "
          f"({elapsed * 1e6 / 5000:.0f} us/event)")
    print(f"bag size per plan (8 candidates x 16 steps x 7 joints): {plan_bytes} bytes in the bag "
          f"(PlanRecord CDR {plan_record_bytes} bytes, plan_json {len(plan.plan_json)} bytes)")
    assert plan_bytes > plan_record_bytes
    assert verify_bag(tmp_path / "bag").records == 5001
