"""The approval gate against a controller typed ``control_msgs/action/FollowJointTrajectory`` (real processes).

control_msgs is not installable here (not on PyPI), so CI builds a TEST-ONLY control_msgs from
test/interfaces/control_msgs (scripts/build-test-interfaces; scripts/test exports its install prefix as
WFROS_TEST_CONTROL_MSGS_PREFIX). It is never on this process's paths: only the child processes of these tests
get it, so the rest of the suite keeps running without control_msgs importable.
"""

import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from graph_helpers import GOAL, gate_approve, gate_bag, gate_execute, gate_plan, goals_received, plan_client
from graph_helpers import write_profile
from ros_harness import ROOT, installed_executable, node_env, wait_until
from worldforge_ros.core.errors import ErrorCode

pytestmark = pytest.mark.graph

ACTION = "/sim_controller/follow_joint_trajectory"
CONTROL_MSGS_TYPE = "control_msgs/action/FollowJointTrajectory"
WORLDFORGE_TYPE = "worldforge_ros/action/FollowJointTrajectory"
DISCOVERY_S = 20.0


# ---- environments ----------------------------------------------------------------------------------------
def _control_msgs_prefix() -> Path:
    prefix = os.environ.get("WFROS_TEST_CONTROL_MSGS_PREFIX") or str(
        ROOT / "build" / "test_interfaces" / "install" / "control_msgs")
    path = Path(prefix)
    if (path / "control_msgs").is_dir() and not (path / "lib").is_dir():  # given the install base
        path = path / "control_msgs"
    if not (path / "lib").is_dir():
        pytest.fail(f"TEST-ONLY control_msgs not built at {path}: run scripts/build-test-interfaces "
                    "(scripts/test does, and exports WFROS_TEST_CONTROL_MSGS_PREFIX)")
    return path


def _prepend(env: dict, key: str, *paths: Path) -> None:
    env[key] = os.pathsep.join([str(p) for p in paths] + [p for p in env.get(key, "").split(os.pathsep) if p])


def control_msgs_env() -> dict:
    """``node_env()`` plus the test control_msgs install (Python package, libraries, ament index)."""
    prefix = _control_msgs_prefix()
    site = sorted(prefix.glob("lib/python3*/site-packages"))
    assert site, f"no site-packages under {prefix}/lib"
    env = node_env()
    # After the source tree (node_env puts it first), before the venv.
    paths = env["PYTHONPATH"].split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(paths[:1] + [str(site[0])] + paths[1:])
    _prepend(env, "LD_LIBRARY_PATH", prefix / "lib")
    _prepend(env, "AMENT_PREFIX_PATH", prefix)
    return env


def test_suite_process_has_no_control_msgs():
    """The suite itself runs without control_msgs: only the children of the tests below get it."""
    assert importlib.util.find_spec("control_msgs") is None


# ---- the graph -------------------------------------------------------------------------------------------
def _graph(ros_graph, node_processes, tmp_path, *, env, approval=None, sim=None, sim_process=False, simulator=None):
    """bringup (reference providers, planner, gate, sim_controller) in ``env``; clients for plan/approve/execute.

    ``sim_process``: sim_controller runs as its own process (in ``env``), like a host controller, not in bringup.
    """
    from worldforge_ros.action import ExecutePlan
    from worldforge_ros.srv import Approve

    approval_params = {"evidence_dir": str(tmp_path / "evidence"), "controller_action_type": "control_msgs",
                       "execution_enabled": True, **(approval or {})}
    sim_params = {"action_type": "control_msgs", "time_scale": 4.0, **(sim or {})}
    profile = write_profile(tmp_path, provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
                            provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
                            approval=approval_params, sim_controller=None if sim_process else sim_params)
    args = ["--profile", profile] + (["--use-sim-controller", "--simulator", simulator] if simulator else [])
    if sim_process:
        params = [a for k, v in sim_params.items() for a in ("-p", f"{k}:={v}")]
        node_processes(installed_executable("sim_controller") + ["--ros-args", *params], "sim_controller", env)
        args += ["--no-sim-controller", "--controller-action", ACTION]
    proc = node_processes(installed_executable("bringup") + args, "bringup", env)
    counts = goals_received(ros_graph)
    clients = {"plan": plan_client(ros_graph, timeout=DISCOVERY_S),
               "approve": ros_graph.client(Approve, "/worldforge/approve", DISCOVERY_S),
               "execute": _action_client(ros_graph, ExecutePlan, "/worldforge/execute")}
    assert wait_until(lambda: counts[-1] == 0, timeout=DISCOVERY_S), f"no goals_received: {proc.output()[-2000:]}"
    if sim_process:
        _wait_gate_has_joint_state(ros_graph, clients)
    return proc, clients, counts


