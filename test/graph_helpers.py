"""Helpers for graph tests: start provider/planner nodes as processes, build observations and plan requests."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ros_harness import installed_executable, wait_until
from worldforge_ros.core.errors import ErrorCode

PANDA = [f"panda_joint{i}" for i in range(1, 8)]
PANDA_HOME = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


def provider(node_processes, name: str, *params: str, node_name: str | None = None):
    argv = installed_executable("provider_node") + [
        "--ros-args", "-r", f"__node:={node_name or 'provider_' + name}", "-p", f"provider:={name}", *params]
    return node_processes(argv, node_name or f"provider_{name}")


def planner(node_processes, *params: str):
    argv = installed_executable("planner_node") + ["--ros-args", *params]
    return node_processes(argv, "planner")


def reference_graph(node_processes, *planner_params: str, policy_params=(), goal=None):
    goal = goal or [0.1, -0.6, 0.1, -2.2, 0.1, 1.7, 0.9]
    goal_param = "[" + ", ".join(str(g) for g in goal) + "]"
    provider(node_processes, "reference", "-p", f"reference.goal_positions:={goal_param}",
             "-p", "reference.max_step:=0.05", *policy_params)
    provider(node_processes, "reference_scorer", "-p", f"reference_scorer.goal_positions:={goal_param}")
    planner(node_processes, *planner_params)


def observation(names=PANDA, positions=PANDA_HOME, stamp_ns: int | None = None):
    from worldforge_ros.msg import Observation
    from worldforge_ros.nodes.conversions import ns_to_time

    obs = Observation()
    obs.stamp = ns_to_time(time.time_ns() if stamp_ns is None else stamp_ns)
    obs.embodiment_tag = "panda_7dof"
    obs.joint_state.name = list(names)
    obs.joint_state.position = [float(v) for v in positions]
    return obs


def plan_request(**fields):
    from worldforge_ros.srv import Plan

    req = Plan.Request()
    req.observation = fields.pop("observation", None) or observation()
    req.deadline_s = fields.pop("deadline_s", 15.0)
    for key, value in fields.items():
        setattr(req, key, value)
    return req


def plan_client(ros_graph, timeout: float = 20.0):
    """A ``/worldforge/plan`` client that has had an answer (probe: an unknown embodiment, a typed 3xx error
    before any provider is called)."""
    from worldforge_ros.srv import Plan

    return ros_graph.answering_client(Plan, "/worldforge/plan", plan_request(embodiment="discovery-probe"), timeout)


def fjt_goal(action_type, positions, dt=0.1, names=PANDA):
    """A FollowJointTrajectory goal through ``positions`` (one row per point, ``dt`` apart; velocities by finite
    differences, zero at the end)."""
    import numpy as np

    from worldforge_ros.nodes.conversions import trajectory_to_msg

    pos = np.asarray(positions, dtype=float)
    vel = np.gradient(pos, dt, axis=0)
    vel[-1] = 0.0
    goal = action_type.Goal()
    goal.trajectory = trajectory_to_msg(names, pos, vel, dt * np.arange(1, len(pos) + 1))
    return goal


def simulated_controller_client(ros_graph, action: str):
    """A simulated controller's action client, answered once (a goal for unknown joints, which it rejects)."""
    from worldforge_ros.action import FollowJointTrajectory

    probe = fjt_goal(FollowJointTrajectory, [[0.0, 0.0], [0.0, 0.0]], names=["probe_a", "probe_b"])
    return ros_graph.answering_action_client(FollowJointTrajectory, action, probe)


def finite(values) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))


def write_profile(tmp_path, base: str = "dry_run", **overrides) -> str:
    """A copy of profile ``base`` with ``overrides`` = {node_name: {param: value}} (None removes a node)."""
    import yaml

    from worldforge_ros.core.profiles import profile_path

    data = yaml.safe_load(profile_path(base).read_text())
    for node, params in overrides.items():
        if params is None:
            data.pop(node, None)
            continue
        data.setdefault(node, {"ros__parameters": {}})["ros__parameters"].update(params)
    path = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def bringup(node_processes, profile: str, *args: str):
    argv = installed_executable("bringup") + ["--profile", profile, *args]
    return node_processes(argv, "bringup")


