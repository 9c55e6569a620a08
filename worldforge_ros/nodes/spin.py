"""One ``main`` for every node executable: ``--help``, init, build the node, spin an executor, shut down cleanly."""

from __future__ import annotations

import json
import re
import shlex
import signal
import sys
import textwrap
import threading
from typing import Any, Callable, Iterable, Sequence

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.signals import SignalHandlerOptions
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

from worldforge_ros.core.errors import WorldForgeRosError
from worldforge_ros.core.parameters import ParamSpec


ParamGroups = Sequence[tuple[str, Sequence[ParamSpec]]]
"""``(title, specs)`` sections of a ``--help`` parameter list."""


def wants_help(argv: Sequence[str]) -> bool:
    """Whether ``-h``/``--help`` is among the node's own arguments (``argv[0]`` is the program; ROS arguments
    between ``--ros-args`` and ``--`` do not count)."""
    in_ros_args = False
    for arg in list(argv)[1:]:
        if arg == "--ros-args":
            in_ros_args = True
        elif arg == "--" and in_ros_args:
            in_ros_args = False
        elif not in_ros_args and arg in ("-h", "--help"):
            return True
    return False


def param_groups(factory: Callable[[], Any]) -> list[tuple[str, tuple[ParamSpec, ...]]]:
    """The parameter sections of the node ``factory`` builds, read from its module: ``PARAMS`` and/or
    ``BASE_PARAMS``; a module using the provider registry (provider_node) adds each provider's prefixed
    ``<provider>.<param>`` specs."""
    module = sys.modules.get(getattr(factory, "__module__", ""))
    groups: list[tuple[str, tuple[ParamSpec, ...]]] = []
    for attr in ("BASE_PARAMS", "PARAMS"):
        specs = tuple(getattr(module, attr, ()) or ())
        if specs:
            groups.append(("Parameters", specs))
    from worldforge_ros.providers import registry  # noqa: PLC0415 (ROS-free, imports no runtime)

    if module is not None and getattr(module, "registry", None) is registry:
        for name in registry.names():
            entry = registry.get(name)
            groups.append((f"Parameters of provider:={name} ({entry.capability}; declared only when selected)",
                           entry.prefixed_params()))
    return groups


