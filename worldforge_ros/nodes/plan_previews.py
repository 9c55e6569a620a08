"""The gate's previews at approval (``previews:=true``): every registered plan goes to a
:class:`~worldforge_ros.scene.preview.PreviewRenderer` (its own worker thread owns the EGL context; no executor
thread ever renders or waits), which writes the PNGs into the run workspace; when it is done one ``scene/preview``
event with the files' sha256 digests is recorded in the chain and published on ``worldforge/events``.
Rendering that is unavailable (no mujoco, no headless GL) is logged once; plans stay approvable."""

from __future__ import annotations

import threading
import time
from typing import Any

from worldforge_ros.core import names
from worldforge_ros.core.errors import as_typed
from worldforge_ros.core.events import EventChain, ProviderEvent
from worldforge_ros.core.plan import PlanData
from worldforge_ros.evidence import topics as bag_topics
from worldforge_ros.msg import ProviderEvent as ProviderEventMsg
from worldforge_ros.nodes.conversions import event_to_msg
from worldforge_ros.nodes.evidence_qos import EVENTS_QOS


class PlanPreviews:
    def __init__(self, gate: Any) -> None:
        from worldforge_ros.scene.preview import PreviewRenderer  # ROS-free; imports mujoco only on its thread

        self.gate = gate
        self.renderer = PreviewRenderer()
        self._events_pub = gate.create_publisher(ProviderEventMsg, names.EVENTS_TOPIC, EVENTS_QOS)
        self._chain = EventChain()
        self._lock = threading.Lock()
        self._unavailable_logged = False

    def queue(self, data: PlanData, plan_digest: str) -> None:
        """Hand the plan to the renderer's worker thread (returns at once); the event is recorded when done."""
        g = self.gate
        if g.recorder is None or g._stopping.is_set():
            return
        out_dir = g.recorder.workspace.path / "previews" / data.plan_id
        started = time.monotonic()
        try:
            fut = self.renderer.submit(data, out_dir, relative_to=g.recorder.workspace.path)
        except Exception as exc:
            g.get_logger().error(f"preview of {data.plan_id} not queued: {exc}")
            return
        fut.add_done_callback(lambda f: self._done(f, data, plan_digest, out_dir, started))

    def _done(self, fut: Any, data: PlanData, plan_digest: str, out_dir: Any, started: float) -> None:
        """Runs on the renderer's worker thread: record + publish one scene/preview event (the writer is locked)."""
        from worldforge_ros.scene import SceneUnavailable

        g = self.gate
        try:
            files = fut.result()
        except SceneUnavailable as exc:
            if not self._unavailable_logged:
                self._unavailable_logged = True
                g.get_logger().warning(f"previews unavailable ({exc.reason}): {exc}; plans stay approvable, "
                                       "nothing is recorded for them")
            return
        except Exception as exc:  # noqa: BLE001 - a failed preview never blocks approval
            g.get_logger().error(f"preview of {data.plan_id} failed: {type(exc).__name__}: {exc}")
            return
        if g._stopping.is_set():  # the bag is being closed
            return
        try:
            ev = ProviderEvent.build("scene", "preview", "success", method="RENDER", target=str(out_dir),
                                     duration_ms=(time.monotonic() - started) * 1000.0,
                                     message=f"{len(files)} preview images of {data.plan_id}",
                                     metadata={"plan_digest": plan_digest, "plan_id": data.plan_id,
                                               "camera": self.renderer.camera, "files": files},
                                     run_id=g.run_id, request_id=data.request_id)
            with self._lock:
                msg = event_to_msg(self._chain.stamp(ev))
                g._record(bag_topics.EVENTS_TOPIC, bag_topics.PROVIDER_EVENT_TYPE, msg)
            self._events_pub.publish(msg)
            g.get_logger().info(f"previews of {data.plan_id}: {len(files)} images in {out_dir} "
                                f"({ev.duration_ms / 1000.0:.2f}s)")
        except Exception as exc:
            g.get_logger().error(f"preview event not recorded: {as_typed(exc)}")

    def close(self) -> None:
        self.renderer.close(timeout=10.0)
