"""Supervised policy runs on a real graph (bringup: reference providers, planner, gate, kinematic sim_controller).

A run completes inside its envelope (N chunks -> the controller received N goals); each violation kind stops it
before the offending chunk reaches the controller (its latched goal counter proves it); heartbeat loss stops a
running chunk within its timeout; `evidence verify` rejects a bag whose sent chunk was edited outside the envelope
even when the hash chain is rebuilt around the edit.
"""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
import pytest

from graph_helpers import PANDA, PANDA_HOME, gate_bag, gate_graph
from ros_harness import wait_until
from worldforge_ros.core.envelope import Envelope
from worldforge_ros.core.errors import ErrorCode


HOME = np.array(PANDA_HOME)


def envelope(**over) -> Envelope:
    fields = dict(policy_providers=("reference",), score_provider="reference_scorer", embodiment="panda_7dof",
                  joint_names=tuple(PANDA), position_min=HOME - 0.5, position_max=HOME + 0.5, velocity_max=[1.5] * 7,
                  max_duration_s=60.0, max_chunks=20, heartbeat_timeout_s=2.0, heartbeat_topic="worldforge/heartbeat",
                  score_threshold=1.0, lower_is_better=True, chunk_deadline_s=5.0)
    fields.update(over)
    return Envelope(**fields)


class Heartbeat:
    """The operator's dead-man switch: std_msgs/Empty every 50 ms until ``stop()``."""

    def __init__(self, ros_graph, topic="/worldforge/heartbeat", period=0.05):
        from std_msgs.msg import Empty

        self.pub = ros_graph.node.create_publisher(Empty, topic, 10)
        self.on, self.last = True, None
        self._lock = threading.Lock()

        def tick():
            with self._lock:
                if self.on:
                    self.pub.publish(Empty())
                    self.last = time.monotonic()

        self.timer = ros_graph.node.create_timer(period, tick)

    def stop(self) -> float:
        with self._lock:
            self.on = False
            return self.last


def runner_graph(ros_graph, node_processes, tmp_path, **kwargs):
    from worldforge_ros.action import RunPolicy
    from worldforge_ros.srv import ApproveEnvelope

    proc, clients, counts = gate_graph(ros_graph, node_processes, tmp_path, **kwargs)
    clients["approve_envelope"] = ros_graph.client(ApproveEnvelope, "/worldforge/approve_envelope")
    clients["run"] = ros_graph.action_client(RunPolicy, "/worldforge/run_policy")
    return proc, clients, counts


def approve(ros_graph, clients, env: Envelope, **fields):
    from graph_helpers import CHECKLIST
    from worldforge_ros.nodes.envelope_msgs import envelope_to_msg
    from worldforge_ros.srv import ApproveEnvelope

    req = ApproveEnvelope.Request(envelope=envelope_to_msg(env), approve=True, operator_id="alice", **CHECKLIST)
    for key, value in fields.items():
        setattr(req, key, value)
    resp = None

    def attempt():  # the gate needs a first joint state
        nonlocal resp
        resp = ros_graph.call(clients["approve_envelope"], req)
        return resp.error_code not in (int(ErrorCode.JOINT_STATE_MISSING), int(ErrorCode.JOINT_STATE_STALE))

    assert wait_until(attempt, timeout=15)
    return resp


def send_run(ros_graph, clients, goal, feedback=None):
    """Send a run goal; the gate accepts every run goal, so a refusal can only be a reply that never came from it
    (seen right after discovery: the gate never saw the goal and later calls it unknown): send it again."""
    for _ in range(3):
        handle = ros_graph.wait(clients["run"].send_goal_async(
            goal, feedback_callback=None if feedback is None else lambda m: feedback.append(m.feedback)))
        if handle.accepted:
            return handle
        time.sleep(0.5)
    raise AssertionError(f"run goal not accepted after 3 tries (status {handle.status})")


def run(ros_graph, clients, resp, chunks=0, feedback=None, timeout=120):
    from worldforge_ros.action import RunPolicy

    goal = RunPolicy.Goal(envelope_id=resp.envelope_id, envelope_digest=resp.envelope_digest, chunks=chunks)
    handle = send_run(ros_graph, clients, goal, feedback if feedback is not None else [])
    return ros_graph.wait(handle.get_result_async(), timeout=timeout).result


