"""Real LeRobot (Diffusion) and LeWorldModel provider nodes on the tiny untrained fixtures, on a real graph."""

from types import SimpleNamespace

import numpy as np
import pytest

from graph_helpers import PANDA, PANDA_HOME, plan_client, plan_request, planner, provider

pytestmark = pytest.mark.graph


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory):
    from worldforge_ros.commands.fixtures import write_fixtures

    root = tmp_path_factory.mktemp("fixtures")
    write_fixtures(root, ("diffusion", "lewm"), log=lambda _line: None)
    return root


def _observation(images=True):
    from worldforge_ros.commands.demo_session import build_observation
    from worldforge_ros.nodes.conversions import observation_to_msg

    state = SimpleNamespace(name=PANDA, position=PANDA_HOME)
    return observation_to_msg(build_observation(state, "reach the goal pose", images))


def _graph(node_processes, root):
    provider(node_processes, "lerobot", "-p", f"lerobot.policy_path:={root}/lerobot/diffusion",
             "-p", "lerobot.policy_type:=diffusion", "-p", "lerobot.device:=cpu", "-p", "lerobot.seed:=5")
    provider(node_processes, "leworldmodel", "-p", "leworldmodel.policy:=panda/lewm",
             "-p", f"leworldmodel.cache_dir:={root}/stablewm/checkpoints",
             "-p", f"leworldmodel.trusted_roots:=['{root}/stablewm']", "-p", "leworldmodel.camera:=front")
    planner(node_processes, "-p", "policy_providers:=['lerobot']", "-p", "score_provider:=leworldmodel",
            "-p", "candidates_per_policy:=4")


def test_plan_with_lerobot_policy_and_lewm_scores(ros_graph, node_processes, fixtures_dir):
    _graph(node_processes, fixtures_dir)
    client = plan_client(ros_graph, timeout=60.0)
    resp = ros_graph.call(client, plan_request(observation=_observation(), deadline_s=60.0, request_id="lr-1"),
                          timeout=90.0)
    assert resp.success, f"[{resp.error_code}] {resp.error_message}"
    assert len(resp.candidates) == 4 and {c.policy_provider for c in resp.candidates} == {"lerobot"}
    scores = np.array([c.score for c in resp.candidates])
    assert np.all(np.isfinite(scores)) and np.ptp(scores) > 0  # perturbed LeWM: candidates are told apart
    assert resp.lower_is_better
    feasible = [i for i, c in enumerate(resp.candidates) if c.feasible]
    if feasible:
        assert resp.selected_index == min(feasible, key=lambda i: (scores[i], i))
    assert {"lerobot", "leworldmodel"} <= {e.provider for e in resp.events}
    first = resp.candidates[0].trajectory
    assert list(first.joint_names) == PANDA and len(first.points) == 16

    # No camera image: the score provider refuses with a typed observation error; the planner keeps serving.
    bad = ros_graph.call(client, plan_request(observation=_observation(images=False), deadline_s=60.0), timeout=90.0)
    assert not bad.success and 100 <= bad.error_code < 300, bad.error_message
    again = ros_graph.call(client, plan_request(observation=_observation(), deadline_s=60.0), timeout=90.0)
    assert again.success, again.error_message
