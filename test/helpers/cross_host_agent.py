"""The cross-host test's client side, run inside the robot network namespace (``ip netns exec <ns> python ...``).

test/integration/test_cross_host.py runs in the root namespace, which has no route to the namespaced graphs, so
its ROS client lives here: one JSON command per stdin line, one JSON answer per stdout line (prefixed with
``ANSWER_PREFIX``; rclpy logs go to stderr). Commands:

- ``{"op": "connect", "gate": bool, "timeout": s}``: a /worldforge/plan client that has had an answer; with
  ``gate``, also /worldforge/approve, /worldforge/execute and /sim_controller/goals_received.
- ``{"op": "plan", ...}``: one plan; ``from_topics`` plans from the planner's latest /joint_states (what the gate
  checks the start state against), otherwise from an explicit Panda home observation stamped now. Optional
  ``deadline_s``, ``policy_providers``, ``candidates_per_policy``, ``task``.
- ``{"op": "plan_start", ...}`` / ``{"op": "plan_result"}``: the same, split so the caller can act mid-plan.
- ``{"op": "approve", "digest": ...}``, ``{"op": "execute", "approval_id": ..., "digest": ...}``,
  ``{"op": "goals"}`` (the sim controller's latched goal count), ``{"op": "bench", "n": N}`` (N sequential plans
  from explicit observations: milliseconds per plan), ``{"op": "quit"}``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

TEST_DIR = Path(__file__).resolve().parents[1]
for path in (str(TEST_DIR.parent), str(TEST_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)

from graph_helpers import (gate_approve, gate_execute, goals_received, observation, plan_client,  # noqa: E402
                           plan_request)
from ros_harness import RosGraph  # noqa: E402

ANSWER_PREFIX = "@@agent "


class Agent:
    def __init__(self) -> None:
        self.graph = RosGraph("cross_host_client")
        self.clients: dict = {}
        self.counts = None
        self.pending = None

    # ---- commands -------------------------------------------------------------------------------------------
    def connect(self, gate: bool = False, timeout: float = 30.0) -> dict:
        from worldforge_ros.action import ExecutePlan
        from worldforge_ros.srv import Approve

        started = time.monotonic()
        self.clients["plan"] = plan_client(self.graph, timeout=timeout)
        if gate:
            self.counts = goals_received(self.graph)
            self.clients["approve"] = self.graph.client(Approve, "/worldforge/approve", timeout)
            self.clients["execute"] = self.graph.action_client(ExecutePlan, "/worldforge/execute", timeout)
        return {"elapsed_s": time.monotonic() - started}

    def _request(self, from_topics: bool = False, **fields):
        from worldforge_ros.msg import Observation

        fields = {k: v for k, v in fields.items() if v is not None}
        return plan_request(observation=Observation() if from_topics else observation(), **fields)

    @staticmethod
    def _summary(resp, elapsed_s: float) -> dict:
        own = [e for e in resp.events if e.provider == "planner"]
        return {"success": bool(resp.success), "error_code": int(resp.error_code),
                "error_message": resp.error_message, "elapsed_s": elapsed_s, "plan_digest": resp.plan_digest,
                "planner_s": own[-1].duration_ms / 1000.0 if own else None,
                "providers": [c.policy_provider for c in resp.candidates],
                "feasible": [bool(c.feasible) for c in resp.candidates], "selected_index": int(resp.selected_index)}

    def plan(self, timeout: float = 60.0, **fields) -> dict:
        started = time.monotonic()
        resp = self.graph.call(self.clients["plan"], self._request(**fields), timeout=timeout)
        return self._summary(resp, time.monotonic() - started)

    def plan_start(self, **fields) -> dict:
        self.pending = (time.monotonic(), self.clients["plan"].call_async(self._request(**fields)))
        return {"started": True}

    def plan_result(self, timeout: float = 60.0) -> dict:
        started, future = self.pending
        self.pending = None
        resp = self.graph.wait(future, timeout=timeout)
        return self._summary(resp, time.monotonic() - started)

    def approve(self, digest: str) -> dict:
        resp = gate_approve(self.graph, self.clients, digest)
        return {"accepted": bool(resp.accepted), "error_code": int(resp.error_code),
                "error_message": resp.error_message, "approval_id": resp.approval_id,
                "execution_enabled": bool(resp.execution_enabled)}

    def execute(self, approval_id: str, digest: str) -> dict:
        result = gate_execute(self.graph, self.clients, approval_id, digest)
        return {"error_code": int(result.error_code), "error_string": result.error_string,
                "executed": bool(result.executed), "dry_run": bool(result.dry_run),
                "controller_action": result.controller_action}

    def goals(self) -> dict:
        return {"goals": None if self.counts is None else self.counts[-1]}

    def bench(self, n: int = 50, warmup: int = 3) -> dict:
        ms, failures = [], []
        for i in range(warmup + n):
            started = time.perf_counter()
            resp = self.graph.call(self.clients["plan"], self._request(request_id=f"bench-{i}"), timeout=60.0)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            if not resp.success:
                failures.append(f"[{resp.error_code}] {resp.error_message}")
            elif i >= warmup:
                ms.append(elapsed_ms)
        return {"ms": ms, "failures": failures}

    def close(self) -> None:
        self.graph.close()


def main() -> int:
    agent = Agent()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            op = command.pop("op")
            if op == "quit":
                break
            try:
                answer = {"ok": True, **getattr(agent, op)(**command)}
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the test as text
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            print(ANSWER_PREFIX + json.dumps(answer), flush=True)
    finally:
        agent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
