"""bringup: a whole profile composed in ONE process on a MultiThreadedExecutor.

For machines without ``ros2 launch`` (launch_ros is not on PyPI). Reads the same profile YAML as
``plan_and_review.launch.py`` and applies the same launch arguments (worldforge_ros.core.profiles), so both
front ends start the same node set with the same parameters.

    bringup --profile dry_run [--execution-enabled] [--evidence-dir DIR] [--controller-action NAME]
            [--no-sim-controller] [--ros-args ...]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.parameter import Parameter

from worldforge_ros.core.errors import WorldForgeRosError
from worldforge_ros.core.profiles import Profile, apply_arguments, load_profile
from worldforge_ros.core.workspace import new_run_id

NODE_CLASSES = {
    "provider_node": ("worldforge_ros.nodes.provider_node", "ProviderNode"),
    "planner_node": ("worldforge_ros.nodes.planner_node", "PlannerNode"),
    "approval_node": ("worldforge_ros.nodes.approval_node", "ApprovalNode"),
    "sim_controller": ("worldforge_ros.nodes.sim_controller", "SimController"),
}
# Start order: the controller and providers first, the gate last (it records what the others publish).
ORDER = ("sim_controller", "provider_node", "planner_node", "approval_node")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bringup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="dry_run", help="profile name (config/<name>.yaml) or a YAML path")
    parser.add_argument("--execution-enabled", action="store_true", default=None,
                        help="let the gate forward approved plans to the controller (default: dry-run)")
    parser.add_argument("--evidence-dir", default=None, help="root of run workspaces (bags, reports)")
    parser.add_argument("--controller-action", default=None, help="FollowJointTrajectory action of the controller")
    parser.add_argument("--no-sim-controller", dest="use_sim_controller", action="store_false", default=None,
                        help="do not start sim_controller (a host controller is running)")
    return parser.parse_args(argv)


def resolved_profile(args: argparse.Namespace) -> Profile:
    return apply_arguments(load_profile(args.profile), execution_enabled=args.execution_enabled,
                           evidence_dir=args.evidence_dir, controller_action=args.controller_action,
                           use_sim_controller=args.use_sim_controller, run_id=new_run_id())


def create_nodes(profile: Profile, context: Any = None) -> list[Any]:
    import importlib

    nodes = []
    for kind in ORDER:
        for spec in (s for s in profile.nodes if s.executable == kind):
            module, cls_name = NODE_CLASSES[kind]
            cls = getattr(importlib.import_module(module), cls_name)
            overrides = [Parameter(k, value=v) for k, v in spec.flat_parameters().items()]
            nodes.append(cls(spec.name, parameter_overrides=overrides, context=context))
    return nodes


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    ros_args = rclpy.utilities.remove_ros_args(argv)[1:]
    args = parse_args(ros_args)
    rclpy.init(args=argv)
    nodes: list[Any] = []
    try:
        profile = resolved_profile(args)
        nodes = create_nodes(profile)
    except WorldForgeRosError as err:
        print(f"bringup: {err}", file=sys.stderr)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        return 2
    executor = MultiThreadedExecutor(num_threads=8)
    for node in nodes:
        executor.add_node(node)
    print(f"bringup: profile {profile.name} ({profile.path}) with {len(nodes)} nodes: "
          f"{', '.join(n.get_name() for n in nodes)}", flush=True)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
