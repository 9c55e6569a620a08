"""One ``main`` for every node executable: ``--help``, init, build the node, spin an executor, shut down cleanly."""

from __future__ import annotations

import gc
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
from rclpy.task import Future
from rclpy.executors import (ExternalShutdownException, MultiThreadedExecutor, ShutdownException,
                              SingleThreadedExecutor)

from worldforge_ros.core.errors import WorldForgeRosError
from worldforge_ros.core.parameters import ParamSpec


ParamGroups = Sequence[tuple[str, Sequence[ParamSpec]]]
"""``(title, specs)`` sections of a ``--help`` parameter list."""

EVENTS_MIN_RCLPY = {7: (7, 1, 11), 9: (9, 1, 2), 10: (10, 0, 1)}
"""First rclpy release of each line whose EventsExecutor runs ``async def`` service and subscription callbacks
(ros2/rclpy#1478 in 9.1.2 Kilted and 10.0.1 Rolling, its backport #1613 in 7.1.11 Jazzy). Older releases raise
TypeError from ``send_response`` on an async service, so nodes fall back to the multi-threaded executor."""

EXECUTOR_PARAM = ParamSpec(
    "executor", "events",
    "How this node's callbacks are dispatched: events (rclpy's EventsExecutor: one thread fed from C++, the "
    "fastest for nodes whose callbacks await rather than block; used when this rclpy supports async callbacks "
    "there, else multi_threaded with a warning) or multi_threaded (rclpy's MultiThreadedExecutor).",
    read_only=True, choices=("events", "multi_threaded"))
"""Declared by nodes whose every callback awaits or is short (planner, providers); read by :func:`run_node`."""


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


def destroy_actions(node: Any) -> None:
    """Destroy the node's action servers and clients. ``Node.destroy_node`` leaves waitables alone, so their
    entities (an action server's status publisher ...) stay in the ROS graph for as long as the process lives:
    a second "server" that makes a gate refuse as CONTROLLER_AMBIGUOUS. Nodes with actions call this first."""
    for waitable in list(node.waitables):
        destroy = getattr(waitable, "destroy", None)
        if callable(destroy):
            destroy()


def rclpy_version() -> tuple[int, ...]:
    """rclpy's release as a tuple (pip wheels: the distribution's metadata; a ROS install: its package.xml);
    ``()`` when neither tells."""
    text = ""
    try:
        from importlib.metadata import version  # noqa: PLC0415

        text = version("rclpy")
    except Exception:
        try:
            from ament_index_python.packages import get_package_share_directory  # noqa: PLC0415

            xml = open(f"{get_package_share_directory('rclpy')}/package.xml", encoding="utf-8").read()
            found = re.search(r"<version>([0-9.]+)</version>", xml)
            text = found.group(1) if found else ""
        except Exception:
            return ()
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def events_executor_supported(version: tuple[int, ...] | None = None) -> bool:
    """Whether rclpy's EventsExecutor exists here and runs async callbacks (see ``EVENTS_MIN_RCLPY``)."""
    version = rclpy_version() if version is None else version
    if not version:
        return False
    if version[0] in EVENTS_MIN_RCLPY:
        if version < EVENTS_MIN_RCLPY[version[0]]:
            return False
    elif version[0] < max(EVENTS_MIN_RCLPY):
        return False
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def runs_on_events(node: Any) -> bool:
    """Whether ``node`` asks for the EventsExecutor (``executor:=events``, :data:`EXECUTOR_PARAM`) and this rclpy
    can run it; a node that asks on an rclpy that cannot gets a warning (it runs multi-threaded)."""
    if not node.has_parameter("executor") or node.get_parameter("executor").value != "events":
        return False
    if events_executor_supported():
        return True
    node.get_logger().warning(f"executor:=events needs rclpy with async callbacks in its EventsExecutor "
                              f"(this is {'.'.join(map(str, rclpy_version())) or 'unknown'}): using multi_threaded")
    return False


def events_executor(context: Any) -> Any:
    """rclpy's EventsExecutor on ``context`` (check :func:`runs_on_events` first)."""
    from rclpy.experimental import EventsExecutor  # noqa: PLC0415

    return EventsExecutor(context=context)


