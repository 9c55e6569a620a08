"""Tiny, clearly labelled *untrained* LeRobot checkpoints (with processor files) for tests and the demo.

All three act on a Franka Panda (7 joints, chunks of 16 = ``panda_7dof``'s horizon): ``observation.state`` is the
joint positions, ``observation.environment_state`` the goal joint positions (the observation extra
``goal_positions``). Dataset statistics put the mean action at the Panda home pose with a small std, so the
processors' un-normalization turns the random networks' outputs into small, feasible moves around home — and
makes un-normalized actions clearly differ from the raw (normalized) ones.

Written in the LeRobot >= 0.4 format the user load path expects: ``config.json``, ``model.safetensors``,
``policy_preprocessor.json`` / ``policy_postprocessor.json`` and their ``.safetensors`` stats. Seeded.
"""

from __future__ import annotations

from pathlib import Path

PANDA_HOME = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
"""Franka Panda "ready" joint pose (rad), the same numbers as ``test/graph_helpers.PANDA_HOME``."""
HORIZON = 16
DOF = 7
IMAGE_SHAPE = (3, 64, 64)
README = "README.txt"
"""Label file written next to every checkpoint (its first word is UNTRAINED)."""
LABEL = ("UNTRAINED FIXTURE written by worldforge_ros.testing.lerobot_fixtures: seeded random weights. Not a "
         "policy; its actions mean nothing.")


def _features(camera: bool):
    from lerobot.configs.types import FeatureType, PolicyFeature

    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(DOF,)),
              "observation.environment_state": PolicyFeature(type=FeatureType.ENV, shape=(DOF,))}
    if camera:
        inputs = {"observation.state": inputs["observation.state"],
                  "observation.images.front": PolicyFeature(type=FeatureType.VISUAL, shape=IMAGE_SHAPE)}
    outputs = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(DOF,))}
    return inputs, outputs


def dataset_stats(camera: bool = False, action_std: float = 0.02) -> dict:
    """Per-feature mean/std/min/max: actions and states centred on the Panda home pose."""
    import torch

    home = torch.tensor(PANDA_HOME, dtype=torch.float32)

    def vector(mean, std):
        return {"mean": mean.clone(), "std": torch.full((DOF,), std), "min": mean - 3 * std, "max": mean + 3 * std}

    stats = {"observation.state": vector(home, 0.1), "observation.environment_state": vector(home, 0.1),
             "action": vector(home, action_std)}
    if camera:
        stats["observation.images.front"] = {
            "mean": torch.full((3, 1, 1), 0.5), "std": torch.full((3, 1, 1), 0.25),
            "min": torch.zeros((3, 1, 1)), "max": torch.ones((3, 1, 1))}
    return stats


def _save(policy, config, out: Path, camera: bool) -> Path:
    from lerobot.policies.factory import make_pre_post_processors

    out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(out)
    pre, post = make_pre_post_processors(config, dataset_stats=dataset_stats(camera))
    pre.save_pretrained(out)
    post.save_pretrained(out)
    (out / README).write_text(LABEL + "\n")
    return out


def write_act_state(out: Path | str, seed: int = 0) -> Path:
    """State-only ACT (state + goal -> 16 x 7 chunk); deterministic; ~0.2 MB."""
    return _write_act(Path(out), seed, camera=False)


def write_act_camera(out: Path | str, seed: int = 0) -> Path:
    """One-camera ACT (front 3x64x64 + state), resnet18 from scratch (no pretrained backbone)."""
    return _write_act(Path(out), seed, camera=True)


def _write_act(out: Path, seed: int, camera: bool) -> Path:
    import torch
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy

    torch.manual_seed(seed)
    inputs, outputs = _features(camera=camera)
    config = ACTConfig(input_features=inputs, output_features=outputs, chunk_size=HORIZON, n_action_steps=HORIZON,
                       dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1,
                       latent_dim=8, n_vae_encoder_layers=1, pretrained_backbone_weights=None, device="cpu")
    return _save(ACTPolicy(config), config, out, camera=camera)


def diffusion_config(down_dims: tuple[int, ...] = (32, 64), n_groups: int = 4, step_embed_dim: int = 32,
                     train_timesteps: int = 20, inference_steps: int = 5):
    """The state + goal Diffusion policy's config (``observation.state`` and ``observation.environment_state``
    -> 16 x 7 chunks, one observation step, CPU); the sizes are the untrained fixture's by default."""
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

    inputs, outputs = _features(camera=False)
    return DiffusionConfig(input_features=inputs, output_features=outputs, n_obs_steps=1, horizon=HORIZON,
                           n_action_steps=HORIZON, down_dims=down_dims, kernel_size=3, n_groups=n_groups,
                           diffusion_step_embed_dim=step_embed_dim, num_train_timesteps=train_timesteps,
                           num_inference_steps=inference_steps, pretrained_backbone_weights=None, device="cpu")


def write_diffusion(out: Path | str, seed: int = 0) -> Path:
    """State + goal Diffusion policy (stochastic: each noise seed is another candidate), 16 x 7 chunks."""
    import torch
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy

    torch.manual_seed(seed)
    config = diffusion_config()
    return _save(DiffusionPolicy(config), config, Path(out), camera=False)
