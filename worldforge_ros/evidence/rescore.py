"""``worldforge-ros evidence rescore BAG --score-provider NAME``: counterfactual review, without ROS.

Re-scores every recorded plan's candidates with another score provider (built in-process from the provider
registry, parameters given as ``--param key=value``) and reports, per plan, the recorded and the new scores,
both selections and whether they agree. Candidates are the recorded trajectories' joint positions ``(S, H, J)``
(equal to the raw actions for absolute joint-space embodiments); the observation is the recorded start state plus
``--extra name=path.npy`` tensors. A scorer that needs inputs the bag does not hold (camera images) fails with its
typed error for that plan.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import WorldForgeRosError
from ..core.observation import ObservationData
from ..core.selection import select_candidate
from .reader import read_bag
from .topics import PLANS_TOPIC


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="worldforge-ros evidence rescore", description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", type=Path, help="bag directory, run workspace or .mcap file")
    parser.add_argument("--score-provider", required=True, help="registry name, e.g. reference_scorer, leworldmodel")
    parser.add_argument("--param", action="append", default=[], help="provider parameter key=value (JSON value)")
    parser.add_argument("--extra", action="append", default=[], help="observation extra name=file.npy")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser.parse_args(argv)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def rescore(bag: Path, provider: Any, extras: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """Per plan: recorded vs new scores and selections (a provider object with ``score_actions``)."""
    rows = []
    for rec in read_bag(bag).records:
        if rec.topic != PLANS_TOPIC or rec.message is None or not rec.message.candidates:
            continue
        plan = rec.message
        feasible = [bool(c.feasible) for c in plan.candidates]
        cands = np.stack([np.array([list(p.positions) for p in c.trajectory.points], dtype=np.float64)
                          for c in plan.candidates])
        obs = ObservationData(task=plan.task, embodiment_tag=plan.embodiment,
                              joint_names=tuple(plan.start_state.name),
                              joint_positions=np.asarray(plan.start_state.position, dtype=np.float64),
                              extras=dict(extras or {}))
        row: dict[str, Any] = {"plan_id": plan.plan_id, "plan_digest": plan.plan_digest,
                               "recorded_scores": [float(c.score) for c in plan.candidates],
                               "recorded_selected": int(plan.selected_index)}
        try:
            result = provider.score_actions(obs, cands)
            selection = select_candidate(feasible, result.scores, result.best_index, result.lower_is_better,
                                         provider.profile.name)
            row.update(new_scores=[float(s) for s in result.scores], new_selected=selection.selected_index,
                       lower_is_better=bool(result.lower_is_better),
                       agrees=selection.selected_index == int(plan.selected_index), error="")
        except WorldForgeRosError as err:
            row.update(new_scores=None, new_selected=None, agrees=None, error=str(err))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    from ..providers import registry

    try:
        entry = registry.get(args.score_provider)
        if entry.capability != "score":
            print(f"rescore: {args.score_provider} is a {entry.capability} provider, not a score provider",
                  file=sys.stderr)
            return 2
        config = dict(kv.split("=", 1) for kv in args.param)
        provider = entry.create({k: _value(v) for k, v in config.items()})
        provider.configure()
        extras = {name: np.load(path) for name, path in (kv.split("=", 1) for kv in args.extra)}
        rows = rescore(args.bag, provider, extras)
    except WorldForgeRosError as err:
        print(f"rescore: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if row["error"]:
                print(f"{row['plan_id']}: {row['error']}")
                continue
            verdict = "same selection" if row["agrees"] else "DIFFERENT selection"
            print(f"{row['plan_id']} {row['plan_digest'][:19]}: recorded #{row['recorded_selected']} -> "
                  f"{args.score_provider} #{row['new_selected']} ({verdict})")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
