"""Shared benchmark plumbing: timing, percentiles, results JSON, graph processes (via the test harness)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("WFROS_BENCH_RESULTS", ROOT / "bench" / "results"))
sys.path.insert(0, str(ROOT / "test"))  # ros_harness: node processes stopped by pid, private rclpy Context


def quick() -> bool:
    return os.environ.get("WFROS_BENCH_QUICK") == "1"


def timed(fn: Callable[[], Any], n: int, warmup: int = 3) -> list[float]:
    """Wall-clock milliseconds of ``n`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median_ms": round(statistics.median(values), 4), "p99_ms": round(pct(values, 99), 4),
            "mean_ms": round(statistics.fmean(values), 4)}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform(terse=True),
            "note": "shared, noisy 2-core machine without GPU: ratios matter, absolute times are context"}


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "quick": quick(), "date": time.strftime("%Y-%m-%d"), "machine": machine(), **data}
    path = RESULTS / f"{name}{'-quick' if quick() else ''}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"[bench] {name}: ratio {data.get('ratio')} (target {data.get('target')}) -> {path}")
    return path


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
