"""A lab's graph: namespaces, first calls, camera and joint wiring, replays, a second controller, many callers.

Real node processes on the private domain; the only stand-in is ``sim_controller`` (the host controller).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from graph_helpers import (CHECKLIST, GOAL, PANDA, PANDA_HOME, bringup, installed_executable, plan_request,
                           provider, write_profile)
from ros_harness import wait_until
from worldforge_ros.core.errors import ErrorCode

pytestmark = pytest.mark.graph


def _graph_profile(tmp_path, evidence: str, **extra):
    return write_profile(tmp_path, provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
                         provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
                         approval={"evidence_dir": evidence, "controller_action_type": "worldforge_ros",
                                   "execution_enabled": True},
                         sim_controller={"action_type": "worldforge_ros", "time_scale": 4.0}, **extra)


def _clients(ros_graph, ns: str):
    from worldforge_ros.action import ExecutePlan
    from worldforge_ros.srv import Approve, Plan

    return {"plan": ros_graph.answering_client(Plan, f"{ns}/worldforge/plan",
                                               plan_request(embodiment="discovery-probe")),
            "approve": ros_graph.client(Approve, f"{ns}/worldforge/approve"),
            "execute": ros_graph.action_client(ExecutePlan, f"{ns}/worldforge/execute")}


def _goal_counter(ros_graph, ns: str):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt32

    seen = [None]
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_graph.node.create_subscription(UInt32, f"{ns}/sim_controller/goals_received", lambda m: seen.append(m.data),
                                       qos)
    return seen


def _plan_from_topics(ros_graph, client):
    from worldforge_ros.msg import Observation

    resp = ros_graph.call(client, plan_request(observation=Observation()))
    assert resp.success, resp.error_message
    return resp


def _approve(ros_graph, client, digest):
    from worldforge_ros.srv import Approve

    req = Approve.Request(plan_digest=digest, approve=True, operator_id="alice", **CHECKLIST)
    resp = None

    def attempt():
        nonlocal resp
        resp = ros_graph.call(client, req)
        return resp.error_code != int(ErrorCode.UNKNOWN_PLAN)

    wait_until(attempt, timeout=10)
    return resp


def _execute(ros_graph, client, approval_id, digest):
    from worldforge_ros.action import ExecutePlan

    handle = ros_graph.wait(client.send_goal_async(ExecutePlan.Goal(approval_id=approval_id, plan_digest=digest)))
    assert handle.accepted
    return ros_graph.wait(handle.get_result_async(), timeout=60).result


def test_two_namespaced_graphs_plan_approve_and_execute_independently(ros_graph, node_processes, tmp_path):
    graphs = {}
    for ns in ("robot1", "robot2"):
        profile = _graph_profile(tmp_path, str(tmp_path / f"evidence-{ns}"))
        bringup(node_processes, profile, "--namespace", ns)
        graphs[ns] = {"clients": _clients(ros_graph, f"/{ns}"), "goals": _goal_counter(ros_graph, f"/{ns}")}
    for ns, g in graphs.items():
        assert wait_until(lambda: g["goals"][-1] == 0), f"{ns}: its sim_controller is not up"
    # Every node of both graphs is in its namespace, and so is every name it serves or publishes.
    nodes = ros_graph.node.get_node_names_and_namespaces()
    for ns in ("robot1", "robot2"):
        for node in ("planner", "approval", "sim_controller", "provider_reference", "provider_reference_scorer"):
            assert (node, f"/{ns}") in nodes, (node, ns, nodes)
            served = [n for n, _t in ros_graph.node.get_service_names_and_types_by_node(node, f"/{ns}")] + \
                [n for n, _t in ros_graph.node.get_publisher_names_and_types_by_node(node, f"/{ns}")]
            stray = [n for n in served if not n.startswith(f"/{ns}/") and n not in ("/rosout", "/diagnostics", "/parameter_events")]
            assert not stray, (node, ns, stray)
    names = {n for n, _t in ros_graph.node.get_service_names_and_types()}
    assert {"/robot1/worldforge/plan", "/robot2/worldforge/plan"} <= names

    plans = {ns: _plan_from_topics(ros_graph, g["clients"]["plan"]) for ns, g in graphs.items()}
    # Each plan starts from its own robot's joint states and is known only to its own gate.
    robot1_digest = plans["robot1"].plan_digest
    cross = _approve(ros_graph, graphs["robot2"]["clients"]["approve"], robot1_digest)
    assert not cross.accepted and cross.error_code == int(ErrorCode.UNKNOWN_PLAN)
    approval = _approve(ros_graph, graphs["robot1"]["clients"]["approve"], robot1_digest)
    assert approval.accepted, approval.error_message
    result = _execute(ros_graph, graphs["robot1"]["clients"]["execute"], approval.approval_id, robot1_digest)
    assert result.error_code == 0 and result.executed, result.error_string
    assert result.controller_action == "/robot1/sim_controller/follow_joint_trajectory"
    assert wait_until(lambda: graphs["robot1"]["goals"][-1] == 1)
    assert graphs["robot2"]["goals"][-1] == 0  # robot2's controller got nothing
    # robot2 executes its own plan; robot1's controller count stays at 1.
    approval2 = _approve(ros_graph, graphs["robot2"]["clients"]["approve"], plans["robot2"].plan_digest)
    assert approval2.accepted, approval2.error_message
    result2 = _execute(ros_graph, graphs["robot2"]["clients"]["execute"], approval2.approval_id,
                       plans["robot2"].plan_digest)
    assert result2.executed, result2.error_string
    assert wait_until(lambda: graphs["robot2"]["goals"][-1] == 1) and graphs["robot1"]["goals"][-1] == 1
    for ns in graphs:
        assert len(list((tmp_path / f"evidence-{ns}").glob("runs/*/bag"))) == 1


def test_first_call_waits_for_the_first_observation(ros_graph, node_processes, tmp_path):
    """A caller asking right after the service appears, before any joint state: the plan waits (within its
    deadline) instead of failing with OBSERVATION_MISSING; with no joint states at all it is a typed 110."""
    from sensor_msgs.msg import JointState
    from worldforge_ros.msg import Observation

    provider(node_processes, "reference", "-p", f"reference.goal_positions:={GOAL}")
    provider(node_processes, "reference_scorer", "-p", f"reference_scorer.goal_positions:={GOAL}")
    argv = installed_executable("planner_node") + ["--ros-args", "-p", "joint_states_topic:=late_joint_states"]
    node_processes(argv, "planner")
    from worldforge_ros.srv import Plan

    client = ros_graph.answering_client(Plan, "/worldforge/plan", plan_request(embodiment="discovery-probe"))
    missing = ros_graph.call(client, plan_request(observation=Observation(), deadline_s=1.0))
    assert missing.error_code == int(ErrorCode.OBSERVATION_MISSING) and "late_joint_states" in missing.error_message

    pub = ros_graph.node.create_publisher(JointState, "/late_joint_states", 10)
    future = client.call_async(plan_request(observation=Observation(), deadline_s=15.0))
    time.sleep(1.5)  # the request is now waiting inside the planner for a first joint state
    assert not future.done()
    msg = JointState(name=PANDA, position=PANDA_HOME)
    for _ in range(20):
        msg.header.stamp = ros_graph.node.get_clock().now().to_msg()
        pub.publish(msg)
        if future.done():
            break
        time.sleep(0.1)
    resp = ros_graph.wait(future, timeout=20)
    assert resp.success, resp.error_message
    assert list(resp.start_state.name) == PANDA


def test_camera_and_joint_maps_reach_the_policy_and_the_plan(ros_graph, node_processes, tmp_path):
    """A robot whose joints are named fr3_joint* plus a gripper, a raw and a compressed camera: the policy sees
    panda_joint* only (the gripper dropped) and both cameras under their keys; the plan speaks the robot's names."""
    import cv2
    from sensor_msgs.msg import CompressedImage, Image, JointState
    from worldforge_ros.msg import Observation

    robot = [f"fr3_joint{i}" for i in range(1, 8)]
    joint_map = "[" + ", ".join(f"'{r}={p}'" for r, p in zip(robot, PANDA)) + "]"
    provider(node_processes, "reference", "-p", f"reference.goal_positions:={GOAL}")
    provider(node_processes, "reference_scorer", "-p", f"reference_scorer.goal_positions:={GOAL}")
    argv = installed_executable("planner_node") + [
        "--ros-args", "-p", f"joint_map:={joint_map}",
        "-p", "camera_topics:=['front=/cams/front/image_raw', 'wrist=/cams/wrist/image_raw/compressed']"]
    node_processes(argv, "planner")
    js_pub = ros_graph.node.create_publisher(JointState, "/joint_states", 10)
    raw_pub = ros_graph.node.create_publisher(Image, "/cams/front/image_raw", 10)
    jpg_pub = ros_graph.node.create_publisher(CompressedImage, "/cams/wrist/image_raw/compressed", 10)
    pixels = np.zeros((24, 32, 3), dtype=np.uint8)
    pixels[:, :16] = (0, 0, 255)
    ok, jpeg = cv2.imencode(".png", pixels)
    assert ok

    def publish_all():
        stamp = ros_graph.node.get_clock().now().to_msg()
        js = JointState(name=robot + ["fr3_finger_joint1"], position=PANDA_HOME + [0.04])
        js.header.stamp = stamp
        js_pub.publish(js)
        img = Image(height=24, width=32, encoding="rgb8", step=96, data=pixels.tobytes())
        img.header.stamp, img.header.frame_id = stamp, "some_optical_frame"
        raw_pub.publish(img)
        comp = CompressedImage(format="png", data=jpeg.tobytes())
        comp.header.stamp = stamp
        jpg_pub.publish(comp)

    from worldforge_ros.srv import Plan

    client = ros_graph.answering_client(Plan, "/worldforge/plan", plan_request(embodiment="discovery-probe"))
    resp = None  # noqa: F841

    def attempt():
        nonlocal resp
        publish_all()
        resp = ros_graph.call(client, plan_request(observation=Observation(), deadline_s=5.0))
        return resp.success

    assert wait_until(attempt, timeout=30), resp.error_message
    assert list(resp.start_state.name) == robot  # the plan speaks the robot's joint names
    assert all(list(c.trajectory.joint_names) == robot for c in resp.candidates)
    # What the policy saw, proven by its input digest: panda_joint* only (gripper dropped), both cameras by key.
    from worldforge_ros.core.observation import ImageData, ObservationData
    from worldforge_ros.nodes.provider_node import input_digest

    seen = ObservationData(joint_names=tuple(PANDA), joint_positions=np.asarray(PANDA_HOME, dtype=np.float64),
                           images=(ImageData("front", "rgb8", pixels), ImageData("wrist", "bgr8", pixels)))
    policy_event = next(e for e in resp.events if e.provider == "reference")
    assert policy_event.input_digest == input_digest(seen, num_candidates=8, mode="predict_chunk")


