"""LeWM: scoring S=16 candidates in one batched get_cost call vs 16 single-candidate calls. Target >= 4x."""

from __future__ import annotations

import statistics
import tempfile

import numpy as np

from common import quick, summary, timed, write_result


def main() -> int:
    from worldforge_ros.core.observation import ImageData, ObservationData
    from worldforge_ros.providers.leworldmodel import make_leworldmodel_scorer
    from worldforge_ros.testing.lewm_fixtures import build_lewm, parameter_count, render_joint_image, write_tiny_lewm

    home = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
    obs = ObservationData(stamp_ns=1, joint_names=tuple(f"panda_joint{i}" for i in range(1, 8)),
                          joint_positions=home, images=(ImageData("front", "rgb8", render_joint_image(home)),),
                          extras={"goal_image": render_joint_image(home + 0.3)})
    candidates = home + np.random.default_rng(0).normal(0.0, 0.1, (16, 16, 7))
    n = 5 if quick() else 20
    rows = {}
    for size in ("tiny", "1m"):
        root = tempfile.mkdtemp(prefix=f"wfros-bench-lewm-{size}-")
        write_tiny_lewm(root, "panda/lewm", size=size)
        scorer = make_leworldmodel_scorer({"policy": "panda/lewm", "cache_dir": f"{root}/checkpoints",
                                           "trusted_roots": [root]})
        scorer.configure()
        batched = timed(lambda: scorer.score_actions(obs, candidates), n)
        singles = timed(lambda: [scorer.score_actions(obs, candidates[i:i + 1]) for i in range(16)], max(3, n // 4))
        rows[size] = {"parameters": parameter_count(build_lewm(size=size)), "batched_S16": summary(batched),
                      "singles_16": summary(singles),
                      "ratio": round(statistics.median(singles) / statistics.median(batched), 2)}
    write_result("batched_scoring", {"target": ">= 4", "ratio": rows["tiny"]["ratio"], "models": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
