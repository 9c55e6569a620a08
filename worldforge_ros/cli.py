"""``worldforge-ros``: the operator and developer command line.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their subcommand is parsed, so heavy runtimes (torch, rclpy) load only where needed and the
ROS-free subcommands (evidence verify/report, fixtures) work on a laptop without ROS.
"""

from __future__ import annotations

import argparse
import os
import importlib
import sys

from . import __version__

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {}


def _register(name: str, module: str, help_text: str) -> None:
    SUBCOMMANDS[name] = (module, help_text)


_register("evidence", "worldforge_ros.evidence.cli_evidence",
          "verify, recover, report on and compare evidence bags (replay/rescore need ROS)")
_register("plan", "worldforge_ros.commands.plan", "call /worldforge/plan and print the ranked candidates")
_register("approve", "worldforge_ros.commands.approve",
          "review a plan (candidates, scores, digest, start state) and approve or refuse it")
_register("execute", "worldforge_ros.commands.execute", "execute an approved plan through the gate (dry-run by default)")
_register("envelope", "worldforge_ros.commands.envelope",
          "approve an envelope (YAML) once, then start, watch and stop a supervised closed-loop policy run")
_register("doctor", "worldforge_ros.commands.doctor", "provider health, value-free env summary, manifest validity")
_register("fixtures", "worldforge_ros.commands.fixtures",
          "write tiny, labelled UNTRAINED LeRobot and LeWorldModel checkpoints for tests and the demo")
_register("train-reach", "worldforge_ros.commands.train_reach",
          "train (once, cached) the reach policy and cost model on simulated demonstrations in the MuJoCo scene")
_register("smoke", "worldforge_ros.commands.smoke",
          "opt-in (WFROS_LIVE=1) live run of one provider on a real checkpoint/server; writes a run manifest")
_register("demo-session", "worldforge_ros.commands.demo_session",
          "drive a running graph through plan -> approve -> execute (what scripts/demo runs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worldforge-ros",
        description="worldforge-ros: plan with learned models on ROS 2, review, approve, and keep the evidence.")
    parser.add_argument("--version", action="version", version=f"worldforge-ros {__version__}")
    parser.add_argument("--namespace", "-n", default=None,
                        help="namespace of the graph to talk to (e.g. robot1; default: $WFROS_NAMESPACE or /)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        # Only the chosen subcommand's module is imported (see main()).
        sp.set_defaults(_needs_args=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for flag in ("--namespace", "-n"):  # global option before the subcommand
        if len(argv) >= 2 and argv[0] == flag:
            os.environ["WFROS_NAMESPACE"] = argv[1]
            argv = argv[2:]
        elif argv and argv[0].startswith("--namespace="):
            os.environ["WFROS_NAMESPACE"] = argv[0].split("=", 1)[1]
            argv = argv[1:]
    parser = build_parser()
    if argv and argv[0] in SUBCOMMANDS:
        module_name, help_text = SUBCOMMANDS[argv[0]]
        module = importlib.import_module(module_name)
        sp = argparse.ArgumentParser(prog=f"worldforge-ros {argv[0]}", description=help_text)
        module.add_arguments(sp)
        args = sp.parse_args(argv[1:])
        try:
            return int(module.run(args) or 0)
        except KeyboardInterrupt:
            return 130
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