def test_run_completes_inside_envelope_and_verify_catches_an_edited_chunk(ros_graph, node_processes, tmp_path):
    from worldforge_ros.evidence.verify import verify_bag

    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 8.0})
    beat = Heartbeat(ros_graph)
    resp = approve(ros_graph, clients, envelope())
    assert resp.accepted, resp.error_message
    fb = []
    result = run(ros_graph, clients, resp, chunks=20, feedback=fb)
    assert result.error_code == 0, result.error_string
    assert (result.chunks_executed, result.dry_run) == (20, False)
    assert wait_until(lambda: counts[-1] == 20)
    assert [f.chunk_index for f in fb] == list(range(20)) and all(f.sent and f.passed for f in fb)
    lat = sorted(result.chunk_latencies_ms)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    print(f"\nchunk latency observe -> goal sent over {len(lat)} chunks: median {statistics.median(lat):.1f} ms, "
          f"p99 {p99:.1f} ms, max {lat[-1]:.1f} ms")
    # single use
    again = run(ros_graph, clients, resp, chunks=1)
    assert again.error_code == int(ErrorCode.APPROVAL_ALREADY_USED) and counts[-1] == 20
    beat.stop()
    proc.stop()
    bag = gate_bag(tmp_path)
    report = verify_bag(bag)
    assert report.ok, report.summary()
    tampered = rechained_copy(bag, tmp_path / "tampered" / "bag", chunk_index=3, joint=1, value=HOME[1] + 0.9)
    report = verify_bag(tampered)
    assert not report.ok and report.first_bad.topic == "/worldforge/chunks", report.summary()
    assert "outside its approved envelope" in report.reason and "position_max:panda_joint2" in report.reason
    assert verify_bag(rechained_copy(bag, tmp_path / "faithful" / "bag")).ok  # the rebuild alone is fine
    # The report draws the run's chunks against the envelope's bounds and lists each chunk.
    from worldforge_ros.evidence.report import render_report

    files = render_report(bag, tmp_path / "report")
    text = files.markdown.read_text()
    assert "Supervised policy runs (1)" in text and text.count("| sent |") + text.count("| succeeded |") >= 20
    plots = [p for p in files.images if p.name.startswith("policy-run-")]
    assert len(plots) == 1 and plots[0].stat().st_size > 10_000


def rechained_copy(src, dst, chunk_index=None, joint=0, value=0.0, phase="sent", run_of=None):
    """Rewrite the bag with a fresh, valid hash chain; optionally move one position of a chunk in ``phase``
    (of the run under envelope ``run_of``, when given)."""
    from worldforge_ros.evidence.reader import read_bag
    from worldforge_ros.evidence.topics import CHAIN_TOPIC, CHUNKS_TOPIC
    from worldforge_ros.evidence.writer import EvidenceWriter

    contents = read_bag(src)
    writer = EvidenceWriter(dst, contents.custom_data.get("run_id", "tampered"))
    store = writer.typestore
    for rec in contents.records:
        if rec.topic == CHAIN_TOPIC:
            continue
        data = rec.data
        if rec.topic == CHUNKS_TOPIC and rec.message.phase == phase and rec.message.chunk_index == chunk_index \
                and run_of in (None, rec.message.envelope_id):
            msg = store.deserialize_cdr(rec.data, rec.msgtype)
            point = msg.trajectory.points[2]
            positions = point.positions.copy()
            positions[joint] = value
            point.positions = positions
            data = store.serialize_cdr(msg, rec.msgtype)
        writer.record(rec.topic, rec.msgtype, data, log_time_ns=rec.log_time_ns)
    writer.close()
    return dst


@pytest.mark.parametrize("case", ["joint_bound", "velocity_bound", "score_threshold", "provider_digest", "max_chunks",
                                  "max_duration", "workspace"])
