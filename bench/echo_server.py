"""Baseline for plan overhead: bare rclpy services answering instantly with payloads of a plan's sizes.

``/bench/echo/select_actions`` returns an (8, 16, 7) float64 tensor, ``/bench/echo/score_actions`` 8 scores,
``/bench/echo/plan`` 8 candidates of 16 x 7 trajectories. Every field the real services fill is filled here too
(provider, metadata JSON and the chained event of each provider reply; plan id, digest, run id and the three
events of a plan reply), with the reference providers' metadata, so the bytes on the wire match a real plan's.
All prebuilt once: a call costs only rclpy + DDS.

``echo_server.py [--prefix P] [select_actions] [score_actions] [plan]``: the services to serve (default all three,
under ``/bench/echo``). One process per service mirrors a plan's graph, where each of the three round trips goes to
its own process (planner, policy provider, scorer), idle since the previous plan.
"""

import sys

import numpy as np
from rclpy.node import Node

from worldforge_ros.core.digests import sha256_digest
from worldforge_ros.core.events import EventChain, ProviderEvent
from worldforge_ros.msg import Candidate
from worldforge_ros.nodes.conversions import event_to_msg, numpy_to_tensor, trajectory_to_msg
from worldforge_ros.nodes.spin import run_node
from worldforge_ros.srv import Plan, ScoreActions, SelectActions

N, H, D = 8, 16, 7
NOTE = "reference provider: deterministic arithmetic for tests, benchmarks and demos; not a learned model"
SELECT_META = {"action_horizon": H, "candidate_count": N, "embodiment_tag": "panda_7dof", "goal_source": "config",
               "mode": "predict_chunk", "noise_std": 0.05, "note": NOTE, "raw_shape": [N, H, D],
               "runtime": "reference", "seed": 0}
SCORE_META = {"best_index": 0, "candidate_count": N, "goal_source": "config", "note": NOTE, "runtime": "reference",
              "score_direction": "lower_is_better", "score_shape": [N], "score_type": "distance_to_goal"}
PLAN_META = {"candidate_count": N, "plan_digest": sha256_digest("plan"), "selected_index": 0,
             "stages_ms": {"assemble": 0.1, "policies": 1.5, "record": 0.5, "score_request": 0.2, "score_wait": 0.3,
                           "serialize": 0.5, "translate": 0.3}}


def _event(provider: str, operation: str, method: str, meta: dict, input_digest: str = "") -> object:
    """A chained event message as a provider (or the planner) emits it."""
    ev = ProviderEvent.build(provider, operation, "success", method=method, duration_ms=0.5, metadata=meta,
                             input_digest=input_digest)
    return event_to_msg(EventChain().stamp(ev))


SERVICES = {"select_actions": SelectActions, "score_actions": ScoreActions, "plan": Plan}


class EchoServer(Node):
    def __init__(self, prefix: str = "/bench/echo", services: tuple[str, ...] = tuple(SERVICES)) -> None:
        super().__init__("bench_echo_server" + ("" if len(services) == len(SERVICES) else "_" + "_".join(services)))
        rng = np.random.default_rng(0)
        chunk = rng.normal(size=(N, H, D))
        self.raw = numpy_to_tensor("action", chunk)
        names = [f"panda_joint{i}" for i in range(1, D + 1)]
        times = np.arange(1, H + 1) * 0.1
        self.candidates = [Candidate(index=i, policy_provider="reference", score=float(i), feasible=True,
                                     raw_shape=[N, H, D], raw_digest="sha256:" + "0" * 64,
                                     trajectory=trajectory_to_msg(names, chunk[i], chunk[i], times))
                           for i in range(N)]
        self.select_event = _event("reference", "policy", "SELECT_ACTIONS", SELECT_META, sha256_digest("obs"))
        self.score_event = _event("reference_scorer", "score", "SCORE_ACTIONS", SCORE_META, sha256_digest("obs"))
        self.plan_events = [self.select_event, self.score_event,
                            _event("planner", "plan", "PLAN", PLAN_META)]
        handlers = {"select_actions": self.on_select, "score_actions": self.on_score, "plan": self.on_plan}
        for name in services:
            self.create_service(SERVICES[name], f"{prefix}/{name}", handlers[name])

    def on_select(self, request, response):
        response.success, response.raw_actions = True, [self.raw]
        # The providers reply with their event's metadata JSON.
        response.provider, response.event = "reference", self.select_event
        response.metadata_json = self.select_event.metadata_json
        return response

    def on_score(self, request, response):
        response.success, response.scores, response.best_index = True, [float(i) for i in range(N)], 0
        response.lower_is_better, response.event = True, self.score_event
        response.metadata_json = self.score_event.metadata_json
        return response

    def on_plan(self, request, response):
        response.success, response.candidates = True, self.candidates
        response.start_state = request.observation.joint_state
        response.plan_id, response.plan_digest, response.run_id = "plan-" + "0" * 32, PLAN_META["plan_digest"], "run"
        response.events = self.plan_events
        return response


def main(argv: list[str]) -> int:
    prefix = argv[argv.index("--prefix") + 1] if "--prefix" in argv else "/bench/echo"
    services = tuple(a for a in argv if a in SERVICES) or tuple(SERVICES)
    return run_node("bench_echo_server", lambda: EchoServer(prefix, services), argv[:1], single_threaded=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
