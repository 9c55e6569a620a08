"""Read an evidence bag back with rosbags, taking message types from the bag itself.

:func:`read_bag` accepts a bag directory, a run workspace (holding ``bag/``) or an ``.mcap`` file. A finished bag
is read with rosbags' ``AnyReader``; an unfinished one (no ``metadata.yaml`` or no MCAP footer after a crash) is
stream-read with ``mcap.stream_reader`` up to the last complete record (see :mod:`.recover`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcap.records import Channel, Footer, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from ruamel.yaml import YAML

from ..core.errors import ErrorCode, EvidenceError


@dataclass(frozen=True)
class BagRecord:
    """One message as stored: exact CDR bytes plus the message decoded with the bag's own types."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes
    message: Any = None
    decode_error: str = ""


@dataclass
class TopicInfo:
    """A topic as the bag declares it."""

    topic: str
    msgtype: str
    type_hash: str = ""
    offered_qos_profiles: str = ""
    message_count: int = 0
    msgdef: str = ""
    """Message definition stored in the bag (ROS 2 ``.msg`` text with its dependencies)."""


@dataclass
class BagContents:
    """Everything :func:`read_bag` found."""

    path: Path
    mcap_path: Path
    records: list[BagRecord]
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    """``rosbag2_bagfile_information`` from ``metadata.yaml`` (``None`` when the file is missing)."""
    finished: bool = True
    """False when ``metadata.yaml`` or the MCAP footer is missing (the bag needs ``evidence recover``)."""
    stream_error: str = ""
    read_error: str = ""
    """Why rosbags' ``AnyReader`` refused the bag when the records came from a stream read instead (e.g. a stored
    message definition that does not match its recorded type hash)."""

    @property
    def custom_data(self) -> dict[str, str]:
        return dict((self.metadata or {}).get("custom_data") or {})


@dataclass
class StreamContents:
    """Records of an MCAP file read front to back (works on files cut off by a crash)."""

    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    complete: bool = False
    """True when the footer was reached."""
    error: str = ""


def locate_bag(path: Path | str) -> tuple[Path, Path]:
    """``(bag_dir, mcap_file)`` for a bag directory, a run workspace or an ``.mcap`` file."""
    path = Path(path)
    if path.is_file():
        return path.parent, path
    if (path / "bag").is_dir() and not list(path.glob("*.mcap")):
        path = path / "bag"
    if not path.is_dir():
        raise EvidenceError(f"no evidence bag at {path}", ErrorCode.EVIDENCE_FORMAT_INVALID)
    preferred = path / f"{path.name}.mcap"
    if preferred.is_file():
        return path, preferred
    found = sorted(path.glob("*.mcap"))
    if not found:
        raise EvidenceError(f"{path} holds no .mcap file", ErrorCode.EVIDENCE_FORMAT_INVALID)
    return path, found[0]


def load_metadata(bag_dir: Path) -> dict[str, Any] | None:
    """``rosbag2_bagfile_information`` of ``bag_dir/metadata.yaml``, or ``None`` when it is missing."""
    meta = bag_dir / "metadata.yaml"
    if not meta.is_file():
        return None
    data = YAML(typ="safe").load(meta.read_text(encoding="utf-8")) or {}
    return dict(data.get("rosbag2_bagfile_information") or {})


def stream_read_mcap(mcap_path: Path) -> StreamContents:
    """Read every complete record of ``mcap_path`` in file order; stops quietly at a truncated tail."""
    out = StreamContents()
    with mcap_path.open("rb") as stream:
        try:
            for record in StreamReader(stream, validate_crcs=True).records:
                if isinstance(record, Schema):
                    out.schemas[record.id] = record
                elif isinstance(record, Channel):
                    out.channels[record.id] = record
                elif isinstance(record, Message):
                    out.messages.append(record)
                elif isinstance(record, Metadata):
                    out.metadata[record.name] = dict(record.metadata)
                elif isinstance(record, Footer):
                    out.complete = True
        except Exception as exc:  # noqa: BLE001 - a crash leaves a truncated record: keep what came before
            out.error = f"{type(exc).__name__}: {exc}"
    return out


def _stream_typestore(schemas: dict[int, Schema]) -> Any:
    store = get_typestore(Stores.EMPTY)
    types: dict = {}
    for schema in schemas.values():
        if schema.encoding == "ros2msg":
            types.update(get_types_from_msg(schema.data.decode("utf-8"), schema.name))
    store.register(types)
    return store


def _read_stream(bag_dir: Path, mcap_path: Path, metadata: dict[str, Any] | None) -> BagContents:
    stream = stream_read_mcap(mcap_path)
    store = _stream_typestore(stream.schemas)
    topics: dict[str, TopicInfo] = {}
    for channel in stream.channels.values():
        schema = stream.schemas.get(channel.schema_id)
        topics[channel.topic] = TopicInfo(channel.topic, schema.name if schema else "",
                                          offered_qos_profiles=channel.metadata.get("offered_qos_profiles", ""),
                                          msgdef=schema.data.decode("utf-8") if schema else "")
    records = []
    for msg in sorted(stream.messages, key=lambda m: m.log_time):
        channel = stream.channels[msg.channel_id]
        info = topics[channel.topic]
        info.message_count += 1
        records.append(_decoded(channel.topic, info.msgtype, msg.log_time, bytes(msg.data), store.deserialize_cdr))
    return BagContents(bag_dir, mcap_path, records, topics, metadata, finished=False, stream_error=stream.error)


def _decoded(topic: str, msgtype: str, log_time: int, data: bytes, deserialize: Any) -> BagRecord:
    try:
        return BagRecord(topic, msgtype, log_time, data, deserialize(data, msgtype))
    except Exception as exc:  # noqa: BLE001 - a damaged record is reported by verify, not raised here
        return BagRecord(topic, msgtype, log_time, data, None, f"{type(exc).__name__}: {exc}")


def read_bag(path: Path | str) -> BagContents:
    """All records of an evidence bag in log-time order, decoded with the types stored in the bag."""
    bag_dir, mcap_path = locate_bag(path)
    metadata = load_metadata(bag_dir)
    target = [bag_dir] if metadata is not None else [mcap_path]
    try:
        with AnyReader(target, default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
            topics = {c.topic: TopicInfo(c.topic, c.msgtype, c.digest or "",
                                         _qos_text(getattr(c.ext, "offered_qos_profiles", [])), 0,
                                         c.msgdef.data if c.msgdef else "")
                      for c in reader.connections}
            records = []
            for conn, log_time, raw in reader.messages():
                topics[conn.topic].message_count += 1
                records.append(_decoded(conn.topic, conn.msgtype, log_time, bytes(raw), reader.deserialize))
    except Exception as exc:  # noqa: BLE001 - unfinished file (no footer / no metadata): fall back to a stream read
        contents = _read_stream(bag_dir, mcap_path, metadata)
        contents.read_error = f"{type(exc).__name__}: {exc}"
        return contents
    return BagContents(bag_dir, mcap_path, records, topics, metadata, finished=metadata is not None)


def _qos_text(profiles: Any) -> str:
    return ", ".join(f"{p.reliability.name.lower()}/{p.durability.name.lower()}/depth {p.depth}" for p in profiles)
