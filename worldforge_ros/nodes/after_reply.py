"""Work a service callback leaves until its reply is on the wire: publishing what the caller does not wait for.

A plan's record and the events of a plan or a provider call are published for the evidence and the gate; the
caller waits only for the reply. Publishing them first put their conversion and DDS write (about 1 ms of a plan on
this host) on every caller's critical path.

When rclpy's EventsExecutor sends an ``async def`` service callback's response, it does so from a task scheduled
when the coroutine finishes, so a task the callback creates runs *before* the response goes out; a task created by
that task runs after it (a plain ``def`` callback's response is sent before any task it created runs). So
:meth:`AfterReply.put` schedules a two-hop drain. Measured on rclpy 9.1.2: send before publish in 300 of 300 plans
with two hops, in 0 of 300 with one.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable

from worldforge_ros.core.redaction import redact_text


class AfterReply:
    """One node's FIFO of calls run after the reply being built has been sent.

    Calls run in the order put, one drain at a time, whatever the executor (the multi-threaded fallback keeps the
    order but not the "after"). A failing call is logged, never raised into the executor. Without an executor (a
    node not spinning yet) a call runs at once. :meth:`flush` runs what is left (a node's ``destroy_node``), so a
    reply that went out is never left without its record.
    """

    def __init__(self, node: Any) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = collections.deque()
        self._scheduled = False

    def put(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            self._calls.append((fn, args))
            if self._scheduled:
                return  # the pending drain takes it
            self._scheduled = True
        if not self._schedule(self._hop):
            self.flush()

    def pending(self) -> int:
        """Calls not run yet (for tests and diagnostics)."""
        with self._lock:
            return len(self._calls)

    def _hop(self) -> None:
        if not self._schedule(self.flush):
            self.flush()

    def _schedule(self, fn: Callable[[], None]) -> bool:
        """Whether the node's executor took ``fn`` as a task: none yet, or one shutting down, takes nothing (the
        caller runs the calls now rather than never)."""
        executor = self._node.executor
        if executor is None:
            return False
        try:
            executor.create_task(fn)
        except Exception:
            return False
        return True

    def flush(self) -> None:
        """Run every queued call now, in order."""
        while True:
            with self._lock:
                if not self._calls:
                    self._scheduled = False
                    return
                fn, args = self._calls.popleft()
            try:
                fn(*args)
            except Exception as exc:  # evidence publishing must never take the executor down
                name = getattr(fn, "__name__", str(fn))
                self._node.get_logger().error(f"deferred {name} failed: {redact_text(str(exc))}")
