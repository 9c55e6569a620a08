"""Await other nodes' answers inside ``async def`` callbacks without ever blocking an executor thread.

rclpy runs coroutine callbacks as tasks: ``await future`` yields the thread to other callbacks until the future
completes. rclpy has no awaitable sleep or timeout, so deadlines complete a wrapper future from a timer: one
steady-clock timer per node (:class:`Deadlines`) re-armed for the earliest pending deadline, because creating
and destroying a timer per request makes every executor rebuild its entity set twice per request. One helper for
the planner, the gate and every later runner.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any, Callable, Mapping

from rclpy.clock import Clock, ClockType
from rclpy.task import Future

POLL_PERIOD_S = 0.05
"""Period of :func:`wait_until` checks (discovery and first observations)."""

WAKE_PERIOD_S = 0.1
"""Period of the safety-net timer of :func:`keep_awake`."""


def keep_awake(node: Any, callback_group: Any = None) -> Any:
    """A no-op timer every ``WAKE_PERIOD_S`` on a node whose callbacks await.

    rclpy resumes an awaiting task only when its executor iterates, and skips a task that another thread is
    still running at that moment: a completion that lands in that window would leave the task waiting for the
    next event on the node. A quiet node (a planner between callers) may have none for a long time; this timer
    bounds that wait to ``WAKE_PERIOD_S``. (A safety net read off rclpy 9's executor code; the lost replies seen
    under 16 concurrent callers were the callers' depth-10 reply history, see ``CliNode.client``.)"""
    return node.create_timer(WAKE_PERIOD_S, _no_op, callback_group=callback_group)


def _no_op() -> None:
    """Wakes the executor; does nothing."""


def _wake(_future: Future) -> None:
    """No-op done callback: its scheduling is what wakes the executor."""


class _Deadline:
    """One pending deadline of :class:`Deadlines` (``cancel()`` to drop it)."""

    __slots__ = ("when", "fire", "cancelled")

    def __init__(self, when: float, fire: Callable[[], None]) -> None:
        self.when, self.fire, self.cancelled = when, fire, False

    def cancel(self) -> None:
        self.cancelled = True


class Deadlines:
    """Every pending deadline of one node on one steady-clock timer, armed for the earliest of them.

    ``add(when, fire)`` (``when`` on ``time.monotonic()``) calls ``fire()`` from the node's executor once ``when``
    has passed, unless the returned handle was cancelled first. The timer is created once and re-armed
    (period + reset) or cancelled, never destroyed per request. Steady clock: a paused simulation clock
    (``use_sim_time``) must not stop deadlines."""

    def __init__(self, node: Any, callback_group: Any = None) -> None:
        self._node, self._group = node, callback_group
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._timer: Any = None
        self._armed_for: float | None = None

    @classmethod
    def of(cls, node: Any, callback_group: Any = None) -> "Deadlines":
        """The node's scheduler (made on first use; later callers share it)."""
        with _DEADLINES_LOCK:
            found = getattr(node, "_wfros_deadlines", None)
            if found is None:
                found = cls(node, callback_group)
                node._wfros_deadlines = found
            return found

    def add(self, when: float, fire: Callable[[], None]) -> _Deadline:
        entry = _Deadline(when, fire)
        with self._lock:
            heapq.heappush(self._heap, (when, next(self._order), entry))
            self._arm()
        return entry

    def pending(self) -> int:
        """Deadlines not yet fired nor cancelled (for tests and diagnostics)."""
        with self._lock:
            return sum(1 for _, _, e in self._heap if not e.cancelled)

    def _arm(self) -> None:  # lock held
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            if self._timer is not None:
                self._timer.cancel()
            self._armed_for = None
            return
        when = self._heap[0][0]
        if self._armed_for is not None and self._armed_for <= when:
            return  # already armed no later than this deadline
        period_ns = max(1_000, int((when - time.monotonic()) * 1e9))
        if self._timer is None:
            self._timer = self._node.create_timer(period_ns / 1e9, self._on_timer, callback_group=self._group,
                                                  clock=Clock(clock_type=ClockType.STEADY_TIME))
        else:
            self._timer.timer_period_ns = period_ns
            self._timer.reset()
        self._armed_for = when

    def _on_timer(self) -> None:
        due = []
        with self._lock:
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                entry = heapq.heappop(self._heap)[2]
                if not entry.cancelled:
                    due.append(entry)
            self._armed_for = None
            self._arm()
        for entry in due:
            entry.fire()


_DEADLINES_LOCK = threading.Lock()


class _Latch:
    """A future that completes once: when enough of the watched futures are done, or at the deadline."""

    def __init__(self, node: Any, deadline: float, callback_group: Any) -> None:
        # Completing a plain Future wakes nothing: the awaiting task would sit until some other event woke the
        # executor. A future of the node's executor with a done callback schedules that callback as a task,
        # which wakes the executor; that alone lost about 1 wake-up in 100 under the EventsExecutor (the reply
        # was in, the task resumed only at the next keep_awake tick: 17-99 ms, the whole p99 of a plan). So firing
        # also arms the node's deadline timer for now: a timer event, after which every executor resumes its
        # waiting tasks (1 late resume in 1,500 plans, and that one's reply itself came late).
        self.future: Future = Future(executor=node.executor)
        self.future.add_done_callback(_wake)
        self._deadlines = Deadlines.of(node, callback_group)
        self._lock = threading.Lock()
        self._deadline = None
        if deadline - time.monotonic() <= 0:
            self.fire(False)
        else:
            self._deadline = self._deadlines.add(deadline, lambda: self.fire(False))

    def fire(self, value: bool) -> None:
        with self._lock:
            if self.future.done():
                return
            self.future.set_result(value)
        self._deadlines.add(time.monotonic(), _no_op)

    def close(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


async def wait_for(node: Any, futures: Mapping[str, Future], deadline: float, callback_group: Any = None, *,
                   any_of: bool = False) -> dict[str, Any]:
    """Await ``futures`` until all are done (``any_of``: until one is) or ``deadline`` (``time.monotonic()``).

    Returns the results of the futures that completed with a result, by name; a timed-out or failed future is
    simply absent, so callers turn absence into their typed timeout.
    """
    pending = {name: fut for name, fut in futures.items()}
    if pending and not all(f.done() for f in pending.values()) and not (any_of and any(f.done() for f in
                                                                                          pending.values())):
        latch = _Latch(node, deadline, callback_group)
        counter = {"left": len(pending)}
        lock = threading.Lock()

        def one_done(_f: Future) -> None:
            with lock:
                counter["left"] -= 1
                enough = any_of or counter["left"] == 0
            if enough:
                latch.fire(True)

        for fut in pending.values():
            fut.add_done_callback(one_done)
        try:
            await latch.future
        finally:
            latch.close()
    return {name: fut.result() for name, fut in pending.items()
            if fut.done() and not fut.cancelled() and fut.exception() is None and fut.result() is not None}


async def wait_one(node: Any, future: Future, deadline: float, callback_group: Any = None) -> Any:
    """The result of ``future``, or None when it has none by ``deadline``."""
    return (await wait_for(node, {"": future}, deadline, callback_group)).get("")


class SentRequest:
    """A service request sent when this is built; ``await`` it for ``convert(response)``, or None when no response
    came by ``deadline``; ``close()`` forgets a request nobody will await. Lets a caller do its own work while the
    server works on the request (the planner translates while its scorer scores)."""

    def __init__(self, node: Any, client: Any, request: Any, deadline: float, callback_group: Any = None,
                 convert: Callable[[Any], Any] = lambda response: response) -> None:
        self._node, self._client, self._deadline, self._group = node, client, deadline, callback_group
        self._convert = convert
        self.future = client.call_async(request)

    def __await__(self) -> Any:
        try:
            response = yield from wait_one(self._node, self.future, self._deadline, self._group).__await__()
        finally:
            self.close()
        return None if response is None else self._convert(response)

    def close(self) -> None:
        if not self.future.done():
            self._client.remove_pending_request(self.future)


async def sleep(node: Any, seconds: float, callback_group: Any = None) -> None:
    """Yield the executor thread for ``seconds`` (a deadline of the node's :class:`Deadlines`; rclpy has no awaitable
    sleep)."""
    latch = _Latch(node, time.monotonic() + seconds, callback_group)
    try:
        await latch.future
    finally:
        latch.close()


async def wait_until(node: Any, predicate: Callable[[], bool], deadline: float, callback_group: Any = None,
                     period: float = POLL_PERIOD_S) -> bool:
    """Re-check ``predicate`` every ``period`` s until it holds or ``deadline``; returns its last value."""
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            return predicate()
        await sleep(node, min(period, left), callback_group)
    return True
