"""``worldforge-ros approve``: the operator's terminal flow.

Shows the plan under review (candidates, scores, feasibility, the digest, the start state), asks for the four
checklist items and a decision, and calls /worldforge/approve. Non-interactive use (scripts, the demo) passes
``--yes`` and ``--checklist-confirmed``; nothing is assumed without an explicit flag or answer.
"""

from __future__ import annotations

from worldforge_ros.core import names

import argparse
import sys
import threading

from worldforge_ros.commands.plan import format_table
from worldforge_ros.core.approval import CHECKLIST


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--digest", default="", help="plan digest to review (default: the latest published plan)")
    parser.add_argument("--operator", default="", help="operator id (asked for when missing)")
    parser.add_argument("--note", default="", help="note recorded with the decision")
    parser.add_argument("--ttl", type=float, default=0.0, help="approval lifetime in s (0 = the gate's default)")
    parser.add_argument("--yes", action="store_true", help="approve without asking (non-interactive)")
    parser.add_argument("--refuse", action="store_true", help="record a refusal")
    parser.add_argument("--checklist-confirmed", action="store_true",
                        help="confirm all four checklist items (workspace clear, e-stop available, operator present, "
                             "controller isolated) without asking")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the plan and the gate")


def _latest_plan(cli, digest: str, timeout: float):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from worldforge_ros.msg import PlanRecord

    got = threading.Event()
    box = {}

    def on_plan(msg):
        if not digest or msg.plan_digest == digest:
            box["plan"] = msg
            got.set()

    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    cli.node.create_subscription(PlanRecord, names.PLANS_TOPIC, on_plan, qos)
    if not got.wait(timeout):
        raise TimeoutError("no plan received on /worldforge/plans" + (f" with digest {digest}" if digest else ""))
    return box["plan"]


def _preview_event(cli, digest: str, wait_s: float):
    """The latched scene/preview event for ``digest`` on /worldforge/events (the gate's ``previews:=true``), or
    None after ``wait_s``."""
    import json

    from worldforge_ros.msg import ProviderEvent
    from worldforge_ros.nodes.evidence_qos import EVENTS_QOS
    from worldforge_ros.nodes.transient import transient_subscription

    got = threading.Event()
    box = {}

    def on_event(msg):
        if msg.provider != "scene" or msg.operation != "preview":
            return
        try:
            meta = json.loads(msg.metadata_json or "{}")
        except ValueError:
            return
        if meta.get("plan_digest") == digest:
            box["event"] = (msg, meta)
            got.set()

    sub = transient_subscription(cli.node, ProviderEvent, names.EVENTS_TOPIC, on_event, EVENTS_QOS)
    try:
        got.wait(wait_s)
    finally:
        cli.node.destroy_subscription(sub)
    return box.get("event")


def preview_text(event) -> str:
    """Where the previews of a plan are, from its scene/preview event (``None``: a hint)."""
    if event is None:
        return "previews: none published for this plan (approval_node previews:=false, still rendering, or no GL)"
    msg, meta = event
    files = sorted(meta.get("files", {}))
    lines = [f"previews ({len(files)} images, camera {meta.get('camera', '?')!r}, sha256 in the evidence chain): "
             f"{msg.target}"]
    lines += [f"  {f}" for f in files]
    return "\n".join(lines)


def summary(plan) -> str:
    start = ", ".join(f"{n}={p:.4f}" for n, p in zip(plan.start_state.name, plan.start_state.position))
    return (format_table(plan) + f"\ntask: {plan.task!r}  embodiment: {plan.embodiment}  "
            f"providers: {', '.join(plan.policy_providers)} -> {plan.score_provider}\nstart state: {start}")


def _ask(prompt: str) -> bool:
    try:
        return input(f"{prompt} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.commands.ros_client import CliNode
    from worldforge_ros.srv import Approve

    try:
        with CliNode("worldforge_ros_approve_cli") as cli:
            plan = _latest_plan(cli, args.digest, args.timeout)
            print(summary(plan))
            print(preview_text(_preview_event(cli, plan.plan_digest, min(2.0, args.timeout))))
            print("worldforge_certifies_robot_safety: false — this approval is a review record, not a safety system")
            operator = args.operator or (input("operator id: ").strip() if sys.stdin.isatty() else "")
            checks = {item: True for item in CHECKLIST} if args.checklist_confirmed else \
                {item: _ask(item.replace("_", " ") + "?") for item in CHECKLIST}
            approve = not args.refuse and (args.yes or _ask(f"approve plan {plan.plan_digest}?"))
            req = Approve.Request(plan_digest=plan.plan_digest, approve=approve, operator_id=operator, note=args.note,
                                  ttl_s=max(0.0, args.ttl), **checks)
            client = cli.client(Approve, names.APPROVE_SERVICE, args.timeout)
            resp = cli.wait(client.call_async(req), args.timeout)
    except TimeoutError as exc:
        print(f"worldforge-ros approve: {exc}", file=sys.stderr)
        return 3
    if not resp.accepted:
        hint = "" if operator else " (no terminal to ask for it: pass --operator <id>)"
        print(f"not approved: {resp.error_message}{hint}", file=sys.stderr)
        return 1
    mode = "the robot WILL move on execute" if resp.execution_enabled else "dry-run: execute records only"
    print(f"approved: approval_id {resp.approval_id} (expires {resp.expires_at.sec}); {mode}")
    print(f"next: worldforge-ros execute --approval {resp.approval_id} --digest {plan.plan_digest}")
    return 0
