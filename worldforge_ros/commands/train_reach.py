"""``worldforge-ros train-reach DIR``: train the reach policy and cost model on simulated demonstrations (cached)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DIR = "~/.cache/worldforge_ros/trained"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from worldforge_ros.training.reach_models import Recipe

    base = Recipe()
    parser.add_argument("directory", nargs="?", default=DEFAULT_DIR, help=f"output directory (default {DEFAULT_DIR})")
    parser.add_argument("--policy-demos", type=int, default=base.policy_demos)
    parser.add_argument("--policy-steps", type=int, default=base.policy_steps)
    parser.add_argument("--cost-model-tasks", type=int, default=base.cost_model_tasks,
                        help="rendered tasks for the cost model (4 renders each)")
    parser.add_argument("--cost-model-steps", type=int, default=base.cost_model_steps)
    parser.add_argument("--cost-model-size", choices=("tiny", "1m"), default=base.cost_model_size)
    parser.add_argument("--seed", type=int, default=base.seed)
    parser.add_argument("--force", action="store_true", help="retrain even when this recipe's models exist")


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.scene import SceneUnavailable
    from worldforge_ros.training.reach_models import Recipe, train_reach_models

    recipe = Recipe(policy_demos=args.policy_demos, policy_steps=args.policy_steps,
                    cost_model_tasks=args.cost_model_tasks, cost_model_steps=args.cost_model_steps,
                    cost_model_size=args.cost_model_size, seed=args.seed)
    try:
        train_reach_models(Path(args.directory), recipe, force=args.force)
    except SceneUnavailable as exc:
        print(f"worldforge-ros train-reach: the scene cannot run here ({exc.reason}): {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"worldforge-ros train-reach: a runtime is missing ({exc}); run scripts/setup", file=sys.stderr)
        return 2
    return 0
