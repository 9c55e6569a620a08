"""Tiny, clearly labelled *untrained* LeWorldModel checkpoints, and a synthetic camera for joint-space arms.

``write_tiny_lewm(root)`` builds a ``stable_worldmodel.wm.lewm.LeWM`` from stable-worldmodel and transformers
classes only (so loading it needs nothing else), perturbs the zero-initialised ``adaLN_modulation`` weights
(normal, std 0.2) so that different action candidates get different costs, and pickles the whole module to
``<root>/checkpoints/<run_name>_object.ckpt`` — where ``AutoCostModel(run_name, cache_dir=<root>/checkpoints)``
and ``STABLEWM_HOME=<root>`` find it. Seeded: the same arguments write the same weights.

``render_joint_image(positions)`` draws joint values as coloured bars: a deterministic stand-in camera for the
demo and graph tests (the current frame, and the goal image from the goal positions). It needs only numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

LABEL = ("UNTRAINED FIXTURE written by worldforge_ros.testing.lewm_fixtures: seeded random weights with perturbed "
         "adaLN so costs differ. Not a world model; its costs mean nothing.")

SIZES = {
    # name: (vit hidden, vit layers, vit heads, vit mlp, predictor depth, predictor mlp, embedding dim)
    "tiny": (32, 1, 2, 64, 1, 64, 32),
    "1m": (128, 4, 4, 256, 2, 256, 128),
}


def build_lewm(action_dim: int = 7, image_size: int = 56, seed: int = 0, size: str = "tiny", perturb: bool = True):
    """An untrained LeWM module (eval mode); ``perturb``: adaLN weights drawn (std 0.2) instead of zero, so that
    an untrained model already gives different candidates different costs."""
    import torch
    from stable_worldmodel.wm.lewm import LeWM
    from stable_worldmodel.wm.lewm.module import MLP, Embedder, Predictor
    from transformers import ViTConfig, ViTModel

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    hidden, layers, heads, vit_mlp, depth, pred_mlp, emb = SIZES[size]
    torch.manual_seed(seed)
    encoder = ViTModel(ViTConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                 intermediate_size=vit_mlp, image_size=image_size, patch_size=14),
                       add_pooling_layer=False)
    predictor = Predictor(num_frames=3, depth=depth, heads=heads, mlp_dim=pred_mlp, input_dim=emb, hidden_dim=emb,
                          output_dim=emb, dim_head=16)
    model = LeWM(encoder=encoder, predictor=predictor, action_encoder=Embedder(input_dim=action_dim, emb_dim=emb),
                 projector=MLP(hidden, 2 * emb, emb, norm_fn=torch.nn.BatchNorm1d),
                 pred_proj=MLP(emb, 2 * emb, emb, norm_fn=torch.nn.BatchNorm1d))
    if perturb:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "adaLN_modulation" in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model.eval()


def write_tiny_lewm(root: Path | str, run_name: str = "panda/lewm", action_dim: int = 7, image_size: int = 56,
                    seed: int = 0, size: str = "tiny") -> Path:
    """Pickle an untrained LeWM to ``<root>/checkpoints/<run_name>_object.ckpt``; returns that path."""
    import torch

    root = Path(root)
    path = root / "checkpoints" / f"{run_name}_object.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_lewm(action_dim, image_size, seed, size), path)
    (root / "UNTRAINED.txt").write_text(LABEL + "\n")
    return path


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def render_joint_image(positions: Sequence[float], size: int = 56, span: float = 3.2) -> np.ndarray:
    """``(size, size, 3)`` uint8: one coloured bar per joint, height proportional to the value in ``[-span, span]``."""
    values = np.clip((np.asarray(positions, dtype=np.float64) + span) / (2 * span), 0.0, 1.0)
    image = np.full((size, size, 3), 24, dtype=np.uint8)
    count = max(1, len(values))
    width = size / count
    for i, value in enumerate(values):
        hue = i / count
        colour = (np.array([np.sin(2 * np.pi * hue), np.sin(2 * np.pi * (hue + 1 / 3)),
                            np.sin(2 * np.pi * (hue + 2 / 3))]) * 0.5 + 0.5) * 200 + 55
        top = size - int(round(value * (size - 2))) - 1
        left, right = int(i * width), max(int(i * width) + 1, int((i + 1) * width) - 1)
        image[top:size, left:right] = colour.astype(np.uint8)
    return image
