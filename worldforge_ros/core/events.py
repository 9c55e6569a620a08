"""ProviderEvent: WorldForge's provider event contract plus correlation ids and a hash chain.

Events are redacted at construction (:func:`ProviderEvent.build`): the message, target and metadata never
carry tokens, signed-URL queries or raw tensors. ``EventChain`` stamps ``seq/prev_digest/digest`` for one
emitting node's stream.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from .digests import GENESIS_DIGEST, HashChain, canonical_json
from .redaction import redact_text, redact_url, safe_metadata

PHASES = ("success", "failure", "retry", "budget_exceeded")
CHAIN_FIELDS = ("seq", "prev_digest", "digest")


@dataclass(frozen=True)
class ProviderEvent:
    """One provider operation. Mirrors ``msg/ProviderEvent`` field for field (metadata as a dict)."""

    provider: str
    operation: str
    phase: str
    attempt: int = 1
    max_attempts: int = 1
    method: str = ""
    target: str = ""
    status_code: int = 0
    duration_ms: float = 0.0
    message: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    request_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    artifact_id: str = ""
    input_digest: str = ""
    stamp_ns: int = 0
    seq: int = 0
    prev_digest: str = ""
    digest: str = ""

    @classmethod
    def build(cls, provider: str, operation: str, phase: str, *, method: str = "", target: str = "",
              status_code: int | None = None, duration_ms: float = 0.0, message: str = "",
              metadata: dict[str, Any] | None = None, attempt: int = 1, max_attempts: int = 1,
              stamp_ns: int | None = None, **ids: str) -> "ProviderEvent":
        """Validate and redact; ``ids`` are the correlation ids (run_id, request_id, ...)."""
        operation = operation.lower()
        phase = phase.lower()
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        if attempt < 1 or max_attempts < attempt:
            raise ValueError(f"need 1 <= attempt <= max_attempts, got {attempt}/{max_attempts}")
        if status_code is not None and status_code != 0 and not 100 <= status_code <= 599:
            raise ValueError(f"status_code must be 100-599 or empty, got {status_code}")
        if duration_ms < 0:
            raise ValueError("duration_ms must be >= 0")
        unknown = set(ids) - {"run_id", "request_id", "trace_id", "span_id", "artifact_id", "input_digest"}
        if unknown:
            raise ValueError(f"unknown correlation ids {sorted(unknown)}")
        return cls(
            provider=provider, operation=operation, phase=phase, attempt=attempt, max_attempts=max_attempts,
            method=method.upper(), target=redact_url(target), status_code=int(status_code or 0),
            duration_ms=float(duration_ms), message=redact_text(message),
            metadata=safe_metadata(metadata or {}),
            stamp_ns=time.time_ns() if stamp_ns is None else int(stamp_ns),
            **{k: redact_text(str(v)) for k, v in ids.items() if v},
        )

    def content(self) -> dict[str, Any]:
        """Every field except the chain fields: what the chain digest covers."""
        # Shallow on purpose (asdict deep-copies the metadata): the result is only serialized, never mutated.
        return {name: getattr(self, name) for name in _CONTENT_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_ids(self, **ids: str) -> "ProviderEvent":
        """Copy with correlation ids filled in (redacted), chain fields cleared."""
        clean = {k: redact_text(str(v)) for k, v in ids.items() if v}
        return dataclasses.replace(self, seq=0, prev_digest="", digest="", **clean)


_CONTENT_FIELDS = tuple(f.name for f in dataclasses.fields(ProviderEvent) if f.name not in CHAIN_FIELDS)
"""The fields :meth:`ProviderEvent.content` covers, in declaration order."""


class EventChain:
    """Stamps events of one emitting stream with ``seq``, ``prev_digest`` and ``digest``."""

    def __init__(self, head: str = GENESIS_DIGEST) -> None:
        self._chain = HashChain(head)

    @property
    def head(self) -> str:
        return self._chain.head

    def stamp(self, event: ProviderEvent) -> ProviderEvent:
        content = event.content()
        seq, prev, digest = self._chain.append(canonical_json(content))
        return ProviderEvent(**content, seq=seq, prev_digest=prev, digest=digest)