def _value(value: Any) -> str:
    """A default as it is written after ``-p name:=`` (YAML; JSON is a subset)."""
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def _cli_value(value: Any) -> str:
    """``value`` as typed after ``-p name:=`` (plain words stay unquoted, like ``provider:=reference``)."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_/][A-Za-z0-9_./-]*", value) and \
            value.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~"):
        return value
    return _value(value)


def _type_name(spec: ParamSpec) -> str:
    if spec.kind is list:
        # A non-empty default is declared as is, so ROS infers the array type from its elements.
        items = list(spec.default)
        if items and all(isinstance(v, float) for v in items):
            return "double[]"
        if items and all(isinstance(v, bool) for v in items):
            return "bool[]"
        if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            return "integer[]"
        return f"{spec.list_kind}[]"
    return {bool: "bool", int: "int", float: "double", str: "string"}.get(spec.kind, spec.kind.__name__)


def format_params(specs: Iterable[ParamSpec], indent: str = "  ") -> list[str]:
    lines = []
    for spec in specs:
        default = "(secret: set it, never shown)" if spec.secret else _value(spec.default)
        notes = [_type_name(spec), f"default {default}"]
        if spec.read_only:
            notes.append("read-only")
        if spec.choices:
            notes.append("one of " + ", ".join(_value(c) for c in spec.choices))
        if spec.min_value is not None:
            notes.append(f">= {spec.min_value}")
        if spec.max_value is not None:
            notes.append(f"<= {spec.max_value}")
        if spec.non_empty:
            notes.append("non-empty")
        lines.append(f"{indent}{spec.name}  ({'; '.join(notes)})")
        lines += textwrap.wrap(spec.description, width=100, initial_indent=indent + "    ",
                               subsequent_indent=indent + "    ")
    return lines


def node_help(name: str, description: str, groups: ParamGroups) -> str:
    """Usage text of a node executable: what it serves, how parameters are passed, every parameter."""
    example = next((s for _, specs in groups for s in specs if not s.secret and s.kind is not list), None)
    example_p = "-p " + (shlex.quote(f"{example.name}:={_cli_value(example.default)}") if example
                         else "name:=value")
    lines = [
        f"usage: {name} [-h] [--ros-args [-p NAME:=VALUE ...] [--params-file FILE ...] [-r __node:=NAME] "
        "[-r __ns:=/NAMESPACE] ...]",
        "",
        textwrap.dedent(description).strip() or f"{name}: a worldforge_ros node.",
        "",
        "Parameters are ROS 2 parameters, set at startup through ROS arguments:",
        f"  {name} --ros-args {example_p}",
        f"  {name} --ros-args --params-file params.yaml   (keyed by node name, '/**:' matches every node)",
        f"  ros2 run worldforge_ros {name} --ros-args ...   (where ros2cli is installed)",
        "Invalid values stop the node at startup with one message listing every bad value (exit code 2).",
    ]
    if not groups:
        lines += ["", "Parameters: none declared."]
    for title, specs in groups:
        lines += ["", f"{title}:"] + format_params(specs)
    lines += ["", "options:", "  -h, --help  show this message and exit (rclpy is not initialized)"]
    return "\n".join(lines) + "\n"


def run_node(name: str, factory: Callable[[], Any], argv: list[str] | None = None, *, threads: int | None = None,
             single_threaded: bool = False,
             startup_errors: tuple[type[BaseException], ...] = (WorldForgeRosError,),
             on_exit: Callable[[Any], None] | None = None,
             help_text: str | None = None, params: ParamGroups | None = None) -> int:
    """Exit code 2 with a one-line message when ``factory`` raises a startup error (bad parameters ...), else spin
    until SIGINT / external shutdown and return 0. Nodes spin on a MultiThreadedExecutor (``threads``) unless
    ``single_threaded`` (plain servers that never wait inside a callback, like ``rclpy.spin``).

    ``-h``/``--help`` prints the usage and returns 0 without initializing rclpy: ``help_text`` (default: the
    factory module's docstring) and the ``params`` sections (default: :func:`param_groups` of ``factory``)."""
    args = list(argv if argv is not None else sys.argv)
    if wants_help(args):
        module = sys.modules.get(getattr(factory, "__module__", ""))
        description = help_text if help_text is not None else (getattr(module, "__doc__", None) or "")
        sys.stdout.write(node_help(name, description, params if params is not None else param_groups(factory)))
        sys.stdout.flush()
        return 0
    init(args)
    try:
        node = factory()
    except startup_errors as err:
        print(f"{name}: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor() if single_threaded else MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    spin_until_shutdown(executor, [node], on_exit)
    return 0


_STOP = threading.Event()


def _request_stop(_signum: int, _frame: Any) -> None:
    _STOP.set()


def init(args: Sequence[str] | None) -> None:
    """``rclpy.init`` without rclpy's own SIGINT/SIGTERM handling: rclpy's handler shuts the context down at
    once, so nodes could no longer act while being destroyed (the gate must cancel a running controller goal and
    record how it ended). Here a signal only asks :func:`spin_until_shutdown` to stop; the context stays valid
    until every node has been destroyed."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    _STOP.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _request_stop)


def spin_until_shutdown(executor: Any, nodes: list[Any], on_exit: Callable[[Any], None] | None = None) -> None:
    """Spin until SIGINT/SIGTERM (see :func:`init`) or external shutdown, then run ``on_exit`` on each node,
    destroy the nodes (last created first, while the context is still valid) and shut rclpy down."""
    try:
        while not _STOP.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)  # the signal handler runs between these short waits
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:  # SIGINT shut the context down while the executor was building its wait set
        if rclpy.ok():
            raise
    finally:
        for node in reversed(nodes):
            if on_exit is not None:
                on_exit(node)
            node.destroy_node()
        rclpy.try_shutdown()
