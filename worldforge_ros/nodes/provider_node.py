"""provider_node: one policy or score provider as a lifecycle node serving a ROS 2 service.

``provider:=lerobot|gr00t|leworldmodel|reference``. Loads/connects in ``on_configure``, serves only while
active (every callback checks the state: rclpy does not gate services), one MutuallyExclusive callback group
(runtimes are not thread-safe), readiness on ``/diagnostics`` and a redacted ProviderEvent on
``/worldforge/events`` for every call.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from diagnostic_msgs.msg import DiagnosticArray

from worldforge_ros.core import names
from worldforge_ros.core.digests import digest_json, tensor_digest
from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError, WorldForgeRosError
from worldforge_ros.core.events import EventChain, ProviderEvent
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.core.redaction import redact_text
from worldforge_ros.msg import ProviderEvent as ProviderEventMsg
from worldforge_ros.nodes import diagnostics
from worldforge_ros.nodes.after_reply import AfterReply
from worldforge_ros.nodes.conversions import event_to_msg, numpy_to_tensor, observation_from_msg, tensor_to_numpy
from worldforge_ros.nodes.evidence_qos import EVENTS_QOS
from worldforge_ros.nodes.latency import LatencyWindow
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.spin import EXECUTOR_PARAM, run_node
from worldforge_ros.providers import registry
from worldforge_ros.srv import ScoreActions, SelectActions


BASE_PARAMS = (
    ParamSpec("provider", "reference", "Provider this node serves.", read_only=True, choices=tuple(registry.names())),
    ParamSpec("autostart", True, "Configure and activate once spinning (else wait for lifecycle transitions from a "
              "lifecycle manager or `ros2 lifecycle set`)."),
    ParamSpec("allow_experimental", False, "Serve a provider whose status is 'experimental' (explicit opt-in)."),
    ParamSpec("max_tensor_bytes", 64 * 1024 * 1024, "Largest accepted tensor or image payload in bytes.",
              min_value=1024),
    ParamSpec("max_candidates", 64, "Largest num_candidates a request may ask for.", min_value=1, max_value=4096),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics publications.", min_value=0.05, max_value=60.0),
    ParamSpec("health_period_s", 5.0, "How often provider health is re-probed while active.", min_value=0.1),
    ParamSpec("run_id", "", "Run id stamped on events (empty: none)."),
    EXECUTOR_PARAM,
)


_CONFIGURE_LOCK = threading.Lock()


def input_digest(obs: ObservationData, **fields: Any) -> str:
    """Digest of what the provider saw: values by digest, never the values themselves."""
    return digest_json({
        "summary": obs.summary(),
        "joint_positions": tensor_digest(obs.joint_positions),
        "images": {im.camera: tensor_digest(im.pixels) for im in obs.images},
        "extras": {k: tensor_digest(v) for k, v in obs.extras.items()},
        "task": obs.task,
        **{k: (tensor_digest(v) if isinstance(v, np.ndarray) else v) for k, v in fields.items()},
    })


class ProviderNode(LifecycleNode):
    """A provider behind ``/worldforge/providers/<name>/{select_actions|score_actions}``."""

    def __init__(self, node_name: str = "provider", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.base = declare_and_validate(self, BASE_PARAMS)
        self.provider_name = self.base["provider"]
        self.entry = registry.get(self.provider_name)
        self.config = {spec.name.split(".", 1)[1]: value for spec, value in zip(
            self.entry.prefixed_params(),
            declare_and_validate(self, self.entry.prefixed_params()).values())}
        self.provider: Any = None
        self.active = False
        self.state_label = "unconfigured"
        self.last_error = ""
        self.configure_error = ""  # why the last configure failed (kept while unconfigured; requests overwrite last_error)
        self.calls = 0
        self.errors = 0
        self.latency = LatencyWindow()
        self.health: Any = None
        self._health_at = 0.0
        self._chain = EventChain()
        self._group = MutuallyExclusiveCallbackGroup()
        self._events_pub = self.create_publisher(ProviderEventMsg, names.EVENTS_TOPIC, EVENTS_QOS)
        self._after_reply = AfterReply(self)  # events go out after the reply that carries them
        self._diag_pub = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS_TOPIC, 10)
        relative = names.provider_service(self.provider_name, self.entry.capability)
        srv_type, handler = (SelectActions, self._on_select) if self.entry.capability == "policy" else \
            (ScoreActions, self._on_score)
        self.create_service(srv_type, relative, handler, qos_profile=QoSProfile(depth=100), callback_group=self._group)
        self.service_name = self.resolve_service_name(relative)
        self.create_timer(self.base["diagnostics_period_s"], self._publish_diagnostics, callback_group=self._group)
        self._autostart_timer = self.create_timer(0.0, self._autostart, callback_group=self._group) \
            if self.base["autostart"] else None

    def _autostart(self) -> None:
        """``autostart``: configure and activate from the first executor turn (a lifecycle manager would send the
        same transitions), not from the constructor."""
        self.destroy_timer(self._autostart_timer)
        self._autostart_timer = None
        if self.state_label == "unconfigured":
            self.trigger_configure()
        if self.state_label == "inactive":
            self.trigger_activate()

    def destroy_node(self) -> None:
        self._after_reply.flush()  # a reply that went out keeps its event
        super().destroy_node()

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        with _CONFIGURE_LOCK:  # runtimes import heavy packages: two at once in one process can see half an import
            return self._configure()

    def _configure(self) -> TransitionCallbackReturn:
        try:
            self.provider = self.entry.create(self.config, self._emit)
            self.entry.check_servable(self.provider, self.base["allow_experimental"])
            self.provider.configure()
            self.health = self.provider.health()
            self._health_at = time.monotonic()
            self.configure_error = ""
        except Exception as exc:  # a missing runtime is an unhealthy provider, never a crash
            err = exc if isinstance(exc, WorldForgeRosError) else ProviderError(redact_text(str(exc)))
            self.last_error = self.configure_error = str(err)
            self.get_logger().error(f"configure failed: {err}")
            self._close_provider()
            self.state_label = "unconfigured"
            return TransitionCallbackReturn.FAILURE
        self.state_label = "inactive"
        self.get_logger().info(f"provider {self.provider_name} configured; serving {self.service_name} when active")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.state_label = "active"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.state_label = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self._close_provider()
        self.state_label = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self._close_provider()
        self.state_label = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _close_provider(self) -> None:
        if self.provider is not None:
            try:
                self.provider.close()
            except Exception as exc:
                self.get_logger().warning(f"provider close failed: {redact_text(str(exc))}")
        self.provider = None

    # ---- services -------------------------------------------------------------------------------------------
    def _require_active(self) -> None:
        if not self.active or self.provider is None:
            raise ProviderError(f"provider {self.provider_name} is {self.state_label}, not active",
                                ErrorCode.PROVIDER_NOT_ACTIVE)

    def _on_select(self, request: SelectActions.Request, response: SelectActions.Response):
        response.provider = self.provider_name

        def work(inputs: dict) -> dict:
            obs = observation_from_msg(request.observation, self.base["max_tensor_bytes"])
            n = int(request.num_candidates) or 1
            if n > self.base["max_candidates"]:
                raise RequestError(f"num_candidates {n} exceeds max_candidates {self.base['max_candidates']}",
                                   ErrorCode.INVALID_ARGUMENT)
            mode = request.mode or "predict_chunk"
            if mode not in ("select_action", "predict_chunk"):
                raise RequestError(f"mode {mode!r} must be select_action or predict_chunk", ErrorCode.INVALID_ARGUMENT)
            inputs["digest"] = input_digest(obs, num_candidates=n, mode=mode)
            result = self.provider.select_actions(obs, n, mode)
            actions = result.actions.get("action")
            if actions is None or actions.ndim != 3 or not np.all(np.isfinite(actions)):
                raise ProviderError("policy output must hold a finite 'action' tensor of shape (N, H, D)",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            response.raw_actions = [numpy_to_tensor(k, v) for k, v in result.actions.items()]
            return dict(result.metadata, candidate_count=int(actions.shape[0]), raw_shape=list(actions.shape),
                        embodiment_tag=result.embodiment_tag)

        return self._serve("policy", "SELECT_ACTIONS", request, response, work)

    def _on_score(self, request: ScoreActions.Request, response: ScoreActions.Response):
        def work(inputs: dict) -> dict:
            obs = observation_from_msg(request.observation, self.base["max_tensor_bytes"])
            cands = tensor_to_numpy(request.candidates, self.base["max_tensor_bytes"])
            if cands.ndim != 3 or cands.shape[0] < 1 or cands.dtype.kind != "f":
                raise RequestError(f"candidates must be a float tensor (S, H, D) with S >= 1, got {cands.dtype} "
                                   f"{list(cands.shape)}", ErrorCode.SHAPE_MISMATCH)
            if not np.all(np.isfinite(cands)):
                raise RequestError("candidates hold NaN or infinite values", ErrorCode.NON_FINITE_VALUE)
            inputs["digest"] = input_digest(obs, candidates=cands)
            result = self.provider.score_actions(obs, cands)
            scores = np.asarray(result.scores, dtype=np.float64).reshape(-1)
            if scores.shape != (cands.shape[0],) or not np.all(np.isfinite(scores)):
                raise ProviderError(f"score provider returned {scores.size} scores for {cands.shape[0]} candidates "
                                    "or non-finite values", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            response.scores = [float(s) for s in scores]
            response.best_index = int(result.best_index)
            response.lower_is_better = bool(result.lower_is_better)
            return dict(result.metadata, candidate_count=int(cands.shape[0]), best_index=int(result.best_index))

        return self._serve("score", "SCORE_ACTIONS", request, response, work)

    def _serve(self, operation: str, method: str, request: Any, response: Any, work: Any) -> Any:
        """Run ``work(inputs)`` (it fills the response, sets ``inputs['digest']`` once known and returns the
        metadata); every outcome becomes a typed response plus one chained event, never an exception."""
        started = time.perf_counter()
        inputs = {"digest": ""}
        try:
            self._require_active()
            meta = work(inputs)
            response.success, response.error_code, response.error_message = True, 0, ""
            event = self._event(operation, method, "success", started, request, inputs["digest"], meta, "")
            response.metadata_json = event.metadata_json  # as recorded: redacted and bounded, serialized once
        except Exception as exc:
            err = self._fail(exc, response)
            event = self._event(operation, method, "failure", started, request, inputs["digest"],
                                {"error_code": int(err.code), "error_name": err.name}, str(err))
        response.event = event
        return response

    def _fail(self, exc: Exception, response: Any) -> WorldForgeRosError:
        if isinstance(exc, WorldForgeRosError):
            err = exc
        else:
            err = ProviderError(f"{type(exc).__name__}: {redact_text(str(exc))}", ErrorCode.PROVIDER_RUNTIME_ERROR)
        self.errors += 1
        self.last_error = str(err)
        response.success, response.error_code, response.error_message = False, int(err.code), str(err)
        return err

    def _event(self, operation: str, method: str, phase: str, started: float, request: Any, digest: str,
               meta: dict, message: str) -> ProviderEventMsg:
        duration_ms = (time.perf_counter() - started) * 1000.0
        self.calls += 1
        self.latency.add(duration_ms)
        ev = ProviderEvent.build(self.provider_name, operation, phase, method=method,
                                 target=str(getattr(self.provider, "target", "") or ""), duration_ms=duration_ms,
                                 message=message, metadata=meta, run_id=request.run_id or self.base["run_id"],
                                 request_id=request.request_id, input_digest=digest)
        return self._emit(ev)

    def _emit(self, ev: ProviderEvent) -> ProviderEventMsg:
        """Chain and return one event, published after the current reply (also the sink handed to providers for
        retry events: those are queued in chain order before the call's own event)."""
        msg = event_to_msg(self._chain.stamp(ev))
        self._after_reply.put(self._events_pub.publish, msg)
        return msg

    # ---- diagnostics ----------------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        if self.provider is not None and time.monotonic() - self._health_at > self.base["health_period_s"]:
            try:
                self.health = self.provider.health()
            except Exception as exc:
                self.last_error = redact_text(str(exc))
            self._health_at = time.monotonic()
        healthy = bool(self.health and self.health.healthy)
        if self.active and healthy:
            level, text = diagnostics.OK, "active and healthy"
        elif self.active:
            level, text = diagnostics.WARN, f"active but unhealthy: {self.health.details if self.health else '?'}"
        elif self.state_label == "inactive":
            level, text = diagnostics.WARN, "configured, not active"
        else:
            why = self.configure_error or self.last_error or "not configured"
            level, text = diagnostics.ERROR, f"{self.state_label}: {why}"
        st = diagnostics.status(
            f"{self.get_name()}: provider {self.provider_name}", level, text, hardware_id=self.provider_name,
            status=self.state_label, capability=self.entry.capability, healthy=healthy,
            reason=getattr(self.health, "reason", "") if self.health else "",
            device=self.config.get("device", "cpu"), loaded=self.provider is not None, calls=self.calls,
            errors=self.errors, p50_ms=f"{self.latency.percentile(50):.3f}", p95_ms=f"{self.latency.percentile(95):.3f}",
            last_error=self.last_error, configure_error=self.configure_error)
        self._diag_pub.publish(diagnostics.array(self.get_clock().now().to_msg(), st))


def _ros_args(argv: Sequence[str]) -> list[str]:
    out, inside = [], False
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif arg == "--" and inside:
            inside = False
        elif inside:
            out.append(arg)
    return out


def default_node_name(argv: Sequence[str]) -> str:
    """The node name when none is remapped: ``provider_<name>`` for ``-p provider:=<name>``, else the one
    ``provider_*`` block of the ``--params-file`` files (so a plain params file keyed by node name works without
    ``-r __node:=``), else ``provider``. Several provider blocks and no remap: a clear error."""
    from worldforge_ros.core.errors import ErrorCode, RequestError

    args = _ros_args(argv)
    found: list[str] = []
    for flag, value in zip(args, args[1:] + [""]):
        if flag in ("-r", "--remap") and value.startswith(("__node:=", "__name:=")):
            return value.split(":=", 1)[1]
        if flag in ("-p", "--param") and value.startswith("provider:="):
            return names.provider_node_name(value.split(":=", 1)[1])
        if flag == "--params-file" and value:
            import yaml

            try:
                data = yaml.safe_load(Path(value).read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue  # rclpy reports an unreadable file itself
            for key, body in data.items() if isinstance(data, dict) else ():
                key = str(key).rsplit("/", 1)[-1]
                if key.startswith(names.PROVIDER_NODE_PREFIX) and isinstance(body, dict) and key not in found:
                    found.append(key)
    if len(found) > 1:
        raise RequestError(f"the params file(s) configure several providers {found}: choose one with "
                           f"--ros-args -r __node:=<name>", ErrorCode.INVALID_ARGUMENT)
    return found[0] if found else "provider"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    return run_node("provider_node", lambda: ProviderNode(default_node_name(argv)), argv,
                    on_exit=lambda node: node._close_provider())


if __name__ == "__main__":
    sys.exit(main())
