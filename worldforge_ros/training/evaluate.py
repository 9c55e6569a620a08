"""Success rate of planned reaches in the MuJoCo scene: the planner's selected candidate vs a random candidate vs
the policy's first sample, over seeded tasks the models never saw (``reach_data.EVAL_SEED_BASE`` on).

Each task goes through the real pieces: the LeRobot provider samples candidates from the start and goal joints,
the ``panda_7dof`` translator and ``core.planning.PlanningCore`` (with the scene's collision check) build the plan,
the LeWorldModel provider scores the candidates from the front camera frame and the goal frame, and each of the
three candidates is then executed with physics (``scene.reach.execute_chunk``). A reach succeeds when the end
effector ends within ``SUCCESS_TOLERANCE_M`` of the target.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..core.errors import ErrorCode, WorldForgeRosError
from ..scene.model import EMBODIMENT_JOINTS
from ..scene.reach import SUCCESS_TOLERANCE_M, reach_error, sample_task
from .reach_data import CAMERA, EVAL_SEED_BASE, render_at

ARMS = ("selected", "random", "first")


@dataclass
class ReachEvaluation:
    """Per-arm end-effector errors (m) over the evaluated seeds (inf where no candidate was feasible), and the
    per-plan rank correlation of the scores with those errors."""

    seeds: list[int] = field(default_factory=list)
    errors: dict[str, list[float]] = field(default_factory=lambda: {arm: [] for arm in ARMS})
    rank_agreement: list[float] = field(default_factory=list)

    def success_rate(self, arm: str, tolerance_m: float = SUCCESS_TOLERANCE_M) -> float:
        errs = np.asarray(self.errors[arm])
        return float(np.mean(errs < tolerance_m)) if errs.size else 0.0

    def median_error(self, arm: str) -> float:
        return float(np.median(self.errors[arm])) if self.errors[arm] else float("nan")


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if np.std(ra) == 0 or np.std(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def plan_reach(scene, task, policy, scorer, candidates: int, collision_check: Any = None):
    """One plan for ``task`` through ``PlanningCore``: ``(plan, frames)`` with the camera and goal frames used."""
    from ..core.observation import ImageData, ObservationData
    from ..core.planning import PlanningCore, PlanSettings, ProviderReply
    from ..core.translator_registry import TranslatorRegistry

    goal_frame = render_at(scene, task.goal)
    frame = render_at(scene, task.start)
    obs = ObservationData(task="reach", joint_names=EMBODIMENT_JOINTS, joint_positions=task.start,
                          images=(ImageData(CAMERA, "rgb8", frame),),
                          extras={"goal_positions": task.goal, "goal_image": goal_frame})

    async def ask_policies(names, n):
        result = policy.select_actions(obs, n, "predict_chunk")
        return {names[0]: ProviderReply(names[0], True, actions=np.asarray(result.actions["action"]))}

    async def ask_scorer(name, cands):
        result = scorer.score_actions(obs, cands)
        return ProviderReply(name, True, scores=tuple(result.scores), best_index=int(result.best_index),
                             lower_is_better=bool(result.lower_is_better))

    core = PlanningCore(TranslatorRegistry.from_config(None), feasibility=collision_check)
    settings = PlanSettings(("lerobot",), "leworldmodel", "panda_7dof", candidates, 0, 60.0)
    outcome = asyncio.run(core.plan(settings, obs, ask_policies, ask_scorer, run_id="reach-eval",
                                    request_id=f"seed-{task.seed}"))
    return outcome.plan, (frame, goal_frame)


def evaluate_reach(scene, policy, scorer, seeds: int = 50, candidates: int = 8, seed_base: int = EVAL_SEED_BASE,
                   collision_check: Any = None, progress: Callable[[int, int], None] | None = None) -> ReachEvaluation:
    policy.configure()
    scorer.configure()
    rng = np.random.default_rng(12345)
    out = ReachEvaluation()
    for k in range(seeds):
        task = sample_task(scene, seed_base + k)
        try:
            plan, _frames = plan_reach(scene, task, policy, scorer, candidates, collision_check)
        except WorldForgeRosError as exc:  # no feasible candidate: a failed reach for every arm
            if exc.code != ErrorCode.NO_FEASIBLE_CANDIDATE:
                raise
            for arm in ARMS:
                out.errors[arm].append(float("inf"))
            out.seeds.append(task.seed)
            continue
        chunks = [np.asarray(c.trajectory.positions) for c in plan.candidates]
        errors = [reach_error(scene, task, c) for c in chunks]
        picks = {"selected": plan.selected_index, "random": int(rng.integers(len(chunks))), "first": 0}
        for arm, index in picks.items():
            out.errors[arm].append(errors[index])
        scores = [c.score for c in plan.candidates]
        if all(s is not None for s in scores):
            out.rank_agreement.append(_spearman(scores if plan.lower_is_better else [-s for s in scores], errors))
        out.seeds.append(task.seed)
        if progress is not None:
            progress(k + 1, seeds)
    return out
