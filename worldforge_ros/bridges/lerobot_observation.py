"""ObservationData -> a LeRobot observation batch, shaped by the policy's ``input_features``.

What each input feature is built from (all tensors float32 with a leading batch dimension of 1, on the CPU; the
policy's pre-processor then normalizes them and moves them to the device):

- ``observation.state`` (STATE): the joint positions, in ``joint_names`` order when given (picked by name),
  else in the observation's order; the count must equal the feature's shape;
- ``observation.images.<cam>`` (VISUAL): the frame of camera ``<cam>``; ``observation.image`` (one camera
  policies): the first frame. RGB (``bgr8`` flipped, ``mono8`` repeated, alpha dropped), resized to the feature's
  ``(C, H, W)``, scaled to ``[0, 1]`` - what ``lerobot.envs.utils.preprocess_observation`` produces;
- ``observation.environment_state`` (ENV): the extra ``observation.environment_state``, else
  ``environment_state``, else ``goal_positions`` (the demo's goal joint positions);
- any other feature: the extra of the same name (or the name without ``observation.``).

``task`` carries the instruction for language-conditioned policies. Missing joints, cameras or extras and wrong
sizes are typed 1xx :class:`RequestError`s naming what is missing and what is there.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import ErrorCode, RequestError
from ..core.images import to_rgb
from ..core.observation import ImageData, ObservationData

STATE_KEY = "observation.state"
SINGLE_IMAGE_KEY = "observation.image"
IMAGES_PREFIX = "observation.images."
ENV_STATE_KEY = "observation.environment_state"
ENV_STATE_EXTRAS = (ENV_STATE_KEY, "environment_state", "goal_positions")
"""Extras tried, in order, for ``observation.environment_state``."""


def feature_kind(feature: Any) -> str:
    """``STATE`` / ``VISUAL`` / ``ENV`` / ``ACTION`` ... of a ``PolicyFeature`` (or a ``{"type": ...}`` dict)."""
    kind = feature.get("type") if isinstance(feature, Mapping) else getattr(feature, "type", "")
    return str(getattr(kind, "value", getattr(kind, "name", kind))).upper()


def feature_shape(feature: Any) -> tuple[int, ...]:
    shape = feature.get("shape") if isinstance(feature, Mapping) else getattr(feature, "shape", ())
    return tuple(int(v) for v in shape)


def state_vector(observation: ObservationData, size: int, joint_names: Sequence[str] = ()) -> np.ndarray:
    """Joint positions for ``observation.state``: ``(size,)`` float32 in the configured joint order."""
    names = tuple(observation.joint_names)
    positions = np.asarray(observation.joint_positions, dtype=np.float64).reshape(-1)
    if not names or positions.size == 0:
        raise RequestError(f"the policy needs {STATE_KEY} ({size} values) but the observation has no joint state",
                           ErrorCode.OBSERVATION_MISSING)
    if positions.size != len(names):
        raise RequestError(f"observation has {len(names)} joint names but {positions.size} positions",
                           ErrorCode.OBSERVATION_INVALID)
    if joint_names:
        missing = [n for n in joint_names if n not in names]
        if missing:
            raise RequestError(f"observation lacks joints {missing} required for {STATE_KEY} (has {list(names)})",
                               ErrorCode.JOINT_NAMES_MISMATCH)
        index = {n: i for i, n in enumerate(names)}
        positions = positions[[index[n] for n in joint_names]]
    if positions.size != size:
        order = "configured joint_names" if joint_names else "the observation's joints"
        raise RequestError(f"{STATE_KEY} has {positions.size} values ({order}) but the policy expects {size}",
                           ErrorCode.SHAPE_MISMATCH)
    if not np.all(np.isfinite(positions)):
        raise RequestError("joint positions contain NaN/Inf", ErrorCode.NON_FINITE_VALUE)
    return positions.astype(np.float32)


def image_tensor(frame: ImageData, shape: tuple[int, ...]) -> Any:
    """A frame as a ``(1, C, H, W)`` float32 tensor in ``[0, 1]`` resized to the feature's ``(C, H, W)``."""
    import torch
    import torch.nn.functional as F

    if len(shape) != 3 or shape[0] not in (1, 3):
        raise RequestError(f"unsupported image feature shape {list(shape)} (expected (1|3, H, W))",
                           ErrorCode.SHAPE_MISMATCH)
    channels, height, width = shape
    rgb = to_rgb(frame.pixels, frame.encoding, f"camera {frame.camera!r}")
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
    tensor = tensor.to(torch.float32) / 255.0
    if tuple(tensor.shape[-2:]) != (height, width):
        tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    if channels == 1:
        tensor = tensor.mean(dim=1, keepdim=True)
    return tensor.clamp_(0.0, 1.0).contiguous()


