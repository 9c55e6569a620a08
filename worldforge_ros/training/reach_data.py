"""Scripted reach demonstrations generated in the MuJoCo scene.

``policy_demos(n)``: ``n`` tasks (``scene.reach.sample_task``) with the expert's minimum-jerk chunk — the policy's
training set (state + goal joints -> 16 x 7 chunk). ``cost_model_samples(n)``: ``n`` of those tasks rendered from the
scene's front camera (the camera ``scene_sim`` publishes), each with the expert chunk and ``variants`` chunks towards
perturbed goals, and the frame where each chunk ends — the cost model's training set. Seeds are disjoint from
the benchmark's (``EVAL_SEED_BASE``), so no benchmark target was seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scene.model import EMBODIMENT_JOINTS
from ..scene.reach import minimum_jerk, sample_task

TRAIN_SEED_BASE = 0
EVAL_SEED_BASE = 1_000_000
"""Benchmark and demo tasks use seeds from here on: never a training seed."""
GOAL_NOISE_RAD = 0.2
CAMERA = "front"


@dataclass
class PolicyDemos:
    start: np.ndarray   # (N, 7)
    goal: np.ndarray    # (N, 7)
    chunks: np.ndarray  # (N, 16, 7)


@dataclass
class CostModelSamples:
    start_frames: np.ndarray  # (N, H, W, 3) uint8, one per task
    task_index: np.ndarray    # (M,) which task's start frame a sample begins from
    chunks: np.ndarray        # (M, 16, 7)
    end_frames: np.ndarray    # (M, H, W, 3) uint8
    end_positions: np.ndarray  # (M, 7) joint positions where the chunk ends
    start: np.ndarray         # (N, 7)


def policy_demos(scene, n: int, seed_base: int = TRAIN_SEED_BASE) -> PolicyDemos:
    tasks = [sample_task(scene, seed_base + i) for i in range(n)]
    return PolicyDemos(np.array([t.start for t in tasks]), np.array([t.goal for t in tasks]),
                       np.array([minimum_jerk(t.start, t.goal) for t in tasks]))


def render_at(scene, positions) -> np.ndarray:
    """The front camera's frame with the arm at ``positions`` (the camera scene_sim publishes)."""
    scene.set_joint_positions(EMBODIMENT_JOINTS, positions)
    return scene.render(CAMERA)


def cost_model_samples(scene, n: int, variants: int = 2, seed_base: int = TRAIN_SEED_BASE,
                       progress=None) -> CostModelSamples:
    """``n`` rendered tasks, ``1 + variants`` chunks each (``(1 + variants) * n`` samples, ``(2 + variants) * n``
    renders: start, goal = the expert's end, and one per variant)."""
    rng = np.random.default_rng(seed_base + 7)
    starts, index, chunks, ends, end_q, start_q = [], [], [], [], [], []
    for i in range(n):
        task = sample_task(scene, seed_base + i)
        start_q.append(task.start)
        starts.append(render_at(scene, task.start))
        goal_frame = render_at(scene, task.goal)
        for k in range(1 + variants):
            end = task.goal if k == 0 else task.goal + rng.normal(0.0, GOAL_NOISE_RAD, size=7)
            index.append(i)
            chunks.append(minimum_jerk(task.start, end))
            end_q.append(end)
            ends.append(goal_frame if k == 0 else render_at(scene, end))
        if progress is not None:
            progress(i + 1, n)
    return CostModelSamples(np.array(starts), np.array(index), np.array(chunks), np.array(ends),
                            np.array(end_q), np.array(start_q))
