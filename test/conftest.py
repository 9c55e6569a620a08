"""Shared fixtures: the repository root on sys.path, ROS graph participants and node processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TEST_DIR = Path(__file__).resolve().parent
ROOT = TEST_DIR.parent
# Source tree first: worldforge_ros.__init__ extends its path with the install tree for generated types.
for path in (str(ROOT), str(TEST_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)

from ros_harness import NodeProcess, RosGraph, node_env  # noqa: E402

# Tests render the MuJoCo scene in this process and later load LeRobot/LeWM here too: torch's native stack must be
# loaded before the first EGL context or loading libtriton crashes the process (worldforge_ros.training).
try:
    from worldforge_ros.training import import_torch_before_gl

    import_torch_before_gl()
except ImportError:  # torch missing: the tests that need it fail on their own with the reason
    pass


@pytest.fixture
def ros_graph():
    """An in-process participant on a private rclpy Context (torn down after the test)."""
    if "ROS_DOMAIN_ID" not in os.environ:
        pytest.fail("ROS_DOMAIN_ID is not set: run the suite through scripts/test (private DDS domain)")
    graph = RosGraph()
    try:
        yield graph
    finally:
        graph.close()


@pytest.fixture
def node_processes(tmp_path):
    """Factory starting node processes; every one is stopped by pid at teardown and must not leak."""
    started: list[NodeProcess] = []

    def start(argv, name: str, env: dict[str, str] | None = None) -> NodeProcess:
        proc = NodeProcess(argv, name, tmp_path / "logs", env or node_env()).start()
        started.append(proc)
        return proc

    yield start
    problems = []
    for proc in started:
        code = proc.proc.poll() if proc.proc else None
        if code not in (None, 0) and not proc.killed_on_purpose and not proc.stopped_by_test:
            problems.append(f"{proc.name} (pid {proc.pid}) exited early with code {code}:\n{proc.output()[-3000:]}")
        how = proc.stop()
        if proc.leaked:
            problems.append(f"{proc.name} (pid {proc.pid}) left processes behind")
        if how == "SIGKILL":
            problems.append(f"{proc.name} (pid {proc.pid}) ignored SIGINT and SIGTERM:\n{proc.output()[-2000:]}")
    if problems:
        pytest.fail("node processes did not stop cleanly: " + "; ".join(problems))
