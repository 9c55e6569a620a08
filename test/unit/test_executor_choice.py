"""Which executor a node spins on: EventsExecutor only where rclpy runs async callbacks on it."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

from worldforge_ros.nodes import spin
from worldforge_ros.nodes.spin import EXECUTOR_PARAM, events_executor_supported, make_executor, rclpy_version


@pytest.mark.parametrize("version, expected", [
    ((9, 1, 2), True), ((9, 1, 1), False), ((9, 2, 0), True),  # Kilted: the async fix is in 9.1.2
    ((7, 1, 11), True), ((7, 1, 10), False), ((7, 1, 4), False),  # Jazzy: the backport is in 7.1.11
    ((10, 0, 1), True), ((10, 0, 0), False), ((11, 0, 0), True),  # Rolling and later
    ((8, 0, 0), False), ((3, 3, 0), False), ((), False),  # Iron/Humble: no fix; unknown: never assume
])
def test_events_executor_only_on_releases_with_async_callbacks(version, expected):
    assert events_executor_supported(version) is expected


def test_this_rclpy_is_read_and_supported():
    assert rclpy_version() >= (9, 1, 2)  # the pinned Kilted wheels (requirements/ros-kilted.txt)
    assert events_executor_supported()


@pytest.fixture()
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def _node(context, value=None):
    node = rclpy.create_node("executor_choice", context=context)
    if value is not None:
        node.declare_parameter(EXECUTOR_PARAM.name, value)
    return node


@pytest.mark.parametrize("value, kind", [("events", "events"), ("multi_threaded", "multi_threaded"),
                                         (None, "multi_threaded")])
def test_executor_follows_the_node_parameter(context, value, kind):
    node = _node(context, value)
    try:
        executor, chosen = make_executor(node)
        assert chosen == kind
        assert isinstance(executor, MultiThreadedExecutor) is (kind == "multi_threaded")
        executor.shutdown()
    finally:
        node.destroy_node()


def test_events_falls_back_to_multi_threaded_on_an_older_rclpy(context, monkeypatch):
    monkeypatch.setattr(spin, "rclpy_version", lambda: (7, 1, 4))
    node = _node(context, "events")
    try:
        executor, chosen = make_executor(node)
        assert chosen == "multi_threaded" and isinstance(executor, MultiThreadedExecutor)
        executor.shutdown()
    finally:
        node.destroy_node()


def test_single_threaded_servers_stay_single_threaded(context):
    node = _node(context, "events")
    try:
        executor, chosen = make_executor(node, single_threaded=True)
        assert chosen == "single_threaded" and isinstance(executor, SingleThreadedExecutor)
        executor.shutdown()
    finally:
        node.destroy_node()
