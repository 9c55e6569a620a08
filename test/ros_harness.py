"""Test harness for real ROS 2 graphs: node processes on the private domain, waits, clean stops.

``NodeProcess`` starts an executable in its own process group and stops it by pid (SIGINT, then SIGTERM, then
SIGKILL), reporting whether it had to escalate and whether anything of its group survived. ``RosGraph`` is an
in-process participant: a private rclpy ``Context``, a node and a ``MultiThreadedExecutor`` spinning in a thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from worldforge_ros.commands.ros_client import CliNode

ROOT = Path(__file__).resolve().parents[1]
INSTALL_PREFIX = ROOT / "install" / "worldforge_ros"
DISCOVERY_TIMEOUT_S = 20.0


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for child processes: the current one, source tree first on PYTHONPATH, unbuffered output."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def installed_executable(name: str) -> list[str]:
    """argv for a node executable installed by colcon in ``lib/worldforge_ros``."""
    path = INSTALL_PREFIX / "lib" / "worldforge_ros" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run scripts/build")
    return [sys.executable, str(path)]


class NodeProcess:
    """A node executable in its own process group, with its output captured to a log file."""

    def __init__(self, argv: Sequence[str], name: str, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self.env = env or node_env()
        self.proc: subprocess.Popen | None = None
        self.escalation = ""
        self.leaked = False
        self.killed_on_purpose = False
        self.stopped_by_test = False

    def start(self) -> "NodeProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=self.env, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process itself (fault injection)."""
        self.killed_on_purpose = True
        if self.alive():
            os.kill(self.pid, sig)
            if sig == signal.SIGKILL:
                self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> str:
        """Stop by pid: SIGINT, then SIGTERM, then SIGKILL. Returns how it ended; sets ``leaked``."""
        if self.proc is None:
            return "never-started"
        if self.escalation:
            return self.escalation  # already stopped
        pgid = self.proc.pid
        how = "exited"
        for sig, wait_s in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            how = signal.Signals(sig).name
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        self.escalation = how
        self.stopped_by_test = True
        # Anything left in the group (children the node spawned) is a leak.
        try:
            os.killpg(pgid, 0)
            self.leaked = True
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        return how


class RosGraph(CliNode):
    """In-process ROS participant on a private rclpy Context with a background MultiThreadedExecutor."""

    def __init__(self, node_name: str = "test_client") -> None:
        super().__init__(node_name, threads=4)

    def client(self, srv_type: Any, name: str, timeout: float = DISCOVERY_TIMEOUT_S) -> Any:
        return super().client(srv_type, name, timeout)

    def action_client(self, action_type: Any, name: str, timeout: float = DISCOVERY_TIMEOUT_S) -> Any:
        return super().action_client(action_type, name, timeout)

    def answering_client(self, srv_type: Any, name: str, probe: Any, timeout: float = DISCOVERY_TIMEOUT_S) -> Any:
        """A client whose server has answered ``probe`` (a request without side effects on the robot).

        ``wait_for_service`` only proves the client's side of discovery: a server whose response writer has not
        yet matched the client's reader drops the reply ("failed to send response (timeout)" from
        rmw_fastrtps, seen in CI under load). Probing until an answer arrives closes that window.
        """
        client = self.client(srv_type, name, timeout)
        self._first_answer(name, timeout, lambda wait_s: self.call(client, probe, timeout=wait_s))
        return client

    def answering_action_client(self, action_type: Any, name: str, probe_goal: Any,
                                timeout: float = DISCOVERY_TIMEOUT_S) -> Any:
        """An action client whose server has answered ``probe_goal``, a goal the server must reject.

        The goal request is a service underneath, with the same dropped-reply window as ``answering_client``.
        """
        client = self.action_client(action_type, name, timeout)
        handle = self._first_answer(name, timeout, lambda wait_s: self.wait(client.send_goal_async(probe_goal), wait_s))
        if handle.accepted:
            raise AssertionError(f"the probe goal sent to {name} was accepted: probes must be rejected")
        return client

    @staticmethod
    def _first_answer(name: str, timeout: float, ask: Any) -> Any:
        """``ask(wait_s)`` again after each unanswered try (at most 5 s each) until it answers or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return ask(min(5.0, max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{name} is discovered but never answered within {timeout:.0f} s") from None

    @staticmethod
    def wait(future: Any, timeout: float = 30.0) -> Any:
        return CliNode.wait(future, timeout)

    def call(self, client: Any, request: Any, timeout: float = 30.0) -> Any:
        return super().call(client, request, timeout)


def wait_until(predicate, timeout: float = DISCOVERY_TIMEOUT_S, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns the last result (for state, not synchronisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
