"""A reference graph in separate processes (the test harness's NodeProcess), for the graph benchmarks."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import ROOT
from ros_harness import NodeProcess, installed_executable, node_env

HOME = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
GOAL = "[0.1, -0.6, 0.1, -2.2, 0.1, 1.7, 0.9]"
PANDA = [f"panda_joint{i}" for i in range(1, 8)]


class Graph:
    """Start/stop named node processes; every one is stopped by pid on close."""

    def __init__(self) -> None:
        self.logs = Path(tempfile.mkdtemp(prefix="wfros-bench-"))
        self.procs: dict[str, NodeProcess] = {}

    def start(self, name: str, argv: list[str]) -> NodeProcess:
        self.procs[name] = NodeProcess(argv, name, self.logs, node_env()).start()
        return self.procs[name]

    def node(self, executable: str, name: str, *params: str, namespace: str = "") -> NodeProcess:
        remaps = ["-r", f"__node:={name}"] + (["-r", f"__ns:=/{namespace}"] if namespace else [])
        key = f"{namespace}_{name}" if namespace else name
        return self.start(key, installed_executable(executable) + ["--ros-args", *remaps, *params])

    def reference(self, candidates: int = 8, namespace: str = "") -> None:
        """Reference policy + scorer + planner; in ``namespace`` (every name is relative) when given."""
        self.node("provider_node", "provider_reference", "-p", "provider:=reference",
                  "-p", f"reference.goal_positions:={GOAL}", "-p", "reference.max_step:=0.05", namespace=namespace)
        self.node("provider_node", "provider_reference_scorer", "-p", "provider:=reference_scorer",
                  "-p", f"reference_scorer.goal_positions:={GOAL}", namespace=namespace)
        self.node("planner_node", "planner", "-p", f"candidates_per_policy:={candidates}", namespace=namespace)

    def echo(self) -> None:
        """The bare baseline's services in one process, under ``/bench/echo``."""
        self.start("echo", [sys.executable, str(ROOT / "bench" / "echo_server.py")])

    def echo_per_process(self, prefix: str = "/bench/echo_split") -> None:
        """The same three services, each in its own process (as a plan's round trips are), under ``prefix``."""
        for service in ("select_actions", "score_actions", "plan"):
            self.start(f"echo_{service}", [sys.executable, str(ROOT / "bench" / "echo_server.py"),
                                            "--prefix", prefix, service])

    def approval(self, evidence_dir: str, namespace: str = "") -> None:
        self.node("approval_node", "approval", "-p", f"evidence_dir:={evidence_dir}",
                  "-p", "controller_action:=/bench/none", namespace=namespace)

    def stop(self, name: str) -> None:
        self.procs.pop(name).stop()

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def observation():
    import time

    from worldforge_ros.msg import Observation
    from worldforge_ros.nodes.conversions import ns_to_time

    obs = Observation(embodiment_tag="panda_7dof")
    obs.stamp = ns_to_time(time.time_ns())
    obs.joint_state.name = PANDA
    obs.joint_state.position = HOME
    return obs