def camera_for(observation: ObservationData, key: str) -> ImageData:
    """The frame feeding image feature ``key``."""
    cameras = [img.camera for img in observation.images]
    if key == SINGLE_IMAGE_KEY:
        if not observation.images:
            raise RequestError(f"the policy needs {SINGLE_IMAGE_KEY} but the observation has no camera image",
                               ErrorCode.OBSERVATION_MISSING)
        return observation.images[0]
    camera = key[len(IMAGES_PREFIX):] if key.startswith(IMAGES_PREFIX) else key
    frame = observation.image(camera)
    if frame is None:
        raise RequestError(f"the policy needs {key}: the observation has no image from camera {camera!r} "
                           f"(cameras: {cameras})", ErrorCode.OBSERVATION_MISSING)
    return frame


def extra_vector(observation: ObservationData, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The extra feeding feature ``key`` (see the module docstring for the names tried), shape-checked."""
    candidates = ENV_STATE_EXTRAS if key == ENV_STATE_KEY else (key, key.removeprefix("observation."))
    name = next((n for n in candidates if n in observation.extras), None)
    if name is None:
        raise RequestError(f"the policy needs {key} {list(shape)}: give one of the observation extras "
                           f"{list(candidates)} (extras: {sorted(observation.extras)})", ErrorCode.OBSERVATION_MISSING)
    try:
        value = np.asarray(observation.extras[name], dtype=np.float64)
    except (TypeError, ValueError):
        raise RequestError(f"observation extra {name!r} is not numeric", ErrorCode.INVALID_ARGUMENT) from None
    if value.size != int(np.prod(shape)):
        raise RequestError(f"observation extra {name!r} has {value.size} values; {key} expects shape {list(shape)}",
                           ErrorCode.SHAPE_MISMATCH)
    if not np.all(np.isfinite(value)):
        raise RequestError(f"observation extra {name!r} contains NaN/Inf", ErrorCode.NON_FINITE_VALUE)
    return value.reshape(shape).astype(np.float32)


def build_batch(observation: ObservationData, input_features: Mapping[str, Any],
                joint_names: Sequence[str] = ()) -> dict[str, Any]:
    """The batch (before the pre-processor) for a policy with ``input_features``; see the module docstring."""
    import torch

    batch: dict[str, Any] = {}
    for key, feature in input_features.items():
        kind, shape = feature_kind(feature), feature_shape(feature)
        if kind == "VISUAL":
            batch[key] = image_tensor(camera_for(observation, key), shape)
        elif key == STATE_KEY or kind == "STATE":
            size = int(np.prod(shape)) if shape else 0
            batch[key] = torch.from_numpy(state_vector(observation, size, joint_names)).reshape(1, *shape)
        else:
            batch[key] = torch.from_numpy(extra_vector(observation, key, shape)).unsqueeze(0)
    batch["task"] = observation.task
    return batch


def batch_summary(batch: Mapping[str, Any]) -> dict[str, list[int]]:
    """Value-free ``{key: shape}`` of a batch's tensors (for metadata)."""
    return {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
