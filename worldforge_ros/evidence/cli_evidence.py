"""``worldforge-ros evidence {verify,recover,report,compare,replay,rescore}``.

verify/recover/report/compare run without ROS (rosbags, mcap, matplotlib); replay and rescore publish on or call
into a ROS graph and load ``worldforge_ros.nodes.replay`` / ``worldforge_ros.nodes.rescore`` only when chosen.
Exit codes: 0 ok; 1 verification failed or nothing recoverable; 2 a needed component is missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..core.errors import WorldForgeRosError

_ROS_COMMANDS = {
    "replay": ("worldforge_ros.nodes.replay", "republish a bag's records on ROS topics (needs ROS 2)"),
    "rescore": ("worldforge_ros.evidence.rescore", "re-score a bag's recorded candidates with another score provider "
                                                 "(runs without ROS)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evidence subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    p = sub.add_parser("verify", help="check schema, hash chain, plan digests and metadata; exit 1 on failure")
    p.add_argument("bag", type=Path, help="bag directory, run workspace or .mcap file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p = sub.add_parser("recover", help="rebuild a bag cut off by a crash (keeps the original as .mcap.partial)")
    p.add_argument("bag", type=Path)
    p = sub.add_parser("report", help="render report.md + report.html with plots")
    p.add_argument("bag", type=Path)
    p.add_argument("--out", type=Path, default=None, help="output directory (default: <run>/reports)")
    p = sub.add_parser("compare", help="what changed between two runs")
    p.add_argument("bag_a", type=Path)
    p.add_argument("bag_b", type=Path)
    p.add_argument("--out", type=Path, default=None, help="also write the Markdown to this file")
    for name, (_, help_text) in _ROS_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the ROS command")


def _verify(args: argparse.Namespace) -> int:
    from .verify import verify_bag

    report = verify_bag(args.bag)
    print(report.as_json() if args.json else report.summary())
    return 0 if report.ok else 1


def _recover(args: argparse.Namespace) -> int:
    from .recover import recover_bag
    from .verify import verify_bag

    result = recover_bag(args.bag)
    print(result.summary())
    report = verify_bag(result.bag_dir)
    print(report.summary())
    return 0 if report.ok else 1


def _report(args: argparse.Namespace) -> int:
    from .report import render_report

    files = render_report(args.bag, args.out)
    print(f"verification: {files.verification.summary()}")
    print(f"markdown: {files.markdown}\nhtml: {files.html}")
    for image in files.images:
        print(f"plot: {image}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare_bags

    text = compare_bags(args.bag_a, args.bag_b).to_markdown()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def _ros_command(args: argparse.Namespace) -> int:
    module_name, _ = _ROS_COMMANDS[args.evidence_command]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"evidence {args.evidence_command} needs ROS 2 (rclpy) and {module_name}: {exc}", file=sys.stderr)
        return 2
    return int(module.main(list(args.rest)) or 0)


def run(args: argparse.Namespace) -> int:
    """Run the chosen evidence subcommand; typed errors become a message and exit code 1."""
    handlers = {"verify": _verify, "recover": _recover, "report": _report, "compare": _compare}
    handler = handlers.get(args.evidence_command, _ros_command)
    try:
        return handler(args)
    except WorldForgeRosError as exc:
        print(f"evidence {args.evidence_command}: {exc}", file=sys.stderr)
        return 1
