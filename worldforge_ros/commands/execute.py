"""``worldforge-ros execute``: run an approved plan through /worldforge/execute (the gate decides what moves)."""

from __future__ import annotations

from worldforge_ros.core import names

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--approval", required=True, help="approval id from `worldforge-ros approve`")
    parser.add_argument("--digest", required=True, help="plan digest the approval is bound to")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result")


def execute(cli, approval_id: str, plan_digest: str, timeout: float, feedback: list | None = None):
    """Send an ExecutePlan goal through ``cli`` (a CliNode) and wait for its result; None if not accepted."""
    from worldforge_ros.action import ExecutePlan

    client = cli.action_client(ExecutePlan, names.EXECUTE_ACTION, 20.0)
    goal = ExecutePlan.Goal(approval_id=approval_id, plan_digest=plan_digest)
    sink = feedback.append if feedback is not None else None
    handle = cli.wait(client.send_goal_async(goal, feedback_callback=sink), 20.0)
    if not handle.accepted:
        return None
    return cli.wait(handle.get_result_async(), timeout).result


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.commands.ros_client import CliNode

    feedback: list = []
    try:
        with CliNode("worldforge_ros_execute_cli") as cli:
            result = execute(cli, args.approval, args.digest, args.timeout, feedback)
    except TimeoutError as exc:
        print(f"worldforge-ros execute: {exc}", file=sys.stderr)
        return 3
    return report(result, "worldforge-ros execute", len(feedback))


def report(result, prefix: str, feedback_count: int | None = None) -> int:
    """Print an ExecutePlan result (or None: goal not accepted) as one line; the exit code (0 ok, 1 refused)."""
    if result is None:
        print(f"{prefix}: the gate did not accept the execute goal", file=sys.stderr)
        return 1
    if result.error_code:
        print(f"{prefix}: execution refused or failed [{result.error_code}]: {result.error_string}", file=sys.stderr)
        return 1
    where = f"{result.controller_action} ({result.controller_type})" if result.controller_action else "the controller"
    done = f"dry-run recorded (nothing moved; would have gone to {where})" if result.dry_run else f"executed on {where}"
    extra = f", {feedback_count} feedback messages" if feedback_count is not None and not result.dry_run else ""
    print(f"{prefix}: {done}: {result.execution_id}{extra}")
    return 0
