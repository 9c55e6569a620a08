"""The nodes' OWN defaults protect (issue 17, item 3): no profile, no parameters, no launch file.

Each node executable starts with no arguments at all (in a scratch working directory, so the gate's relative
evidence_dir lands there) and the test reads its parameters over rcl_interfaces/GetParameters: the gate is
dry-run, approvals expire, the gate aims at the real controller's name while the simulated controller never
serves that name, and the gate keeps its evidence.
"""

from __future__ import annotations

import math
import shlex
import sys

import pytest

from ros_harness import installed_executable, wait_until
from worldforge_ros.core import names

pytestmark = pytest.mark.graph

NODES = {  # executable -> node name it takes by default
    "approval_node": names.APPROVAL_NODE,
    "sim_controller": "sim_controller",
    "planner_node": names.PLANNER_NODE,
    "provider_node": "provider",  # no -p provider:=..., no remap: plain "provider"
}


def _bare(executable: str, cwd) -> list[str]:
    argv = installed_executable(executable)
    assert argv[0] == sys.executable and len(argv) == 2
    return ["/bin/sh", "-c", f"cd {shlex.quote(str(cwd))} && exec {' '.join(shlex.quote(a) for a in argv)}"]


def _params(ros_graph, node: str, wanted: list[str]) -> dict:
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    client = ros_graph.client(GetParameters, f"/{node}/get_parameters")
    resp = ros_graph.call(client, GetParameters.Request(names=wanted))
    assert len(resp.values) == len(wanted)
    return {n: parameter_value_to_python(v) for n, v in zip(wanted, resp.values)}


@pytest.fixture
def bare_nodes(node_processes, tmp_path):
    procs = {}
    for exe, node in NODES.items():
        cwd = tmp_path / exe
        cwd.mkdir()
        procs[exe] = node_processes(_bare(exe, cwd), node)
    return procs


def test_every_node_started_without_parameters_has_protective_defaults(ros_graph, bare_nodes, tmp_path):
    approval = _params(ros_graph, names.APPROVAL_NODE,
                       ["execution_enabled", "approval_ttl_s", "controller_action", "start_tolerance",
                        "max_joint_state_age_s", "record_evidence"])
    assert approval["execution_enabled"] is False, "the gate must default to dry-run"
    ttl = approval["approval_ttl_s"]
    assert isinstance(ttl, float) and math.isfinite(ttl) and 0 < ttl <= 600, f"approvals must expire, ttl={ttl}"
    assert 0 < approval["start_tolerance"] <= 0.05
    assert 0 < approval["max_joint_state_age_s"] <= 5.0
    assert approval["record_evidence"] is True
    assert approval["controller_action"] == names.REAL_CONTROLLER_ACTION

    sim = _params(ros_graph, "sim_controller", ["action_name"])
    assert sim["action_name"] == names.SIM_CONTROLLER_ACTION
    assert "joint_trajectory_controller" not in sim["action_name"], "a sim must never take a real controller's name"
    assert sim["action_name"] != approval["controller_action"], "a bare gate would drive the sim as if it were real"

    planner = _params(ros_graph, names.PLANNER_NODE, ["deadline_s", "max_deadline_s", "max_observation_age_s"])
    assert all(math.isfinite(v) and v > 0 for v in planner.values())

    provider = _params(ros_graph, NODES["provider_node"], ["provider"])
    assert provider["provider"] == "reference"

    # the bare gate says so at startup, and keeps its evidence inside its own working directory
    gate = bare_nodes["approval_node"]
    assert wait_until(lambda: "dry-run" in gate.output(), timeout=10), gate.output()
    assert "EXECUTION ENABLED" not in gate.output()
    assert wait_until(lambda: any((tmp_path / "approval_node" / "evidence").glob("runs/*/bag")), timeout=10)
    assert all(p.alive() for p in bare_nodes.values()), {k: p.output()[-2000:] for k, p in bare_nodes.items()}