def test_each_violation_stops_before_the_chunk_reaches_the_controller(ros_graph, node_processes, tmp_path, case):
    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 8.0})
    Heartbeat(ros_graph)
    env, chunks, expected_goals, code, violation = {
        # the reference policy moves panda_joint2 from -0.785 toward -0.6: cap it at -0.75
        "joint_bound": (envelope(position_max=np.r_[HOME[:1] + 0.5, [-0.75], HOME[2:] + 0.5]), 3, 0,
                        ErrorCode.ENVELOPE_VIOLATION, "position_max:panda_joint2"),
        # the first chunk moves panda_joint2 0.185 rad in 1.6 s (~0.12 rad/s): allow 0.05 rad/s
        "velocity_bound": (envelope(velocity_max=[0.05] * 7), 3, 0, ErrorCode.ENVELOPE_VIOLATION, "velocity:panda_joint"),
        "score_threshold": (envelope(score_threshold=1e-9), 3, 0, ErrorCode.ENVELOPE_VIOLATION, "score:"),
        "provider_digest": (envelope(provider_digests={"reference": "sha256:" + "0" * 64}), 3, 0,
                            ErrorCode.PROVIDER_DIGEST_CHANGED, "provider_digest:reference"),
        "max_chunks": (envelope(max_chunks=2), 4, 2, ErrorCode.ENVELOPE_LIMIT_REACHED, "max_chunks:3>2"),
        # a chunk lasts 1.6 s: the first one already ends past a 1 s run budget
        "max_duration": (envelope(max_duration_s=1.0), 3, 0, ErrorCode.ENVELOPE_LIMIT_REACHED, "max_duration:"),
        # the end effector starts 0.487 m above the table (scene forward kinematics): a box capped at 0.45 m
        "workspace": (envelope(workspace_min=[-1, -1, 0], workspace_max=[1, 1, 0.45]), 3, 0,
                      ErrorCode.ENVELOPE_VIOLATION, "workspace:step"),
    }[case]
    resp = approve(ros_graph, clients, env)
    assert resp.accepted, resp.error_message
    fb = []
    result = run(ros_graph, clients, resp, chunks=chunks, feedback=fb)
    assert result.error_code == int(code), result.error_string
    assert violation in result.error_string
    assert result.chunks_executed == expected_goals
    assert fb and not fb[-1].passed and not fb[-1].sent and any(violation in v for v in fb[-1].violations)
    time.sleep(0.5)  # a goal sent by mistake would show by now
    assert counts[-1] == expected_goals, f"{case}: controller received {counts[-1]} goals"
    print(f"\n{case}: stopped with {code.name} ({int(code)}) after {expected_goals} goal(s); {result.error_string}")


def test_heartbeat_loss_cancels_the_running_chunk_within_its_timeout(ros_graph, node_processes, tmp_path):
    from worldforge_ros.action import RunPolicy

    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 0.5})  # a chunk runs 3.2 s
    beat = Heartbeat(ros_graph)
    timeout = 0.5
    resp = approve(ros_graph, clients, envelope(heartbeat_timeout_s=timeout))
    assert resp.accepted, resp.error_message
    from action_msgs.msg import GoalStatus, GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    canceling_at = {}  # controller goal id -> when its status first said CANCELING/CANCELED (what the gate controls)

    def on_status(msg):
        for st in msg.status_list:
            if st.status in (GoalStatus.STATUS_CANCELING, GoalStatus.STATUS_CANCELED):
                canceling_at.setdefault(bytes(st.goal_info.goal_id.uuid), time.monotonic())

    ros_graph.node.create_subscription(GoalStatusArray, "/sim_controller/follow_joint_trajectory/_action/status",
                                       on_status, qos_profile_action_status_default)
    goal = RunPolicy.Goal(envelope_id=resp.envelope_id, envelope_digest=resp.envelope_digest, chunks=0)
    handle = send_run(ros_graph, clients, goal)
    if not wait_until(lambda: counts[-1] == 2, timeout=30):
        early = ros_graph.wait(handle.get_result_async(), timeout=10)
        pytest.fail(f"the run never sent a second chunk (goals received {counts}): status {early.status}, "
                    f"{early.result}; gate: {proc.output()[-1500:]}")
    time.sleep(0.3)  # inside the second chunk
    last_beat = beat.stop()
    result = ros_graph.wait(handle.get_result_async(), timeout=30).result
    result_after = time.monotonic() - last_beat
    assert result.error_code == int(ErrorCode.HEARTBEAT_LOST), result.error_string
    assert result.chunks_executed == 1  # the second chunk was canceled, not completed
    assert wait_until(lambda: bool(canceling_at), timeout=5)
    cancel_after = min(canceling_at.values()) - last_beat
    # The gate's part: the controller goal is being canceled within the timeout plus two watchdog periods and a
    # hop (measured 0.65-0.76 s with 0.5 s). How fast the controller then reports the canceled result is the
    # controller's (the kinematic sim's: 0.05-1.2 s on this shared host), bounded loosely.
    assert cancel_after < timeout + 1.0 < 3.2, cancel_after
    assert result_after < timeout + 5.0, result_after
    time.sleep(0.5)
    assert counts[-1] == 2
    print(f"\nheartbeat timeout {timeout} s: controller goal canceling {cancel_after * 1000:.0f} ms, run result "
          f"back {result_after * 1000:.0f} ms after the last heartbeat")


