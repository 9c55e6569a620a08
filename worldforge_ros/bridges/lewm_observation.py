"""ObservationData -> LeWorldModel ``get_cost`` inputs, as stable-worldmodel's evaluation prepares them.

- ``pixels``: the camera frame (``camera`` or the first image), RGB, resized to the model's image size, scaled to
  ``[0, 1]`` (``ToDtype(float32, scale=True)``) and ImageNet-normalized, as ``(1, S, T_hist, 3, h, w)``;
- ``goal``: the observation extra ``goal_image`` (``(H, W, 3)`` uint8) prepared the same way, ``(1, S, 1, 3, h, w)``;
- ``action``: the last row of the extra ``action_history`` ``(T, A)`` when present, else zeros, as ``(1, S, 1, A)``
  (one camera frame means a history of length 1).

Every tensor is expanded over the ``S`` candidates (stable-worldmodel's layout); a fresh dict is built per call
because ``get_cost`` caches embeddings into it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import ErrorCode, RequestError
from ..core.images import to_rgb
from ..core.observation import ImageData, ObservationData

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
GOAL_IMAGE = "goal_image"
ACTION_HISTORY = "action_history"


def prepare_image(pixels: np.ndarray, size: int, encoding: str = "rgb8", what: str = "image") -> Any:
    """``(H, W, C)`` uint8 -> ``(3, size, size)`` float32 torch tensor: resize, scale to [0, 1], ImageNet-normalize."""
    import torch
    import torch.nn.functional as F

    rgb = to_rgb(pixels, encoding, what)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).to(torch.float32) / 255.0
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1)
    return ((tensor.clamp(0.0, 1.0) - mean) / std)[0]


def camera_frame(observation: ObservationData, camera: str = "") -> ImageData:
    if camera:
        frame = observation.image(camera)
        if frame is None:
            raise RequestError(f"observation has no image from camera {camera!r} (has "
                               f"{[img.camera for img in observation.images]})", ErrorCode.OBSERVATION_MISSING)
        return frame
    if not observation.images:
        raise RequestError("LeWorldModel scores from pixels: the observation has no camera image",
                           ErrorCode.OBSERVATION_MISSING)
    return observation.images[0]


def build_inputs(observation: ObservationData, num_candidates: int, image_size: int, action_dim: int,
                 camera: str = "") -> dict[str, Any]:
    """A fresh ``{"pixels", "goal", "action"}`` dict for ``get_cost`` with ``S = num_candidates``."""
    import torch

    frame = camera_frame(observation, camera)
    if GOAL_IMAGE not in observation.extras:
        raise RequestError(f"LeWorldModel needs a goal image: observation extra {GOAL_IMAGE!r} ((H, W, 3) uint8)",
                           ErrorCode.OBSERVATION_MISSING)
    pixels = prepare_image(frame.pixels, image_size, frame.encoding, f"camera {frame.camera!r}")
    goal = prepare_image(np.asarray(observation.extras[GOAL_IMAGE]), image_size, "rgb8", f"extra {GOAL_IMAGE!r}")
    history = observation.extras.get(ACTION_HISTORY)
    if history is None:
        history = np.zeros((1, action_dim), dtype=np.float32)
    history = np.asarray(history, dtype=np.float32)
    if history.ndim != 2 or history.shape[1] != action_dim:
        raise RequestError(f"extra {ACTION_HISTORY!r} must be (T, {action_dim}), got {history.shape}",
                           ErrorCode.SHAPE_MISMATCH)
    if not np.all(np.isfinite(history)):
        raise RequestError(f"extra {ACTION_HISTORY!r} has NaN/Inf", ErrorCode.NON_FINITE_VALUE)
    history = history[-1:]  # one camera frame -> a history of length 1 (the last action taken)
    steps = 1
    s = num_candidates
    return {
        "pixels": pixels.view(1, 1, 1, *pixels.shape).expand(1, s, steps, *pixels.shape).contiguous(),
        "goal": goal.view(1, 1, 1, *goal.shape).expand(1, s, 1, *goal.shape).contiguous(),
        "action": torch.from_numpy(history).view(1, 1, steps, action_dim).expand(1, s, steps, action_dim).contiguous(),
    }