def test_replayed_plans_never_arm_a_live_gate(ros_graph, node_processes, tmp_path):
    """A bag's plan republished on the live topic (as ros2 bag play does) is not approvable; the gate's own
    planner's next plan is. Replayed events do not enter the live bag."""
    import subprocess

    from worldforge_ros.evidence.reader import read_bag

    first = _graph_profile(tmp_path, str(tmp_path / "evidence-old"))
    proc = bringup(node_processes, first)
    clients = _clients(ros_graph, "")
    old = _plan_from_topics(ros_graph, clients["plan"])
    assert proc.stop() == "SIGINT"
    old_bag = next((tmp_path / "evidence-old").glob("runs/*/bag"))

    live = _graph_profile(tmp_path, str(tmp_path / "evidence-live"))
    bringup(node_processes, live)
    clients = _clients(ros_graph, "")
    replay = subprocess.run(["worldforge-ros", "evidence", "replay", str(old_bag), "--prefix", "", "--fast",
                             "--discovery-wait", "3"], capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert "replayed" in replay.stdout
    refused = _approve(ros_graph, clients["approve"], old.plan_digest)
    assert not refused.accepted and refused.error_code == int(ErrorCode.UNKNOWN_PLAN), refused.error_message
    fresh = _plan_from_topics(ros_graph, clients["plan"])
    accepted = _approve(ros_graph, clients["approve"], fresh.plan_digest)
    assert accepted.accepted, accepted.error_message
    live_bag = next((tmp_path / "evidence-live").glob("runs/*/bag"))
    old_events = {bytes(r.data) for r in read_bag(old_bag).records if r.topic == "/worldforge/events"}
    live_events = {bytes(r.data) for r in read_bag(live_bag).records if r.topic == "/worldforge/events"}
    assert old_events and not (old_events & live_events), "replayed events were recorded in the live bag"


def test_sixteen_simultaneous_callers_all_get_a_plan(ros_graph, node_processes, tmp_path):
    """An executive, an operator GUI and scripts asking at once: 16 callers, each with its own client, all
    answered successfully while the planner awaits its providers (no executor thread blocks)."""
    from worldforge_ros.msg import Observation
    from worldforge_ros.srv import Plan

    bringup(node_processes, _graph_profile(tmp_path, str(tmp_path / "evidence")))
    probe = plan_request(embodiment="discovery-probe")
    clients = [ros_graph.answering_client(Plan, "/worldforge/plan", probe) for _ in range(16)]
    assert wait_until(lambda: ros_graph.call(clients[0], plan_request(observation=Observation())).success, 20)
    futures = [c.call_async(plan_request(observation=Observation(), request_id=f"caller-{i}", deadline_s=30.0))
               for i, c in enumerate(clients)]
    answers = [ros_graph.wait(f, timeout=60) for f in futures]
    failures = [(a.error_code, a.error_message) for a in answers if not a.success]
    assert not failures, failures
    assert len({a.plan_digest for a in answers}) == 16  # 16 distinct plans (request ids differ)
    assert sorted(e.request_id for a in answers for e in a.events if e.provider == "planner") == \
        sorted(f"caller-{i}" for i in range(16))


def test_params_file_names_the_provider_node(ros_graph, node_processes, tmp_path):
    """`<exe> --ros-args --params-file lab.yaml` for every node, providers included, without -r __node:=. Plain
    keys (``planner:``) match nodes in the root namespace; ``/**/name`` keys match in any namespace (rcl's rule),
    so a node moved with -r __ns:= takes its block too."""
    import yaml

    from worldforge_ros.srv import Plan

    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump({
        "provider_reference_scorer": {"ros__parameters": {"provider": "reference_scorer",
                                                          "reference_scorer": {"goal_positions": GOAL}}},
        "planner": {"ros__parameters": {"candidates_per_policy": 3, "deadline_s": 9.0}},
    }))
    other = tmp_path / "policy.yaml"
    other.write_text(yaml.safe_dump({"/**/provider_reference": {"ros__parameters": {
        "provider": "reference", "reference": {"goal_positions": GOAL, "max_step": 0.05}}}}))
    node_processes(installed_executable("provider_node") + ["--ros-args", "--params-file", str(lab)],
                   "provider-lab")
    node_processes(installed_executable("provider_node") + ["--ros-args", "--params-file", str(other),
                                                            "-r", "__ns:=/lab"], "provider-policy")
    node_processes(installed_executable("planner_node") + ["--ros-args", "--params-file", str(lab)], "planner")
    node_processes(installed_executable("provider_node") + ["--ros-args", "--params-file", str(other)],
                   "provider-policy-root")
    client = ros_graph.answering_client(Plan, "/worldforge/plan", plan_request(embodiment="discovery-probe"))
    resp = None

    def attempt():
        nonlocal resp
        resp = ros_graph.call(client, plan_request())
        return resp.success

    assert wait_until(attempt, timeout=30), resp.error_message
    assert len(resp.candidates) == 3  # the planner took its block of the file
    assert {e.provider for e in resp.events} == {"reference", "reference_scorer", "planner"}
    wanted = {"/provider_reference", "/provider_reference_scorer", "/planner", "/lab/provider_reference"}

    def nodes():  # graph discovery of every process can trail the first answered plan
        return {f"{ns.rstrip('/')}/{n}" for n, ns in ros_graph.node.get_node_names_and_namespaces()}

    assert wait_until(lambda: wanted <= nodes(), timeout=15), wanted - nodes()
    both = tmp_path / "both.yaml"
    both.write_text(lab.read_text() + other.read_text())
    proc = node_processes(installed_executable("provider_node") + ["--ros-args", "--params-file", str(both)],
                          "provider-ambiguous")
    proc.killed_on_purpose = True  # expected to exit at startup
    assert proc.proc.wait(timeout=30) == 2
    assert "several providers" in proc.output() and "__node:=" in proc.output()