def test_no_heartbeat_and_dry_run(ros_graph, node_processes, tmp_path):
    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=False)
    resp = approve(ros_graph, clients, envelope(heartbeat_timeout_s=0.3))
    assert resp.accepted and not resp.execution_enabled
    result = run(ros_graph, clients, resp, chunks=2)
    assert result.error_code == int(ErrorCode.HEARTBEAT_LOST), result.error_string
    Heartbeat(ros_graph)
    resp = approve(ros_graph, clients, envelope())
    result = run(ros_graph, clients, resp, chunks=3)
    assert (result.error_code, result.dry_run, result.chunks_checked, result.chunks_executed) == (0, True, 3, 0)
    refused = approve(ros_graph, clients, envelope(velocity_max=[2.5] * 7))
    assert refused.error_code == int(ErrorCode.ENVELOPE_INVALID) and "translator" in refused.error_message
    # A workspace box on the Panda is checked with the scene's forward kinematics: approved, and a run inside it
    # completes (a box the chunks leave is one of the violation cases). The reference chunks keep the end
    # effector 0.49-0.51 m above the table; the box allows 0.6 m.
    boxed = approve(ros_graph, clients, envelope(workspace_min=[-1, -1, 0], workspace_max=[1, 1, 0.6]))
    assert boxed.accepted, boxed.error_message
    result = run(ros_graph, clients, boxed, chunks=2)
    assert (result.error_code, result.chunks_checked) == (0, 2), result.error_string
    time.sleep(0.3)
    assert counts[-1] == 0
    # verify re-checks the box: panda_joint4 raised 0.45 rad (inside its position bounds) lifts the end effector
    # to 0.70 m in an edited dry-run chunk of the boxed run.
    from worldforge_ros.evidence.verify import verify_bag

    proc.stop()
    bag = gate_bag(tmp_path)
    assert verify_bag(bag).ok
    tampered = rechained_copy(bag, tmp_path / "tampered" / "bag", chunk_index=1, joint=3, value=HOME[3] + 0.45,
                              phase="dry_run", run_of=boxed.envelope_id)
    report = verify_bag(tampered)
    assert not report.ok and "workspace:step2" in report.reason, report.summary()


def test_cli_approves_an_envelope_file_and_watches_a_run(ros_graph, node_processes, tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    from ros_harness import node_env

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "worldforge_ros.cli", "envelope", *args], capture_output=True,
                              text=True, env=node_env(), timeout=120)

    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 8.0})
    example = str(Path(__file__).resolve().parents[2] / "config" / "envelopes" / "reference_panda.yaml")
    shown = cli("show", example)
    assert shown.returncode == 0 and "digest: sha256:" in shown.stdout
    states = JointStates(ros_graph)
    assert wait_until(lambda: bool(states.msgs), timeout=15)  # the gate binds the live start state
    approved = cli("approve", example, "--operator", "alice", "--checklist-confirmed")
    assert approved.returncode == 0, approved.stderr
    env_id, digest = re.search(r"--id (\S+) --digest (\S+)", approved.stdout).groups()
    ran = cli("run", "--id", env_id, "--digest", digest, "--chunks", "3", "--heartbeat")
    assert ran.returncode == 0, ran.stderr
    assert len(re.findall(r"^chunk +\d+ .* passed +sent", ran.stdout, re.M)) == 3, ran.stdout
    assert "3 executed" in ran.stdout and counts[-1] == 3
    again = cli("run", "--id", env_id, "--digest", digest, "--chunks", "1")
    assert again.returncode == 1 and "[403]" in again.stderr


class JointStates:
    def __init__(self, ros_graph):
        from sensor_msgs.msg import JointState

        self.msgs = []
        ros_graph.node.create_subscription(JointState, "/joint_states", self.msgs.append, 1)


def test_a_run_drives_the_mujoco_scene(ros_graph, node_processes, tmp_path):
    """The same supervised run on the physics scene (bringup --simulator scene): every chunk is checked,
    recorded and executed by scene_sim, which tracks it through MuJoCo's actuators."""
    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 4.0, "camera_rate_hz": 0.0},
                                         bringup_args=("--simulator", "scene"))
    assert "scene_sim (MuJoCo" in proc.output()
    beat = Heartbeat(ros_graph)
    resp = approve(ros_graph, clients, envelope(max_chunks=3))
    assert resp.accepted, resp.error_message
    result = run(ros_graph, clients, resp, chunks=3)
    beat.stop()
    assert result.error_code == 0 and result.chunks_executed == 3, result.error_string
    assert wait_until(lambda: counts[-1] == 3)


