"""``worldforge-ros evidence replay BAG``: republish a bag's records on ROS topics (Foxglove, RViz, tools).

Records go out under ``--prefix`` (default ``/replay``) so a replay never feeds a live gate by accident: a plan
replayed onto ``/worldforge/plans`` would become approvable. ``--prefix ''`` replays onto the original topics.
Timing follows the bag's log times scaled by ``--rate`` unless ``--fast``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="worldforge-ros evidence replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", type=Path, help="bag directory, run workspace or .mcap file")
    parser.add_argument("--prefix", default="/replay", help="topic prefix ('' = the original topics)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback rate for original timing")
    parser.add_argument("--fast", action="store_true", help="publish as fast as possible")
    parser.add_argument("--topics", nargs="*", default=None, help="only these topics (default: all records)")
    parser.add_argument("--discovery-wait", type=float, default=1.0, help="seconds to let subscribers connect")
    return parser.parse_args(argv)


def _msg_class(msgtype: str):
    pkg, _kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.rate <= 0:
        print("replay: --rate must be > 0", file=sys.stderr)
        return 2
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from worldforge_ros.evidence.reader import read_bag

    contents = read_bag(args.bag)
    records = [r for r in contents.records if args.topics is None or r.topic in args.topics]
    rclpy.init()
    node = rclpy.create_node("worldforge_ros_replay")
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publishers = {}
    try:
        for rec in records:
            if rec.topic not in publishers:
                publishers[rec.topic] = node.create_publisher(_msg_class(rec.msgtype), args.prefix + rec.topic, qos)
        time.sleep(args.discovery_wait)
        first = records[0].log_time_ns if records else 0
        started = time.monotonic()
        for rec in records:
            if not args.fast:
                due = started + (rec.log_time_ns - first) / 1e9 / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
            publishers[rec.topic].publish(rec.data)
        time.sleep(args.discovery_wait)  # transient-local history stays available meanwhile
        print(f"replayed {len(records)} records on {len(publishers)} topics under {args.prefix or '/'}")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
