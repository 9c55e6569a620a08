"""bringup: a whole profile composed in ONE process (planner and providers each on an EventsExecutor thread of its
own, the rest on a MultiThreadedExecutor; see :func:`composed_executors`).

For machines without ``ros2 launch`` (launch_ros is not on PyPI). Reads the same profile YAML as
``plan_and_review.launch.py`` and applies the same launch arguments (worldforge_ros.core.profiles), so both
front ends start the same node set with the same parameters.

    bringup --profile dry_run [--namespace NS] [--params-file FILE] [--execution-enabled] [--evidence-dir DIR]
            [--controller-action NAME] [--controller-action-type auto|control_msgs|worldforge_ros]
            [--use-sim-controller | --no-sim-controller] [--use-sim-time] [--log-level LEVEL]
            [--gil-switch-interval-ms MS] [--ros-args ...]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from worldforge_ros.core.errors import ErrorCode, RequestError, WorldForgeRosError
from worldforge_ros.core.profiles import LOG_LEVELS, PROFILES, Profile, apply_arguments, load_profile
from worldforge_ros.core.workspace import new_run_id
from worldforge_ros.nodes.spin import events_executor, init, runs_on_events, spin_until_shutdown

NODE_CLASSES = {
    "provider_node": ("worldforge_ros.nodes.provider_node", "ProviderNode"),
    "planner_node": ("worldforge_ros.nodes.planner_node", "PlannerNode"),
    "approval_node": ("worldforge_ros.nodes.approval_node", "ApprovalNode"),
    "sim_controller": ("worldforge_ros.nodes.sim_controller", "SimController"),
    "scene_sim": ("worldforge_ros.nodes.scene_sim", "SceneSim"),
}
# Start order: the controller and providers first, the gate last (it records what the others publish).
ORDER = ("sim_controller", "scene_sim", "provider_node", "planner_node", "approval_node")
COMPOSED_SWITCH_INTERVAL_MS = 0.1
"""The composed graph's GIL switch interval. Its nodes hand work to each other across threads of one interpreter,
and each hand-off waits for the thread holding the GIL to let go: with Python's 5 ms a plan took 86 ms, with
0.5 ms 47 ms, 0.2 ms 23 ms, 0.1 ms 19 ms (reference providers, gate recording, 2-core host, 2026-12-02)."""


HELP_EPILOG = """\
Node parameters come from the profile YAML (a ROS 2 parameter file keyed by node name: provider_<name>,
planner, approval, sim_controller), with the options above applied on top. Profiles: {profiles}
(config/<name>.yaml in the package share directory) or a path to your own YAML.
ROS arguments after --ros-args go to rclpy for every composed node, e.g.
  bringup --profile dry_run --evidence-dir /tmp/wf --namespace robot1
Each node's parameters, defaults and descriptions: <node> --help (provider_node, planner_node, approval_node,
sim_controller). --help does not initialize rclpy.
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bringup", description=__doc__.split("\n\n")[0],
                                     epilog=HELP_EPILOG.format(profiles=", ".join(PROFILES)),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="dry_run", help="profile name (config/<name>.yaml) or a YAML path")
    parser.add_argument("--execution-enabled", action="store_true", default=None,
                        help="let the gate forward approved plans to the controller (default: dry-run)")
    parser.add_argument("--evidence-dir", default=None, help="root of run workspaces (bags, reports)")
    parser.add_argument("--controller-action", default=None, help="FollowJointTrajectory action of the controller")
    parser.add_argument("--controller-action-type", default=None, choices=("auto", "control_msgs", "worldforge_ros"),
                        help="FollowJointTrajectory type of the controller (default: the profile's, auto)")
    sim = parser.add_mutually_exclusive_group()
    sim.add_argument("--use-sim-controller", dest="use_sim_controller", action="store_true", default=None,
                     help="start the kinematic sim_controller and point the gate at it (dry_run does by default)")
    sim.add_argument("--no-sim-controller", dest="use_sim_controller", action="store_false",
                     help="do not start sim_controller (a host controller is running)")
    parser.add_argument("--simulator", default=None, choices=("kinematic", "scene"),
                        help="what --use-sim-controller starts: kinematic sim_controller (default) or the MuJoCo "
                             "scene (scene_sim)")
    parser.add_argument("--namespace", default="", help="namespace of the whole graph (e.g. robot1)")
    parser.add_argument("--params-file", default=None,
                        help="your ROS 2 parameter file (keyed by node name, '/**' allowed): overrides the profile")
    parser.add_argument("--use-sim-time", action="store_true", default=None, help="every node uses /clock")
    parser.add_argument("--log-level", default=None, choices=LOG_LEVELS, help="log level of every node")
    parser.add_argument("--gil-switch-interval-ms", type=_positive_ms, default=COMPOSED_SWITCH_INTERVAL_MS,
                        help="how long one thread of this single interpreter may hold the GIL while another waits "
                             f"(default {COMPOSED_SWITCH_INTERVAL_MS}; Python's own: 5)")
    return parser.parse_args(argv)


def _positive_ms(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1000.0:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1000] ms")
    return value


def resolved_profile(args: argparse.Namespace) -> Profile:
    return apply_arguments(load_profile(args.profile), execution_enabled=args.execution_enabled,
                           evidence_dir=args.evidence_dir, controller_action=args.controller_action,
                           controller_action_type=args.controller_action_type,
                           use_sim_controller=args.use_sim_controller, use_sim_time=args.use_sim_time,
                           params_file=args.params_file, run_id=new_run_id(), simulator=args.simulator)


