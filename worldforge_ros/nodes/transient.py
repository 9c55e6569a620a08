"""Subscriptions that may be destroyed while another thread spins the node.

rclpy 9's executor lists a node's waitables, then enters each one and adds it to the wait set; a waitable that
was destroyed in between fails to enter and is still added, which raises ``InvalidHandle`` out of ``spin_once``
and kills the process. Every subscription carries such waitables: its default QoS event handlers (incompatible
QoS, incompatible type). A subscription created here has no event handlers; the executor skips a destroyed
subscription itself, so destroying it from a callback or another thread is safe.
"""

from __future__ import annotations

from typing import Any, Callable

from rclpy.event_handler import SubscriptionEventCallbacks


def transient_subscription(node: Any, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any,
                           **kwargs: Any) -> Any:
    """``node.create_subscription`` without QoS event handlers (safe to destroy while spinning)."""
    return node.create_subscription(msg_type, topic, callback, qos,
                                    event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False), **kwargs)
