"""Chunk latency of a supervised policy run: observe -> goal sent, per chunk (the gate's own measurement).

One composed graph (bringup: reference providers with 8 candidates, planner, gate with execution enabled,
kinematic sim_controller at 20x), one approved envelope, one run of CHUNKS chunks with a 50 ms heartbeat from
here. Each chunk's latency covers the live-state check, the plan (policy + one batched score), the envelope
check, the fsynced ChunkRecord and building the controller goal, up to the send. Prints median/p99.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import pct, quick, write_result
from ros_harness import NodeProcess, RosGraph, installed_executable, node_env, wait_until

CHUNKS = 20 if quick() else 100


def main() -> None:
    from graph_helpers import CHECKLIST, GOAL, PANDA, PANDA_HOME, write_profile
    from std_msgs.msg import Empty

    from worldforge_ros.action import RunPolicy
    from worldforge_ros.core.envelope import Envelope
    from worldforge_ros.nodes.envelope_msgs import envelope_to_msg
    from worldforge_ros.srv import ApproveEnvelope

    tmp = Path(tempfile.mkdtemp(prefix="wfros-bench-run-"))
    profile = write_profile(tmp, provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
                            provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
                            approval={"evidence_dir": str(tmp / "evidence"), "controller_action_type": "worldforge_ros",
                                      "execution_enabled": True},
                            sim_controller={"action_type": "worldforge_ros", "time_scale": 20.0})
    proc = NodeProcess(installed_executable("bringup") + ["--profile", profile], "bringup", tmp, node_env()).start()
    ros = RosGraph("bench_policy_run")
    try:
        pub = ros.node.create_publisher(Empty, "/worldforge/heartbeat", 10)
        ros.node.create_timer(0.05, lambda: pub.publish(Empty()))
        home = np.array(PANDA_HOME)
        env = Envelope(policy_providers=("reference",), score_provider="reference_scorer", embodiment="panda_7dof",
                       joint_names=tuple(PANDA), position_min=home - 0.5, position_max=home + 0.5,
                       velocity_max=[1.5] * 7, max_duration_s=600.0, max_chunks=CHUNKS, heartbeat_timeout_s=2.0,
                       score_threshold=1.0)
        approve = ros.client(ApproveEnvelope, "/worldforge/approve_envelope")
        req = ApproveEnvelope.Request(envelope=envelope_to_msg(env), approve=True, operator_id="bench", **CHECKLIST)
        box = {}

        def attempt() -> bool:
            box["resp"] = ros.call(approve, req)
            return box["resp"].accepted

        if not wait_until(attempt, timeout=30):
            raise SystemExit(f"envelope not approved: {box['resp'].error_message}")
        resp = box["resp"]
        client = ros.action_client(RunPolicy, "/worldforge/run_policy")
        t0 = time.perf_counter()
        handle = ros.wait(client.send_goal_async(RunPolicy.Goal(envelope_id=resp.envelope_id,
                                                                envelope_digest=resp.envelope_digest)))
        result = ros.wait(handle.get_result_async(), timeout=600).result
        wall = time.perf_counter() - t0
        if result.error_code or result.chunks_executed != CHUNKS:
            raise SystemExit(f"run failed: [{result.error_code}] {result.error_string}")
        lat = list(result.chunk_latencies_ms)
        med, p99 = statistics.median(lat), pct(lat, 99)
        # The plan alone (same graph, same request as a chunk) for context: the rest is the gate's share.
        from worldforge_ros.msg import Observation
        from worldforge_ros.srv import Plan

        plan = ros.client(Plan, "/worldforge/plan")
        plan_ms = []
        for i in range(CHUNKS // 2):
            t = time.perf_counter()
            answer = ros.call(plan, Plan.Request(observation=Observation(), policy_providers=["reference"],
                                                 score_provider="reference_scorer", embodiment="panda_7dof",
                                                 deadline_s=5.0, request_id=f"bench-{i}"))
            plan_ms.append((time.perf_counter() - t) * 1000.0)
            if not answer.success:
                raise SystemExit(f"plan failed: {answer.error_message}")
        print(f"[bench] policy run: {CHUNKS} chunks in {wall:.1f} s; observe -> goal sent median {med:.1f} ms, "
              f"p99 {p99:.1f} ms, max {max(lat):.1f} ms; a plan alone (client side) median "
              f"{statistics.median(plan_ms):.1f} ms, p99 {pct(plan_ms, 99):.1f} ms")
        write_result("policy_run_latency", {"target": "context (no target): chunk vs a plan alone",
                                            "ratio": round(med / statistics.median(plan_ms), 3),
                                            "chunks": CHUNKS, "median_ms": round(med, 2), "p99_ms": round(p99, 2),
                                            "max_ms": round(max(lat), 2), "run_wall_s": round(wall, 2),
                                            "plan_alone_median_ms": round(statistics.median(plan_ms), 2),
                                            "plan_alone_p99_ms": round(pct(plan_ms, 99), 2),
                                            "candidates_per_policy": 8})
    finally:
        ros.close()
        proc.stop()


if __name__ == "__main__":
    main()
