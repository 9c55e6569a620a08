"""16 callers at once vs 16 sequential plans, on the composed graph (bringup) and on the launched graph
(one process per node, as ``ros2 launch`` starts them).

Every caller has its own client; all 16 requests go out together. Reported: the burst's wall time and the p99 of
its per-request latencies against 16 sequential plans measured in the same run on the same graph (ratio < 1:
concurrency overlaps the waits; the old blocking planner exhausted its executor threads instead). Every answer
must be a success: a failure aborts the benchmark.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from common import pct, quick, write_result
from graph import GOAL, Graph, observation
from ros_harness import NodeProcess, RosGraph, installed_executable, node_env

CALLERS = 16


def _burst(ros: RosGraph, clients: list, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """(burst wall times, per-request latencies in bursts, sequential per-request latencies), ms."""
    from worldforge_ros.srv import Plan

    walls, burst_lat, seq_lat = [], [], []
    for _ in range(rounds):
        done_at: dict[int, float] = {}
        start = time.perf_counter()
        futures = []
        for i, client in enumerate(clients):
            fut = client.call_async(Plan.Request(observation=observation(), deadline_s=30.0, request_id=f"c{i}"))
            fut.add_done_callback(lambda _f, i=i: done_at.__setitem__(i, time.perf_counter()))
            futures.append(fut)
        answers = [ros.wait(f, timeout=120) for f in futures]
        walls.append((max(done_at.values()) - start) * 1000.0)
        burst_lat += [(t - start) * 1000.0 for t in done_at.values()]
        bad = [(a.error_code, a.error_message) for a in answers if not a.success]
        if bad:
            raise SystemExit(f"concurrent plans failed: {bad[:3]}")
        for client in clients:  # the same 16 plans, one after the other
            t0 = time.perf_counter()
            resp = ros.call(client, Plan.Request(observation=observation(), deadline_s=30.0))
            seq_lat.append((time.perf_counter() - t0) * 1000.0)
            if not resp.success:
                raise SystemExit(f"sequential plan failed: {resp.error_message}")
    return walls, burst_lat, seq_lat


def _measure(label: str, rounds: int) -> dict:
    from worldforge_ros.srv import Plan

    ros = RosGraph(f"bench_concurrent_{label}")
    try:
        probe = Plan.Request(embodiment="discovery-probe")
        clients = [ros.answering_client(Plan, "/worldforge/plan", probe) for _ in range(CALLERS)]
        for client in clients:
            ros.call(client, Plan.Request(observation=observation(), deadline_s=30.0))  # warm-up
        walls, burst_lat, seq_lat = _burst(ros, clients, rounds)
    finally:
        ros.close()
    seq_wall = statistics.median([sum(seq_lat[i:i + CALLERS]) for i in range(0, len(seq_lat), CALLERS)])
    return {"rounds": rounds, "burst_wall_ms_median": round(statistics.median(walls), 2),
            "sequential_16_wall_ms_median": round(seq_wall, 2),
            "wall_ratio": round(statistics.median(walls) / seq_wall, 3),
            "burst_p99_ms": round(pct(burst_lat, 99), 2), "sequential_p99_ms": round(pct(seq_lat, 99), 2),
            "sequential_median_ms": round(statistics.median(seq_lat), 2), "all_succeeded": True}


def main() -> int:
    rounds = 3 if quick() else 20
    if os.environ.get("WFROS_BENCH_ROUNDS"):
        rounds = int(os.environ["WFROS_BENCH_ROUNDS"])
    results = {}
    # composed: every node in one bringup process
    evidence = tempfile.mkdtemp(prefix="wfros-bench-cc-")
    profile = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    profile.write(f"""provider_reference:
  ros__parameters: {{provider: reference, reference: {{goal_positions: {GOAL}, max_step: 0.05}}}}
provider_reference_scorer:
  ros__parameters: {{provider: reference_scorer, reference_scorer: {{goal_positions: {GOAL}}}}}
planner:
  ros__parameters: {{candidates_per_policy: 8}}
approval:
  ros__parameters: {{evidence_dir: {evidence}, controller_action: bench/none}}
""")
    profile.close()
    logs = tempfile.mkdtemp(prefix="wfros-bench-cc-logs-")
    composed = NodeProcess(installed_executable("bringup") + ["--profile", profile.name], "bringup", logs,
                           node_env()).start()
    try:
        results["composed"] = _measure("composed", rounds)
    finally:
        composed.stop()
    graph = Graph()  # launched: one process per node
    try:
        graph.reference()
        graph.approval(tempfile.mkdtemp(prefix="wfros-bench-cc-ev-"))
        results["launched"] = _measure("launched", rounds)
    finally:
        graph.close()
    write_result("concurrent_plans", {
        "target": "all 16 succeed; burst wall < 16 sequential", "callers": CALLERS,
        "ratio": results["launched"]["wall_ratio"], **results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