def make_executor(node: Any, *, threads: int | None = None, single_threaded: bool = False) -> tuple[Any, str]:
    """The executor for ``node`` and its kind: the EventsExecutor when :func:`runs_on_events`, else single- or
    multi-threaded as the caller says."""
    if single_threaded:
        return SingleThreadedExecutor(context=node.context), "single_threaded"
    if runs_on_events(node):
        return events_executor(node.context), "events"
    return MultiThreadedExecutor(num_threads=threads, context=node.context), "multi_threaded"


def run_node(name: str, factory: Callable[[], Any], argv: list[str] | None = None, *, threads: int | None = None,
             single_threaded: bool = False,
             startup_errors: tuple[type[BaseException], ...] = (WorldForgeRosError,),
             on_exit: Callable[[Any], None] | None = None,
             help_text: str | None = None, params: ParamGroups | None = None) -> int:
    """Exit code 2 with a one-line message when ``factory`` raises a startup error (bad parameters ...), else spin
    until SIGINT / external shutdown and return 0. Nodes spin on a MultiThreadedExecutor (``threads``) unless
    ``single_threaded`` (plain servers that never wait inside a callback, like ``rclpy.spin``) or the node's
    ``executor`` parameter asks for the EventsExecutor (:func:`make_executor`).

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
    executor, _kind = make_executor(node, threads=threads, single_threaded=single_threaded)
    executor.add_node(node)
    spin_until_shutdown(executor, [node], on_exit)
    return 0


_STOP = threading.Event()
SPIN_SLICE_S = 0.1
"""Longest a node's main loop spins before it checks for a stop request (SIGINT/SIGTERM)."""


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


def freeze_startup_objects() -> None:
    """Move every object alive once the nodes are built (modules, nodes, models) out of the cyclic garbage
    collector's reach (``gc.freeze``). Without it each full collection walks them all while a callback waits: in
    the planner 5 full collections per 1,000 plans took up to 40 ms each, the whole p99 of a plan. Objects made
    later are collected as usual."""
    gc.collect()
    gc.freeze()


def spin_until_shutdown(executor: Any, nodes: list[Any], on_exit: Callable[[Any], None] | None = None,
                        background: Sequence[Any] = ()) -> None:
    """Spin until SIGINT/SIGTERM (see :func:`init`) or external shutdown, then run ``on_exit`` on each node,
    destroy the nodes (last created first, while the context is still valid) and shut rclpy down.

    ``background`` executors (other nodes of the same process) spin on their own threads and are shut down
    before any node is destroyed."""
    freeze_startup_objects()
    threads = [threading.Thread(target=_spin_forever, args=(bg,), name=f"executor-{i}", daemon=True)
               for i, bg in enumerate(background)]
    for thread in threads:
        thread.start()
    try:
        while not _STOP.is_set() and rclpy.ok():
            _spin_slice(executor)  # the signal handler runs between slices
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:  # SIGINT shut the context down while the executor was building its wait set
        if rclpy.ok():
            raise
    finally:
        for bg in background:
            bg.shutdown()
        for thread in threads:
            thread.join(timeout=5.0)
        for node in reversed(nodes):
            if on_exit is not None:
                on_exit(node)
            node.destroy_node()
        rclpy.try_shutdown()


def _spin_slice(executor: Any) -> None:
    """Spin ``executor`` for up to SPIN_SLICE_S. Not spin_once: that returns after every callback, and the caller's
    loop checks then cost the planner ~12 % of its CPU (py-spy, 2026-12-02). A fresh never-completed future per
    slice (its done callbacks would pile up on a reused one)."""
    executor.spin_until_future_complete(Future(), timeout_sec=SPIN_SLICE_S)


def _spin_forever(executor: Any) -> None:
    """A background executor's thread: spin until the executor or the context is shut down."""
    while rclpy.ok() and not _STOP.is_set():
        try:
            _spin_slice(executor)
        except (ShutdownException, ExternalShutdownException, RCLError):
            return
