"""What a run's evidence holds, grouped for reports and comparisons: records per kind, latency statistics."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from ..core.redaction import redact_text
from .reader import BagContents, BagRecord
from .topics import APPROVALS_TOPIC, EVENTS_TOPIC, EXECUTIONS_TOPIC, PLANS_TOPIC


def safe_text(text: str, limit: int = 240) -> str:
    """Display-safe text: :func:`~worldforge_ros.core.redaction.redact_text` (URL queries and userinfo, secret
    values, bearer tokens), then truncated to ``limit`` characters.

    Records are redacted before they are written; this is a second guard for what a report shows.
    """
    out = redact_text(str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass
class RunRecords:
    """Decoded records of one bag by kind (each entry is ``(BagRecord, message)``)."""

    events: list[BagRecord] = field(default_factory=list)
    plans: list[BagRecord] = field(default_factory=list)
    approvals: list[BagRecord] = field(default_factory=list)
    executions: list[BagRecord] = field(default_factory=list)

    @property
    def event_messages(self) -> list[Any]:
        return [r.message for r in self.events]


def split_records(contents: BagContents) -> RunRecords:
    """Group decodable records by topic (links are left out)."""
    out = RunRecords()
    by_topic = {EVENTS_TOPIC: out.events, PLANS_TOPIC: out.plans, APPROVALS_TOPIC: out.approvals,
                EXECUTIONS_TOPIC: out.executions}
    for rec in contents.records:
        bucket = by_topic.get(rec.topic)
        if bucket is not None and rec.message is not None:
            bucket.append(rec)
    return out


@dataclass(frozen=True)
class LatencyStats:
    """duration_ms statistics of one provider/operation."""

    count: int
    failures: int
    median_ms: float
    p95_ms: float
    max_ms: float


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(q * (len(ordered) - 1)))))
    return ordered[k]


def latency_stats(events: list[Any]) -> dict[tuple[str, str], LatencyStats]:
    """Per ``(provider, operation)``: count, failures and median/p95/max ``duration_ms``."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for event in events:
        groups.setdefault((str(event.provider), str(event.operation)), []).append(event)
    out = {}
    for key, group in sorted(groups.items()):
        durations = [float(e.duration_ms) for e in group]
        out[key] = LatencyStats(len(group), sum(1 for e in group if e.phase != "success"),
                                statistics.median(durations), _percentile(durations, 0.95), max(durations))
    return out
