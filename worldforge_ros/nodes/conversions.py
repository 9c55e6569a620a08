"""Conversions between ROS messages and the ROS-free core types, with the checks every receiver owes.

Bad input becomes a typed :class:`~worldforge_ros.core.errors.RequestError` (wrong shapes, NaN, oversize
payloads, unsupported encodings), never an exception escaping a callback.
"""

from __future__ import annotations

import array
import json
import math
import time
from typing import Any, Iterable, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.core.events import ProviderEvent
from worldforge_ros.core.images import CHANNELS
from worldforge_ros.core.observation import ImageData, ObservationData
from worldforge_ros.core.plan import PlanData
from worldforge_ros.msg import Candidate, Observation, PlanRecord, ProviderEvent as ProviderEventMsg, Tensor

DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "uint8": np.dtype("u1"), "int64": np.dtype("<i8")}
IMAGE_CHANNELS = CHANNELS
DEFAULT_MAX_TENSOR_BYTES = 64 * 1024 * 1024


# ---- time ---------------------------------------------------------------------------------------------------
def time_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_time(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def seconds_to_duration(seconds: float) -> Duration:
    ns = int(round(seconds * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_to_seconds(d: Duration) -> float:
    return d.sec + d.nanosec * 1e-9


# ---- tensors ------------------------------------------------------------------------------------------------
def tensor_to_numpy(msg: Tensor, max_bytes: int = DEFAULT_MAX_TENSOR_BYTES) -> np.ndarray:
    """Decode a Tensor after checking dtype, size cap and ``prod(shape) * itemsize == len(data)``."""
    if msg.dtype not in DTYPES:
        raise RequestError(f"tensor {msg.name!r}: dtype {msg.dtype!r} not one of {sorted(DTYPES)}",
                           ErrorCode.INVALID_ARGUMENT)
    nbytes = len(msg.data)
    if nbytes > max_bytes:
        raise RequestError(f"tensor {msg.name!r}: {nbytes} bytes exceeds the {max_bytes}-byte cap",
                           ErrorCode.PAYLOAD_TOO_LARGE)
    dtype = DTYPES[msg.dtype]
    shape = tuple(int(s) for s in msg.shape)
    expected = math.prod(shape) * dtype.itemsize
    if expected != nbytes:
        raise RequestError(f"tensor {msg.name!r}: shape {list(shape)} of {msg.dtype} needs {expected} bytes, "
                           f"got {nbytes}", ErrorCode.SHAPE_MISMATCH)
    return np.frombuffer(bytes(msg.data), dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def numpy_to_tensor(name: str, array: np.ndarray) -> Tensor:
    arr = np.asarray(array)
    for key, dtype in DTYPES.items():
        if arr.dtype.kind == dtype.kind and arr.dtype.itemsize == dtype.itemsize:
            break
    else:
        arr = arr.astype(np.float64) if arr.dtype.kind == "f" else arr.astype(np.int64)
        key = "float64" if arr.dtype.kind == "f" else "int64"
    data = np.ascontiguousarray(arr, dtype=DTYPES[key]).tobytes()
    return Tensor(name=name, dtype=key, shape=[int(s) for s in arr.shape], data=data)


# ---- images and observations --------------------------------------------------------------------------------
def image_to_array(msg: Image, max_bytes: int = DEFAULT_MAX_TENSOR_BYTES) -> ImageData:
    channels = IMAGE_CHANNELS.get(msg.encoding)
    camera = msg.header.frame_id or "camera"
    if channels is None:
        raise RequestError(f"image {camera!r}: encoding {msg.encoding!r} not one of {sorted(IMAGE_CHANNELS)}",
                           ErrorCode.OBSERVATION_INVALID)
    if len(msg.data) > max_bytes:
        raise RequestError(f"image {camera!r}: {len(msg.data)} bytes exceeds the {max_bytes}-byte cap",
                           ErrorCode.PAYLOAD_TOO_LARGE)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0 or step < w * channels or len(msg.data) != step * h:
        raise RequestError(f"image {camera!r}: {h}x{w} {msg.encoding} with step {step} does not fit "
                           f"{len(msg.data)} bytes", ErrorCode.SHAPE_MISMATCH)
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(h, step)[:, : w * channels]
    return ImageData(camera=camera, encoding=msg.encoding, pixels=rows.reshape(h, w, channels).copy())


def array_to_image(img: ImageData, stamp_ns: int = 0) -> Image:
    pixels = np.ascontiguousarray(img.pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=img.encoding,
                step=pixels.shape[1] * pixels.shape[2], data=pixels.tobytes())
    msg.header.frame_id = img.camera
    msg.header.stamp = ns_to_time(stamp_ns)
    return msg


def compressed_to_image(msg: CompressedImage, max_bytes: int = DEFAULT_MAX_TENSOR_BYTES) -> Image:
    """Decode a ``sensor_msgs/CompressedImage`` (jpeg/png, image_transport's ``/compressed``) into a ``bgr8``
    (colour) or ``mono8`` Image with the same header. OpenCV is imported on first use."""
    if len(msg.data) > max_bytes:
        raise RequestError(f"compressed image: {len(msg.data)} bytes exceeds the {max_bytes}-byte cap",
                           ErrorCode.PAYLOAD_TOO_LARGE)
    import cv2  # lazy: only labs with compressed camera topics need it

    pixels = cv2.imdecode(np.frombuffer(bytes(msg.data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise RequestError(f"compressed image ({msg.format!r}) could not be decoded to 8-bit pixels",
                           ErrorCode.OBSERVATION_INVALID)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    if pixels.nbytes > max_bytes:
        raise RequestError(f"decoded image: {pixels.nbytes} bytes exceeds the {max_bytes}-byte cap",
                           ErrorCode.PAYLOAD_TOO_LARGE)
    encoding = "mono8" if pixels.ndim == 2 else "bgr8"
    image = array_to_image(ImageData(camera=msg.header.frame_id, encoding=encoding, pixels=pixels))
    image.header = msg.header
    return image


def joint_state_arrays(js: JointState) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Names, positions and velocities of a JointState, checked for consistency and finiteness."""
    names = tuple(js.name)
    pos = np.asarray(js.position, dtype=np.float64)
    vel = np.asarray(js.velocity, dtype=np.float64)
    if len(set(names)) != len(names):
        raise RequestError(f"joint_state has duplicate joint names {list(names)}", ErrorCode.JOINT_NAMES_MISMATCH)
    if pos.shape != (len(names),):
        raise RequestError(f"joint_state: {len(names)} names but {pos.size} positions", ErrorCode.SHAPE_MISMATCH)
    if vel.size and vel.shape != (len(names),):
        raise RequestError(f"joint_state: {len(names)} names but {vel.size} velocities", ErrorCode.SHAPE_MISMATCH)
    if not np.all(np.isfinite(pos)) or not np.all(np.isfinite(vel)):
        raise RequestError("joint_state holds NaN or infinite values", ErrorCode.NON_FINITE_VALUE)
    return names, pos, vel


def observation_from_msg(msg: Observation, max_bytes: int = DEFAULT_MAX_TENSOR_BYTES) -> ObservationData:
    names, pos, vel = joint_state_arrays(msg.joint_state)
    images = tuple(image_to_array(im, max_bytes) for im in msg.images)
    cameras = [im.camera for im in images]
    if len(set(cameras)) != len(cameras):
        raise RequestError(f"duplicate camera names {cameras}", ErrorCode.OBSERVATION_INVALID)
    extras = {}
    for t in msg.extras:
        if t.name in extras:
            raise RequestError(f"duplicate extra tensor {t.name!r}", ErrorCode.OBSERVATION_INVALID)
        arr = tensor_to_numpy(t, max_bytes)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise RequestError(f"extra tensor {t.name!r} holds NaN or infinite values", ErrorCode.NON_FINITE_VALUE)
        extras[t.name] = arr
    return ObservationData(stamp_ns=time_to_ns(msg.stamp), task=msg.task, embodiment_tag=msg.embodiment_tag,
                           joint_names=names, joint_positions=pos, joint_velocities=vel, images=images, extras=extras)


def observation_to_msg(obs: ObservationData) -> Observation:
    msg = Observation(task=obs.task, embodiment_tag=obs.embodiment_tag, stamp=ns_to_time(obs.stamp_ns))
    msg.joint_state.header.stamp = msg.stamp
    msg.joint_state.name = list(obs.joint_names)
    msg.joint_state.position = [float(v) for v in obs.joint_positions]
    msg.joint_state.velocity = [float(v) for v in obs.joint_velocities]
    msg.images = [array_to_image(im, obs.stamp_ns) for im in obs.images]
    msg.extras = [numpy_to_tensor(name, arr) for name, arr in obs.extras.items()]
    return msg


# ---- trajectories -------------------------------------------------------------------------------------------
def _direct_construction(cls: Any, slots: tuple[str, ...]) -> tuple[bool, dict[str, Any]]:
    """Whether messages of ``cls`` can be filled slot by slot (rosidl's generated classes keep field ``f`` in slot
    ``_f``), and the defaults of the slots that are not fields (``_check_fields`` on Jazzy and later)."""
    have = set(getattr(cls, "__slots__", ()))
    if not set(slots) <= have:
        return False, {}
    template = cls()
    return True, {name: getattr(template, name) for name in have - set(slots)}


_POINT_DIRECT, _POINT_EXTRA = _direct_construction(
    JointTrajectoryPoint, ("_positions", "_velocities", "_accelerations", "_effort", "_time_from_start"))
_DURATION_DIRECT, _DURATION_EXTRA = _direct_construction(Duration, ("_sec", "_nanosec"))


def _trajectory_point(positions: array.array, velocities: array.array, ns: int) -> JointTrajectoryPoint:
    """One point; filled slot by slot when the generated class allows it (3.5x faster than its constructor, whose
    per-field setters re-check values that are float64 arrays by construction): equal messages either way."""
    sec, nanosec = divmod(ns, 1_000_000_000)
    if not (_POINT_DIRECT and _DURATION_DIRECT):
        return JointTrajectoryPoint(positions=positions, velocities=velocities,
                                    time_from_start=Duration(sec=sec, nanosec=nanosec))
    stamp = Duration.__new__(Duration)
    for name, value in _DURATION_EXTRA.items():
        setattr(stamp, name, value)
    stamp._sec, stamp._nanosec = sec, nanosec
    point = JointTrajectoryPoint.__new__(JointTrajectoryPoint)
    for name, value in _POINT_EXTRA.items():
        setattr(point, name, value)
    point._positions, point._velocities = positions, velocities
    point._accelerations, point._effort, point._time_from_start = array.array("d"), array.array("d"), stamp
    return point


def trajectory_to_msg(joint_names: Iterable[str], positions: np.ndarray, velocities: np.ndarray,
                      times_s: np.ndarray) -> JointTrajectory:
    """A timed JointTrajectory (positions/velocities ``(T, J)``, ``times_s`` ``(T,)`` time_from_start).

    Rows go in as ``array('d')`` (one bulk copy each): assigning Python lists makes rclpy check every float.
    """
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    vel = np.ascontiguousarray(velocities, dtype=np.float64)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    if pos.ndim != 2 or vel.shape != pos.shape or times.shape != pos.shape[:1]:
        raise ValueError(f"trajectory arrays of shapes {pos.shape}, {vel.shape}, {times.shape} are not (T, J), (T, J), "
                         "(T,)")
    pos_bytes, vel_bytes = memoryview(pos.tobytes()), memoryview(vel.tobytes())
    row = pos.shape[1] * 8
    points = []
    for k, seconds in enumerate(times.tolist()):
        row_p, row_v = array.array("d"), array.array("d")
        row_p.frombytes(pos_bytes[k * row:(k + 1) * row])
        row_v.frombytes(vel_bytes[k * row:(k + 1) * row])
        points.append(_trajectory_point(row_p, row_v, int(round(seconds * 1e9))))
    msg = JointTrajectory(joint_names=list(joint_names))
    msg.points = points
    return msg


def trajectory_arrays(msg: JointTrajectory) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(joint_names, positions (T,J), velocities (T,J) — zeros when absent, times_s (T,))."""
    names = tuple(msg.joint_names)
    t = len(msg.points)
    pos = np.array([list(p.positions) for p in msg.points], dtype=np.float64).reshape(t, len(names))
    vel = np.array([list(p.velocities) if len(p.velocities) else [0.0] * len(names) for p in msg.points],
                   dtype=np.float64).reshape(t, len(names))
    times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points], dtype=np.float64)
    return names, pos, vel, times


def candidate_trajectory_msg(trajectory: Any) -> JointTrajectory:
    """A candidate's trajectory as a message (the planner builds them while its scorer works)."""
    return trajectory_to_msg(trajectory.joint_names, trajectory.positions, trajectory.velocities, trajectory.times_s)


def score_value(score: float | None) -> float:
    """A candidate's score as ``Candidate.score`` holds it: None (not scored) is NaN."""
    return float("nan") if score is None else float(score)


def candidate_msg(index: int, policy_provider: str, policy_candidate_index: int, trajectory: JointTrajectory, *,
                  feasible: bool, violations: Sequence[str], raw_shape: Sequence[int], raw_digest: str,
                  score: float | None = None) -> Candidate:
    """One ``Candidate`` (``trajectory`` already a message; ``score`` None: not scored, NaN)."""
    return Candidate(index=index, policy_provider=policy_provider, policy_candidate_index=policy_candidate_index,
                     trajectory=trajectory, score=score_value(score), feasible=feasible,
                     violations=list(violations), raw_shape=list(raw_shape), raw_digest=raw_digest)


def start_state_msg(start: Any) -> JointState:
    """A plan's start state (names and positions) as the ``start_state`` of a plan reply or record."""
    msg = JointState()
    msg.name = list(start.joint_names)
    msg.position = [float(v) for v in start.positions]
    return msg


def plan_record_msg(plan: PlanData, candidates: Sequence[Candidate] | None = None) -> PlanRecord:
    """The latched ``PlanRecord`` of a plan: its canonical JSON and digest plus the candidates as messages
    (``candidates``: the candidate messages already built, in plan order, as the planner's reply carries them)."""
    if candidates is not None and len(candidates) != len(plan.candidates):
        raise ValueError(f"{len(candidates)} candidate messages for {len(plan.candidates)} candidates")
    if candidates is None:
        candidates = [candidate_msg(c.index, c.policy_provider, c.policy_candidate_index,
                                    candidate_trajectory_msg(c.trajectory), feasible=c.feasible,
                                    violations=c.violations, raw_shape=c.raw_shape, raw_digest=c.raw_digest,
                                    score=c.score) for c in plan.candidates]
    return PlanRecord(plan_id=plan.plan_id, plan_digest=plan.plan_digest, run_id=plan.run_id,
                      request_id=plan.request_id, stamp=ns_to_time(time.time_ns()), task=plan.task,
                      embodiment=plan.embodiment, policy_providers=list(plan.policy_providers),
                      score_provider=plan.score_provider, candidates=list(candidates),
                      selected_index=plan.selected_index, lower_is_better=plan.lower_is_better,
                      start_state=start_state_msg(plan.start_state), plan_json=plan.plan_json())


# ---- events -------------------------------------------------------------------------------------------------
def event_to_msg(ev: ProviderEvent) -> ProviderEventMsg:
    return ProviderEventMsg(
        provider=ev.provider, operation=ev.operation, phase=ev.phase, attempt=ev.attempt,
        max_attempts=ev.max_attempts, method=ev.method, target=ev.target, status_code=ev.status_code,
        duration_ms=float(ev.duration_ms), message=ev.message,
        metadata_json=json.dumps(ev.metadata, sort_keys=True, separators=(",", ":")),
        run_id=ev.run_id, request_id=ev.request_id, trace_id=ev.trace_id, span_id=ev.span_id,
        artifact_id=ev.artifact_id, input_digest=ev.input_digest, stamp=ns_to_time(ev.stamp_ns),
        seq=ev.seq, prev_digest=ev.prev_digest, digest=ev.digest)


def event_from_msg(msg: Any) -> ProviderEvent:
    """Rebuild a core event from an rclpy (or rosbags-deserialized) ProviderEvent message."""
    return ProviderEvent(
        provider=msg.provider, operation=msg.operation, phase=msg.phase, attempt=int(msg.attempt),
        max_attempts=int(msg.max_attempts), method=msg.method, target=msg.target, status_code=int(msg.status_code),
        duration_ms=float(msg.duration_ms), message=msg.message,
        metadata=json.loads(msg.metadata_json) if msg.metadata_json else {},
        run_id=msg.run_id, request_id=msg.request_id, trace_id=msg.trace_id, span_id=msg.span_id,
        artifact_id=msg.artifact_id, input_digest=msg.input_digest, stamp_ns=time_to_ns(msg.stamp),
        seq=int(msg.seq), prev_digest=msg.prev_digest, digest=msg.digest)
