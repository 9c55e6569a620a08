"""Crash-safe rosbag2 MCAP storage: unchunked, flushed after every message, fsync on request.

:class:`BagFileWriter` is rosbags' rosbag2 ``Writer`` (``metadata.yaml`` v9, ``custom_data``, real
``offered_qos_profiles``, RIHS01 hashes, message definitions) with its MCAP storage replaced by
:class:`FlushingMcapStorage`, which writes every record straight to the file through ``mcap``'s low-level
writer (``use_chunking=False``) and flushes it: a SIGKILL loses no message that ``write`` returned from, and a
stream read recovers every one of them (see :mod:`.recover`). rosbags' own MCAP storage buffers 1 MiB chunks.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any, Callable

from mcap.writer import Writer as McapStreamWriter
from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionMode

from .. import __version__

StreamOpener = Callable[[Path], IO[bytes]]
"""Opens the ``.mcap`` file for binary writing (injectable, e.g. to simulate a full disk in tests)."""

WRITER_METADATA_NAME = "worldforge_ros"
"""Name of the MCAP metadata record written at start (run id, package version) so recovery can restore it."""


def _library() -> str:
    try:
        mcap_version = version("mcap")
    except PackageNotFoundError:  # pragma: no cover - mcap always carries metadata when installed
        mcap_version = "unknown"
    return f"worldforge_ros-{__version__}; mcap-{mcap_version}"


def open_exclusive(path: Path) -> IO[bytes]:
    """Default :data:`StreamOpener`: create ``path`` (never overwrite) for buffered binary writing."""
    return path.open("xb")


def fsync_directory(path: Path) -> None:
    """Persist a directory entry (new or renamed files) where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FlushingMcapStorage:
    """rosbags storage plugin: one unchunked MCAP file ``<bag>/<bag name>.mcap``, flushed per message."""

    def __init__(self, path: Path, compression: CompressionMode, opener: StreamOpener | None = None) -> None:
        if compression != CompressionMode.NONE:
            raise ValueError("evidence bags are written uncompressed (compression would defeat flush-per-message)")
        self.path = path / f"{path.name}.mcap"
        self._stream = (opener or open_exclusive)(self.path)
        self._mcap = McapStreamWriter(self._stream, use_chunking=False)
        self._mcap.start(profile="ros2", library=_library())
        self._schema_ids: dict[str, int] = {}
        self._channel_ids: dict[int, int] = {}
        self._mcap.flush()
        fsync_directory(path)

    def add_msgtype(self, connection: Connection) -> None:
        """Embed the message definition of ``connection.msgtype`` as an MCAP schema."""
        encoding = "ros2msg" if connection.msgdef.format == MessageDefinitionFormat.MSG else "ros2idl"
        self._schema_ids[connection.msgtype] = self._mcap.register_schema(
            connection.msgtype, encoding, connection.msgdef.data.encode("utf-8"))
        self._mcap.flush()

    def add_connection(self, connection: Connection, offered_qos_profiles: str) -> None:
        """Register an MCAP channel carrying ``offered_qos_profiles`` (YAML) in its metadata."""
        serialization = getattr(connection.ext, "serialization_format", "cdr")
        self._channel_ids[connection.id] = self._mcap.register_channel(
            connection.topic, serialization, self._schema_ids[connection.msgtype],
            {"offered_qos_profiles": offered_qos_profiles})
        self._mcap.flush()

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """Write an MCAP metadata record (flushed)."""
        self._mcap.add_metadata(name, data)
        self._mcap.flush()

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        """Append one message record and flush it to the operating system."""
        self._mcap.add_message(self._channel_ids[connection.id], log_time=timestamp, data=bytes(data),
                               publish_time=timestamp)
        self._mcap.flush()

    def sync(self) -> None:
        """Flush and ``fsync``: everything written so far survives a power loss."""
        self._mcap.flush()
        os.fsync(self._stream.fileno())

    def close(self, version: int, metadata: str) -> None:
        """Write the ``rosbag2`` metadata record and the summary/footer, fsync, close."""
        del version
        self._mcap.add_metadata("rosbag2", {"serialized_metadata": metadata})
        self._mcap.finish()
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()

    def abort(self) -> None:
        """Close the file without a footer (already flushed records stay recoverable); never raises."""
        try:
            self._stream.close()
        except Exception:  # noqa: BLE001 - the stream may be the reason we abort (disk full)
            pass


class BagFileWriter(Writer):
    """rosbags' rosbag2 ``Writer`` (version 9, MCAP) storing through :class:`FlushingMcapStorage`."""

    STORAGE_PLUGINS = {StoragePlugin.MCAP: FlushingMcapStorage}

    def __init__(self, path: Path | str, *, opener: StreamOpener | None = None) -> None:
        super().__init__(path, version=9, storage_plugin=StoragePlugin.MCAP)
        if opener is not None:
            self.STORAGE_PLUGINS = {  # instance override: same plugin with the injected opener
                StoragePlugin.MCAP: lambda p, c: FlushingMcapStorage(p, c, opener=opener)}  # type: ignore[misc]

    @property
    def mcap(self) -> FlushingMcapStorage:
        """The open storage (``RuntimeError`` when the bag is not open)."""
        if self.storage is None:
            raise RuntimeError("bag is not open")
        return self.storage  # type: ignore[return-value]

    def add_metadata(self, name: str, data: dict[str, Any]) -> None:
        """Write an MCAP metadata record into the open bag (values become strings)."""
        self.mcap.add_metadata(name, {str(k): str(v) for k, v in data.items()})

    def sync(self) -> None:
        """Flush and fsync the open bag file."""
        self.mcap.sync()
