"""Profiles: one parameter YAML per deployment, the single source of truth for ``bringup`` and the launch file.

A profile is a ROS 2 parameter file (``<node>: {ros__parameters: {...}}``). Node names decide the executable:
``provider_<name>`` -> ``provider_node`` (a lifecycle node), ``planner`` -> ``planner_node``, ``approval`` ->
``approval_node``, ``sim_controller`` -> ``sim_controller``. Launch arguments (execution_enabled, evidence_dir,
controller_action, use_sim_controller) are applied by :func:`apply_arguments` for both front ends.
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

PACKAGE = "worldforge_ros"
EXECUTABLES = {"planner": "planner_node", "approval": "approval_node", "sim_controller": "sim_controller"}
PROFILES = ("dry_run", "lerobot_lewm", "gr00t_lewm")
FIXTURES_ENV = "WFROS_FIXTURES"
DEFAULT_FIXTURES = "~/.cache/worldforge_ros/fixtures"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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

    text = _VARIABLE.sub(substitute, value)
    return os.path.expanduser(text) if text.startswith("~") else text


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


def apply_arguments(profile: Profile, *, execution_enabled: bool | None = None, evidence_dir: str | None = None,
                    controller_action: str | None = None, use_sim_controller: bool | None = None,
                    run_id: str | None = None) -> Profile:
    """Apply the launch arguments (None = keep the profile's value); returns a new Profile.

    ``run_id`` is stamped on every provider, the planner and the approval node (whose evidence workspace takes
    that name), so one graph's events, plans and bag share one run id.
    """
    out = copy.deepcopy(profile)
    if run_id:
        for spec in out.nodes:
            if spec.executable in ("provider_node", "planner_node", "approval_node"):
                spec.parameters["run_id"] = run_id
    approval = out.node("approval")
    if approval is not None:
        if execution_enabled is not None:
            approval.parameters["execution_enabled"] = bool(execution_enabled)
        if evidence_dir:
            approval.parameters["evidence_dir"] = evidence_dir
        if controller_action:
            approval.parameters["controller_action"] = controller_action
    sim = out.node("sim_controller")
    if use_sim_controller is False and sim is not None:
        out.nodes.remove(sim)
    elif sim is not None and controller_action:
        sim.parameters["action_name"] = controller_action
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
