"""AfterReply: what a service callback defers runs after its reply is sent, in order, on both executor kinds."""

from __future__ import annotations

import threading

import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from std_srvs.srv import Trigger

from ros_harness import wait_until
from worldforge_ros.nodes.after_reply import AfterReply
from worldforge_ros.nodes.spin import events_executor, events_executor_supported


@pytest.fixture(params=["events", "multi_threaded"])
def served(request):
    """A server node with an ``async def`` and a plain Trigger service that defer work with AfterReply, its
    executor spinning in a thread, and a client node of the same private context; the log records every reply
    sent (the service's own send_response, wrapped) and every deferred call, in order."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    server = rclpy.create_node("after_reply_server", context=ctx)
    client_node = rclpy.create_node("after_reply_client", context=ctx)
    if request.param == "events" and not events_executor_supported():
        pytest.skip("this rclpy's EventsExecutor cannot run async service callbacks (needs rclpy >= 9.1.2)")
    executor = events_executor(ctx) if request.param == "events" else MultiThreadedExecutor(context=ctx)
    after = AfterReply(server)
    log: list[str] = []
    lock = threading.Lock()

    def note(entry: str) -> None:
        with lock:
            log.append(entry)

    async def async_cb(req, resp):
        after.put(note, "async:first")
        after.put(note, "async:second")
        resp.success, resp.message = True, "async"
        return resp

    def plain_cb(req, resp):
        after.put(note, "plain:after")
        resp.success, resp.message = True, "plain"
        return resp

    services = [server.create_service(Trigger, "deferring_async", async_cb),
                server.create_service(Trigger, "deferring_plain", plain_cb)]
    for srv in services:
        original = srv.send_response

        def send_response(response, header, original=original):
            original(response, header)
            note(f"sent:{response.message}")

        srv.send_response = send_response  # the executor sends through the service object's attribute
    executor.add_node(server)
    executor.add_node(client_node)
    stop = threading.Event()

    def spin() -> None:
        while ctx.ok() and not stop.is_set():
            executor.spin_until_future_complete(rclpy.task.Future(), timeout_sec=0.1)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    yield request.param, client_node, after, log
    stop.set()
    thread.join(timeout=5.0)
    executor.shutdown(timeout_sec=5.0)
    server.destroy_node()
    client_node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def call(client_node, name: str) -> str:
    client = client_node.create_client(Trigger, name)
    assert client.wait_for_service(timeout_sec=10.0), name
    future = client.call_async(Trigger.Request())
    assert wait_until(future.done, timeout=10.0, interval=0.005), f"no reply from {name}"
    return future.result().message


def test_deferred_calls_run_after_the_reply_in_the_order_put(served):
    kind, client_node, after, log = served
    for _ in range(5):
        assert call(client_node, "deferring_async") == "async"
        assert call(client_node, "deferring_plain") == "plain"
    assert wait_until(lambda: len(log) >= 25, timeout=10.0, interval=0.005), log
    assert after.pending() == 0
    async_part = [e for e in log if e.startswith(("async:", "sent:async"))]
    plain_part = [e for e in log if e.startswith(("plain:", "sent:plain"))]
    if kind == "events":  # the EventsExecutor sends the reply first, then the deferred calls run
        assert async_part == ["sent:async", "async:first", "async:second"] * 5, log
        assert plain_part == ["sent:plain", "plain:after"] * 5, log
    else:  # the multi-threaded fallback keeps the order of the deferred calls, not the "after"
        assert [e for e in async_part if e.startswith("async:")] == ["async:first", "async:second"] * 5, log
        assert async_part.count("sent:async") == 5 and plain_part.count("sent:plain") == 5, log


def test_a_failing_call_is_logged_and_the_rest_still_run():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("after_reply_unspun", context=ctx)
    try:
        after = AfterReply(node)  # no executor yet: every call runs at once
        ran: list[int] = []

        def fails() -> None:
            raise RuntimeError("publisher gone (token=abc123)")

        after.put(ran.append, 1)
        after.put(fails)
        after.put(ran.append, 2)
        assert ran == [1, 2] and after.pending() == 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
