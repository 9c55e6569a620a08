"""Bounded latency window for p50/p95 reporting on /diagnostics."""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyWindow:
    def __init__(self, size: int = 256) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._values.append(float(ms))

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self._values), q)) if self._values else float("nan")
