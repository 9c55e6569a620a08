"""Visual previews of a plan from the scene camera (ROS-free).

``PreviewRenderer`` owns one ``Scene`` and ONE worker thread that does all the EGL rendering (an EGL context is
bound to the thread that created it). For a plan it renders each candidate's end pose
(``candidate-<i>.png``) and a strip of ``strip_frames`` frames along the selected candidate's trajectory
(``selected-strip-<k>.png``, evenly spaced in time from the start state at t = 0 to the last point, linear
interpolation between points) and returns ``{relative path: "sha256:<hex>"}`` of the files written.

Joints of the plan the scene does not have are ignored; joints the scene has but the plan lacks stay at the
plan's start state or the scene's home pose. A plan with none of the scene's joints raises ``SceneUnavailable``
(``reason == "embodiment_not_in_scene"``); no mujoco or no headless GL raises ``SceneUnavailable`` /
``RenderUnavailable`` with their typed ``reason`` (the failure is remembered: later jobs fail at once).
PNGs are encoded here (zlib, no Pillow): the same pixels always give the same bytes and digest.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .model import EMBODIMENT_JOINTS, HOME, SceneUnavailable

DEFAULT_CAMERA = "front"
DEFAULT_STRIP_FRAMES = 4


def encode_png(rgb: np.ndarray) -> bytes:
    """uint8 (h, w, 3) RGB -> PNG bytes (8-bit truecolor, filter 0, zlib level 6): deterministic."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected (h, w, 3) RGB, got {img.shape}")
    h, w = img.shape[:2]
    raw = b"".join(b"\x00" + img[row].tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def sha256_file_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _plan_dict(plan: Any) -> Mapping[str, Any]:
    """A PlanData, its ``to_dict()``, or plan JSON text -> the plan as a dict."""
    if isinstance(plan, str):
        import json
        return json.loads(plan)
    if hasattr(plan, "to_dict"):
        return plan.to_dict()
    return plan


class PreviewRenderer:
    """One scene, one worker thread. ``submit`` never blocks; ``render_plan`` waits for the worker."""

    def __init__(self, *, camera: str = DEFAULT_CAMERA, strip_frames: int = DEFAULT_STRIP_FRAMES,
                 width: int = 320, height: int = 240) -> None:
        if strip_frames < 1:
            raise ValueError("strip_frames must be >= 1")
        self.camera, self.strip_frames = camera, int(strip_frames)
        self.width, self.height = int(width), int(height)
        self._scene = None  # created on the worker thread (the GL context is bound to it)
        self._error: SceneUnavailable | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scene-preview")
        self._closed = False

    # ---- public ---------------------------------------------------------------------------------------------
    def submit(self, plan: Any, out_dir: Path | str, relative_to: Path | str | None = None) -> Future:
        """Queue a plan; the future's result is ``{relative path: sha256}`` (paths relative to ``relative_to``,
        default ``out_dir``, POSIX separators) or its exception (``SceneUnavailable`` with a ``reason``)."""
        if self._closed:
            raise RuntimeError("PreviewRenderer is closed")
        return self._pool.submit(self._render, plan, Path(out_dir), Path(relative_to or out_dir))

    def render_plan(self, plan_data: Any, out_dir: Path | str, relative_to: Path | str | None = None,
                    timeout: float | None = None) -> dict[str, str]:
        """Render on the worker thread and wait: ``{relative path: "sha256:<hex>"}``."""
        return self.submit(plan_data, out_dir, relative_to).result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Finish queued work, release the GL context on its own thread, stop the worker."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.submit(self._close_scene).result(timeout)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self._pool.shutdown(wait=timeout is None, cancel_futures=True)

    # ---- worker thread --------------------------------------------------------------------------------------
    def _close_scene(self) -> None:
        if self._scene is not None:
            self._scene.close()
            self._scene = None

    def _get_scene(self) -> Any:
        if self._error is not None:
            raise self._error
        if self._scene is None:
            try:
                from .scene import Scene
                scene = Scene(width=self.width, height=self.height)
                scene.render(self.camera)  # create the GL context now: unavailability surfaces here, typed
            except SceneUnavailable as exc:
                self._error = exc
                raise
            self._scene = scene
        return self._scene

    def _frame(self, scene: Any, names: Sequence[str], positions: np.ndarray, base: np.ndarray) -> np.ndarray:
        scene.set_joint_positions(EMBODIMENT_JOINTS, base)
        if names:
            scene.set_joint_positions(names, positions)
        return scene.render(self.camera)

    def _render(self, plan: Any, out_dir: Path, relative_to: Path) -> dict[str, str]:
        data = _plan_dict(plan)
        start = data["start_state"]
        base = np.array(HOME, dtype=np.float64)
        for n, q in zip(start["joint_names"], start["positions"]):
            if n in EMBODIMENT_JOINTS:
                base[EMBODIMENT_JOINTS.index(n)] = float(q)
        start_map = dict(zip(start["joint_names"], start["positions"]))
        frames: list[tuple[str, Any]] = []
        scene = None
        for cand in data["candidates"]:
            traj = cand["trajectory"]
            names_all = list(traj["joint_names"])
            keep = [i for i, n in enumerate(names_all) if n in EMBODIMENT_JOINTS]
            if not keep:
                raise SceneUnavailable("embodiment_not_in_scene",
                                       f"none of the plan's joints {names_all[:7]} is a scene joint")
            names = [names_all[i] for i in keep]
            pos = np.asarray(traj["positions"], dtype=np.float64).reshape(len(traj["times_s"]), -1)[:, keep]
            scene = scene or self._get_scene()
            frames.append((f"candidate-{int(cand['index'])}.png", self._frame(scene, names, pos[-1], base)))
            if int(cand["index"]) == int(data["selected_index"]):
                times = np.asarray(traj["times_s"], dtype=np.float64)
                q0 = np.array([float(start_map.get(n, base[EMBODIMENT_JOINTS.index(n)])) for n in names])
                knots_t, knots_q = np.concatenate([[0.0], times]), np.vstack([q0, pos])
                for k, t in enumerate(np.linspace(0.0, float(times[-1]), self.strip_frames)):
                    q = np.array([np.interp(t, knots_t, knots_q[:, j]) for j in range(len(names))])
                    frames.append((f"selected-strip-{k}.png", self._frame(scene, names, q, base)))
        out_dir.mkdir(parents=True, exist_ok=True)
        digests: dict[str, str] = {}
        for name, rgb in frames:
            png = encode_png(rgb)
            path = out_dir / name
            tmp = path.with_suffix(".png.tmp")
            tmp.write_bytes(png)
            tmp.replace(path)
            digests[path.relative_to(relative_to).as_posix()] = sha256_file_digest(png)
        return digests
