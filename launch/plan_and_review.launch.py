"""Launch the worldforge_ros graph of a profile: providers (lifecycle nodes brought to active), planner,
approval gate (dry-run by default) and, unless disabled, the sim_controller stand-in.

    ros2 launch worldforge_ros plan_and_review.launch.py profile:=lerobot_lewm evidence_dir:=/data/evidence
    ros2 launch worldforge_ros plan_and_review.launch.py execution_enabled:=true \
        controller_action:=/joint_trajectory_controller/follow_joint_trajectory use_sim_controller:=false

The node set and parameters come from the same profile YAML and the same argument handling as the
composed ``bringup`` executable (worldforge_ros.core.profiles): one source of truth.

Provider nodes respawn when their process dies (a crashed runtime, an out-of-memory kill) and bring themselves
back to active (``autostart``), so the planner serves again without a restart of the graph; lifecycle
transitions can still be sent to them by hand (``ros2 lifecycle set``).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from worldforge_ros.core.profiles import PACKAGE, apply_arguments, load_profile, parse_bool
from worldforge_ros.core.workspace import new_run_id

ARGUMENTS = (
    ("profile", "dry_run", "Profile name (config/<name>.yaml: dry_run, lerobot_lewm, gr00t_lewm) or a YAML path."),
    ("execution_enabled", "false", "Let the approval gate forward approved plans to the controller."),
    ("evidence_dir", "", "Root of run workspaces (empty: the profile's value)."),
    ("controller_action", "", "FollowJointTrajectory action of the host controller (empty: the profile's)."),
    ("use_sim_controller", "true", "Start sim_controller (false when a real controller is running)."),
)


RESPAWN_DELAY_S = 2.0  # between a provider process's death and its restart


def _nodes(context, *args, **kwargs):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    profile = apply_arguments(load_profile(get("profile")), execution_enabled=parse_bool(get("execution_enabled")),
                              evidence_dir=get("evidence_dir") or None,
                              controller_action=get("controller_action") or None,
                              use_sim_controller=parse_bool(get("use_sim_controller")), run_id=new_run_id())
    actions = []
    for spec in profile.nodes:
        params = spec.flat_parameters()
        if spec.lifecycle:
            params["autostart"] = True  # every (re)started process configures and activates itself
            actions.append(LifecycleNode(package=PACKAGE, executable=spec.executable, name=spec.name, namespace="",
                                         parameters=[params], output="screen", respawn=True,
                                         respawn_delay=RESPAWN_DELAY_S))
        else:
            actions.append(Node(package=PACKAGE, executable=spec.executable, name=spec.name, parameters=[params],
                                output="screen"))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([DeclareLaunchArgument(name, default_value=default, description=text)
                              for name, default, text in ARGUMENTS] + [OpaqueFunction(function=_nodes)])
