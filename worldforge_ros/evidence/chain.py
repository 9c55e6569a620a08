"""The evidence bag's hash chain: one :class:`ChainLink` per record, written right after it.

``record_digest = sha256(CDR bytes as stored)``; ``digest = sha256(prev_digest + "\\n" + topic + "\\n" +
record_digest)``; the first link's ``prev_digest`` is :data:`~worldforge_ros.core.digests.GENESIS_DIGEST`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.digests import GENESIS_DIGEST, chain_digest, sha256_digest

__all__ = ["GENESIS_DIGEST", "ChainLink", "link_digest", "record_digest"]


def record_digest(data: bytes | memoryview) -> str:
    """Digest of a record's exact stored bytes."""
    return sha256_digest(bytes(data))


def link_digest(prev_digest: str, topic: str, rec_digest: str) -> str:
    """Digest of one link: ``sha256(prev_digest + "\\n" + topic + "\\n" + record_digest)``."""
    return chain_digest(prev_digest, f"\n{topic}\n{rec_digest}")


@dataclass(frozen=True)
class ChainLink:
    """One link as written (mirrors ``worldforge_ros/msg/EvidenceLink``)."""

    seq: int
    topic: str
    log_time_ns: int
    record_digest: str
    prev_digest: str
    digest: str

    def as_fields(self) -> dict[str, object]:
        """Field values for an ``EvidenceLink`` message."""
        return {"seq": self.seq, "topic": self.topic, "log_time_ns": self.log_time_ns,
                "record_digest": self.record_digest, "prev_digest": self.prev_digest, "digest": self.digest}

    @classmethod
    def from_message(cls, msg: Any) -> "ChainLink":
        """Build from a decoded ``EvidenceLink`` message (rosbags or rclpy)."""
        return cls(int(msg.seq), str(msg.topic), int(msg.log_time_ns), str(msg.record_digest), str(msg.prev_digest),
                   str(msg.digest))
