"""``worldforge-ros envelope``: approve an envelope from a YAML file, then start, watch and stop a supervised run.

    worldforge-ros envelope show FILE.yaml                       # the envelope and its digest (no ROS)
    worldforge-ros envelope approve FILE.yaml --operator alice --checklist-confirmed
    worldforge-ros envelope run --id env-... --digest sha256:... [--chunks N] [--heartbeat]

``run`` prints one line per chunk (index, score, passed/violations, sent, latency) and ends with the typed stop
reason; Ctrl-C cancels the run (the gate cancels the running controller goal). ``--heartbeat`` makes this
terminal the dead-man switch (publishes ``std_msgs/msg/Empty`` on the envelope's heartbeat topic every 50 ms
while it runs); without it another node must publish the heartbeat.
Exit codes: 0 ok, 1 refused or stopped by a check, 2 bad input, 3 graph unreachable, 130 canceled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worldforge_ros.core import names
from worldforge_ros.core.approval import CHECKLIST


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="print an envelope file's canonical JSON and digest")
    show.add_argument("file")
    approve = sub.add_parser("approve", help="approve (or refuse) an envelope through /worldforge/approve_envelope")
    approve.add_argument("file", help="envelope YAML (fields of core.envelope.Envelope)")
    approve.add_argument("--operator", required=True)
    approve.add_argument("--note", default="")
    approve.add_argument("--ttl", type=float, default=0.0)
    approve.add_argument("--refuse", action="store_true")
    approve.add_argument("--checklist-confirmed", action="store_true",
                         help="confirm the four checklist items (workspace clear, e-stop, operator present, "
                              "controller isolated)")
    approve.add_argument("--timeout", type=float, default=20.0)
    run = sub.add_parser("run", help="start a run under an approved envelope and watch it (Ctrl-C stops it)")
    run.add_argument("--id", required=True, help="envelope id from `envelope approve`")
    run.add_argument("--digest", required=True, help="envelope digest from `envelope approve`")
    run.add_argument("--chunks", type=int, default=0, help="chunks to run (0 = until the envelope's limits)")
    run.add_argument("--heartbeat", default="", metavar="TOPIC", nargs="?", const=names.HEARTBEAT_TOPIC,
                     help=f"publish the dead-man heartbeat from here (default topic {names.HEARTBEAT_TOPIC})")
    run.add_argument("--timeout", type=float, default=3600.0)


def load_envelope(path: str):
    import yaml

    from worldforge_ros.core.envelope import Envelope

    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of envelope fields")
    return Envelope.from_dict(data.get("envelope", data))


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.core.errors import WorldForgeRosError

    try:
        if args.action in ("show", "approve"):
            env = load_envelope(args.file)
    except (OSError, ValueError, WorldForgeRosError) as exc:
        print(f"worldforge-ros envelope: {exc}", file=sys.stderr)
        return 2
    if args.action == "show":
        print(env.envelope_json())
        print(f"digest: {env.digest}")
        return 0
    from worldforge_ros.commands.ros_client import CliNode

    try:
        with CliNode("worldforge_ros_envelope_cli") as cli:
            return _approve(cli, env, args) if args.action == "approve" else _run(cli, args)
    except TimeoutError as exc:
        print(f"worldforge-ros envelope: {exc}", file=sys.stderr)
        return 3


def _approve(cli, env, args) -> int:
    from worldforge_ros.nodes.envelope_msgs import envelope_to_msg
    from worldforge_ros.srv import ApproveEnvelope

    req = ApproveEnvelope.Request(envelope=envelope_to_msg(env), approve=not args.refuse, operator_id=args.operator,
                                  note=args.note, ttl_s=args.ttl)
    for item in CHECKLIST:
        setattr(req, item, bool(args.checklist_confirmed))
    resp = cli.call(cli.client(ApproveEnvelope, names.APPROVE_ENVELOPE_SERVICE, args.timeout), req, args.timeout)
    if not resp.accepted:
        print(f"worldforge-ros envelope approve: refused [{resp.error_code}]: {resp.error_message}", file=sys.stderr)
        return 1
    mode = "EXECUTION ENABLED" if resp.execution_enabled else "dry-run"
    print(f"approved envelope {resp.envelope_id} ({mode})\ndigest: {resp.envelope_digest}\n"
          f"run: worldforge-ros envelope run --id {resp.envelope_id} --digest {resp.envelope_digest} --heartbeat")
    return 0


def _run(cli, args) -> int:
    import threading

    from std_msgs.msg import Empty

    from worldforge_ros.action import RunPolicy

    if args.heartbeat:
        pub = cli.node.create_publisher(Empty, args.heartbeat, 10)
        cli.node.create_timer(0.05, lambda: pub.publish(Empty()))
    client = cli.action_client(RunPolicy, names.RUN_POLICY_ACTION, 20.0)

    def on_feedback(msg) -> None:
        f = msg.feedback
        state = "passed" if f.passed else "OUT: " + ", ".join(f.violations)
        sent = "sent" if f.sent else ("dry-run" if f.passed else "not sent")
        print(f"chunk {f.chunk_index:3d}  score {f.score:9.4f}  {state}  {sent}  {f.latency_ms:6.1f} ms  "
              f"t={f.elapsed_s:6.2f} s", flush=True)

    goal = RunPolicy.Goal(envelope_id=args.id, envelope_digest=args.digest, chunks=max(0, args.chunks))
    handle = cli.wait(client.send_goal_async(goal, feedback_callback=on_feedback), 20.0)
    if not handle.accepted:
        print("worldforge-ros envelope run: the gate did not accept the run", file=sys.stderr)
        return 1
    done = threading.Event()
    future = handle.get_result_async()
    future.add_done_callback(lambda _f: done.set())
    try:
        if not done.wait(args.timeout):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        print("worldforge-ros envelope run: stopping (cancel sent to the gate)", file=sys.stderr)
        cli.wait(handle.cancel_goal_async(), 10.0)
        done.wait(15.0)
        if not future.done():
            return 130
    result = future.result().result
    mode = " (dry-run)" if result.dry_run else ""
    if result.error_code:
        print(f"worldforge-ros envelope run: stopped [{result.error_code}] after {result.chunks_executed} executed "
              f"chunk(s){mode}: {result.stop_reason}", file=sys.stderr)
        return 130 if result.error_code == 412 else 1
    print(f"run {result.policy_run_id}: {result.stop_reason}; {result.chunks_executed} executed, "
          f"{result.chunks_checked} checked{mode}")
    return 0
