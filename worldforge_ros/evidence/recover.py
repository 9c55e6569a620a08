"""Rebuild a finished evidence bag from one cut off by a crash (SIGKILL, power loss).

The recorder flushes every message unchunked, so a stream read finds every record it wrote. Recovery rewrites
them, unchanged and in order, into a finished MCAP file with a summary, the ``rosbag2`` metadata record and a
``metadata.yaml`` (``custom_data`` restored from the writer's start record, chain head from the last link). The
original file is kept as ``<name>.mcap.partial``. A last record whose link never reached the disk is not covered
by the chain: it stays in the ``.partial`` file only and is counted in ``unlinked_tail``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from ..core.errors import ErrorCode, EvidenceError
from .chain import GENESIS_DIGEST
from .reader import StreamContents, load_metadata, locate_bag, stream_read_mcap
from .storage import WRITER_METADATA_NAME, BagFileWriter, fsync_directory
from .topics import CHAIN_TOPIC


@dataclass(frozen=True)
class RecoveryResult:
    """What :func:`recover_bag` did."""

    bag_dir: Path
    records: int
    """Records (non-link messages) in the rebuilt bag."""
    links: int
    unlinked_tail: int
    partial_path: Path | None
    already_finished: bool = False
    stream_error: str = ""

    def summary(self) -> str:
        if self.already_finished:
            return f"{self.bag_dir}: already finished (metadata.yaml present); nothing to recover"
        tail = (f"; {self.unlinked_tail} trailing record without its link kept only in {self.partial_path.name}"
                if self.unlinked_tail and self.partial_path else "")
        return (f"recovered {self.records} records and {self.links} links into {self.bag_dir} "
                f"(original kept as {self.partial_path.name if self.partial_path else '-'}){tail}")


def _partial_name(mcap_path: Path) -> Path:
    candidate = mcap_path.with_name(mcap_path.name + ".partial")
    n = 1
    while candidate.exists():
        candidate = mcap_path.with_name(f"{mcap_path.name}.partial.{n}")
        n += 1
    return candidate


def _typestore_of(stream: StreamContents):
    store = get_typestore(Stores.EMPTY)
    types: dict = {}
    for schema in stream.schemas.values():
        types.update(get_types_from_msg(schema.data.decode("utf-8"), schema.name))
    store.register(types)
    return store


def _write_rebuilt(target: Path, stream: StreamContents, keep: list, custom: dict[str, str]) -> None:
    store = _typestore_of(stream)
    bag = BagFileWriter(target)
    bag.open()
    try:
        start = stream.metadata.get(WRITER_METADATA_NAME)
        if start:
            bag.add_metadata(WRITER_METADATA_NAME, start)
        connections = {}
        for cid, channel in sorted(stream.channels.items()):
            schema = stream.schemas[channel.schema_id]
            qos = parse_qos(channel.metadata.get("offered_qos_profiles", "") or [])
            connections[cid] = bag.add_connection(
                channel.topic, schema.name, msgdef=schema.data.decode("utf-8"), rihs01=store.hash_rihs01(schema.name),
                serialization_format=channel.message_encoding, offered_qos_profiles=qos)
        for msg in keep:
            bag.write(connections[msg.channel_id], msg.log_time, msg.data)
        for key, value in custom.items():
            bag.set_custom_data(key, value)
    except BaseException:
        bag.abort()
        raise
    bag.close()


def recover_bag(path: Path | str) -> RecoveryResult:
    """Rebuild the bag at ``path`` in place; :class:`EvidenceError` when nothing recoverable is there."""
    bag_dir, mcap_path = locate_bag(path)
    if load_metadata(bag_dir) is not None:
        return RecoveryResult(bag_dir, 0, 0, 0, None, already_finished=True)
    stream = stream_read_mcap(mcap_path)
    if not stream.channels:
        raise EvidenceError(f"{mcap_path} holds no channels: nothing to recover ({stream.error or 'empty'})",
                            ErrorCode.EVIDENCE_FORMAT_INVALID)
    messages = sorted(stream.messages, key=lambda m: m.log_time)
    chain_ids = {cid for cid, ch in stream.channels.items() if ch.topic == CHAIN_TOPIC}
    unlinked = 0
    while messages and messages[-1].channel_id not in chain_ids:
        messages.pop()
        unlinked += 1
    links = [m for m in messages if m.channel_id in chain_ids]
    custom = {k: v for k, v in stream.metadata.get(WRITER_METADATA_NAME, {}).items()
              if k in ("run_id", "package_version", "writer")}
    if links:
        store = _typestore_of(stream)
        link_type = stream.schemas[stream.channels[links[-1].channel_id].schema_id].name
        last = store.deserialize_cdr(links[-1].data, link_type)
        custom.update(chain_head=str(last.digest), chain_length=str(int(last.seq)))
    else:
        custom.update(chain_head=GENESIS_DIGEST, chain_length="0")
    partial = _partial_name(mcap_path)
    custom.update(recovered="true", recovered_from=partial.name)

    scratch = bag_dir / ".recover-tmp"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    try:
        _write_rebuilt(scratch / bag_dir.name, stream, messages, custom)
        mcap_path.rename(partial)
        built = scratch / bag_dir.name
        (built / f"{bag_dir.name}.mcap").rename(bag_dir / f"{bag_dir.name}.mcap")
        (built / "metadata.yaml").rename(bag_dir / "metadata.yaml")
        fsync_directory(bag_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RecoveryResult(bag_dir, len(messages) - len(links), len(links), unlinked, partial,
                          stream_error=stream.error)