def test_a_second_controller_or_joint_states_publisher_refuses_execution(ros_graph, node_processes, tmp_path):
    """A simulator left running next to the robot: a second server for the gate's controller action (and a
    second /joint_states publisher) -> CONTROLLER_AMBIGUOUS (416) naming both, and neither controller gets a goal."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt32

    graph = bringup(node_processes, _graph_profile(tmp_path, str(tmp_path / "evidence")))
    clients = _clients(ros_graph, "")
    goals = _goal_counter(ros_graph, "")
    assert wait_until(lambda: goals[-1] == 0)
    plan = _plan_from_topics(ros_graph, clients["plan"])
    approval = _approve(ros_graph, clients["approve"], plan.plan_digest)
    assert approval.accepted, approval.error_message
    # Same (relative) action name in the same namespace: /sim_controller/follow_joint_trajectory, /joint_states.
    node_processes(installed_executable("sim_controller") + [
        "--ros-args", "-r", "__node:=stray_sim", "-p", "action_type:=worldforge_ros"], "stray_sim")
    stray = [None]
    ros_graph.node.create_subscription(UInt32, "/stray_sim/goals_received", lambda m: stray.append(m.data), QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    assert wait_until(lambda: stray[-1] == 0, 20)
    assert wait_until(lambda: len(ros_graph.node.get_publishers_info_by_topic("/joint_states")) >= 2, 20)
    # Sync on the gate's own discovery: it warns as soon as its joint-states subscription matches a second
    # publisher (the gate's process can discover the stray seconds after this test's does).
    assert wait_until(lambda: "2 publishers on /joint_states" in graph.output(), 30), graph.output()[-2000:]
    # The gate refuses on what it has discovered: the warning above is its joint-states match only; the stray's
    # action server (its status publisher) can trail it under load (seen once: the gate executed). This waits for
    # this process's discovery of it, which narrows the window; the gate's own discovery is not observable.
    status = "/sim_controller/follow_joint_trajectory/_action/status"
    assert wait_until(lambda: len(ros_graph.node.get_publishers_info_by_topic(status)) >= 2, 20)
    result = _execute(ros_graph, clients["execute"], approval.approval_id, plan.plan_digest)
    assert result.error_code == int(ErrorCode.CONTROLLER_AMBIGUOUS), result.error_string
    # Node names may still be unknown to the gate's graph for a moment after discovery; the count never is.
    assert "2 servers answer /sim_controller/follow_joint_trajectory" in result.error_string
    assert goals[-1] == 0 and stray[-1] == 0  # nothing reached either controller
