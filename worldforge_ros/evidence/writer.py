"""The evidence writer: hash-chained records in a crash-safe rosbag2 MCAP bag.

Every record is written and flushed, then its :class:`~.chain.ChainLink` is written and flushed on
``/worldforge/evidence_chain``. Approval and execution records are also fsynced (decision boundaries).
``close()`` writes ``metadata.yaml`` with ``custom_data`` (run id, chain head and length, package version).
Any write failure raises a typed :class:`~worldforge_ros.core.errors.EvidenceError` and the writer refuses every
later record: no evidence, no motion.
"""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from rosbags.rosbag2.errors import WriterError
from rosbags.typesys.store import Typestore

from .. import __version__
from ..core.errors import ErrorCode, EvidenceError
from .chain import GENESIS_DIGEST, ChainLink, link_digest, record_digest
from .storage import WRITER_METADATA_NAME, BagFileWriter, StreamOpener, fsync_directory
from .topics import (ALL_TOPICS, APPROVALS_TOPIC, CHAIN_TOPIC, EVIDENCE_LINK_TYPE, EXECUTIONS_TOPIC,
                     RECORD_TOPICS, TOPIC_QOS, normalize_msgtype)
from .typestore import canonical_cdr, evidence_typestore

WRITER_NAME = "worldforge_ros"
_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _failure(exc: BaseException, doing: str) -> EvidenceError:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return EvidenceError(f"evidence disk full while {doing}: {exc}", ErrorCode.EVIDENCE_DISK_FULL,
                             errno=exc.errno)
    return EvidenceError(f"evidence write failed while {doing}: {exc}", ErrorCode.RECORDER_WRITE_FAILED,
                         exception=type(exc).__name__)