def _action_client(ros_graph, action_type, name: str, timeout: float = DISCOVERY_S):
    """An action client built on its own node, which joins the spinning executor only once it is complete.

    rclpy 9.1.2's ActionClient.__init__ registers itself with its node (add_waitable) BEFORE it creates its
    ``_lock``: built on a node the executor is spinning, the executor thread can call get_num_entities() in
    between and die with ``AttributeError: 'ActionClient' object has no attribute '_lock'`` (seen here: the
    test's participant then answers nothing). RosGraph.action_client has that race.
    """
    import itertools

    import rclpy
    from rclpy.action import ActionClient

    _action_client.ids = getattr(_action_client, "ids", itertools.count())
    node = rclpy.create_node(f"test_action_client_{next(_action_client.ids)}", context=ros_graph.context)
    client = ActionClient(node, action_type, name)
    ros_graph.add_node(node)
    if not client.wait_for_server(timeout_sec=timeout):
        raise TimeoutError(f"action {name} is not available after {timeout:.0f} s")
    return client


PROBE_APPROVAL = "apr-0000000000000000"


def _wait_gate_has_joint_state(ros_graph, clients, timeout: float = DISCOVERY_S) -> None:
    """Until the gate has a live /joint_states from a controller in another process (its subscription matches
    later than the test's own discovery; before that execute fails closed with 418 JOINT_STATE_MISSING, "no joint state"). Probe: an
    execute of an unknown approval, which the gate refuses (and records as rejected) without side effects."""
    from worldforge_ros.action import ExecutePlan

    probe = ExecutePlan.Goal(approval_id=PROBE_APPROVAL, plan_digest="sha256:" + "0" * 64)
    last = None

    def has_state() -> bool:
        nonlocal last
        handle = ros_graph.wait(clients["execute"].send_goal_async(probe))
        last = ros_graph.wait(handle.get_result_async()).result
        assert last.error_code != 0, "the probe execute was accepted"
        return "no joint state" not in last.error_string

    assert wait_until(has_state, timeout=timeout, interval=0.2), last.error_string


def _action_types(ros_graph, name: str = ACTION) -> list:
    from rclpy.action import get_action_names_and_types

    return sorted(next((types for n, types in get_action_names_and_types(ros_graph.node) if n == name), []))


def _wait_action_type(ros_graph, type_name: str, name: str = ACTION) -> list:
    assert wait_until(lambda: type_name in _action_types(ros_graph, name), timeout=DISCOVERY_S), \
        _action_types(ros_graph, name)
    return _action_types(ros_graph, name)


def _log_lines(proc, needle: str) -> list:
    return [line for line in proc.output().splitlines() if needle in line]


def _executions(tmp_path) -> list:
    from worldforge_ros.evidence.reader import read_bag

    return [r.message for r in read_bag(gate_bag(tmp_path)).records if r.topic == "/worldforge/executions"]


def _controller_statuses(ros_graph):
    """goal id (hex) -> latest status on the controller's action status topic (action_msgs: type-independent)."""
    from action_msgs.msg import GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    statuses = {}
    ros_graph.node.create_subscription(
        GoalStatusArray, f"{ACTION}/_action/status",
        lambda m: statuses.update({bytes(s.goal_info.goal_id.uuid).hex(): s.status for s in m.status_list}),
        qos_profile_action_status_default)
    return statuses


def _points(traj) -> tuple:
    """(positions (T,J), velocities (T,J), times_s (T,)) of an rclpy or rosbags JointTrajectory."""
    pos = np.array([np.asarray(p.positions, dtype=float) for p in traj.points])
    vel = np.array([np.asarray(p.velocities, dtype=float) for p in traj.points])
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points])
    return pos, vel, times


def _approved_and_executed(ros_graph, clients, feedback=None, **execute):
    plan = gate_plan(ros_graph, clients)
    approval = gate_approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted, approval.error_message
    result = gate_execute(ros_graph, clients, approval.approval_id, plan.plan_digest, feedback, **execute)
    return plan, result