def test_a_controller_abort_stops_the_run(ros_graph, node_processes, tmp_path):
    """The controller aborts the first chunk (path tolerance): the run stops with CONTROLLER_ABORTED and no
    further chunk is sent."""
    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 8.0, "fault_abort_at_fraction": 0.3,
                                              "tracking_gain": 1.0, "path_tolerance": 0.001})
    Heartbeat(ros_graph)
    resp = approve(ros_graph, clients, envelope())
    assert resp.accepted, resp.error_message
    result = run(ros_graph, clients, resp, chunks=4)
    assert result.error_code == int(ErrorCode.CONTROLLER_ABORTED), result.error_string
    time.sleep(0.5)  # a further goal sent by mistake would show by now
    assert counts[-1] == 1


def test_operator_cancel_stops_the_run_and_the_running_chunk(ros_graph, node_processes, tmp_path):
    """Canceling the run goal mid-chunk cancels the controller goal; the run ends canceled, nothing more is sent."""
    from action_msgs.msg import GoalStatus

    from worldforge_ros.action import RunPolicy

    proc, clients, counts = runner_graph(ros_graph, node_processes, tmp_path, execution_enabled=True,
                                         sim={"time_scale": 0.5})  # a chunk runs 3.2 s
    Heartbeat(ros_graph)
    resp = approve(ros_graph, clients, envelope())
    assert resp.accepted, resp.error_message
    goal = RunPolicy.Goal(envelope_id=resp.envelope_id, envelope_digest=resp.envelope_digest, chunks=0)
    handle = send_run(ros_graph, clients, goal)
    assert wait_until(lambda: counts[-1] == 1, timeout=30)
    ros_graph.wait(handle.cancel_goal_async())
    outcome = ros_graph.wait(handle.get_result_async(), timeout=30)
    assert outcome.status == GoalStatus.STATUS_CANCELED, outcome.status
    assert outcome.result.error_code == int(ErrorCode.EXECUTION_CANCELED), outcome.result.error_string
    assert outcome.result.chunks_executed == 0  # the running chunk was canceled, not completed
    time.sleep(0.5)
    assert counts[-1] == 1


def test_a_stale_observation_stops_the_run_before_anything_is_sent(ros_graph, node_processes, tmp_path):
    """The robot's joint states stop (its controller process died after the envelope was approved): the run
    ends with JOINT_STATE_STALE before any chunk is planned or sent."""
    import signal

    from graph_helpers import GOAL, bringup, goals_received, write_profile
    from ros_harness import installed_executable
    from worldforge_ros.action import RunPolicy
    from worldforge_ros.srv import ApproveEnvelope

    sim = node_processes(installed_executable("sim_controller") + [
        "--ros-args", "-p", "action_type:=worldforge_ros", "-p", "time_scale:=8.0"], "sim_controller")
    profile = write_profile(tmp_path, provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
                            provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
                            approval={"evidence_dir": str(tmp_path / "evidence"), "execution_enabled": True,
                                      "controller_action_type": "worldforge_ros", "max_joint_state_age_s": 0.5},
                            sim_controller=None)
    bringup(node_processes, profile, "--no-sim-controller", "--controller-action",
            "sim_controller/follow_joint_trajectory")
    counts = goals_received(ros_graph)
    clients = {"approve_envelope": ros_graph.client(ApproveEnvelope, "/worldforge/approve_envelope"),
               "run": ros_graph.action_client(RunPolicy, "/worldforge/run_policy")}
    Heartbeat(ros_graph)
    resp = approve(ros_graph, clients, envelope())
    assert resp.accepted, resp.error_message
    assert wait_until(lambda: counts[-1] == 0)
    sim.kill(signal.SIGKILL)
    time.sleep(1.0)  # the last joint state is now older than max_joint_state_age_s (0.5 s)
    result = run(ros_graph, clients, resp, chunks=3)
    assert result.error_code == int(ErrorCode.JOINT_STATE_STALE), result.error_string
    assert result.chunks_executed == 0 and counts[-1] == 0
