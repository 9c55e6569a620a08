"""Train (once, cached) the reach models under one directory, in the layout the ``lerobot_lewm`` profile reads::

    DIR/lerobot/diffusion/                              LeRobot Diffusion policy + processor files
    DIR/stablewm/checkpoints/panda/lewm_object.ckpt      LeWorldModel cost model (pickled LeWM module)
    DIR/training.json                                    the recipe, its digest, loss histories, timings
    DIR/TRAINED_HERE.txt                                 the label

so ``WFROS_FIXTURES=DIR`` points the profile at them. The cache key is the recipe's digest: the same recipe
on a directory that holds its complete output trains nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..core.digests import digest_json

LABEL = ("TRAINED HERE, ON SIMULATED DATA by worldforge-ros train-reach: a small LeRobot Diffusion policy and a "
         "LeWorldModel cost model trained on scripted reach demonstrations in the MuJoCo Panda scene. Good enough "
         "to make candidate rankings mean something in the demo and the success-rate benchmark; not a robot policy.")
POLICY_DIR = "lerobot/diffusion"
LEWM_RUN = "panda/lewm"
LEWM_CHECKPOINT = f"stablewm/checkpoints/{LEWM_RUN}_object.ckpt"
MANIFEST = "training.json"
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """What is trained: demonstration counts, optimisation steps, seed (the defaults take ~5 min on 2 cores)."""

    policy_demos: int = 2000
    policy_steps: int = 3000
    cost_model_tasks: int = 150
    cost_model_variants: int = 2
    cost_model_steps: int = 600
    cost_model_size: str = "1m"
    seed: int = 0

    @property
    def digest(self) -> str:
        return digest_json({"version": RECIPE_VERSION, **asdict(self)})


def trained(root: Path, recipe: Recipe) -> dict | None:
    """The manifest when ``root`` holds this recipe's complete output, else None."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    complete = (root / POLICY_DIR / "model.safetensors").is_file() and (root / LEWM_CHECKPOINT).is_file()
    return manifest if complete and manifest.get("recipe_digest") == recipe.digest else None


def train_reach_models(root: Path | str, recipe: Recipe = Recipe(), force: bool = False,
                       log: Callable[[str], None] = print) -> dict:
    """Generate the demonstrations, train both models, write them under ``root``; returns the manifest."""
    root = Path(root).expanduser().resolve()
    if not force:
        found = trained(root, recipe)
        if found is not None:
            log(f"train-reach: models for recipe {recipe.digest[:19]} already in {root} (--force retrains)")
            return found
    from . import import_torch_before_gl

    import_torch_before_gl()
    import torch

    from ..scene.scene import Scene
    from .cost_model import train_cost_model
    from .policy import train_policy
    from .reach_data import cost_model_samples, policy_demos

    def every(label: str, total_lines: int = 5):
        def report(i: int, n: int, loss: float | None = None) -> None:
            if i == n or i % max(1, n // total_lines) == 0:
                log(f"train-reach: {label} {i}/{n}" + ("" if loss is None else f"  loss {loss:.4f}"))
        return report

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    timings, started = {}, time.perf_counter()
    scene = Scene()
    try:
        t = time.perf_counter()
        demos = policy_demos(scene, recipe.policy_demos)
        timings["policy_demos_s"] = time.perf_counter() - t
        log(f"train-reach: {recipe.policy_demos} scripted reach demonstrations ({timings['policy_demos_s']:.1f} s)")
        t = time.perf_counter()
        policy_history = train_policy(demos, root / POLICY_DIR, steps=recipe.policy_steps, seed=recipe.seed,
                                      progress=every("policy step"))
        timings["policy_train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        samples = cost_model_samples(scene, recipe.cost_model_tasks, recipe.cost_model_variants,
                                     progress=every("rendered task"))
        timings["cost_model_render_s"] = time.perf_counter() - t
        t = time.perf_counter()
        model, lewm_history = train_cost_model(samples, steps=recipe.cost_model_steps, seed=recipe.seed,
                                               size=recipe.cost_model_size, progress=every("cost model step"))
        timings["cost_model_train_s"] = time.perf_counter() - t
    finally:
        scene.close()
    checkpoint = root / LEWM_CHECKPOINT
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model, checkpoint)
    for label_dir in (root, root / POLICY_DIR, checkpoint.parent):
        (label_dir / "TRAINED_HERE.txt").write_text(LABEL + "\n")
    timings["total_s"] = time.perf_counter() - started
    manifest = {"label": LABEL, "recipe": asdict(recipe), "recipe_digest": recipe.digest,
                "policy_loss": policy_history, "cost_model_loss": lewm_history,
                "timings_s": {k: round(v, 1) for k, v in timings.items()},
                "policy_dir": POLICY_DIR, "lewm_checkpoint": LEWM_CHECKPOINT}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"train-reach: done in {timings['total_s']:.0f} s -> {root}")
    return manifest
