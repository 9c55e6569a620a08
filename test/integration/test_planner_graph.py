"""The planner on a real multi-process graph with the reference providers: plans, typed errors, faults."""

import json
import signal
import time

import numpy as np
import pytest

from graph_helpers import PANDA, PANDA_HOME, observation, plan_client, plan_request, provider, reference_graph
from ros_harness import wait_until
from worldforge_ros.core.digests import sha256_digest
from worldforge_ros.core.errors import ErrorCode
from worldforge_ros.core.plan import PlanData

pytestmark = pytest.mark.graph


def test_plan_with_reference_providers(ros_graph, node_processes):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from worldforge_ros.msg import PlanRecord

    reference_graph(node_processes)
    records = []
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_graph.node.create_subscription(PlanRecord, "/worldforge/plans", records.append, latched)
    client = plan_client(ros_graph)
    resp = ros_graph.call(client, plan_request(task="reach", request_id="r1"))
    assert resp.success, resp.error_message
    assert len(resp.candidates) == 8
    assert 0 <= resp.selected_index < 8
    scores = [c.score for c in resp.candidates]
    feasible = [i for i, c in enumerate(resp.candidates) if c.feasible]
    assert resp.lower_is_better
    assert resp.selected_index == min(feasible, key=lambda i: (scores[i], i))
    traj = resp.candidates[resp.selected_index].trajectory
    assert list(traj.joint_names) == PANDA and len(traj.points) == 16
    assert list(traj.points[-1].velocities) == [0.0] * 7
    assert {e.provider for e in resp.events} == {"reference", "reference_scorer", "planner"}
    assert all(e.request_id == "r1" for e in resp.events)
    assert wait_until(lambda: records and records[-1].plan_digest == resp.plan_digest)
    record = records[-1]
    assert sha256_digest(record.plan_json) == resp.plan_digest
    plan = PlanData.from_json(record.plan_json, expected_digest=resp.plan_digest)
    assert plan.selected_index == resp.selected_index
    assert np.allclose(plan.start_state.positions, PANDA_HOME)
    # The record (published after the reply) carries the reply's candidates, scored, and the same start state.
    assert [c.score for c in record.candidates] == scores == [c.score for c in plan.candidates]
    assert [c.trajectory for c in record.candidates] == [c.trajectory for c in resp.candidates]
    assert record.start_state == resp.start_state and record.plan_id == resp.plan_id
    # A provider's reply carries its event's metadata JSON: redacted and bounded as recorded, not a raw copy.
    from worldforge_ros.srv import SelectActions

    select = ros_graph.client(SelectActions, "/worldforge/providers/reference/select_actions")
    direct = ros_graph.call(select, SelectActions.Request(observation=observation(), num_candidates=2))
    assert direct.success, direct.error_message
    assert direct.metadata_json == direct.event.metadata_json
    assert json.loads(direct.metadata_json)["candidate_count"] == 2
    # A recorder that subscribes only now (started late, respawned) still gets every event the plan binds.
    from worldforge_ros.msg import ProviderEvent
    from worldforge_ros.nodes.evidence_qos import EVENTS_QOS

    late = []
    ros_graph.node.create_subscription(ProviderEvent, "/worldforge/events", late.append, EVENTS_QOS)
    assert wait_until(lambda: set(plan.event_digests) <= {e.digest for e in late}), (plan.event_digests, late)
    assert len(plan.event_digests) == len([e for e in resp.events if e.provider != "planner"])  # the providers'
    # The planner's own event says where the time went: every stage of the core plus the record.
    from worldforge_ros.core.planning import STAGES

    own = json.loads(resp.events[-1].metadata_json)
    assert resp.events[-1].provider == "planner" and sorted(own["stages_ms"]) == sorted([*STAGES, "record"])
    assert 0.0 < sum(own["stages_ms"].values()) <= resp.events[-1].duration_ms


def _nan_observation():
    obs = observation()
    obs.joint_state.position = [float("nan")] + list(obs.joint_state.position[1:])
    return obs


def _oversize_observation():
    from worldforge_ros.nodes.conversions import numpy_to_tensor

    obs = observation()
    obs.extras = [numpy_to_tensor("goal", np.zeros(4096, dtype=np.float64))]
    return obs


