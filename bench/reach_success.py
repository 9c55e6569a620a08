"""Reach success in the MuJoCo scene: the planner's selected candidate vs a random candidate vs the policy's first
sample, over >= 50 seeded tasks whose targets were never trained on (models trained here, on simulated data).

Trains the models first when the cache (WFROS_TRAINED, default ~/.cache/worldforge_ros/trained) lacks them:
``worldforge-ros train-reach``. Ratio = success rate of the selected candidate / that of a random candidate
(target > 1: the ranking beats random)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from common import quick, write_result


def main() -> int:
    from worldforge_ros.training import import_torch_before_gl

    import_torch_before_gl()
    from worldforge_ros.providers.lerobot import make_lerobot_policy
    from worldforge_ros.providers.leworldmodel import make_leworldmodel_scorer
    from worldforge_ros.scene.reach import SUCCESS_TOLERANCE_M
    from worldforge_ros.scene.scene import Scene
    from worldforge_ros.training.evaluate import ARMS, evaluate_reach
    from worldforge_ros.training.reach_models import LEWM_RUN, POLICY_DIR, Recipe, train_reach_models

    root = Path(os.environ.get("WFROS_TRAINED", "~/.cache/worldforge_ros/trained")).expanduser()
    manifest = train_reach_models(root, Recipe())
    policy = make_lerobot_policy({"policy_path": str(root / POLICY_DIR), "seed": 7})
    scorer = make_leworldmodel_scorer({"policy": LEWM_RUN, "cache_dir": str(root / "stablewm" / "checkpoints"),
                                       "trusted_roots": [str(root / "stablewm")], "camera": "front"})
    seeds, candidates = (10 if quick() else 60), 8
    scene = Scene()
    started = time.perf_counter()
    result = evaluate_reach(scene, policy, scorer, seeds=seeds, candidates=candidates,
                            progress=lambda i, n: print(f"[bench] reach {i}/{n}", flush=True) if i % 10 == 0 else None)
    seconds = time.perf_counter() - started
    scene.close()
    rates = {arm: round(result.success_rate(arm), 3) for arm in ARMS}
    medians = {arm: round(result.median_error(arm) * 100, 1) for arm in ARMS}
    ratio = round(rates["selected"] / rates["random"], 2) if rates["random"] else float("inf")
    write_result("reach_success", {
        "target": "> 1 (selected beats random)", "ratio": ratio, "seeds": seeds, "candidates": candidates,
        "tolerance_cm": SUCCESS_TOLERANCE_M * 100, "success_rate": rates, "median_error_cm": medians,
        "rank_agreement_spearman_mean": round(sum(result.rank_agreement) / max(1, len(result.rank_agreement)), 3),
        "seconds_per_task": round(seconds / seeds, 2), "training_timings_s": manifest.get("timings_s", {}),
        "recipe": manifest.get("recipe", {}),
        "label": "trained here, on simulated data (scripted reach demonstrations in the MuJoCo Panda scene)"})
    for arm in ARMS:
        print(f"[bench] {arm:<9} success {rates[arm]:.0%}  median end-effector error {medians[arm]} cm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
