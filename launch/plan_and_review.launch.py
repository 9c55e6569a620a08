"""Launch the worldforge_ros graph of a profile: providers (lifecycle nodes brought to active), planner,
approval gate (dry-run by default) and, only where asked for, the kinematic sim_controller stand-in.

    ros2 launch worldforge_ros plan_and_review.launch.py                       # dry_run: reference providers + sim
    ros2 launch worldforge_ros plan_and_review.launch.py profile:=lerobot_lewm namespace:=robot1 \
        params_file:=/etc/lab/worldforge.yaml execution_enabled:=true \
        controller_action:=joint_trajectory_controller/follow_joint_trajectory

Every name is relative, so ``namespace:=robot1`` moves the whole graph to ``/robot1/...``. The node set and
parameters come from the same profile YAML and the same argument handling as the composed ``bringup``
executable (``worldforge_ros.core.profiles.apply_arguments``): one source of truth. ``params_file`` is merged over
the profile (blocks keyed by node name or ``/**``). ``ros2 launch ... --show-args`` lists every argument; an
argument this file does not declare is reported (and refused when it looks like a typo of a declared one).

Provider nodes respawn when their process dies (a crashed runtime, an out-of-memory kill) and bring themselves
back to active (``autostart``), so the planner serves again without a restart of the graph; lifecycle
transitions can still be sent to them by hand (``ros2 lifecycle set``).
"""

import difflib

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from worldforge_ros.core.profiles import LAUNCH_ARGUMENTS, PACKAGE, apply_arguments, load_profile, parse_bool
from worldforge_ros.core.workspace import new_run_id

RESPAWN_DELAY_S = 2.0  # between a provider process's death and its restart


def _check_arguments(context):
    """Undeclared ``name:=value`` arguments: refuse likely typos of ours, report the rest (they may belong to a
    parent launch file that includes this one)."""
    declared = {name for name, _default, _text in LAUNCH_ARGUMENTS}
    actions = []
    for name in sorted(set(context.launch_configurations) - declared):
        close = difflib.get_close_matches(name, sorted(declared), n=1, cutoff=0.75)
        if close:
            raise RuntimeError(f"unknown launch argument {name!r}: did you mean {close[0]!r}? "
                               f"(declared: {sorted(declared)})")
        actions.append(LogInfo(msg=f"worldforge_ros: launch argument {name!r} is not used by plan_and_review"))
    return actions


def _nodes(context, *args, **kwargs):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    sim = get("use_sim_controller")
    profile = apply_arguments(load_profile(get("profile")), execution_enabled=parse_bool(get("execution_enabled")),
                              evidence_dir=get("evidence_dir") or None,
                              controller_action=get("controller_action") or None,
                              controller_action_type=get("controller_action_type") or None,
                              use_sim_controller=parse_bool(sim) if sim else None,
                              use_sim_time=parse_bool(get("use_sim_time")),
                              params_file=get("params_file") or None, run_id=new_run_id(),
                              simulator=get("simulator"))
    namespace = get("namespace")
    ros_arguments = ["--log-level", get("log_level")]
    actions = _check_arguments(context)
    for spec in profile.nodes:
        params = spec.flat_parameters()
        if spec.lifecycle:
            params["autostart"] = True  # every (re)started process configures and activates itself
            actions.append(LifecycleNode(package=PACKAGE, executable=spec.executable, name=spec.name,
                                         namespace=namespace, parameters=[params], ros_arguments=ros_arguments,
                                         output="screen", respawn=True, respawn_delay=RESPAWN_DELAY_S))
        else:
            actions.append(Node(package=PACKAGE, executable=spec.executable, name=spec.name, namespace=namespace,
                                parameters=[params], ros_arguments=ros_arguments, output="screen"))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([DeclareLaunchArgument(name, default_value=default, description=text)
                              for name, default, text in LAUNCH_ARGUMENTS] + [OpaqueFunction(function=_nodes)])
