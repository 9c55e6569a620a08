"""The README tour through the operator CLI, each command in its own process against a live bringup graph:
plan -> approve (refused without an operator, then approved) -> execute (dry-run) -> evidence verify."""

import re
import subprocess
import sys

import pytest

from graph_helpers import gate_bag, gate_graph, gate_plan
from ros_harness import node_env

pytestmark = pytest.mark.graph


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worldforge_ros.cli", *args], capture_output=True, text=True,
                          input=stdin, env=node_env(), timeout=120)


def test_plan_approve_execute_verify_from_the_command_line(ros_graph, node_processes, tmp_path):
    proc, clients, counts = gate_graph(ros_graph, node_processes, tmp_path, execution_enabled=False)
    gate_plan(ros_graph, clients)  # the planner has /joint_states: the CLI's first plan can succeed

    planned = cli("plan", "--task", "reach", "--timeout", "30")
    assert planned.returncode == 0, planned.stderr
    digest = re.search(r"digest (sha256:[0-9a-f]{64})", planned.stdout).group(1)
    assert re.search(r"^->\s+\d+\s+reference\b", planned.stdout, re.MULTILINE)  # the selected candidate is marked

    # No terminal and no --operator: the gate refuses the unnamed decision; the CLI says what to pass.
    anonymous = cli("approve", "--digest", digest, "--yes", "--checklist-confirmed", stdin="")
    assert anonymous.returncode == 1 and "--operator" in anonymous.stderr, anonymous.stderr

    approved = cli("approve", "--digest", digest, "--operator", "alice", "--yes", "--checklist-confirmed",
                   "--note", "tour")
    assert approved.returncode == 0, approved.stderr
    nxt = re.search(r"next: worldforge-ros execute --approval (\S+) --digest (\S+)", approved.stdout)
    assert nxt and nxt.group(2) == digest

    executed = cli("execute", "--approval", nxt.group(1), "--digest", digest)
    assert executed.returncode == 0, executed.stderr
    assert "dry-run recorded (nothing moved; would have gone to /sim_controller/follow_joint_trajectory" in executed.stdout
    reused = cli("execute", "--approval", nxt.group(1), "--digest", digest)
    assert reused.returncode != 0  # single use
    assert counts[-1] == 0  # dry-run: the controller never got a goal

    proc.stop()
    proc.stopped_by_test = True
    verified = cli("evidence", "verify", str(gate_bag(tmp_path)))
    assert verified.returncode == 0 and verified.stdout.startswith("OK:"), verified.stdout + verified.stderr
