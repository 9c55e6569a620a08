"""Train a LeRobot Diffusion policy on scripted reach demonstrations.

Inputs are what the planner gives a state-only policy: ``observation.state`` (joint positions) and
``observation.environment_state`` (the goal joint positions, observation extra ``goal_positions``); the output is a
16 x 7 chunk of absolute joint targets (``panda_7dof``). Dataset statistics come from the demonstrations, the batch
goes through the same preprocessor that is saved with the checkpoint (as LeRobot's own training loop does), and
the checkpoint is written in the LeRobot >= 0.4 format the provider loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..testing.lerobot_fixtures import HORIZON, diffusion_config
from .reach_data import PolicyDemos


def _stats(values: np.ndarray) -> dict:
    import torch

    flat = torch.as_tensor(values.reshape(-1, values.shape[-1]), dtype=torch.float32)
    return {"mean": flat.mean(0), "std": flat.std(0) + 1e-6, "min": flat.min(0).values, "max": flat.max(0).values}


def train_policy(demos: PolicyDemos, out: Path | str, steps: int = 3000, batch_size: int = 64, seed: int = 0,
                 lr: float = 1e-3, progress: Callable[[int, int, float], None] | None = None) -> list[tuple[int, float]]:
    """Train and save to ``out``; the loss history ``[(step, loss), ...]``."""
    import torch
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors

    torch.manual_seed(seed)
    config = diffusion_config(down_dims=(64, 128), n_groups=8, step_embed_dim=64, train_timesteps=50,
                              inference_steps=10)
    stats = {"observation.state": _stats(demos.start), "observation.environment_state": _stats(demos.goal),
             "action": _stats(demos.chunks)}
    policy = DiffusionPolicy(config).train()
    pre, post = make_pre_post_processors(config, dataset_stats=stats)
    state = torch.as_tensor(demos.start, dtype=torch.float32)[:, None]
    goal = torch.as_tensor(demos.goal, dtype=torch.float32)[:, None]
    actions = torch.as_tensor(demos.chunks, dtype=torch.float32)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=1e-6)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for step in range(steps):
        pick = torch.randint(0, len(actions), (batch_size,), generator=generator)
        batch = pre({"observation.state": state[pick], "observation.environment_state": goal[pick],
                     "action": actions[pick], "action_is_pad": torch.zeros(batch_size, HORIZON, dtype=torch.bool)})
        loss, _ = policy.forward(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            history.append((step, float(loss.detach())))
        if progress is not None:
            progress(step + 1, steps, float(loss.detach()))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    policy.eval().save_pretrained(out)
    pre.save_pretrained(out)
    post.save_pretrained(out)
    return history
