"""The one RGB conversion every bridge uses: camera pixels in a ROS encoding -> ``(H, W, 3)`` uint8 RGB."""

from __future__ import annotations

import numpy as np

from .errors import ErrorCode, RequestError

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
"""Encodings accepted anywhere in the package and their channel counts."""


def to_rgb(pixels: np.ndarray, encoding: str, what: str = "image") -> np.ndarray:
    """``(H, W, 3)`` contiguous uint8 RGB from rgb8/bgr8/rgba8/bgra8/mono8 pixels (``(H, W)`` or ``(H, W, C)``).

    Alpha is dropped, BGR flipped, mono repeated. Any other dtype, shape or encoding is ``OBSERVATION_INVALID``
    naming ``what`` (e.g. ``camera 'front'``)."""
    arr = np.asarray(pixels)
    enc = encoding.lower()
    if arr.dtype != np.uint8:
        raise RequestError(f"{what}: pixels must be uint8, got {arr.dtype}", ErrorCode.OBSERVATION_INVALID)
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = CHANNELS.get(enc)
    if arr.ndim != 3 or channels is None or arr.shape[2] != channels:
        raise RequestError(f"{what}: unsupported encoding {encoding!r} with shape {list(np.asarray(pixels).shape)} "
                           f"(use {', '.join(CHANNELS)})", ErrorCode.OBSERVATION_INVALID)
    if channels == 1:
        return np.ascontiguousarray(np.repeat(arr, 3, axis=2))
    rgb = arr[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1] if enc.startswith("bgr") else rgb)
