"""One source of truth: bringup and plan_and_review.launch.py start the same nodes with the same parameters."""

import ast
import importlib.util
from pathlib import Path

import pytest

from worldforge_ros.core.profiles import apply_arguments, load_profile

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "plan_and_review.launch.py"
PROFILES = sorted(p.stem for p in (ROOT / "config").glob("*.yaml") if p.stem != "embodiments")


def test_profiles_exist():
    assert {"dry_run", "lerobot_lewm", "gr00t_lewm"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_bringup_composes_the_profile_with_its_parameters(name):
    import rclpy
    from rclpy.context import Context

    from worldforge_ros.nodes.bringup import create_nodes

    profile = apply_arguments(load_profile(name), evidence_dir="/tmp/wfros-profile-test")
    for spec in profile.nodes:  # do not load models here: compare parameters only
        if spec.lifecycle:
            spec.parameters["autostart"] = False
        if spec.executable == "approval_node":
            spec.parameters["record_evidence"] = False
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


def test_launch_arguments_are_applied_like_bringup():
    profile = apply_arguments(load_profile("dry_run"), execution_enabled=True, evidence_dir="/data/ev",
                              controller_action="/arm/fjt", use_sim_controller=False)
    approval = profile.node("approval").parameters
    assert approval["execution_enabled"] is True
    assert approval["evidence_dir"] == "/data/ev" and approval["controller_action"] == "/arm/fjt"
    assert profile.node("sim_controller") is None
    assert load_profile("dry_run").node("approval").parameters["execution_enabled"] is False  # dry-run default


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
    args = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    names = [elt.elts[0].value for elt in args.value.elts]
    assert names == ["profile", "execution_enabled", "evidence_dir", "controller_action", "use_sim_controller"]
    defaults = {elt.elts[0].value: elt.elts[1].value for elt in args.value.elts}
    assert defaults["execution_enabled"] == "false" and defaults["profile"] == "dry_run"
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
