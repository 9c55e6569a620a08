"""``worldforge-ros plan``: call /worldforge/plan from a terminal and print the ranked candidates."""

from __future__ import annotations

from worldforge_ros.core import names

import argparse
import json
import math
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="", help="instruction for language-conditioned policies")
    parser.add_argument("--policy", action="append", default=[], help="policy provider (repeat to pool several)")
    parser.add_argument("--score", default="", help="score provider ('none' = policy-only)")
    parser.add_argument("--embodiment", default="", help="embodiment / translator name")
    parser.add_argument("--candidates", type=int, default=0, help="candidates per policy (0 = planner default)")
    parser.add_argument("--max-steps", type=int, default=0, help="truncate candidates to this many steps")
    parser.add_argument("--deadline", type=float, default=0.0, help="deadline_s of the plan (0 = planner default)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the planner")
    parser.add_argument("--json", action="store_true", help="print the response as JSON")


def format_table(resp) -> str:
    rows = [f"plan {resp.plan_id}  digest {resp.plan_digest}",
            f"run {resp.run_id}  direction: {'lower' if resp.lower_is_better else 'higher'} is better",
            f"{'':2}{'#':>3}  {'provider':<18}{'score':>12}  {'feasible':<9}violations"]
    for c in resp.candidates:
        mark = "->" if c.index == resp.selected_index else ""
        score = "n/a" if math.isnan(c.score) else f"{c.score:.6g}"
        rows.append(f"{mark:2}{c.index:>3}  {c.policy_provider:<18}{score:>12}  {str(c.feasible):<9}"
                    f"{', '.join(c.violations[:3])}{' ...' if len(c.violations) > 3 else ''}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.commands.ros_client import CliNode
    from worldforge_ros.srv import Plan

    req = Plan.Request(task=args.task, policy_providers=args.policy, score_provider=args.score,
                       embodiment=args.embodiment, candidates_per_policy=max(0, args.candidates),
                       max_steps=max(0, args.max_steps), deadline_s=max(0.0, args.deadline))
    try:
        with CliNode("worldforge_ros_plan_cli") as cli:
            client = cli.client(Plan, names.PLAN_SERVICE, timeout=min(args.timeout, 20.0))
            resp = cli.wait(client.call_async(req), args.timeout)
    except TimeoutError as exc:
        print(f"worldforge-ros plan: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps({"success": resp.success, "error_code": resp.error_code, "error_message": resp.error_message,
                          "plan_id": resp.plan_id, "plan_digest": resp.plan_digest, "selected_index": resp.selected_index,
                          "scores": [c.score if not math.isnan(c.score) else None for c in resp.candidates],
                          "feasible": [c.feasible for c in resp.candidates]}, indent=2))
    elif resp.success:
        print(format_table(resp))
    if not resp.success:
        print(f"plan failed: {resp.error_message}", file=sys.stderr)
        return 1
    return 0
