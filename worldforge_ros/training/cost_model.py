"""Train a LeWorldModel cost model (stable-worldmodel's ``LeWM``) on rendered reach samples.

The model is the upstream architecture (ViT encoder, action embedder, autoregressive predictor) built by
``testing.lewm_fixtures.build_lewm``. Two losses, both on the scene's front-camera frames prepared exactly as the
score provider prepares them (``bridges.lewm_observation.prepare_image``):

- prediction: ``LeWM.rollout`` from the start frame through the 16-step chunk; its final embedding is pulled to
  the (stop-gradient) embedding of the frame where the chunk really ended;
- state probe: a linear head reads the arm's joint positions from every frame's embedding, which keeps the
  embedding informative (no collapse) and makes latent distance track configuration distance.

The probe head is not saved: the checkpoint is the ``LeWM`` module alone, loaded by ``AutoCostModel``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .reach_data import CostModelSamples

IMAGE_SIZE = 56


def prepare_frames(frames: np.ndarray, size: int = IMAGE_SIZE):
    import torch

    from ..bridges.lewm_observation import prepare_image

    return torch.stack([prepare_image(f, size) for f in frames])


def train_cost_model(samples: CostModelSamples, steps: int = 1500, batch_size: int = 32, seed: int = 0,
                     size: str = "1m", lr: float = 1e-3, progress: Callable[[int, int, float], None] | None = None):
    """The trained ``LeWM`` (eval mode) and the loss history ``[(step, prediction, probe), ...]``."""
    import torch

    from ..testing.lewm_fixtures import build_lewm

    torch.manual_seed(seed)
    model = build_lewm(action_dim=7, image_size=IMAGE_SIZE, seed=seed, size=size, perturb=False).train()
    start = prepare_frames(samples.start_frames)
    end = prepare_frames(samples.end_frames)
    goal_q = torch.as_tensor(samples.end_positions, dtype=torch.float32)
    start_q = torch.as_tensor(samples.start, dtype=torch.float32)
    chunks = torch.as_tensor(samples.chunks, dtype=torch.float32)
    index = torch.as_tensor(samples.task_index)
    probe = torch.nn.LazyLinear(7)
    every_q = torch.cat([start_q, goal_q])
    q_mean, q_std = every_q.mean(0), every_q.std(0) + 1e-3
    with torch.no_grad():  # materialise the lazy probe
        probe(model.encode({"pixels": start[:2, None]})["emb"][:, 0])
    optimiser = torch.optim.AdamW(list(model.parameters()) + list(probe.parameters()), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for step in range(steps):
        pick = torch.randint(0, len(chunks), (batch_size,), generator=generator)
        first = start[index[pick]]
        info = {"pixels": first[:, None, None]}  # (B, S=1, T=1, 3, h, w)
        rolled = model.rollout(info, chunks[pick][:, None])["predicted_emb"][:, 0, -1]  # (B, D)
        frames = torch.cat([first, end[pick]])
        emb = model.encode({"pixels": frames[:, None]})["emb"][:, 0]
        e_first, e_end = emb[:batch_size], emb[batch_size:]
        prediction = torch.nn.functional.mse_loss(rolled, e_end.detach())
        q = (torch.cat([start_q[index[pick]], goal_q[pick]]) - q_mean) / q_std
        probing = torch.nn.functional.mse_loss(probe(torch.cat([e_first, e_end])), q)
        loss = prediction + probing
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            history.append((step, float(prediction.detach()), float(probing.detach())))
        if progress is not None:
            progress(step + 1, steps, float(loss.detach()))
    return model.eval(), history
