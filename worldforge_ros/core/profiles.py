"""Profiles: one parameter YAML per deployment, the single source of truth for ``bringup`` and the launch file.

A profile is a ROS 2 parameter file (``<node>: {ros__parameters: {...}}``). Node names decide the executable:
``provider_<name>`` -> ``provider_node`` (a lifecycle node), ``planner`` -> ``planner_node``, ``approval`` ->
``approval_node``, ``sim_controller`` -> ``sim_controller``. Launch arguments (execution_enabled, evidence_dir,
controller_action, use_sim_controller, params_file, ...: :data:`LAUNCH_ARGUMENTS`) are applied by
:func:`apply_arguments` for both front ends.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ErrorCode, RequestError
from .names import REAL_CONTROLLER_ACTION, SIM_CONTROLLER_ACTION

PACKAGE = "worldforge_ros"
EXECUTABLES = {"planner": "planner_node", "approval": "approval_node", "sim_controller": "sim_controller"}
PROFILES = ("dry_run", "lerobot_lewm", "gr00t_lewm")
FIXTURES_ENV = "WFROS_FIXTURES"
DEFAULT_FIXTURES = "~/.cache/worldforge_ros/fixtures"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^{}$]*))?\}")
_WHOLE_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-.*)?\}")


@dataclass
class NodeSpec:
    """One node of a profile: its name, executable, whether it is a lifecycle node, its parameters (nested)."""

    name: str
    executable: str
    lifecycle: bool
    parameters: dict[str, Any] = field(default_factory=dict)

    def flat_parameters(self) -> dict[str, Any]:
        """Parameters with dotted names (``lerobot.policy_path``), as rclpy sees them."""
        return flatten(self.parameters)


@dataclass
class Profile:
    name: str
    path: Path
    nodes: list[NodeSpec]

    def node(self, name: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.name == name), None)


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def share_dir(name: str) -> Path:
    """``<name>/`` of the package's data: the source tree, else a pip install's ``<prefix>/share/worldforge_ros``
    (setup.py data_files), else the ament install's share directory."""
    here = Path(__file__).resolve().parents[2] / name
    if here.is_dir():
        return here
    pip_data = Path(sys.prefix) / "share" / PACKAGE / name
    if pip_data.is_dir():
        return pip_data
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE)) / name
    except Exception as exc:  # ament_index missing or package not installed
        raise RequestError(f"cannot locate the {PACKAGE} {name} directory: {exc}",
                           ErrorCode.INVALID_ARGUMENT) from exc


def config_dir() -> Path:
    """``config/`` (profiles, embodiments)."""
    return share_dir("config")


def profile_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = config_dir() / f"{name_or_path}.yaml"
    if not candidate.exists():
        raise RequestError(f"unknown profile {name_or_path!r}; known: {list(PROFILES)} or a path to a YAML file",
                           ErrorCode.INVALID_ARGUMENT)
    return candidate