def goals_received(ros_graph):
    """Latest value of /sim_controller/goals_received (a list that the subscription appends to)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt32

    seen = [None]
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_graph.node.create_subscription(UInt32, "/sim_controller/goals_received", lambda m: seen.append(m.data), qos)
    return seen


# ---- the approval gate on a bringup graph (reference providers, planner, gate, sim_controller) ----
CHECKLIST = dict(workspace_clear=True, emergency_stop_available=True, operator_present=True, controller_isolated=True)
GOAL = [0.1, -0.6, 0.1, -2.2, 0.1, 1.7, 0.9]


def gate_graph(ros_graph, node_processes, tmp_path, *, execution_enabled=False, approval=None, sim=None,
               planner=None, bringup_args=()):
    approval_params = {"evidence_dir": str(tmp_path / "evidence"), "controller_action_type": "worldforge_ros",
                       "execution_enabled": execution_enabled, **(approval or {})}
    sim_params = {"action_type": "worldforge_ros", "time_scale": 4.0, **(sim or {})}
    profile = write_profile(tmp_path, provider_reference={"reference": {"goal_positions": GOAL, "max_step": 0.05}},
                            provider_reference_scorer={"reference_scorer": {"goal_positions": GOAL}},
                            approval=approval_params, sim_controller=sim_params, **({"planner": planner} if planner else {}))
    proc = bringup(node_processes, profile, *bringup_args)
    counts = goals_received(ros_graph)
    from worldforge_ros.action import ExecutePlan
    from worldforge_ros.srv import Approve

    clients = {"plan": plan_client(ros_graph),
               "approve": ros_graph.client(Approve, "/worldforge/approve"),
               "execute": ros_graph.action_client(ExecutePlan, "/worldforge/execute")}
    assert wait_until(lambda: counts[-1] == 0)
    return proc, clients, counts


class JointStateWatch:
    """The test's own view of ``/joint_states``: ``settled()`` is an observation published after the call began."""

    def __init__(self, ros_graph):
        from sensor_msgs.msg import JointState

        self.latest = None
        ros_graph.node.create_subscription(JointState, "/joint_states", self._on_state, 1)

    def _on_state(self, msg) -> None:
        self.latest = msg

    def settled(self, timeout: float = 10.0):
        """An Observation of the state published after now (after an execution's result: the state it ended in)."""
        from worldforge_ros.msg import Observation

        since = time.time_ns()

        def fresh() -> bool:
            msg = self.latest
            return msg is not None and msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec > since

        assert wait_until(fresh, timeout=timeout, interval=0.01), "no /joint_states published"
        obs = Observation()
        obs.joint_state = self.latest
        obs.stamp = self.latest.header.stamp
        return obs


def gate_plan(ros_graph, clients, observation_source=None):
    """Plan until it succeeds: from the planner's latest /joint_states, or from ``observation_source()``."""
    from worldforge_ros.msg import Observation

    resp = None

    def attempt():
        nonlocal resp
        obs = observation_source() if observation_source else Observation()
        resp = ros_graph.call(clients["plan"], plan_request(observation=obs))
        return resp.success

    assert wait_until(attempt, timeout=20), resp.error_message
    return resp


def gate_approve(ros_graph, clients, digest, **fields):
    from worldforge_ros.srv import Approve

    req = Approve.Request(plan_digest=digest, approve=True, operator_id="alice", note="looks right", **CHECKLIST)
    for key, value in fields.items():
        setattr(req, key, value)
    # The gate learns plans from the latched /worldforge/plans topic: allow it a moment to arrive.
    resp = None

    def attempt():
        nonlocal resp
        resp = ros_graph.call(clients["approve"], req)
        return resp.error_code != int(ErrorCode.UNKNOWN_PLAN)

    wait_until(attempt, timeout=10)
    return resp


def gate_execute(ros_graph, clients, approval_id, digest, feedback=None, cancel_after_feedback=False):
    from worldforge_ros.action import ExecutePlan

    goal = ExecutePlan.Goal(approval_id=approval_id, plan_digest=digest)
    fb = feedback if feedback is not None else []
    handle = ros_graph.wait(clients["execute"].send_goal_async(goal, feedback_callback=fb.append))
    assert handle.accepted
    if cancel_after_feedback:
        assert wait_until(lambda: len(fb) >= 2)
        ros_graph.wait(handle.cancel_goal_async())
    return ros_graph.wait(handle.get_result_async(), timeout=60).result


def gate_bag(tmp_path) -> Path:
    bags = list((tmp_path / "evidence").glob("runs/*/bag"))
    assert len(bags) == 1, bags
    return bags[0]


