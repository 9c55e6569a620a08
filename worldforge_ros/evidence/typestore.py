"""A rosbags typestore that knows this package's messages (for writing; readers take types from the bag).

Kilted's standard types plus every ``.msg`` of ``worldforge_ros``, parsed from the interface files found by
:func:`find_msg_dir` (the source tree's ``msg/`` or an installed ``share/worldforge_ros/msg``). The RIHS01
hashes rosbags computes from them equal rosidl's (a test checks against the colcon build's ``.json``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from ..core.errors import ErrorCode, EvidenceError
from .topics import PACKAGE

_lock = threading.Lock()
_cached: Typestore | None = None


def _candidate_msg_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    dirs = [here.parents[2] / "msg"]  # source tree: <repo>/worldforge_ros/evidence/typestore.py
    # Installed package: <prefix>/lib/pythonX.Y/site-packages/worldforge_ros/evidence -> <prefix>/share/...
    dirs += [parent / "share" / PACKAGE / "msg" for parent in here.parents]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / PACKAGE / "msg")
    return dirs


def find_msg_dir() -> Path:
    """The directory holding ``worldforge_ros``'s ``.msg`` files; :class:`EvidenceError` when none exists."""
    for candidate in _candidate_msg_dirs():
        if (candidate / "EvidenceLink.msg").is_file():
            return candidate
    raise EvidenceError(
        f"cannot find {PACKAGE}'s .msg files (looked in the source tree's msg/, share/{PACKAGE}/msg next to the "
        "package and under AMENT_PREFIX_PATH)", ErrorCode.RECORDER_UNAVAILABLE)


def build_typestore(msg_dir: Path | None = None) -> Typestore:
    """A fresh Kilted typestore with every ``.msg`` in ``msg_dir`` (default :func:`find_msg_dir`) registered."""
    msg_dir = msg_dir or find_msg_dir()
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


def evidence_typestore() -> Typestore:
    """The shared typestore (built once per process)."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = build_typestore()
        return _cached


MAX_TRAILING_BYTES = 16
"""Bytes a serializer may leave after a message's end (rclpy/Fast CDR appends up to 8 uninitialized bytes)."""


def canonical_cdr(store: Typestore, data: bytes | memoryview, msgtype: str) -> bytes:
    """Re-encode CDR ``data`` of ``msgtype`` with zeroed alignment padding and no trailing bytes.

    rclpy's ``serialize_message`` leaves uninitialized memory in alignment padding and after the message; rosbags
    refuses the trailing bytes on read. Canonical bytes make record digests deterministic, keep stray process
    memory out of the evidence and decode everywhere. Raises :class:`EvidenceError` (EVIDENCE_FORMAT_INVALID)
    when ``data`` is not a ``msgtype`` message.
    """
    raw = bytes(data)
    if len(raw) < 4 or raw[:2] not in (b"\x00\x00", b"\x00\x01"):
        raise EvidenceError(f"{msgtype}: not a CDR message (bad encapsulation header)",
                            ErrorCode.EVIDENCE_FORMAT_INVALID)
    try:
        msgdef = store.get_msgdef(msgtype)
        decode = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
        message, pos = decode(raw[4:], 0, msgdef.cls, store)
    except Exception as exc:  # noqa: BLE001 - rosbags raises struct/Unicode/Value/Serde errors here
        raise EvidenceError(f"bytes do not decode as {msgtype}: {exc}", ErrorCode.EVIDENCE_FORMAT_INVALID) from exc
    # rclpy's buffer can run past the message (8 bytes per variable-size element were seen for trajectories):
    # tolerate a tail proportional to the message, never more than a quarter of it.
    if len(raw) - 4 - pos > MAX_TRAILING_BYTES + (len(raw) // 4):
        raise EvidenceError(f"bytes do not decode as {msgtype}: {len(raw) - 4 - pos} bytes left after the message",
                            ErrorCode.EVIDENCE_FORMAT_INVALID)
    return bytes(store.serialize_cdr(message, msgtype))
