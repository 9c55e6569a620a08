"""A local ZeroMQ REP **test peer** that speaks the GR00T policy-server protocol. It is not a GR00T model.

Written from the protocol facts (``facts/runtimes.md`` §4) with its own msgpack/np.save handling (it does
not reuse the client's codec, so client and peer check each other). It binds ``host`` (default ``127.0.0.1``;
a namespace's veth address in the cross-host test) on a random port,
serves in a daemon thread, stops after ``max_requests`` requests or :meth:`Gr00tTestPeer.stop`, and behaves
per generation:

- ``n1.5``: endpoints ping, kill, get_action, get_modality_config; ``handler(data)``; flat observation
  (``video.<cam>`` ``(T,H,W,3)``, ``state.<key>`` ``(T,D)``, ``annotation.human.action.task_description``);
  reply ``{"action.<key>": (H, D)}``; ndarrays as np.save markers.
- ``n1.6``: + reset; ``handler(**data)``; data ``{"observation": nested, "options": ...}``; reply
  ``[action, info]`` with ``action = {key: float32 (B, H, D)}``; np.save markers.
- ``n1.7``: as n1.6 with the msgpack-numpy envelope; accepts both array forms.

Faults for tests (one-shot, queued with :meth:`Gr00tTestPeer.inject`): ``"error_dict"`` (``{"error": ...}``),
``"error_frame"`` (raw ``b"ERROR"``), ``"oversize"`` (a reply of ``oversize_bytes``), ``"delay"`` (sleep
``delay_s`` before replying; :attr:`delay_done` is set afterwards).
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np
import zmq

PEER_GENERATIONS = ("n1.5", "n1.6", "n1.7")
FAULTS = ("error_dict", "error_frame", "oversize", "delay")
DEFAULT_ACTION_SHAPES = {"joint_position": (16, 7), "gripper_position": (16, 1)}


@dataclass
class PeerRequest:
    """What the peer received: endpoint, whether a token was present/valid, decoded data (arrays included)."""

    endpoint: str
    had_token: bool
    token_ok: bool
    data: Any
    raw_keys: tuple[str, ...] = ()


def _np_save(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@dataclass
class Gr00tTestPeer:
    """Test peer; use as a context manager. ``address`` is ``(host, port)`` once started."""

    generation: str = "n1.6"
    api_token: str = ""
    action_shapes: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_ACTION_SHAPES))
    max_requests: int = 1000
    seed: int = 0
    delay_s: float = 1.0
    oversize_bytes: int = 2 * 1024 * 1024
    port: int = 0  # 0: a random free port; else bind this one (a "restarted" server on the same address)
    requests: list[PeerRequest] = field(default_factory=list)
    host: str = "127.0.0.1"  # the address to bind (another namespace's client connects to its veth address)

    def __post_init__(self) -> None:
        if self.generation not in PEER_GENERATIONS:
            raise ValueError(f"peer generation must be one of {PEER_GENERATIONS}")
        self._faults: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(self.seed)
        self.delay_done = threading.Event()
        self.reset_count = 0
        self.killed = False
        self._context = zmq.Context()
        self._context.set(zmq.BLOCKY, 0)  # stop() can never hang on unsent replies
        self._socket = self._context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        if self.port:
            self._socket.bind(f"tcp://{self.host}:{self.port}")
        else:
            self.port = self._socket.bind_to_random_port(f"tcp://{self.host}")
        self._thread = threading.Thread(target=self._serve, name=f"gr00t-test-peer-{self.port}", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Gr00tTestPeer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._socket.close(linger=0)
        self._context.term()

    def __enter__(self) -> "Gr00tTestPeer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def inject(self, fault: str, count: int = 1) -> None:
        """Queue ``fault`` for the next ``count`` requests."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        with self._lock:
            self._faults.extend([fault] * count)

    @property
    def served(self) -> int:
        return len(self.requests)

    # ------------------------------------------------------------------ codec (own, from the facts)
    def _encode_default(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            if self.generation == "n1.7":
                arr = obj if obj.flags.c_contiguous else obj.copy(order="C")
                return {b"nd": True, b"type": arr.dtype.str, b"kind": b"", b"shape": list(arr.shape),
                        b"data": arr.tobytes()}
            return {"__ndarray_class__": True, "as_npy": _np_save(obj)}
        raise TypeError(f"peer cannot encode {type(obj).__name__}")

    def _pack(self, obj: Any) -> bytes:
        return msgpack.packb(obj, default=self._encode_default, use_bin_type=True)

    def _decode_hook(self, obj: dict) -> Any:
        if "__ndarray_class__" in obj:
            return np.load(io.BytesIO(obj["as_npy"]), allow_pickle=False)
        if self.generation == "n1.7" and b"nd" in obj:  # older generations leave these as dicts
            dtype = np.dtype(obj[b"type"])
            if dtype.hasobject:
                raise ValueError("object arrays are refused")
            return np.frombuffer(obj[b"data"], dtype=dtype).reshape(obj[b"shape"])
        return obj

    def _modality_marker(self, fields: dict) -> dict:
        if self.generation == "n1.5":
            return {"__ModalityConfig_class__": True, "as_json": json.dumps(fields)}
        if self.generation == "n1.6":
            return {"__ModalityConfig_class__": True, "as_json": fields}
        return {"__ModalityConfig__": True, "as_json": fields}

    # ------------------------------------------------------------------ serving
    def _serve(self) -> None:
        while not self._stop.is_set() and len(self.requests) < self.max_requests and not self.killed:
            if not self._socket.poll(20):
                continue
            message = self._socket.recv()
            with self._lock:
                fault = self._faults.pop(0) if self._faults else ""
            try:
                reply = self._handle(message, fault)
            except Exception as exc:  # noqa: BLE001 - a server reports every failure as {"error": ...}
                reply = self._pack({"error": str(exc)})
            if fault == "delay":
                time.sleep(self.delay_s)
            self._socket.send(reply)
            if fault == "delay":
                self.delay_done.set()

    def _handle(self, message: bytes, fault: str) -> bytes:
        request = msgpack.unpackb(message, object_hook=self._decode_hook, raw=False)
        endpoint = request.get("endpoint", "get_action")
        token = request.get("api_token")
        token_ok = (not self.api_token) or token == self.api_token
        data = request.get("data")
        self.requests.append(PeerRequest(endpoint, token is not None, token_ok, data, tuple(request)))
        if not token_ok:
            return self._pack({"error": "Unauthorized: Invalid API token"})
        if fault == "error_frame":
            return b"ERROR"
        if fault == "error_dict":
            return self._pack({"error": "injected failure from the test peer"})
        if fault == "oversize":
            return self._pack({"padding": b"\0" * self.oversize_bytes})
        return self._pack(self._dispatch(endpoint, data, "data" in request))

    def _dispatch(self, endpoint: str, data: Any, has_data: bool) -> Any:
        if endpoint == "ping":
            return {"status": "ok", "message": "Server is running"}
        if endpoint == "kill":
            self.killed = True
            return None
        if endpoint == "get_modality_config":
            return self._modality_config()
        if endpoint == "reset" and self.generation != "n1.5":
            self.reset_count += 1
            return {"reset": True, "options_seen": data.get("options") is not None} if data else {"reset": True}
        if endpoint == "get_action":
            if not has_data or not isinstance(data, dict):
                raise ValueError("get_action needs data")
            if self.generation == "n1.5":
                return self._action_flat(data)
            unexpected = set(data) - {"observation", "options"}
            if unexpected:  # handler(**data) would raise TypeError
                raise TypeError(f"get_action() got unexpected keyword arguments {sorted(unexpected)}")
            return self._action_nested(data["observation"])
        raise ValueError(f"Unknown endpoint: {endpoint}")

    def _modality_config(self) -> dict:
        horizon = next(iter(self.action_shapes.values()))[0]
        return {
            "video": self._modality_marker({"delta_indices": [0], "modality_keys": ["video.front"]}),
            "state": self._modality_marker({"delta_indices": [0], "modality_keys": ["state.arm"]}),
            "action": self._modality_marker({"delta_indices": list(range(horizon)),
                                             "modality_keys": [f"action.{k}" for k in self.action_shapes]}),
            "language": self._modality_marker({"delta_indices": [0],
                                               "modality_keys": ["annotation.human.action.task_description"]}),
        }

    def _action_flat(self, obs: dict) -> dict:
        videos = [k for k in obs if k.startswith("video.")]
        states = [k for k in obs if k.startswith("state.")]
        if not videos and not states:
            raise ValueError("flat observation needs video.* or state.* keys")
        for key in videos:
            arr = obs[key]
            if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
                raise ValueError(f"{key} must be uint8 (T,H,W,3)")
        return {f"action.{k}": self._rng.standard_normal(shape).astype(np.float32)
                for k, shape in self.action_shapes.items()}

    def _action_nested(self, obs: Any) -> list:
        if not isinstance(obs, dict) or not ({"video", "state", "language"} & set(obs)):
            raise ValueError("observation needs a top-level video, state or language key")
        batch = None
        for cam, arr in obs.get("video", {}).items():
            if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 5 or arr.shape[-1] != 3:
                raise ValueError(f"video.{cam} must be uint8 (B,T,H,W,3)")
            batch = arr.shape[0]
        for key, arr in obs.get("state", {}).items():
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.ndim != 3:
                raise ValueError(f"state.{key} must be float32 (B,T,D)")
            batch = arr.shape[0] if batch is None else batch
        batch = batch or len(next(iter(obs.get("language", {}).values()), [[""]]))
        action = {k: self._rng.standard_normal((batch, *shape)).astype(np.float32)
                  for k, shape in self.action_shapes.items()}
        return [action, {}]


def sample_observation(height: int = 224, width: int = 224, joints: int = 7, camera: str = "front",
                       task: str = "pick up the cube", seed: int = 0):
    """A synthetic single-camera :class:`ObservationData` (rgb8 noise + joint positions) for tests/benchmarks."""
    from ..core.observation import ImageData, ObservationData  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    names = tuple(f"joint_{i}" for i in range(joints))
    return ObservationData(stamp_ns=1, task=task, joint_names=names,
                           joint_positions=rng.uniform(-1.0, 1.0, joints),
                           images=(ImageData(camera, "rgb8", pixels),))
