"""ROS-free observation data: what providers receive (built from ``msg/Observation`` by the nodes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImageData:
    """One camera frame. ``pixels`` is ``(H, W, C)`` uint8 (rgb8/bgr8/mono8 as ``encoding`` says)."""

    camera: str
    encoding: str
    pixels: np.ndarray


@dataclass(frozen=True)
class ObservationData:
    """Robot state, cameras, instruction and model-native extras at one instant.

    ``joint_positions`` / ``joint_velocities`` are float64 arrays aligned with ``joint_names`` (velocities may
    be empty). ``extras`` maps tensor names (e.g. ``"goal"``) to arrays. ``stamp_ns`` is nanoseconds since
    the epoch (0 = unknown).
    """

    stamp_ns: int = 0
    task: str = ""
    embodiment_tag: str = ""
    joint_names: tuple[str, ...] = ()
    joint_positions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    joint_velocities: np.ndarray = field(default_factory=lambda: np.zeros(0))
    images: tuple[ImageData, ...] = ()
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when there is no joint state, no image and no extra (the Plan service's "use topics")."""
        return not self.joint_names and not self.images and not self.extras

    def image(self, camera: str) -> ImageData | None:
        """The frame of ``camera``, or None."""
        for img in self.images:
            if img.camera == camera:
                return img
        return None

    def summary(self) -> dict:
        """Value-free description for events and manifests: names and shapes, never pixels or values."""
        return {
            "task_chars": len(self.task),
            "embodiment_tag": self.embodiment_tag,
            "joint_names": list(self.joint_names),
            "images": {img.camera: list(img.pixels.shape) for img in self.images},
            "extras": {name: {"dtype": str(arr.dtype), "shape": list(arr.shape)} for name, arr in self.extras.items()},
        }
