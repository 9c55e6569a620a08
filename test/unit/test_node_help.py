"""Every node's ``--help``: usage, how parameters are passed, every parameter with its default; rclpy untouched."""

from __future__ import annotations

import importlib

import pytest
import rclpy

from worldforge_ros.nodes.spin import wants_help
from worldforge_ros.providers import registry

NODES = {"provider_node": "BASE_PARAMS", "planner_node": "PARAMS", "approval_node": "PARAMS",
         "sim_controller": "PARAMS", "scene_sim": "PARAMS"}


@pytest.fixture(autouse=True)
def no_rclpy_init(monkeypatch):
    """A regression must fail here, not start spinning a node."""

    def refuse(*args, **kwargs):
        raise AssertionError("--help initialized rclpy")

    monkeypatch.setattr(rclpy, "init", refuse)


@pytest.mark.parametrize("argv, expected", [
    (["n", "--help"], True),
    (["n", "-h"], True),
    (["n", "--ros-args", "-p", "a:=1", "--", "--help"], True),
    (["n"], False),
    (["n", "--ros-args", "-p", "a:=1"], False),
    (["n", "--ros-args", "--help"], False),  # a ROS argument, not ours
    (["--help"], False),  # argv[0] is the program
])
def test_wants_help(argv, expected):
    assert wants_help(argv) is expected


@pytest.mark.parametrize("node", sorted(NODES))
def test_help_lists_every_parameter_without_rclpy(node, capsys):
    module = importlib.import_module(f"worldforge_ros.nodes.{node}")
    assert not rclpy.ok()
    assert module.main([node, "--help"]) == 0
    assert not rclpy.ok(), "--help must not initialize rclpy"
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {node} ")
    assert "--ros-args" in out and "--params-file" in out
    specs = list(getattr(module, NODES[node]))
    if node == "provider_node":
        specs += [s for name in registry.names() for s in registry.get(name).prefixed_params()]
    for spec in specs:
        assert f"\n  {spec.name}  (" in out, spec.name
        assert spec.description.split()[0] in out


def test_no_parameter_holds_a_secret(capsys):
    """Tokens come from a file or the environment: no parameter (readable with `ros2 param get`) holds one."""
    from worldforge_ros.nodes import provider_node
    from worldforge_ros.providers import registry

    provider_node.main(["provider_node", "--help"])
    out = capsys.readouterr().out
    assert "gr00t.api_token_file" in out
    specs = [s for name in registry.names() for s in registry.get(name).prefixed_params()]
    assert not [s.name for s in specs if s.secret or s.name.endswith((".api_token", ".token", ".password"))]


def test_bringup_help_without_rclpy(capsys):
    from worldforge_ros.nodes import bringup

    with pytest.raises(SystemExit) as exit_info:
        bringup.main(["bringup", "--help"])
    assert exit_info.value.code == 0
    assert not rclpy.ok()
    out = capsys.readouterr().out
    for word in ("--profile", "--evidence-dir", "--ros-args", "dry_run", "<node> --help"):
        assert word in out


def test_bringup_gil_switch_interval_option(capsys):
    from worldforge_ros.nodes import bringup

    assert bringup.parse_args([]).gil_switch_interval_ms == bringup.COMPOSED_SWITCH_INTERVAL_MS < 5.0
    assert bringup.parse_args(["--gil-switch-interval-ms", "5"]).gil_switch_interval_ms == 5.0
    for bad in ("0", "-1", "nan", "fast"):
        with pytest.raises(SystemExit) as exit_info:
            bringup.parse_args(["--gil-switch-interval-ms", bad])
        assert exit_info.value.code == 2
    assert "--gil-switch-interval-ms" in capsys.readouterr().err