# ---- a. end to end against a control_msgs controller ------------------------------------------------------
def test_gate_executes_on_the_mujoco_scene_serving_control_msgs(ros_graph, node_processes, tmp_path):
    """scene_sim (physics) behind control_msgs/action/FollowJointTrajectory, as bringup --simulator scene starts
    it: the approved plan runs on the simulated arm and its joint states end on the approved last point."""
    from sensor_msgs.msg import JointState

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env(), simulator="scene")
    assert _wait_action_type(ros_graph, CONTROL_MSGS_TYPE) == [CONTROL_MSGS_TYPE]
    assert _log_lines(proc, "scene_sim (MuJoCo") and _log_lines(proc, f"{CONTROL_MSGS_TYPE}) on {ACTION}")
    states = []
    ros_graph.node.create_subscription(JointState, "/joint_states", states.append, 10)
    plan, result = _approved_and_executed(ros_graph, clients)
    assert result.error_code == 0 and result.executed, result.error_string
    assert result.controller_type == CONTROL_MSGS_TYPE and result.controller_error_code == 0
    assert counts[-1] == 1
    selected = plan.candidates[plan.selected_index].trajectory
    last = np.asarray(selected.points[-1].positions, dtype=float)
    seen = len(states)  # the last one may predate the final tolerance check: read one published after the result
    assert wait_until(lambda: len(states) >= seen + 2, timeout=DISCOVERY_S)
    live = dict(zip(states[-1].name, states[-1].position))
    reached = np.array([live[n] for n in selected.joint_names])
    assert np.abs(reached - last).max() < 0.02  # the physics arm sits on the approved end (goal tolerance)



def test_gate_executes_on_a_control_msgs_controller(ros_graph, node_processes, tmp_path):
    from worldforge_ros.core.interpolation import sample

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env())
    # The type on the graph: the controller serves control_msgs, and nothing on that name uses this package's copy.
    assert _wait_action_type(ros_graph, CONTROL_MSGS_TYPE) == [CONTROL_MSGS_TYPE]
    assert _log_lines(proc, f"approval gate up: EXECUTION ENABLED; controller {ACTION} ({CONTROL_MSGS_TYPE})")
    assert _log_lines(proc, f"sim_controller ({CONTROL_MSGS_TYPE}) on {ACTION}")

    feedback = []
    plan, result = _approved_and_executed(ros_graph, clients, feedback)
    assert result.error_code == 0, result.error_string
    assert result.executed and not result.dry_run
    assert result.controller_error_code == 0  # control_msgs SUCCESSFUL
    assert (result.controller_action, result.controller_type) == (ACTION, CONTROL_MSGS_TYPE)
    assert counts[-1] == 1

    selected = plan.candidates[plan.selected_index].trajectory
    names = list(selected.joint_names)
    pos, vel, times = _points(selected)
    # The controller's own feedback (control_msgs Feedback, forwarded by the gate) follows exactly the approved
    # points: after the end its desired state IS the last approved point, bit for bit ...
    assert wait_until(lambda: any(list(f.feedback.desired.positions) == pos[-1].tolist() for f in feedback),
                      timeout=5.0), "the controller never held the approved last point"
    assert all(list(f.feedback.joint_names) == names for f in feedback)
    proc.stop()  # closes the bag
    records = _executions(tmp_path)
    assert [r.phase for r in records] == ["intent", "succeeded"]
    # ... and every desired state before lies on the controller's interpolation of the approved points (cubic
    # Hermite from the live start state the gate recorded).
    live = dict(zip(records[0].live_state.name, records[0].live_state.position))
    start = np.array([live[n] for n in names])
    grid = np.linspace(0.0, times[-1], int(times[-1] / 5e-4) + 1)
    curve = np.array([sample(start, pos, vel, times, t)[0] for t in grid])
    for f in feedback:
        desired = np.asarray(f.feedback.desired.positions, dtype=float)
        assert np.min(np.max(np.abs(curve - desired), axis=1)) < 1e-3, desired

    # The goal the gate sent (recorded before it was sent) is the approved selected candidate, point for point.
    for rec in records:
        assert rec.controller_action == ACTION
        assert list(rec.trajectory.joint_names) == names
        sent_pos, sent_vel, sent_times = _points(rec.trajectory)
        assert np.array_equal(sent_pos, pos) and np.array_equal(sent_vel, vel)
        assert np.allclose(sent_times, times, atol=1e-9)
    assert records[-1].controller_error_code == 0


