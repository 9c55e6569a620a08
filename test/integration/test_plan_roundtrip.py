"""Foundation: a real two-process service round trip on worldforge_ros/srv/Plan."""

import sys

import pytest

from graph_helpers import plan_client
from ros_harness import ROOT
from worldforge_ros.core.digests import digest_json

pytestmark = pytest.mark.graph


def test_plan_request_crosses_processes(ros_graph, node_processes):
    from worldforge_ros.srv import Plan

    server = node_processes([sys.executable, str(ROOT / "test" / "helpers" / "plan_echo_server.py")], "plan_echo")
    client = plan_client(ros_graph)
    req = Plan.Request()
    req.task = "push the T into the target"
    req.request_id = "req-42"
    req.policy_providers = ["lerobot", "reference"]
    req.observation.joint_state.name = ["j1", "j2"]
    req.observation.joint_state.position = [0.25, -1.5]
    resp = ros_graph.call(client, req)
    assert resp.success
    assert resp.plan_id == "echo-req-42"
    assert resp.plan_digest == digest_json({"task": req.task, "names": ["j1", "j2"], "positions": [0.25, -1.5],
                                            "providers": ["lerobot", "reference"]})
    assert list(resp.start_state.position) == [0.25, -1.5]
    assert resp.selected_index == 1
    assert server.alive()
    assert server.stop() == "SIGINT"  # stopped cleanly by its first signal
    assert not server.leaked
