"""Recorder throughput with a flush per event (each record followed by its chain link). Target >= 10,000/s.

Baseline in the same run: the same bytes appended to a plain file with a flush per write (what durability
costs at the least), so the ratio is recorder events/s over raw flushed writes/s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import quick, write_result


def main() -> int:
    from worldforge_ros.evidence import samples
    from worldforge_ros.evidence.topics import EVENTS_TOPIC, PROVIDER_EVENT_TYPE
    from worldforge_ros.evidence.typestore import evidence_typestore
    from worldforge_ros.evidence.writer import EvidenceWriter

    ts = evidence_typestore()
    count = 2000 if quick() else 20000
    events = [bytes(ts.serialize_cdr(samples.provider_event(ts, i), PROVIDER_EVENT_TYPE)) for i in range(count)]
    root = Path(tempfile.mkdtemp(prefix="wfros-bench-bag-"))
    writer = EvidenceWriter(root / "bag", "run-bench")
    start = time.perf_counter()
    for data in events:
        writer.record(EVENTS_TOPIC, PROVIDER_EVENT_TYPE, data)
    recorder = count / (time.perf_counter() - start)
    writer.close()
    start = time.perf_counter()
    with (root / "raw.bin").open("wb") as handle:
        for data in events:
            handle.write(data)
            handle.flush()
    raw = count / (time.perf_counter() - start)
    write_result("evidence_throughput", {"target": ">= 10000 events/s", "ratio": round(recorder / raw, 3),
                                         "recorder_events_per_s": round(recorder), "raw_flushed_writes_per_s": round(raw),
                                         "events": count})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
