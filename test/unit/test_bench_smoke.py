"""The benchmark plumbing runs (quick mode) and writes a complete result; no timing is asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_evidence_benchmark_writes_its_result(tmp_path):
    env = dict(os.environ, WFROS_BENCH_QUICK="1", WFROS_BENCH_RESULTS=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "evidence_throughput.py"], cwd=ROOT / "bench", env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "evidence_throughput-quick.json").read_text())
    assert data["quick"] is True and data["events"] == 2000
    assert data["recorder_events_per_s"] > 0 and data["raw_flushed_writes_per_s"] > 0
    assert {"cpus", "python", "note"} <= set(data["machine"])
    assert "[bench] evidence_throughput" in proc.stdout