class EvidenceWriter:
    """Writes hash-chained evidence records into ``bag_dir`` (a new rosbag2 directory; an existing empty directory
    is accepted, anything else is refused with RECORDER_UNAVAILABLE).

    Thread-safe. ``record()`` returns the :class:`ChainLink` written for the record. After any failure every call
    raises :class:`EvidenceError` with the failure's code (fail closed).
    """

    def __init__(self, bag_dir: Path | str, run_id: str, package_version: str = __version__, *,
                 typestore: Typestore | None = None, fsync_topics: Iterable[str] = (APPROVALS_TOPIC, EXECUTIONS_TOPIC),
                 opener: StreamOpener | None = None) -> None:
        self.path = Path(bag_dir)
        self.run_id = run_id
        self.package_version = package_version
        self._typestore = typestore or evidence_typestore()
        self._fsync_topics = frozenset(fsync_topics)
        self._lock = threading.Lock()
        self._seq = 0
        self._head = GENESIS_DIGEST
        self._last_time = 0
        self._failure: EvidenceError | None = None
        self._closed = False
        if self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()  # an empty, pre-created bag/ (run workspace layout); rosbags creates it itself
        try:
            self._bag = BagFileWriter(self.path, opener=opener)
        except WriterError as exc:
            raise EvidenceError(f"cannot create the evidence bag: {exc}", ErrorCode.RECORDER_UNAVAILABLE) from exc
        try:
            self._bag.open()
            self._bag.add_metadata(WRITER_METADATA_NAME, {
                "run_id": run_id, "package_version": package_version, "writer": WRITER_NAME})
            self._connections = {
                topic: self._bag.add_connection(topic, msgtype, typestore=self._typestore,
                                                offered_qos_profiles=[TOPIC_QOS[topic]])
                for topic, msgtype in ALL_TOPICS.items()}
        except (OSError, WriterError) as exc:
            self._bag.abort()
            raise _failure(exc, f"opening the evidence bag {self.path}") from exc
        self._link_class = self._typestore.types[EVIDENCE_LINK_TYPE]

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def mcap_path(self) -> Path:
        """The bag's ``.mcap`` file."""
        return self.path / f"{self.path.name}.mcap"

    @property
    def chain_head(self) -> str:
        """Digest of the last link (``GENESIS_DIGEST`` before the first record)."""
        return self._head

    @property
    def chain_length(self) -> int:
        """Number of records written (== seq of the last link)."""
        return self._seq

    @property
    def failed(self) -> EvidenceError | None:
        """The error that closed the writer, if any."""
        return self._failure

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def typestore(self) -> Typestore:
        """The typestore used for links (callers may serialize records with it)."""
        return self._typestore

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise EvidenceError(f"evidence writer refuses records after an earlier failure: {self._failure.message}",
                                self._failure.code)
        if self._closed:
            raise EvidenceError(f"evidence bag {self.path} is closed", ErrorCode.RECORDER_UNAVAILABLE)

    def _fail(self, exc: BaseException, doing: str) -> EvidenceError:
        self._failure = _failure(exc, doing)
        self._bag.abort()
        return self._failure

    # -- writing -------------------------------------------------------------------------------------------------
    def record(self, topic: str, msgtype: str, cdr_bytes: bytes | memoryview,
               log_time_ns: int | None = None) -> ChainLink:
        """Write one CDR-serialized record and its chain link (both flushed); return the link.

        The bytes are stored in canonical form (:func:`~.typestore.canonical_cdr`: zeroed padding, no trailing
        bytes), which is what ``record_digest`` covers; bytes that are not a ``msgtype`` message are refused with
        EVIDENCE_FORMAT_INVALID (the writer stays usable).
        Log times are strictly increasing: ``max(log_time_ns or now, previous + 1)``; the link is logged 1 ns
        after its record.
        """
        expected = RECORD_TOPICS.get(topic)
        if expected is None:
            raise EvidenceError(f"{topic!r} is not an evidence record topic (known: {sorted(RECORD_TOPICS)})",
                                ErrorCode.EVIDENCE_FORMAT_INVALID)
        if normalize_msgtype(msgtype) != expected:
            raise EvidenceError(f"{topic} records {expected}, not {msgtype}", ErrorCode.EVIDENCE_FORMAT_INVALID)
        data = canonical_cdr(self._typestore, cdr_bytes, expected)
        with self._lock:
            self._check_usable()
            stamp = max(time.time_ns() if log_time_ns is None else int(log_time_ns), self._last_time + 1)
            rec_digest = record_digest(data)
            link = ChainLink(self._seq + 1, topic, stamp, rec_digest, self._head,
                             link_digest(self._head, topic, rec_digest))
            link_bytes = bytes(self._typestore.serialize_cdr(self._link_class(**link.as_fields()),
                                                             EVIDENCE_LINK_TYPE))
            try:
                self._bag.write(self._connections[topic], stamp, data)
                self._bag.write(self._connections[CHAIN_TOPIC], stamp + 1, link_bytes)
                if topic in self._fsync_topics:
                    self._bag.sync()
            except (OSError, WriterError) as exc:
                raise self._fail(exc, f"writing record {link.seq} on {topic}") from exc
            self._seq, self._head, self._last_time = link.seq, link.digest, stamp + 1
            return link

    def record_message(self, topic: str, message: Any, log_time_ns: int | None = None) -> ChainLink:
        """Serialize a rosbags message of this writer's typestore with ``serialize_cdr`` and :meth:`record` it."""
        msgtype = RECORD_TOPICS.get(topic)
        if msgtype is None:
            raise EvidenceError(f"{topic!r} is not an evidence record topic", ErrorCode.EVIDENCE_FORMAT_INVALID)
        return self.record(topic, msgtype, self._typestore.serialize_cdr(message, msgtype), log_time_ns)

    def sync(self) -> None:
        """Flush and fsync everything written so far (call at approval/execution boundaries)."""
        with self._lock:
            self._check_usable()
            try:
                self._bag.sync()
            except OSError as exc:
                raise self._fail(exc, "syncing the evidence bag") from exc

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml`` with ``custom_data``. Idempotent.

        After a failure the file is left unfinished (``evidence recover`` rebuilds it) and nothing is raised.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._failure is not None:
                return
            for key, value in {"run_id": self.run_id, "chain_head": self._head, "chain_length": str(self._seq),
                               "package_version": self.package_version, "writer": WRITER_NAME}.items():
                self._bag.set_custom_data(key, value)
            try:
                self._bag.close()
                fsync_directory(self.path)
            except (OSError, WriterError) as exc:
                raise self._fail(exc, "closing the evidence bag") from exc

    def abort(self) -> None:
        """Stop writing without finishing the file (as after a crash); never raises."""
        with self._lock:
            self._closed = True
            self._bag.abort()

    def __enter__(self) -> "EvidenceWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