# ---- b. the controller aborts ------------------------------------------------------------------------------
def test_control_msgs_controller_abort_is_typed(ros_graph, node_processes, tmp_path):
    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env(),
                                   sim={"fault_abort_at_fraction": 0.3, "path_tolerance": 0.001, "time_scale": 1.0})
    _plan, result = _approved_and_executed(ros_graph, clients)
    assert result.error_code == int(ErrorCode.CONTROLLER_ABORTED), result.error_string
    assert result.controller_error_code == -4  # control_msgs PATH_TOLERANCE_VIOLATED
    assert "path tolerance violated" in result.error_string
    assert not result.executed
    assert counts[-1] == 1
    proc.stop()
    records = _executions(tmp_path)
    assert [r.phase for r in records] == ["intent", "aborted"]
    assert records[-1].controller_error_code == -4


# ---- c. the operator cancels -------------------------------------------------------------------------------
def test_control_msgs_controller_cancel_is_forwarded(ros_graph, node_processes, tmp_path):
    from action_msgs.msg import GoalStatus

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env(),
                                   sim={"time_scale": 0.25})
    statuses = _controller_statuses(ros_graph)
    feedback = []
    _plan, result = _approved_and_executed(ros_graph, clients, feedback, cancel_after_feedback=True)
    assert result.error_code == int(ErrorCode.EXECUTION_CANCELED), result.error_string
    assert not result.executed
    assert len(feedback) >= 2
    assert counts[-1] == 1
    # The cancel reached the control_msgs controller: its goal ended CANCELED.
    assert wait_until(lambda: list(statuses.values()) == [GoalStatus.STATUS_CANCELED], timeout=10), statuses
    proc.stop()
    assert [r.phase for r in _executions(tmp_path)] == ["intent", "canceled"]


# ---- d. type selection ----------------------------------------------------------------------------------
def test_auto_picks_control_msgs_when_importable(ros_graph, node_processes, tmp_path):
    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env(),
                                   approval={"controller_action_type": "auto"}, sim={"action_type": "auto"})
    assert _wait_action_type(ros_graph, CONTROL_MSGS_TYPE) == [CONTROL_MSGS_TYPE]
    assert _log_lines(proc, f"controller {ACTION} ({CONTROL_MSGS_TYPE})"), proc.output()[-2000:]
    assert _log_lines(proc, f"sim_controller ({CONTROL_MSGS_TYPE})"), proc.output()[-2000:]
    _plan, result = _approved_and_executed(ros_graph, clients)
    assert result.error_code == 0 and result.executed, result.error_string
    assert counts[-1] == 1