def _check_one_controller_type(profile: Profile) -> None:
    """rclpy refuses two types on one action name in one process: say which parameters disagree instead."""
    from worldforge_ros.nodes.control_types import follow_joint_trajectory_type

    gate, sim = profile.node("approval"), profile.node("sim_controller")
    if gate is None or sim is None:
        return
    gate_type = follow_joint_trajectory_type(str(gate.parameters.get("controller_action_type", "auto")))[1]
    sim_type = follow_joint_trajectory_type(str(sim.parameters.get("action_type", "auto")))[1]
    if gate_type != sim_type:
        raise RequestError(f"the gate ({gate_type}) and sim_controller ({sim_type}) would use different "
                           "FollowJointTrajectory types in this one process: give approval.controller_action_type "
                           "and sim_controller.action_type the same value (or --controller-action-type)",
                           ErrorCode.INVALID_ARGUMENT)


TORCH_PROVIDERS = ("lerobot", "leworldmodel")


def _load_torch_first(profile: Profile) -> None:
    """One process hosts every node here: torch providers next to anything that renders (scene_sim's camera, the
    gate's previews) need torch loaded before the first EGL context (see ``scene.import_torch_before_gl``)."""
    if any(s.executable == "provider_node" and s.flat_parameters().get("provider") in TORCH_PROVIDERS
           for s in profile.nodes):
        try:
            from worldforge_ros.scene import import_torch_before_gl

            import_torch_before_gl()
        except ImportError:  # no torch: those providers report themselves unhealthy with the reason
            pass


def create_nodes(profile: Profile, context: Any = None, namespace: str = "") -> list[Any]:
    import importlib

    _check_one_controller_type(profile)
    _load_torch_first(profile)
    nodes = []
    extra = {"namespace": "/" + namespace.strip("/")} if namespace.strip("/") else {}
    for kind in ORDER:
        for spec in (s for s in profile.nodes if s.executable == kind):
            module, cls_name = NODE_CLASSES[kind]
            cls = getattr(importlib.import_module(module), cls_name)
            params = spec.flat_parameters()
            manage = spec.lifecycle and bool(params.get("autostart", True))
            if spec.lifecycle:
                params["autostart"] = False  # bringup is the lifecycle manager here (in order, see below)
            overrides = [Parameter(k, value=v) for k, v in params.items()]
            node = cls(spec.name, parameter_overrides=overrides, context=context, **extra)
            nodes.append(node)
            if manage:
                activate(node)
    return nodes


def activate(node: Any) -> None:
    """configure -> activate, as a lifecycle manager does: providers are serving before the planner exists, so
    the first plan never meets an inactive provider (a failed configure leaves it unconfigured and reported)."""
    node.trigger_configure()
    if node.state_label == "inactive":
        node.trigger_activate()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    ros_args = rclpy.utilities.remove_ros_args(argv)[1:]
    args = parse_args(ros_args)
    sys.setswitchinterval(args.gil_switch_interval_ms / 1000.0)
    if args.log_level:
        argv += ["--ros-args", "--log-level", args.log_level]
    init(argv)
    nodes: list[Any] = []
    try:
        profile = resolved_profile(args)
        nodes = create_nodes(profile, namespace=args.namespace)
    except (WorldForgeRosError, ValueError) as err:  # ValueError: rclpy refused an entity (e.g. two types on
        print(f"bringup: {err}", file=sys.stderr)      # one action name in this one process)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        return 2
    executor, background = composed_executors(nodes)
    print(f"bringup: profile {profile.name} ({profile.path}) in namespace {nodes[0].get_namespace() if nodes else '/'} "
          f"with {len(nodes)} nodes: "
          f"{', '.join(n.get_name() for n in nodes)}", flush=True)
    spin_until_shutdown(executor, nodes, background=background)
    return 0


def composed_executors(nodes: list[Any]) -> tuple[Any, list[Any]]:
    """The executors of a composed graph: each node that asks for it (``executor:=events``: planner, providers;
    every callback awaits or is short) on an EventsExecutor of its own, spun on its own thread; the others (gate,
    simulated controllers: a running trajectory holds its thread) on a multi-threaded executor in the main thread.

    Why not one multi-threaded executor for all: rclpy's MultiThreadedExecutor resubmits every awaiting task to its
    pool on each pass instead of waiting (measured: 1,500 queued resubmissions, composed plans at 160-370 ms
    against 10 ms with one process per node). Why not one EventsExecutor for planner and providers: a request
    written from the executor's own thread reaches a server of the same executor through Fast DDS's intra-process
    delivery, and is only served at a later wake-up (provider round trips of 30-60 ms, measured; 4-6 ms with an
    executor per node)."""
    events_nodes = [n for n in nodes if runs_on_events(n)]
    multi = MultiThreadedExecutor(num_threads=4, context=nodes[0].context if nodes else None)
    background: list[Any] = []
    for node in nodes:
        if node in events_nodes:
            background.append(events_executor(node.context))
            background[-1].add_node(node)
        else:
            multi.add_node(node)
    return multi, background


if __name__ == "__main__":
    sys.exit(main())
