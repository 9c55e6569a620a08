"""Observation bridge: :class:`ObservationData` -> a GR00T policy-server observation.

- ``n1.6`` / ``n1.7`` (nested): ``{"video": {cam: uint8 (1,T,H,W,3)}, "state": {key: float32 (1,T,D)},
  "language": {<language_key>: [[task]]}}``;
- ``n1.5`` (flat): ``{"video.<cam>": uint8 (T,H,W,3), "state.<key>": float32 (T,D),
  "annotation.human.action.task_description": [task]}``.

One observation is one instant, so ``T = 1``. Cameras are renamed through ``cameras`` (ROS camera ->
GR00T video key; default: every image under its own name); images are converted to RGB. Joint positions go
to state keys through ``state_joints`` (key -> ordered joint names); a missing joint is a typed error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import ErrorCode, RequestError
from ..core.images import to_rgb
from ..core.observation import ImageData, ObservationData

NESTED_GENERATIONS = ("n1.6", "n1.7")
FLAT_LANGUAGE_KEY = "annotation.human.action.task_description"


def image_to_rgb(image: ImageData) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a camera frame (:func:`worldforge_ros.core.images.to_rgb`)."""
    return to_rgb(image.pixels, image.encoding, f"camera {image.camera!r}")


@functools.lru_cache(maxsize=32)
def _joint_index(joint_names: tuple[str, ...]) -> dict[str, int]:
    """Joint name -> position index (a robot's joint state names the same joints every message: built once)."""
    return {name: i for i, name in enumerate(joint_names)}


@dataclass(frozen=True)
class Gr00tObservationBridge:
    """Builds the server-side observation for one generation.

    ``cameras``: ROS camera name -> GR00T video key (empty: all images, names unchanged).
    ``state_joints``: GR00T state key -> joint names in order (empty: no state).
    ``language_key``: key under ``language`` for nested generations (``task``).
    """

    generation: str
    cameras: dict[str, str] = field(default_factory=dict)
    state_joints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    language_key: str = "task"

    def _videos(self, obs: ObservationData) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.cameras:
            for camera, key in self.cameras.items():
                image = obs.image(camera)
                if image is None:
                    have = [img.camera for img in obs.images]
                    raise RequestError(f"camera {camera!r} is missing from the observation (have {have})",
                                       ErrorCode.OBSERVATION_MISSING)
                out[key] = image_to_rgb(image)
        else:
            for image in obs.images:
                out[image.camera] = image_to_rgb(image)
        return out

    def _states(self, obs: ObservationData) -> dict[str, np.ndarray]:
        if not self.state_joints:
            return {}
        index = _joint_index(tuple(obs.joint_names))
        positions = np.asarray(obs.joint_positions, dtype=np.float64)
        out: dict[str, np.ndarray] = {}
        for key, joints in self.state_joints.items():
            rows = [index.get(j, -1) for j in joints]
            if -1 in rows:
                missing = [j for j in joints if j not in index]
                raise RequestError(f"state {key!r} needs joints {missing} absent from the joint state",
                                   ErrorCode.JOINT_NAMES_MISMATCH)
            values = positions[rows]
            if not np.isfinite(values).all():
                raise RequestError(f"state {key!r} has non-finite joint positions", ErrorCode.NON_FINITE_VALUE)
            out[key] = values.astype(np.float32)
        return out

    def build(self, obs: ObservationData) -> dict[str, Any]:
        """The observation for :attr:`generation` (batch 1, ``T = 1``)."""
        videos = self._videos(obs)
        states = self._states(obs)
        if not videos and not states and not obs.task:
            raise RequestError("observation has no image, no mapped joint state and no task",
                               ErrorCode.OBSERVATION_MISSING)
        if self.generation in NESTED_GENERATIONS:
            nested: dict[str, Any] = {}
            if videos:
                nested["video"] = {k: v[None, None] for k, v in videos.items()}
            if states:
                nested["state"] = {k: v[None, None, :] for k, v in states.items()}
            nested["language"] = {self.language_key: [[obs.task]]}
            return nested
        if self.generation == "n1.5":
            flat: dict[str, Any] = {f"video.{k}": v[None] for k, v in videos.items()}
            flat.update({f"state.{k}": v[None, :] for k, v in states.items()})
            flat[FLAT_LANGUAGE_KEY] = [obs.task]
            return flat
        raise RequestError(f"unknown GR00T generation {self.generation!r}", ErrorCode.INVALID_ARGUMENT)