@pytest.mark.parametrize("case,fields,code", [
    ("nan", {"observation": _nan_observation}, ErrorCode.NON_FINITE_VALUE),
    ("wrong_joint_names", {"observation": lambda: observation(names=[f"j{i}" for i in range(7)])},
     ErrorCode.JOINT_NAMES_MISMATCH),
    ("stale", {"observation": lambda: observation(stamp_ns=time.time_ns() - 60 * 10**9)}, ErrorCode.OBSERVATION_STALE),
    ("unknown_provider", {"policy_providers": ["nope"]}, ErrorCode.UNKNOWN_PROVIDER),
    ("unknown_embodiment", {"embodiment": "hexapod"}, ErrorCode.UNKNOWN_EMBODIMENT),
    ("oversize", {"observation": _oversize_observation}, ErrorCode.PAYLOAD_TOO_LARGE),
    ("bad_deadline", {"deadline_s": float("inf")}, ErrorCode.INVALID_ARGUMENT),
    ("too_many_candidates", {"candidates_per_policy": 100000}, ErrorCode.INVALID_ARGUMENT),
])
def test_malformed_requests_get_typed_errors_and_planner_keeps_serving(ros_graph, node_processes, case, fields, code):
    reference_graph(node_processes, "-p", "max_tensor_bytes:=16384")
    client = plan_client(ros_graph)
    fields = {k: (v() if callable(v) else v) for k, v in fields.items()}
    resp = ros_graph.call(client, plan_request(**fields))
    assert not resp.success
    assert resp.error_code == int(code), resp.error_message
    assert resp.events and resp.events[-1].phase == "failure"
    assert ros_graph.call(client, plan_request()).success  # still serving


def test_empty_observation_without_topics_is_observation_missing(ros_graph, node_processes):
    from worldforge_ros.msg import Observation

    reference_graph(node_processes)
    resp = ros_graph.call(plan_client(ros_graph), plan_request(observation=Observation()))
    assert resp.error_code == int(ErrorCode.OBSERVATION_MISSING)


def test_latest_joint_states_are_used_when_observation_is_empty(ros_graph, node_processes):
    from sensor_msgs.msg import JointState
    from worldforge_ros.msg import Observation

    reference_graph(node_processes)
    pub = ros_graph.node.create_publisher(JointState, "/joint_states", 10)
    client = plan_client(ros_graph)

    def publish_and_plan():
        pub.publish(JointState(name=PANDA, position=[v + 0.01 for v in PANDA_HOME]))
        time.sleep(0.2)
        return ros_graph.call(client, plan_request(observation=Observation()))

    assert wait_until(lambda: publish_and_plan().success, timeout=20)
    resp = publish_and_plan()
    assert np.allclose(resp.start_state.position, [v + 0.01 for v in PANDA_HOME])


def test_inactive_provider_gives_typed_error(ros_graph, node_processes):
    reference_graph(node_processes, policy_params=("-p", "autostart:=false"))
    resp = ros_graph.call(plan_client(ros_graph), plan_request())
    assert resp.error_code == int(ErrorCode.PROVIDER_NOT_ACTIVE), resp.error_message


def test_provider_killed_mid_plan_times_out_then_recovers_after_restart(ros_graph, node_processes):
    goal = "[0.1, -0.6, 0.1, -2.2, 0.1, 1.7, 0.9]"
    slow = provider(node_processes, "reference", "-p", f"reference.goal_positions:={goal}",
                    "-p", "reference.max_step:=0.05", "-p", "reference.latency_s:=3.0")
    provider(node_processes, "reference_scorer", "-p", f"reference_scorer.goal_positions:={goal}")
    from graph_helpers import planner

    planner(node_processes)
    client = plan_client(ros_graph)
    assert ros_graph.call(client, plan_request(deadline_s=20.0)).success  # warm: discovery done
    future = client.call_async(plan_request(deadline_s=2.5))
    time.sleep(0.5)
    slow.kill(signal.SIGKILL)
    started = time.monotonic()
    resp = ros_graph.wait(future, timeout=30)
    assert not resp.success
    assert resp.error_code in (int(ErrorCode.PROVIDER_TIMEOUT), int(ErrorCode.PROVIDER_UNAVAILABLE))
    assert time.monotonic() - started < 10  # bounded by the deadline, not a hang
    provider(node_processes, "reference", "-p", f"reference.goal_positions:={goal}", "-p", "reference.max_step:=0.05",
             node_name="provider_reference")
    assert wait_until(lambda: ros_graph.call(client, plan_request(deadline_s=5.0)).success, timeout=30)
