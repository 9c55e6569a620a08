"""Which publishers the gate takes records from: replayed records never arm a live gate.

``ros2 bag play`` (node ``rosbag2_player``) and ``worldforge-ros evidence replay`` republish a bag's plans and
events on the original topics. A replayed plan must not become approvable and replayed events must not enter
the live bag, so the gate looks up each message's publisher (its GID, from the message info) on the graph and
accepts it only from a node of its own namespace whose name matches the configured patterns
(``planner`` for plans, ``planner`` and ``provider_*`` for events).
"""

from __future__ import annotations

import fnmatch
from typing import Any, Sequence


class RecordSources:
    def __init__(self, node: Any, topic: str, patterns: Sequence[str]) -> None:
        self.node = node
        self.topic = node.resolve_topic_name(topic)
        self.patterns = tuple(patterns)
        self.namespace = node.get_namespace().rstrip("/") or "/"
        self._known: dict[bytes, tuple[str, str]] = {}

    def _refresh(self) -> None:
        for info in self.node.get_publishers_info_by_topic(self.topic):
            self._known[bytes(info.endpoint_gid)] = (info.node_namespace.rstrip("/") or "/", info.node_name)

    def publisher(self, msg_info: Any) -> tuple[str, str] | None:
        """``(namespace, node name)`` of the message's publisher, or None when the graph does not know it."""
        gid = (msg_info or {}).get("publisher_gid") or {}
        data = bytes(gid.get("data") or b"")
        if not data:
            return None
        for attempt in range(2):
            for known, who in self._known.items():
                if known[:len(data)] == data:
                    return who
            if attempt == 0:
                self._refresh()
        return None

    def accepts(self, msg_info: Any) -> tuple[bool, str]:
        """Whether to take the message, and who published it (for the log)."""
        who = self.publisher(msg_info)
        if who is None:
            return False, "an unknown publisher"
        ns, name = who
        label = f"{ns.rstrip('/')}/{name}"
        ok = ns == self.namespace and any(fnmatch.fnmatchcase(name, p) for p in self.patterns)
        return ok, label
