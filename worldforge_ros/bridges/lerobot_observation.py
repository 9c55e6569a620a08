"""ObservationData -> a LeRobot observation dict (unbatched; the policy's preprocessor adds the batch dimension).

Keys follow the policy config's ``input_features``:

- ``observation.state``: joint positions in ``joint_names`` order (the provider's parameter, else the
  observation's own order), length checked against the feature shape;
- ``observation.image`` / ``observation.images.<camera>``: the camera's frame as ``(C, H, W)`` float32 in
  ``[0, 1]``, resized to the feature's shape (RGB; bgr8 and mono8 converted);
- ``observation.environment_state``: the observation extra ``environment_state``, else ``goal_positions``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import ErrorCode, RequestError
from ..core.observation import ObservationData

STATE = "observation.state"
ENV_STATE = "observation.environment_state"
IMAGE = "observation.image"
IMAGES_PREFIX = "observation.images."
ENV_EXTRAS = ("environment_state", "goal_positions")


def _state(observation: ObservationData, joint_names: Sequence[str], size: int) -> np.ndarray:
    if not observation.joint_names:
        raise RequestError("the policy needs observation.state but the observation has no joint state",
                           ErrorCode.OBSERVATION_MISSING)
    positions = dict(zip(observation.joint_names, np.asarray(observation.joint_positions, dtype=np.float64)))
    order = list(joint_names) or list(observation.joint_names)
    missing = [n for n in order if n not in positions]
    if missing:
        raise RequestError(f"observation lacks joints {missing}", ErrorCode.JOINT_NAMES_MISMATCH)
    state = np.array([positions[n] for n in order], dtype=np.float32)
    if state.shape != (size,):
        raise RequestError(f"policy expects a state of {size} values, the observation gives {state.size}",
                           ErrorCode.SHAPE_MISMATCH)
    if not np.all(np.isfinite(state)):
        raise RequestError("joint positions contain NaN/Inf", ErrorCode.NON_FINITE_VALUE)
    return state


def _image(observation: ObservationData, camera: str, shape: Sequence[int]) -> Any:
    import torch
    import torch.nn.functional as F

    frame = observation.image(camera) if camera else (observation.images[0] if observation.images else None)
    if frame is None:
        raise RequestError(f"policy needs camera {camera or '(any)'!r}; observation has "
                           f"{[img.camera for img in observation.images]}", ErrorCode.OBSERVATION_MISSING)
    pixels = np.asarray(frame.pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise RequestError(f"camera {frame.camera!r} must be (H, W, C) uint8", ErrorCode.OBSERVATION_INVALID)
    if pixels.shape[2] == 1 or frame.encoding == "mono8":
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    elif frame.encoding.startswith("bgr"):
        pixels = pixels[..., 2::-1]
    channels, height, width = (int(s) for s in shape)
    tensor = torch.from_numpy(np.ascontiguousarray(pixels[..., :channels])).permute(2, 0, 1).float() / 255.0
    if tuple(tensor.shape[1:]) != (height, width):
        tensor = F.interpolate(tensor[None], size=(height, width), mode="bilinear", align_corners=False,
                               antialias=True)[0]
    return tensor.clamp(0.0, 1.0)


def _env_state(observation: ObservationData, size: int) -> np.ndarray:
    for name in ENV_EXTRAS:
        if name in observation.extras:
            value = np.asarray(observation.extras[name], dtype=np.float32).reshape(-1)
            if value.shape != (size,):
                raise RequestError(f"extra {name!r} has {value.size} values; the policy's environment state has "
                                   f"{size}", ErrorCode.SHAPE_MISMATCH)
            if not np.all(np.isfinite(value)):
                raise RequestError(f"extra {name!r} contains NaN/Inf", ErrorCode.NON_FINITE_VALUE)
            return value
    raise RequestError(f"policy needs observation.environment_state: give an observation extra "
                       f"{' or '.join(repr(n) for n in ENV_EXTRAS)}", ErrorCode.OBSERVATION_MISSING)


def build_batch(observation: ObservationData, input_features: Mapping[str, Any],
                joint_names: Sequence[str] = ()) -> dict[str, Any]:
    """The unbatched LeRobot observation dict for ``input_features`` (``{key: PolicyFeature}``)."""
    import torch

    batch: dict[str, Any] = {}
    for key, feature in input_features.items():
        shape = tuple(int(s) for s in feature.shape)
        if key == STATE:
            batch[key] = torch.from_numpy(_state(observation, joint_names, shape[0]))
        elif key == ENV_STATE:
            batch[key] = torch.from_numpy(_env_state(observation, shape[0]))
        elif key == IMAGE:
            batch[key] = _image(observation, "", shape)
        elif key.startswith(IMAGES_PREFIX):
            batch[key] = _image(observation, key[len(IMAGES_PREFIX):], shape)
        else:
            raise RequestError(f"policy input {key!r} has no bridge from ROS observations",
                               ErrorCode.OBSERVATION_INVALID)
    if observation.task:
        batch["task"] = observation.task
    return batch
