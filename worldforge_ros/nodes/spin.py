"""One ``main`` for every node executable: init, build the node, spin an executor, shut down cleanly."""

from __future__ import annotations

import sys
from typing import Any, Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

from worldforge_ros.core.errors import WorldForgeRosError

NESTED_CALL_THREADS = 4
"""Executor threads of a node whose callbacks wait on nested calls (planner, approval gate): the others complete
them."""


def run_node(name: str, factory: Callable[[], Any], argv: list[str] | None = None, *, threads: int | None = None,
             single_threaded: bool = False,
             startup_errors: tuple[type[BaseException], ...] = (WorldForgeRosError,),
             on_exit: Callable[[Any], None] | None = None) -> int:
    """Exit code 2 with a one-line message when ``factory`` raises a startup error (bad parameters ...), else spin
    until SIGINT / external shutdown and return 0. Nodes spin on a MultiThreadedExecutor (``threads``) unless
    ``single_threaded`` (plain servers that never wait inside a callback, like ``rclpy.spin``)."""
    rclpy.init(args=argv if argv is not None else sys.argv)
    try:
        node = factory()
    except startup_errors as err:
        print(f"{name}: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor() if single_threaded else MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if on_exit is not None:
            on_exit(node)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
