"""One source of truth: bringup and plan_and_review.launch.py start the same nodes with the same parameters."""

import ast
import importlib.util
from pathlib import Path

import pytest

from worldforge_ros.core.profiles import apply_arguments, load_profile

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "plan_and_review.launch.py"
PROFILES = sorted(p.stem for p in (ROOT / "config").glob("*.yaml") if p.stem != "embodiments")


def _inert_profile(name):
    """The profile with launch defaults, built to be composed in-process without loading a model or a bag."""
    profile = apply_arguments(load_profile(name), evidence_dir="/tmp/wfros-profile-test")
    for spec in profile.nodes:
        if spec.lifecycle:
            spec.parameters["autostart"] = False
        if spec.executable == "approval_node":
            spec.parameters["record_evidence"] = False
    return profile


def test_profiles_exist():
    assert {"dry_run", "lerobot_lewm", "gr00t_lewm"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_bringup_composes_the_profile_with_its_parameters(name):
    import rclpy
    from rclpy.context import Context

    from worldforge_ros.nodes.bringup import create_nodes

    profile = _inert_profile(name)
    context = Context()
    rclpy.init(context=context)
    try:
        nodes = create_nodes(profile, context=context)
        assert [n.get_name() for n in nodes] == [s.name for s in sorted(
            profile.nodes, key=lambda s: ("sim_controller", "provider_node", "planner_node",
                                          "approval_node").index(s.executable))]
        by_name = {n.get_name(): n for n in nodes}
        for spec in profile.nodes:
            node = by_name[spec.name]
            for key, value in spec.flat_parameters().items():
                got = node.get_parameter(key).value
                assert (list(got) if isinstance(got, (list, tuple)) or hasattr(got, "tolist") else got) == value, \
                    f"{spec.name}.{key}"
        for node in nodes:
            node.destroy_node()
    finally:
        context.try_shutdown()


def test_composed_bringup_runs_planner_and_providers_on_the_events_executor():
    """Awaiting nodes (planner, providers) each get an EventsExecutor thread of their own (one shared executor
    serves a request written from its own thread late: Fast DDS intra-process delivery); the gate and the simulated
    controller (a running trajectory holds its thread) stay on the multi-threaded executor."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor

    from worldforge_ros.nodes.bringup import composed_executors, create_nodes

    profile = _inert_profile("dry_run")
    context = Context()
    rclpy.init(context=context)
    try:
        nodes = create_nodes(profile, context=context)
        multi, background = composed_executors(nodes)
        assert isinstance(multi, MultiThreadedExecutor) and all(len(ex.get_nodes()) == 1 for ex in background)
        on_events = sorted(n.get_name() for ex in background for n in ex.get_nodes())
        on_multi = sorted(n.get_name() for n in multi.get_nodes())
        assert on_events == sorted(s.name for s in profile.nodes
                                   if s.executable in ("planner_node", "provider_node"))
        assert on_multi == sorted(s.name for s in profile.nodes if s.executable in ("approval_node", "sim_controller"))
        for executor in (multi, *background):
            executor.shutdown()
        for node in nodes:
            node.destroy_node()
    finally:
        context.try_shutdown()


def test_launch_arguments_are_applied_like_bringup():
    profile = apply_arguments(load_profile("dry_run"), execution_enabled=True, evidence_dir="/data/ev",
                              controller_action="/arm/fjt", use_sim_controller=False)
    approval = profile.node("approval").parameters
    assert approval["execution_enabled"] is True
    assert approval["evidence_dir"] == "/data/ev" and approval["controller_action"] == "/arm/fjt"
    assert profile.node("sim_controller") is None
    assert load_profile("dry_run").node("approval").parameters["execution_enabled"] is False  # dry-run default


@pytest.mark.parametrize("name", ["lerobot_lewm", "gr00t_lewm"])
def test_robot_profiles_never_start_the_sim_and_target_the_real_controller(name):
    profile = apply_arguments(load_profile(name))
    assert profile.node("sim_controller") is None
    assert profile.node("approval").parameters["controller_action"] == \
        "joint_trajectory_controller/follow_joint_trajectory"
    desk = apply_arguments(load_profile(name), use_sim_controller=True)
    assert desk.node("sim_controller").parameters["action_name"] == "sim_controller/follow_joint_trajectory"
    assert desk.node("approval").parameters["controller_action"] == "sim_controller/follow_joint_trajectory"


def test_dry_run_starts_the_sim_and_the_sim_never_takes_a_real_controllers_name():
    from worldforge_ros.core.errors import ErrorCode, RequestError

    dry = apply_arguments(load_profile("dry_run"))
    assert dry.node("sim_controller").parameters["action_name"] == "sim_controller/follow_joint_trajectory"
    with pytest.raises(RequestError) as err:
        apply_arguments(load_profile("dry_run"), use_sim_controller=True,
                        controller_action="joint_trajectory_controller/follow_joint_trajectory")
    assert err.value.code == ErrorCode.INVALID_ARGUMENT and "never takes a real controller" in str(err.value)
    real = apply_arguments(load_profile("dry_run"), use_sim_controller=False)
    assert real.node("sim_controller") is None
    assert real.node("approval").parameters["controller_action"] == \
        "joint_trajectory_controller/follow_joint_trajectory"


def test_user_params_file_overrides_the_profile(tmp_path):
    from worldforge_ros.core.errors import RequestError

    user = tmp_path / "lab.yaml"
    user.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n"
                    "/robot1/planner:\n  ros__parameters:\n    deadline_s: 3.5\n    camera_topics: [front=/cam/image]\n"
                    "provider_reference:\n  ros__parameters:\n    reference:\n      seed: 11\n")
    profile = apply_arguments(load_profile("dry_run"), params_file=str(user))
    planner = profile.node("planner").parameters
    assert planner["deadline_s"] == 3.5 and planner["camera_topics"] == ["front=/cam/image"]
    assert planner["policy_providers"] == ["reference"]  # untouched profile values stay
    ref = profile.node("provider_reference").parameters["reference"]
    assert ref["seed"] == 11 and ref["horizon"] == 16  # nested blocks merge, not replace
    assert all(n.parameters["use_sim_time"] is True for n in profile.nodes)
    typo = tmp_path / "typo.yaml"
    typo.write_text("planer:\n  ros__parameters:\n    deadline_s: 3.0\n")
    with pytest.raises(RequestError, match="not started by profile"):
        apply_arguments(load_profile("dry_run"), params_file=str(typo))


def _launch_tree():
    return ast.parse(LAUNCH.read_text())


def test_launch_file_reads_the_same_profile_machinery():
    """Static check where launch_ros is not installable: the launch file goes through core.profiles."""
    tree = _launch_tree()
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("worldforge_ros.core.profiles", "load_profile") in imports
    assert ("worldforge_ros.core.profiles", "apply_arguments") in imports
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"load_profile", "apply_arguments", "LifecycleNode", "Node", "OpaqueFunction"} <= calls
    lifecycle = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "LifecycleNode")
    keywords = {k.arg: k.value for k in lifecycle.keywords}
    assert isinstance(keywords["respawn"], ast.Constant) and keywords["respawn"].value is True  # providers come back
    assert "respawn_delay" in keywords
    assert ("worldforge_ros.core.profiles", "LAUNCH_ARGUMENTS") in imports
    from worldforge_ros.core.profiles import LAUNCH_ARGUMENTS

    declared = [name for name, _d, _t in LAUNCH_ARGUMENTS]
    assert {"namespace", "use_sim_time", "log_level", "params_file", "controller_action", "controller_action_type",
            "use_sim_controller", "execution_enabled", "profile"} <= set(declared)
    defaults = {name: default for name, default, _t in LAUNCH_ARGUMENTS}
    assert defaults["execution_enabled"] == "false" and defaults["profile"] == "dry_run"
    assert defaults["use_sim_controller"] == ""  # the profile decides: true only for dry_run
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") in
                 ("LifecycleNode", "Node")):
        kw = {k.arg for k in call.keywords}
        assert {"namespace", "ros_arguments", "parameters", "name"} <= kw, ast.dump(call)
    every_get = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") ==
                 "get" and n.args and isinstance(n.args[0], ast.Constant)}
    assert set(declared) == every_get, "every declared launch argument must be honoured (and only those)"
    compile(LAUNCH.read_text(), str(LAUNCH), "exec")


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch_ros is not installable from PyPI: only on machines with a ROS 2 distribution")
def test_launch_description_matches_bringup_node_set():
    from launch import LaunchContext
    from launch.actions import OpaqueFunction

    spec = importlib.util.spec_from_file_location("plan_and_review_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = LaunchContext()
    for entity in description.entities:
        if not isinstance(entity, OpaqueFunction):
            entity.visit(context)
    opaque = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    actions = opaque.execute(context)
    launched = sorted(getattr(a, "_Node__node_name") for a in actions if hasattr(a, "_Node__node_name"))
    assert launched == sorted(s.name for s in load_profile("dry_run").nodes)
