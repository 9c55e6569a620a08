"""Where ProviderEvents go: memory (tests), a JSONL file, a callback (the ROS topic, the bag), several at once.

Every sink takes an already-built :class:`ProviderEvent` (redacted at construction) and re-applies redaction
before anything leaves the process, so an event assembled by hand with ``dataclasses.replace`` cannot smuggle a
secret out. A sink made with ``chained=True`` stamps ``seq/prev_digest/digest`` through an :class:`EventChain`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from .events import EventChain, ProviderEvent
from .redaction import redact_metadata


def _clean(event: ProviderEvent) -> ProviderEvent:
    data = redact_metadata(dataclasses.asdict(event))
    return ProviderEvent(**data)


class EventSink:
    """Base: ``sink(event)`` cleans, optionally chains, then :meth:`write`s; returns the event as delivered."""

    def __init__(self, chained: bool = False) -> None:
        self._chain = EventChain() if chained else None
        self._lock = threading.Lock()

    def __call__(self, event: ProviderEvent) -> ProviderEvent:
        with self._lock:
            event = _clean(event)
            if self._chain is not None:
                event = self._chain.stamp(event)
            self.write(event)
            return event

    @property
    def chain_head(self) -> str:
        return self._chain.head if self._chain is not None else ""

    def write(self, event: ProviderEvent) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (files); idempotent."""


class MemorySink(EventSink):
    """Keeps every event in ``events`` (tests, the planner's per-plan event list)."""

    def __init__(self, chained: bool = False) -> None:
        super().__init__(chained)
        self.events: list[ProviderEvent] = []

    def write(self, event: ProviderEvent) -> None:
        self.events.append(event)


class JsonlSink(EventSink):
    """Appends one JSON object per event to ``path`` and flushes each line (a crash loses at most one line)."""

    def __init__(self, path: Path | str, chained: bool = True) -> None:
        super().__init__(chained)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, event: ProviderEvent) -> None:
        self._file.write(json.dumps(event.to_dict(), sort_keys=True, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class CallbackSink(EventSink):
    """Hands each event to ``callback``: the hook for the ROS publisher and the evidence recorder."""

    def __init__(self, callback: Callable[[ProviderEvent], Any], chained: bool = False) -> None:
        super().__init__(chained)
        self._callback = callback

    def write(self, event: ProviderEvent) -> None:
        self._callback(event)


class FanoutSink(EventSink):
    """Delivers each event (cleaned and, if asked, chained once) to every sink given."""

    def __init__(self, sinks: Iterable[EventSink], chained: bool = False) -> None:
        super().__init__(chained)
        self.sinks = list(sinks)

    def write(self, event: ProviderEvent) -> None:
        for sink in self.sinks:
            sink.write(event)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def read_jsonl(path: Path | str) -> list[ProviderEvent]:
    """Events of a :class:`JsonlSink` file, in order."""
    with Path(path).open(encoding="utf-8") as handle:
        return [ProviderEvent(**json.loads(line)) for line in handle if line.strip()]
