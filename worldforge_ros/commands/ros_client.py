"""A short-lived rclpy participant for CLI commands (own Context, background executor, clean shutdown)."""

from __future__ import annotations

import threading
from typing import Any


class CliNode:
    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:
            pass

    def client(self, srv_type: Any, name: str, timeout: float) -> Any:
        cli = self.node.create_client(srv_type, name)
        if not cli.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"{name} is not available after {timeout:.0f} s (is the graph running? same "
                               "ROS_DOMAIN_ID?)")
        return cli

    @staticmethod
    def wait(future: Any, timeout: float) -> Any:
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)  # a spinning thread left behind aborts the interpreter at exit
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> "CliNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
