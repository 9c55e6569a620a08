"""Deadlines of awaiting callbacks: one steady-clock timer per node, on both executors the nodes spin on."""

from __future__ import annotations

import threading
import time

import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor

from worldforge_ros.nodes.awaiting import Deadlines, wait_for
from worldforge_ros.nodes.spin import events_executor


@pytest.fixture(params=["events", "multi_threaded"])
def spinning(request):
    """A node of a private context spinning on the given executor kind in a background thread."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("deadlines_test", context=ctx)
    executor = events_executor(ctx) if request.param == "events" else MultiThreadedExecutor(context=ctx)
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:  # in slices, as the nodes spin (spin.py)
        while ctx.ok() and not stop.is_set():
            executor.spin_until_future_complete(rclpy.task.Future(), timeout_sec=0.1)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    yield node, executor
    stop.set()
    thread.join(timeout=5.0)
    executor.shutdown(timeout_sec=5.0)
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def on_executor(executor, fn):
    """Run ``fn`` on the executor's thread, where the nodes' callbacks add their deadlines, and return its result."""
    task = executor.create_task(fn)
    deadline = time.monotonic() + 10.0
    while not task.done() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert task.done(), "the executor did not run the task"
    return task.result()


def _fired_at(done: threading.Event, log: list, name: str):
    def fire() -> None:
        log.append((name, time.monotonic()))
        if len(log) >= 3:
            done.set()
    return fire


def test_deadlines_fire_in_order_on_one_timer_and_cancelled_ones_never(spinning):
    node, executor = spinning
    deadlines = Deadlines.of(node, ReentrantCallbackGroup())
    assert Deadlines.of(node) is deadlines  # one per node
    log, done = [], threading.Event()
    t0 = time.monotonic()

    def schedule():
        late = deadlines.add(t0 + 1.5, _fired_at(done, log, "late"))
        deadlines.add(t0 + 1.8, _fired_at(done, log, "last"))
        dropped = deadlines.add(t0 + 0.2, _fired_at(done, log, "dropped"))
        deadlines.add(t0 + 0.3, _fired_at(done, log, "early"))  # earlier than the armed one: re-armed
        dropped.cancel()
        return late

    late = on_executor(executor, schedule)
    timers_before = len(list(node.timers))
    assert done.wait(10.0), log
    assert [name for name, _ in log] == ["early", "late", "last"]
    for (name, at), due in zip(log, (0.3, 1.5, 1.8)):
        assert at >= t0 + due, (name, at - t0)  # never early
    assert log[0][1] < t0 + 1.5, log  # re-armed for the earlier deadline, not left at the first one
    assert late.cancelled is False and deadlines.pending() == 0
    assert len(list(node.timers)) == timers_before == 1  # re-armed, not one timer per deadline


def test_wait_for_times_out_at_its_deadline_and_leaves_no_pending_deadline(spinning):
    node, executor = spinning
    never = rclpy.task.Future(executor=executor)
    result: dict = {}

    async def waiter() -> None:
        started = time.monotonic()
        result["answers"] = await wait_for(node, {"never": never}, started + 0.3)
        result["waited"] = time.monotonic() - started

    task = executor.create_task(waiter)
    deadline = time.monotonic() + 10.0
    while not task.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert task.done() and result["answers"] == {} and result["waited"] >= 0.3
    assert Deadlines.of(node).pending() == 0


def test_a_completed_wait_cancels_its_deadline(spinning):
    node, executor = spinning
    answer = rclpy.task.Future(executor=executor)
    result: dict = {}

    async def waiter() -> None:
        result["answers"] = await wait_for(node, {"a": answer}, time.monotonic() + 30.0)

    task = executor.create_task(waiter)
    time.sleep(0.1)
    assert Deadlines.of(node).pending() == 1
    answer.set_result(42)
    deadline = time.monotonic() + 10.0
    while not task.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert result["answers"] == {"a": 42} and Deadlines.of(node).pending() == 0
