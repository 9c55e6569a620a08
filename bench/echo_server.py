"""Baseline for plan overhead: bare rclpy services answering instantly with payloads of a plan's sizes.

``/bench/echo/select_actions`` returns an (8, 16, 7) float64 tensor, ``/bench/echo/score_actions`` 8 scores,
``/bench/echo/plan`` 8 candidates of 16 x 7 trajectories — prebuilt once, so a call costs only rclpy + DDS.
"""

import sys

import numpy as np
from rclpy.node import Node

from worldforge_ros.msg import Candidate
from worldforge_ros.nodes.conversions import numpy_to_tensor, trajectory_to_msg
from worldforge_ros.nodes.spin import run_node
from worldforge_ros.srv import Plan, ScoreActions, SelectActions

N, H, D = 8, 16, 7


class EchoServer(Node):
    def __init__(self) -> None:
        super().__init__("bench_echo_server")
        rng = np.random.default_rng(0)
        chunk = rng.normal(size=(N, H, D))
        self.raw = numpy_to_tensor("action", chunk)
        names = [f"panda_joint{i}" for i in range(1, D + 1)]
        times = np.arange(1, H + 1) * 0.1
        self.candidates = [Candidate(index=i, policy_provider="reference", score=float(i), feasible=True,
                                     raw_shape=[N, H, D], raw_digest="sha256:" + "0" * 64,
                                     trajectory=trajectory_to_msg(names, chunk[i], chunk[i], times))
                           for i in range(N)]
        self.create_service(SelectActions, "/bench/echo/select_actions", self.on_select)
        self.create_service(ScoreActions, "/bench/echo/score_actions", self.on_score)
        self.create_service(Plan, "/bench/echo/plan", self.on_plan)

    def on_select(self, request, response):
        response.success, response.raw_actions = True, [self.raw]
        return response

    def on_score(self, request, response):
        response.success, response.scores, response.best_index = True, [float(i) for i in range(N)], 0
        return response

    def on_plan(self, request, response):
        response.success, response.candidates = True, self.candidates
        response.start_state = request.observation.joint_state
        return response


def main() -> int:
    return run_node("bench_echo_server", EchoServer, single_threaded=True)


if __name__ == "__main__":
    sys.exit(main())