def expand(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` and a leading ``~`` in every string of a parameter tree.

    Profiles name model locations this way (``${WFROS_FIXTURES:-~/.cache/worldforge_ros/fixtures}/...``) so one
    YAML serves the demo, the tests and a lab's own paths. An unset variable without a default is an error.
    """
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    if not isinstance(value, str) or ("$" not in value and not value.startswith("~")):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is None:
            raise RequestError(f"profile uses ${{{name}}} but it is not set (give it or write ${{{name}:-default}})",
                               ErrorCode.INVALID_ARGUMENT)
        return default

    text = value
    while True:  # innermost first: ${A:-${B:-x}/y} works
        expanded = _VARIABLE.sub(substitute, text)
        if expanded == text:
            break
        text = expanded
    text = os.path.expanduser(text) if text.startswith("~") else text
    if _WHOLE_VARIABLE.fullmatch(value) and text:
        # A value that is one variable takes the type its text has (port: ${GROOT_POLICY_PORT:-5555} -> int).
        typed = yaml.safe_load(text)
        if isinstance(typed, (int, float, bool)) and not isinstance(typed, str):
            return typed
    return text


def executable_for(node_name: str) -> tuple[str, bool]:
    if node_name.startswith("provider_"):
        return "provider_node", True
    if node_name in EXECUTABLES:
        return EXECUTABLES[node_name], False
    raise RequestError(f"profile node {node_name!r} is not provider_<name>, planner, approval or sim_controller",
                       ErrorCode.INVALID_ARGUMENT)


def load_profile(name_or_path: str) -> Profile:
    path = profile_path(name_or_path)
    data = yaml.safe_load(path.read_text()) or {}
    nodes = []
    for node_name, body in data.items():
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise RequestError(f"{path}: {node_name!r} has no ros__parameters", ErrorCode.INVALID_ARGUMENT)
        executable, lifecycle = executable_for(node_name)
        nodes.append(NodeSpec(node_name, executable, lifecycle, expand(dict(body["ros__parameters"] or {}))))
    return Profile(path.stem, path, nodes)


LAUNCH_ARGUMENTS = (
    ("profile", "dry_run", "Profile name (config/<name>.yaml: dry_run, lerobot_lewm, gr00t_lewm) or a YAML path."),
    ("namespace", "", "Namespace of the whole graph (e.g. robot1: /robot1/worldforge/plan ...)."),
    ("params_file", "", "Your ROS 2 parameter file (keyed by node name, '/**' allowed): overrides the profile."),
    ("use_sim_time", "false", "Every node uses /clock (simulation time)."),
    ("log_level", "info", "Log level of every node (debug, info, warn, error, fatal)."),
    ("execution_enabled", "false", "Let the approval gate forward approved plans to the controller."),
    ("controller_action", "", "FollowJointTrajectory action of the host controller (empty: the profile's)."),
    ("controller_action_type", "auto",
     "auto (control_msgs when installed), control_msgs or worldforge_ros (the package's wire-identical copy)."),
    ("use_sim_controller", "",
     "Start the kinematic sim_controller and point the gate at it ('' = the profile's choice: true only for a "
     "profile whose gate targets sim_controller, i.e. dry_run). Never next to a real controller."),
    ("simulator", "kinematic",
     "What use_sim_controller starts: kinematic (sim_controller: integrates the trajectory, light) or scene "
     "(scene_sim: the MuJoCo Panda with physics, tracking error and a camera)."),
    ("evidence_dir", "", "Root of run workspaces (empty: the profile's value)."),
)
"""Launch arguments of plan_and_review.launch.py (name, default, description); ``bringup`` has the same options."""

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


def _node_key(key: str) -> str:
    """A params-file key (``planner``, ``/planner``, ``/robot1/planner``, ``/**/planner``, ``/**``) -> node name
    (``**`` = every node)."""
    return str(key).strip("/").rsplit("/", 1)[-1] or "**"


def merge_params_file(profile: Profile, path: str) -> Profile:
    """Apply a user's ROS 2 parameter file on top of ``profile``: blocks for a node of the profile (by node name,
    whatever namespace prefix) and ``/**`` blocks (every node) override the profile's values. A block for a node
    the profile does not start is an error: it would silently do nothing."""
    file = Path(path).expanduser()
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RequestError(f"params_file {path}: {exc}", ErrorCode.INVALID_ARGUMENT) from exc
    if not isinstance(data, dict):
        raise RequestError(f"params_file {path}: not a mapping of node names", ErrorCode.INVALID_ARGUMENT)
    out = copy.deepcopy(profile)
    known = {n.name for n in out.nodes}
    for key, body in data.items():
        node = _node_key(key)
        params = (body or {}).get("ros__parameters") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            raise RequestError(f"params_file {path}: {key!r} has no ros__parameters mapping",
                               ErrorCode.INVALID_ARGUMENT)
        if node != "**" and node not in known:
            raise RequestError(f"params_file {path}: node {node!r} is not started by profile {profile.name} "
                               f"(nodes: {sorted(known)})", ErrorCode.INVALID_ARGUMENT)
        for spec in out.nodes:
            if node in ("**", spec.name):
                _deep_update(spec.parameters, expand(params))
    return out


def _deep_update(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def _same_action(a: str, b: str) -> bool:
    return a.strip("/") == b.strip("/")


def apply_arguments(profile: Profile, *, execution_enabled: bool | None = None, evidence_dir: str | None = None,
                    controller_action: str | None = None, controller_action_type: str | None = None,
                    use_sim_controller: bool | None = None, use_sim_time: bool | None = None,
                    params_file: str | None = None, run_id: str | None = None,
                    simulator: str | None = None) -> Profile:
    """Apply the launch arguments (None = keep the profile's value); returns a new Profile.

    The kinematic ``sim_controller`` runs only when ``use_sim_controller`` is true, or when it is None and the
    profile's gate targets ``sim_controller/follow_joint_trajectory`` (dry_run). It always serves that name and
    the gate is pointed at it; it never takes a name given for a real controller (asking for both is an error).
    Without it, the gate targets ``controller_action`` or, if the profile named the sim's action,
    ``joint_trajectory_controller/follow_joint_trajectory``. ``params_file`` is merged last (it overrides the
    profile); ``run_id`` is stamped on every provider, the planner and the gate so one graph shares one run id.
    """
    out = merge_params_file(profile, params_file) if params_file else copy.deepcopy(profile)
    if run_id:
        for spec in out.nodes:
            if spec.executable in ("provider_node", "planner_node", "approval_node"):
                spec.parameters["run_id"] = run_id
    if use_sim_time is not None:
        for spec in out.nodes:
            spec.parameters["use_sim_time"] = bool(use_sim_time)
    approval = out.node("approval")
    sim = out.node("sim_controller")
    profile_action = str((approval.parameters if approval else {}).get("controller_action", ""))
    use_sim = use_sim_controller if use_sim_controller is not None else _same_action(profile_action,
                                                                                      SIM_CONTROLLER_ACTION)
    if use_sim and controller_action and not _same_action(controller_action, SIM_CONTROLLER_ACTION):
        raise RequestError(f"use_sim_controller:=true points the gate at {SIM_CONTROLLER_ACTION}, and "
                           f"controller_action:={controller_action} names a real controller: the simulator never "
                           "takes a real controller's name. Give one of them.", ErrorCode.INVALID_ARGUMENT)
    if use_sim:
        if sim is None:
            sim = NodeSpec("sim_controller", "sim_controller", False, {})
            out.nodes.insert(0, sim)
        sim.parameters["action_name"] = SIM_CONTROLLER_ACTION
        if simulator not in (None, "", "kinematic", "scene"):
            raise RequestError(f"simulator must be kinematic or scene, got {simulator!r}", ErrorCode.INVALID_ARGUMENT)
        # The node keeps the name sim_controller (params files, goals_received topic); the scene only changes
        # which executable serves it.
        sim.executable = "scene_sim" if simulator == "scene" else "sim_controller"
        if use_sim_time and simulator == "scene":  # the scene is the graph's clock source
            sim.parameters["publish_clock"] = True
        if controller_action_type:
            sim.parameters["action_type"] = controller_action_type
    elif sim is not None:
        out.nodes.remove(sim)
    if approval is not None:
        if execution_enabled is not None:
            approval.parameters["execution_enabled"] = bool(execution_enabled)
        if evidence_dir:
            approval.parameters["evidence_dir"] = evidence_dir
        if controller_action_type:
            approval.parameters["controller_action_type"] = controller_action_type
        if use_sim:
            approval.parameters["controller_action"] = SIM_CONTROLLER_ACTION
        elif controller_action:
            approval.parameters["controller_action"] = controller_action
        elif _same_action(profile_action, SIM_CONTROLLER_ACTION) or not profile_action:
            approval.parameters["controller_action"] = REAL_CONTROLLER_ACTION
    return out


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise RequestError(f"not a boolean: {text!r}", ErrorCode.INVALID_ARGUMENT)
