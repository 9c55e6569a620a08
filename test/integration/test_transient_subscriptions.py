"""Subscriptions made and destroyed while the node spins (the envelope run's heartbeat, the approve CLI's preview
watch) must not kill the executor: rclpy 9 raises InvalidHandle out of spin when a subscription's QoS event
handlers are destroyed between listing and waiting (seen in CI: the gate's bringup died at the end of a run)."""

import time

import pytest

pytestmark = pytest.mark.graph


def test_transient_subscription_carries_no_event_handlers(ros_graph):
    from std_msgs.msg import Empty

    from worldforge_ros.nodes.transient import transient_subscription

    default = ros_graph.node.create_subscription(Empty, "beat_default", lambda _m: None, 1)
    transient = transient_subscription(ros_graph.node, Empty, "beat_transient", lambda _m: None, 1)
    assert default.event_handlers, "rclpy no longer attaches default event handlers: revisit nodes/transient.py"
    assert transient.event_handlers == []


def test_destroying_transient_subscriptions_while_spinning_keeps_the_executor_alive(ros_graph):
    from std_msgs.msg import Empty

    from worldforge_ros.nodes.transient import transient_subscription

    received = []
    ros_graph.node.create_timer(0.0005, lambda: None)  # keeps the executor rebuilding its wait set
    pub = ros_graph.node.create_publisher(Empty, "beat", 10)
    cycles, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 3.0:
        sub = transient_subscription(ros_graph.node, Empty, "beat", received.append, 1)
        pub.publish(Empty())
        ros_graph.node.destroy_subscription(sub)
        cycles += 1
    assert ros_graph._thread.is_alive(), f"the spin thread died after {cycles} create/destroy cycles"
    assert cycles > 100
