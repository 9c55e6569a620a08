"""A short-lived rclpy participant: own Context, a background executor thread, clean shutdown.

The CLI commands use it for one call each; the test harness and benchmarks build on it (``RosGraph``).
"""

from __future__ import annotations

import threading
from typing import Any

import os

NOT_FOUND_HINT = "is the graph running? same ROS_DOMAIN_ID? same namespace (--namespace / WFROS_NAMESPACE)?"
CLIENT_REPLY_DEPTH = 100
"""Reply history of every service client made here (see :meth:`CliNode.client`)."""
NAMESPACE_ENV = "WFROS_NAMESPACE"
"""The graph's namespace for the CLI (``worldforge-ros --namespace robot1 plan`` sets it): relative names resolve
inside it, like the nodes' own."""


class CliNode:
    def __init__(self, name: str, threads: int = 2, namespace: str | None = None) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor

        ns = os.environ.get(NAMESPACE_ENV, "") if namespace is None else namespace
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context, namespace="/" + ns.strip("/"))
        self.executor = MultiThreadedExecutor(num_threads=threads, context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass
        except Exception:  # the context was torn down while spinning
            if self.context.ok():
                raise

    def add_node(self, node: Any) -> Any:
        """Spin another node of this context on the same executor."""
        self.executor.add_node(node)
        return node

    def client(self, srv_type: Any, name: str, timeout: float) -> Any:
        """A service client that has discovered its server (``TimeoutError`` after ``timeout`` s)."""
        from rclpy.qos import QoSProfile

        # Deep reply history: the middleware delivers every caller's replies of a service to every client's
        # reader, so with many callers at once a depth-10 reader can lose its own reply under the others'.
        cli = self.node.create_client(srv_type, name, qos_profile=QoSProfile(depth=CLIENT_REPLY_DEPTH))
        if not cli.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} is not available after {timeout:.0f} s ({NOT_FOUND_HINT})")
        return cli

    def action_client(self, action_type: Any, name: str, timeout: float) -> Any:
        """An action client that has discovered its server (``TimeoutError`` after ``timeout`` s)."""
        import rclpy
        from rclpy.action import ActionClient

        # Built on a node the executor does not spin yet: rclpy 9's ActionClient registers with its node before
        # it has its lock, and a spinning executor can touch it in between (the spin thread then dies).
        self._action_nodes = getattr(self, "_action_nodes", [])
        node = rclpy.create_node(f"{self.node.get_name()}_action_{len(self._action_nodes)}", context=self.context,
                                 namespace=self.node.get_namespace())
        cli = ActionClient(node, action_type, name)
        self._action_nodes.append(node)
        self.executor.add_node(node)
        if not cli.wait_for_server(timeout_sec=timeout):
            raise TimeoutError(f"action {name} is not available after {timeout:.0f} s ({NOT_FOUND_HINT})")
        return cli

    @staticmethod
    def wait(future: Any, timeout: float) -> Any:
        """Block until an rclpy future completes (the executor thread completes it)."""
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        return future.result()

    def call(self, client: Any, request: Any, timeout: float) -> Any:
        return self.wait(client.call_async(request), timeout)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=5.0)  # a spinning thread left behind aborts the interpreter at exit
        for node in getattr(self, "_action_nodes", []):
            node.destroy_node()
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> "CliNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
