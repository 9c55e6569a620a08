"""SIGKILL of the recording process: every flushed record survives, recover rebuilds a bag that verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from worldforge_ros.evidence.reader import read_bag, stream_read_mcap
from worldforge_ros.evidence.recover import recover_bag
from worldforge_ros.evidence.topics import CHAIN_TOPIC, EVENTS_TOPIC, PLANS_DEPTH, PLANS_TOPIC
from worldforge_ros.evidence.verify import UNFINISHED_REASON, verify_bag

REPO = Path(__file__).resolve().parents[2]

_RECORDER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[3])
    from worldforge_ros.evidence import samples
    from worldforge_ros.evidence.topics import EVENTS_TOPIC, PLANS_TOPIC
    from worldforge_ros.evidence.writer import EvidenceWriter
    writer = EvidenceWriter(sys.argv[1], "run-killed")
    ts = writer.typestore
    writer.record_message(PLANS_TOPIC, samples.plan_record(ts, run_id="run-killed"))
    for i in range(int(sys.argv[2])):
        writer.record_message(EVENTS_TOPIC, samples.provider_event(ts, i, run_id="run-killed"))
    print(writer.chain_head, writer.chain_length, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _record_then_kill(bag: Path, events: int) -> tuple[str, int]:
    proc = subprocess.run([sys.executable, "-c", _RECORDER, str(bag), str(events), str(REPO)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    head, length = proc.stdout.split()
    return head, int(length)


def test_sigkill_then_recover_keeps_every_record(tmp_path):
    bag = tmp_path / "run" / "bag"
    head, length = _record_then_kill(bag, 250)
    assert length == 251 and not (bag / "metadata.yaml").exists()
    before = verify_bag(bag)
    assert not before.ok and before.reason == UNFINISHED_REASON and before.records == 251

    result = recover_bag(bag)
    assert (result.records, result.links, result.unlinked_tail) == (251, 251, 0)
    assert result.partial_path is not None and result.partial_path.exists()
    report = verify_bag(bag)
    assert report.ok, report.summary()
    assert report.chain_head == head and report.records == 251
    contents = read_bag(bag)
    assert contents.custom_data["run_id"] == "run-killed" and contents.custom_data["recovered"] == "true"
    ids = [r.message.request_id for r in contents.records if r.topic == EVENTS_TOPIC]
    assert ids == [f"req-{i}" for i in range(250)]
    assert [r.topic for r in contents.records[:2]] == [PLANS_TOPIC, CHAIN_TOPIC]
    # the rebuilt bag keeps the QoS and the type hashes
    assert contents.topics[PLANS_TOPIC].offered_qos_profiles == f"reliable/transient_local/depth {PLANS_DEPTH}"
    assert contents.topics[PLANS_TOPIC].type_hash.startswith("RIHS01_")
    # recovering twice is a no-op
    assert recover_bag(bag).already_finished


def test_truncated_tail_record_is_left_out_and_reported(tmp_path):
    bag = tmp_path / "run" / "bag"
    _record_then_kill(bag, 20)
    mcap = bag / "bag.mcap"
    stream = stream_read_mcap(mcap)
    assert len(stream.messages) == 42 and not stream.complete
    # cut the file in the middle of the last link: the last record has lost its link
    data = mcap.read_bytes()
    mcap.write_bytes(data[:-40])
    result = recover_bag(bag)
    assert (result.records, result.links, result.unlinked_tail) == (20, 20, 1)
    report = verify_bag(bag)
    assert report.ok and report.records == 20
    assert result.partial_path.stat().st_size == len(data) - 40


def test_recover_cli_exit_codes(tmp_path):
    from worldforge_ros.cli import main

    bag = tmp_path / "run" / "bag"
    _record_then_kill(bag, 5)
    assert main(["evidence", "verify", str(bag)]) == 1
    assert main(["evidence", "recover", str(bag)]) == 0
    assert main(["evidence", "verify", str(tmp_path / "run")]) == 0
    assert os.path.exists(bag / "metadata.yaml")