def _fastdds3() -> bool:
    """rmw_fastrtps_cpp on Fast DDS 3 (the Kilted wheels): the middleware these type-matching facts were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return False
    try:
        return int(version("ros-fastdds").split(".")[0]) >= 3
    except PackageNotFoundError:
        return False


@pytest.mark.parametrize("gate_type,sim_type", [("worldforge_ros", "control_msgs"), ("control_msgs", "worldforge_ros")])
def test_wire_identical_types_match_across_processes(ros_graph, node_processes, tmp_path, gate_type, sim_type):
    """MEASURED, not what the docs assumed: endpoints in DIFFERENT processes match by structure on Fast DDS 3 (its
    XTypes minimal type identifiers carry no type names), so this package's wire-identical copy and control_msgs
    talk to each other — the goal reaches the controller and runs. The type choice is no isolation barrier.
    (In ONE process rmw_fastrtps refuses the second type: test_one_bringup_with_two_controller_types_exits.)"""
    if not _fastdds3():
        pytest.skip("cross-type matching measured on rmw_fastrtps_cpp + Fast DDS 3 only")
    types = {"worldforge_ros": WORLDFORGE_TYPE, "control_msgs": CONTROL_MSGS_TYPE}
    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env(), sim_process=True,
                                   approval={"controller_action_type": gate_type}, sim={"action_type": sim_type})
    # Both types are on the graph under the one action name: the controller's server and the gate's client.
    assert _wait_action_type(ros_graph, types[gate_type]) == [CONTROL_MSGS_TYPE, WORLDFORGE_TYPE]
    assert _log_lines(proc, f"controller {ACTION} ({types[gate_type]})")
    _plan, result = _approved_and_executed(ros_graph, clients)
    assert result.error_code == 0, result.error_string
    assert result.executed and result.controller_error_code == 0
    assert (result.controller_action, result.controller_type) == (ACTION, types[gate_type])  # what the gate used
    assert counts[-1] == 1


def _run_to_exit(tmp_path, executable: str):
    """Start ``executable`` with a control_msgs setup it cannot serve; (exit code, output).

    ``bringup``, ``approval_node``, ``sim_controller``: control_msgs requested where it is not importable.
    ``bringup-mismatch``: control_msgs importable, gate ``worldforge_ros`` and sim ``control_msgs`` on one action
    name in the one bringup process (rmw_fastrtps refuses a second type on a topic name its participant has).
    """
    if executable == "bringup-mismatch":
        if not _fastdds3():
            pytest.skip("the one-process type conflict is rmw_fastrtps_cpp's check (measured with Fast DDS 3)")
        env = control_msgs_env()
        profile = write_profile(tmp_path, approval={"evidence_dir": str(tmp_path / "evidence"),
                                                    "controller_action_type": "worldforge_ros"},
                                sim_controller={"action_type": "control_msgs"})
        executable, args = "bringup", ["--profile", profile]
        return _exit_of(installed_executable(executable) + args, env, executable)
    env = node_env()
    assert "control_msgs" not in env.get("PYTHONPATH", "") + env.get("LD_LIBRARY_PATH", "")
    if executable == "bringup":
        profile = write_profile(tmp_path, approval={"evidence_dir": str(tmp_path / "evidence"),
                                                    "controller_action_type": "control_msgs"},
                                sim_controller={"action_type": "worldforge_ros"})
        args = ["--profile", profile]
    elif executable == "approval_node":
        args = ["--ros-args", "-p", "controller_action_type:=control_msgs",
                "-p", f"evidence_dir:={tmp_path / 'evidence'}"]
    else:
        args = ["--ros-args", "-p", "action_type:=control_msgs"]
    return _exit_of(installed_executable(executable) + args, env, executable)


def _exit_of(argv, env, executable):
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        pytest.fail(f"{executable} kept running with a controller type it cannot serve:\n{out.decode(errors='replace')[-2000:]}")
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("executable", ["bringup", "approval_node", "sim_controller"])
def test_control_msgs_requested_but_missing_exits(tmp_path, executable):
    code, out = _run_to_exit(tmp_path, executable)
    assert code != 0, out
    assert "No module named 'control_msgs'" in out or "control_msgs" in out.splitlines()[-1], out
    assert "approval gate up" not in out, out
    if executable == "sim_controller":
        assert "on /sim_controller" not in out, out


def test_one_bringup_with_two_controller_types_exits(tmp_path):
    code, out = _run_to_exit(tmp_path, "bringup-mismatch")
    assert code == 2, out
    assert "would use different FollowJointTrajectory types" in out, out
    assert "approval gate up" not in out, out


@pytest.mark.parametrize("executable", ["bringup", "approval_node", "sim_controller", "bringup-mismatch"])
def test_unservable_controller_type_is_a_one_line_error(tmp_path, executable):
    code, out = _run_to_exit(tmp_path, executable)
    assert code == 2, out
    assert "Traceback" not in out, out
    name = executable.split("-")[0]
    errors = [line for line in out.splitlines() if "control_msgs" in line and line.startswith(f"{name}:")]
    assert len(errors) == 1, out


# ---- shutdown while a control_msgs controller runs a goal ---------------------------------------------------
def test_gate_shutdown_mid_execution_cancels_the_controller_goal(ros_graph, node_processes, tmp_path):
    """The gate stopped (SIGINT) while a host controller (its own process) runs an approved goal: the gate must
    cancel that goal and record how the execution ended before it closes the bag."""
    from action_msgs.msg import GoalStatus
    from worldforge_ros.action import ExecutePlan

    proc, clients, counts = _graph(ros_graph, node_processes, tmp_path, env=control_msgs_env(), sim_process=True,
                                   sim={"time_scale": 0.1})
    statuses = _controller_statuses(ros_graph)
    plan = gate_plan(ros_graph, clients)
    approval = gate_approve(ros_graph, clients, plan.plan_digest)
    assert approval.accepted, approval.error_message
    feedback = []
    goal = ExecutePlan.Goal(approval_id=approval.approval_id, plan_digest=plan.plan_digest)
    assert ros_graph.wait(clients["execute"].send_goal_async(goal, feedback_callback=feedback.append)).accepted
    assert wait_until(lambda: len(feedback) >= 3)
    assert list(statuses.values()) == [GoalStatus.STATUS_EXECUTING]
    assert proc.stop() == "SIGINT"
    ended = wait_until(lambda: list(statuses.values()) != [GoalStatus.STATUS_EXECUTING], timeout=10)
    phases = [r.phase for r in _executions(tmp_path) if r.approval_id == approval.approval_id]
    assert ended and list(statuses.values()) == [GoalStatus.STATUS_CANCELED], statuses
    assert phases == ["intent", "canceled"], phases
