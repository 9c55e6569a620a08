"""Regenerate the results table of docs/benchmarks.md from bench/results/*.json (full runs preferred)."""

from __future__ import annotations

import json

from common import ROOT, RESULTS

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ORDER = ("plan_overhead", "concurrent_plans", "policy_run_latency", "evidence_plan_latency", "planner_memory",
         "batched_scoring", "evidence_throughput", "gr00t_transport", "reach_success")


def baseline(data: dict) -> str:
    name = data["name"]
    if name == "plan_overhead":
        where = data.get("where_the_time_goes_ms")
        order = ("policies", "score_request", "translate", "serialize", "score_wait", "assemble", "record",
                 "rest_of_callback", "outside_callback")  # as a plan runs (the JSON keeps them sorted)
        stages = "" if not where else "; medians in ms: " + ", ".join(
            f"{k.replace('_', ' ')} {where[k]}" for k in sorted(where, key=lambda k: (k not in order, order.index(k)
                                                                                    if k in order else 0, k)))
        one = data.get("baseline_one_echo_process")
        idle = data.get("echo_plan_round_trip_idle")
        beside = "" if not one else (f"; the same 3 round trips to one echo process {one['median_ms']} ms = "
                                     f"{data['ratio_one_echo_process']}x (a server idle 10 ms answers "
                                     f"{idle['idle_cost_ms']} ms slower than one called back to back)")
        bare = data["baseline_bare_rclpy_3_round_trips"]["median_ms"]
        return (f"bare rclpy 3 round trips, one echo process per service {bare} ms; "
                f"plan {data['plan']['median_ms']} ms (p99 {data['plan']['p99_ms']}), compute "
                f"{data['provider_compute_ms']} ms; p99 ratio {data['ratio_p99']}{beside}{stages}")
    if name == "concurrent_plans":
        return "; ".join(f"{k}: 16 at once {v['burst_wall_ms_median']} ms (p99 {v['burst_p99_ms']}) vs 16 sequential "
                         f"{v['sequential_16_wall_ms_median']} ms (p99 {v['sequential_p99_ms']}) = {v['wall_ratio']}x"
                         for k, v in ((k, data[k]) for k in ("composed", "launched")))
    if name == "policy_run_latency":
        return (f"observe -> goal sent median {data['median_ms']} ms (p99 {data['p99_ms']}) over {data['chunks']} "
                f"chunks vs a plan alone {data['plan_alone_median_ms']} ms (p99 {data['plan_alone_p99_ms']})")
    if name == "evidence_plan_latency":
        return f"plan {data['recorder_off']['median_ms']} ms off / {data['recorder_on']['median_ms']} ms on"
    if name == "planner_memory":
        return f"RSS {data['rss_after_warmup_kb']} kB -> {data['rss_after_kb']} kB over {data['plans']} plans"
    if name == "batched_scoring":
        m = data["models"]
        return "; ".join(f"{k} ({v['parameters']:,} params): batched {v['batched_S16']['median_ms']} ms vs 16 "
                         f"singles {v['singles_16']['median_ms']} ms = {v['ratio']}x" for k, v in m.items())
    if name == "evidence_throughput":
        return (f"{data['recorder_events_per_s']:,} events/s (with links, flush each); raw flushed file writes "
                f"{data['raw_flushed_writes_per_s']:,}/s")
    if name == "gr00t_transport":
        return "; ".join(f"{c['generation']} {c['cameras']}x{c['image'][0]}x{c['image'][1]} "
                         f"({c['request_bytes'] // 1000} kB): transport {c['transport']['median_ms']} vs raw "
                         f"{c['raw_pyzmq']['median_ms']} ms = {c['ratio']}x (whole provider call "
                         f"{c['provider']['median_ms']} ms = {c['provider_ratio']}x)" for c in data["cases"])
    if name == "reach_success":
        r, e = data["success_rate"], data["median_error_cm"]
        return (f"success within {data['tolerance_cm']:g} cm over {data['seeds']} unseen targets, {data['candidates']} "
                f"candidates: selected {r['selected']:.0%} (median {e['selected']} cm) vs random {r['random']:.0%} "
                f"({e['random']} cm) vs first sample {r['first']:.0%} ({e['first']} cm); {data['label']}")
    return ""


def main() -> int:
    rows = ["| benchmark | target | measured ratio | baseline and context | run |", "|---|---|---|---|---|"]
    for name in ORDER:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            path = RESULTS / f"{name}-quick.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        ratio = data["ratio"] if name != "evidence_throughput" else f"{data['recorder_events_per_s']:,}/s"
        rows.append(f"| {name} | {data['target']} | {ratio} | {baseline(data)} | "
                    f"{'quick' if data['quick'] else 'full'}, {data['date']} |")
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + "\n".join(rows) + "\n" + text[end:])
    print(f"[bench] table written to {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
