"""Isaac-GR00T policy client: a :class:`PolicyProvider` talking to a GR00T policy server.

Our own implementation of the documented wire protocol (``codec``, ``zmq_transport``); the generation
(``n1.5``, ``n1.6``, ``n1.7``) is an explicit setting. Endpoints: ``ping``, ``get_action``, ``reset``
(n1.6+), ``get_modality_config``. ``client="upstream"`` uses ``gr00t.policy.server_client.PolicyClient``
when importable; ``transport="http"`` uses :class:`Gr00tHttpTransport` (``POST /act``, ``GET /health``).

``select_actions`` returns raw tensors per action key (``action.<key>``, ``(N, H, D)``) plus the main
``"action"`` ``(N, H, D)`` concatenated on D in the configured ``action_keys`` order (sorted reply keys when
unset; metadata says which). n1.6/n1.7 draw N candidates in one call by tiling the observation along B;
n1.5 (unbatched) makes N calls. The API token never appears in logs, events, metadata or ``repr``.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, Callable, Mapping

import numpy as np

from ...bridges.gr00t_observation import Gr00tObservationBridge
from ...core.contracts import PolicyResult, ProviderHealth, ProviderProfile
from ...core.errors import ErrorCode, ProviderError, RequestError, WorldForgeRosError
from ...core.events import ProviderEvent
from ...core.observation import ObservationData
from .checks import (action_dict_from_reply, check_flat_observation, check_nested_observation,
                           concatenate_actions, tile_nested)
from .codec import Gr00tCodec, ModalityConfig
from .settings import Gr00tSettings

PROVIDER_NAME = "gr00t"
METHOD = "POLICYCLIENT.GET_ACTION"
MODES = ("select_action", "predict_chunk")
UPSTREAM_MODULE = "gr00t.policy.server_client"
EventSink = Callable[[ProviderEvent], None]


def _missing_dependency(settings: Gr00tSettings) -> str:
    """Name of the first missing client dependency, or ''. Never imports more than needed."""
    needed = ["numpy"]
    if settings.transport == "http":
        needed.append("httpx")
    elif settings.client == "upstream":
        needed.append(UPSTREAM_MODULE)
    else:
        needed += ["msgpack", "zmq"]
    for module in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return ""


class _UpstreamClient:
    """Adapter giving ``gr00t.policy.server_client.PolicyClient`` our ``call`` interface and typed errors."""

    def __init__(self, settings: Gr00tSettings) -> None:
        try:
            module = importlib.import_module(UPSTREAM_MODULE)
        except ImportError:
            raise ProviderError(f"client 'upstream' requested but {UPSTREAM_MODULE} is not importable; use "
                                "client 'builtin'", ErrorCode.PROVIDER_DEPENDENCY_MISSING) from None
        self.target = settings.target
        self._client = module.PolicyClient(host=settings.host, port=settings.port, timeout_ms=settings.timeout_ms,
                                           api_token=settings.api_token or None, strict=settings.strict)

    def call(self, endpoint: str, data: Any = None, *, with_data: bool = True) -> Any:
        try:
            return self._client.call_endpoint(endpoint, data, requires_input=with_data)
        except Exception as exc:  # noqa: BLE001 - upstream raises RuntimeError / zmq errors
            self._client._init_socket()  # a REQ socket in doubt is never reused
            code = ErrorCode.PROVIDER_AUTH_FAILED if "Unauthorized" in str(exc) else ErrorCode.PROVIDER_RUNTIME_ERROR
            raise ProviderError(f"upstream GR00T client failed: {type(exc).__name__}", code) from None

    def close(self) -> None:
        self._client.socket.close(linger=0)


class Gr00tPolicy:
    """GR00T policy client. ``Gr00tPolicy(host=..., generation="n1.6", event_sink=print)``.

    Constructor keywords override env vars (see :mod:`.settings`); ``bridge`` turns
    :class:`ObservationData` into the server observation (default: all cameras, no state).
    """

    def __init__(self, settings: Gr00tSettings | None = None, *, event_sink: EventSink | None = None,
                 bridge: Gr00tObservationBridge | None = None, env: Mapping[str, str] | None = None,
                 **values: Any) -> None:
        self.settings = settings if settings is not None else Gr00tSettings.resolve(env, **values)
        self.event_sink = event_sink
        self._bridge = bridge
        self._transport: Any = None
        self._modality: dict[str, ModalityConfig] | None = None

    # ------------------------------------------------------------------ identity
    @property
    def profile(self) -> ProviderProfile:
        s = self.settings
        return ProviderProfile(
            name=PROVIDER_NAME, capabilities=("policy",), is_local=False,
            description="Isaac-GR00T policy server client (ZeroMQ/msgpack or HTTP), our own protocol implementation",
            package="worldforge_ros", implementation_status="beta", deterministic=False,
            requires_credentials=bool(s.api_token), credential_env_var="GROOT_POLICY_API_TOKEN",
            required_env_vars=("GROOT_POLICY_HOST",), supported_modalities=("video", "state", "language"),
            artifact_types=("action_chunk",),
            notes=(f"generation={s.generation or 'unset'}", "embodiment tag is fixed by the server, never sent",
                   "token travels in plaintext msgpack: tunnel the port"))

    def __repr__(self) -> str:
        s = self.settings
        return (f"Gr00tPolicy(target={s.target!r}, generation={s.generation!r}, client={s.client!r}, "
                f"transport={s.transport!r}, strict={s.strict}, api_token={'[set]' if s.api_token else '[unset]'})")

    @property
    def bridge(self) -> Gr00tObservationBridge:
        if self._bridge is None:
            self._bridge = Gr00tObservationBridge(generation=self.settings.generation)
        return self._bridge

    # ------------------------------------------------------------------ connection
    def _build_transport(self, timeout_ms: int | None = None) -> Any:
        s = self.settings
        missing = s.missing()
        if missing:
            raise ProviderError(f"GR00T client not configured: missing {', '.join(missing)}",
                                ErrorCode.PROVIDER_NOT_CONFIGURED)
        if s.transport == "http":
            from .http_transport import Gr00tHttpTransport  # noqa: PLC0415 (lazy: httpx)
            return Gr00tHttpTransport(s.http_url, timeout_s=(timeout_ms or s.timeout_ms) / 1000.0,
                                      event_sink=self.event_sink, api_token=s.api_token,
                                      max_response_bytes=s.max_message_bytes)
        if s.client == "upstream":
            return _UpstreamClient(s)
        from .zmq_transport import Gr00tZmqClient  # noqa: PLC0415 (lazy: pyzmq)
        codec = Gr00tCodec(s.generation, s.max_message_bytes, s.max_array_bytes)
        return Gr00tZmqClient(s.host, s.port, codec, timeout_ms=timeout_ms or s.timeout_ms, api_token=s.api_token)

    @property
    def transport(self) -> Any:
        """The live transport (built on first use)."""
        if self._transport is None:
            self._transport = self._build_transport()
        return self._transport

    def configure(self) -> None:
        """Connect and ping once; raises a typed ProviderError when the server is not usable."""
        self.ping()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ------------------------------------------------------------------ endpoints
    def ping(self) -> dict[str, Any]:
        """``ping`` (``GET /health`` over HTTP); returns the server's status dict."""
        if self.settings.transport == "http":
            return self.transport.health()
        reply = self.transport.call("ping", with_data=False)
        if not isinstance(reply, dict) or reply.get("status") != "ok":
            raise ProviderError("ping reply is not {'status': 'ok'}", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        return reply

    def get_modality_config(self) -> dict[str, ModalityConfig]:
        """The server's modality configs (cached for strict checks)."""
        self._require_zmq("get_modality_config")
        reply = self.transport.call("get_modality_config", with_data=False)
        if not isinstance(reply, dict) or not all(isinstance(v, ModalityConfig) for v in reply.values()):
            raise ProviderError("get_modality_config reply is not {name: ModalityConfig}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        self._modality = reply
        return reply

    def reset(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """``reset`` at the start of an episode/plan (n1.6+). n1.5 servers have no reset: a no-op there."""
        if self.settings.generation == "n1.5" or self.settings.transport == "http":
            return {"reset": "not_supported_by_generation"}
        reply = self.transport.call("reset", {"options": options})
        return reply if isinstance(reply, dict) else {"reply": type(reply).__name__}

    def get_action(self, observation: dict[str, Any], options: dict[str, Any] | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One raw ``get_action`` call after client-side checks; returns ``({key: (B,H,D)}, info)``."""
        s = self.settings
        modality = self._strict_modality()
        if s.generation == "n1.5":
            check_flat_observation(observation, strict=s.strict, modality=modality)
            reply = (self.transport.act(observation) if s.transport == "http"
                     else self.transport.call("get_action", observation))
        else:
            check_nested_observation(observation, strict=s.strict, modality=modality)
            if s.transport == "http":
                reply = self.transport.act(observation)
            else:
                data: dict[str, Any] = {"observation": observation}
                if options is not None:
                    data["options"] = options
                reply = self.transport.call("get_action", data)
        if s.transport == "http" and s.generation != "n1.5" and isinstance(reply, dict):
            reply = [reply, {}]  # HTTP mode replies with the action dict alone
        return action_dict_from_reply(reply, s.generation)

    def _strict_modality(self) -> dict[str, ModalityConfig] | None:
        if not self.settings.strict or self.settings.transport == "http":
            return None
        return self._modality if self._modality is not None else self.get_modality_config()

    def _require_zmq(self, endpoint: str) -> None:
        if self.settings.transport == "http":
            raise ProviderError(f"{endpoint} is not available over the HTTP transport",
                                ErrorCode.PROVIDER_RUNTIME_ERROR)

    # ------------------------------------------------------------------ PolicyProvider
    def select_actions(self, observation: ObservationData, num_candidates: int = 1, mode: str = "predict_chunk",
                       *, options: dict[str, Any] | None = None, **ids: str) -> PolicyResult:
        """N candidate action chunks for ``observation``; emits one ``policy`` event (success or failure)."""
        s = self.settings
        start = time.perf_counter()
        base_meta = {"timeout_ms": s.timeout_ms, "strict": s.strict, "embodiment_tag": s.embodiment_tag}
        try:
            if mode not in MODES:
                raise RequestError(f"mode must be one of {list(MODES)}, got {mode!r}", ErrorCode.INVALID_ARGUMENT)
            if num_candidates < 1:
                raise RequestError("num_candidates must be >= 1", ErrorCode.INVALID_ARGUMENT)
            tag = observation.embodiment_tag
            if tag and s.embodiment_tag and tag != s.embodiment_tag:
                raise RequestError(f"observation embodiment {tag!r} differs from the server's {s.embodiment_tag!r}",
                                   ErrorCode.UNKNOWN_EMBODIMENT)
            result = self._select(observation, num_candidates, mode, options)
        except WorldForgeRosError as exc:
            self._emit("failure", start, str(exc), base_meta, 0, **ids)
            raise
        meta = dict(base_meta, candidate_count=result.candidate_count,
                    action_horizon=int(result.actions["action"].shape[1]))
        result.metadata["duration_ms"] = round((time.perf_counter() - start) * 1000.0, 3)
        self._emit("success", start, "", meta, 0, **ids)
        return result

    def _select(self, observation: ObservationData, count: int, mode: str,
                options: dict[str, Any] | None) -> PolicyResult:
        s = self.settings
        built = self.bridge.build(observation)
        if s.generation == "n1.5":
            parts = [self.get_action(built)[0] for _ in range(count)]
            per_key = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
            info: dict[str, Any] = {}
            strategy = "repeated_calls"
        else:
            per_key, info = self.get_action(tile_nested(built, count) if count > 1 else built, options)
            strategy = "batched_observation"
        main, order, order_source = concatenate_actions(per_key, s.action_keys)
        if main.shape[0] != count:
            raise ProviderError(f"server returned {main.shape[0]} candidates for a batch of {count}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        chunk = main if mode == "predict_chunk" else main[:, :1, :]
        actions = {f"action.{k}": v for k, v in per_key.items()}
        actions["action"] = chunk
        metadata = {
            "runtime": "gr00t", "generation": s.generation, "client": s.client, "transport": s.transport,
            "target": s.target, "mode": mode, "strict": s.strict, "embodiment_tag": s.embodiment_tag,
            "candidate_count": count, "candidate_strategy": strategy,
            "action_key_order": list(order), "action_key_order_source": order_source,
            "action_composition": "concatenated on the last axis in action_key_order",
            "raw_action_shapes": {f"action.{k}": list(v.shape) for k, v in per_key.items()},
            "action_shape": list(chunk.shape), "server_info_keys": sorted(str(k) for k in info),
            "observation_keys": _observation_keys(built),
        }
        tag = s.embodiment_tag or observation.embodiment_tag
        return PolicyResult(provider=PROVIDER_NAME, actions=actions, embodiment_tag=tag, metadata=metadata)

    def _emit(self, phase: str, start: float, message: str, metadata: dict[str, Any], status: int, **ids: str) -> None:
        if self.event_sink is None:
            return
        event = ProviderEvent.build(
            PROVIDER_NAME, "policy", phase, method=METHOD, target=self.settings.target,
            duration_ms=(time.perf_counter() - start) * 1000.0, message=_scrub(message, self.settings.api_token),
            metadata=metadata, status_code=status or None, **{k: v for k, v in ids.items() if v})
        self.event_sink(event)

    # ------------------------------------------------------------------ health
    def health(self) -> ProviderHealth:
        """Three distinct unhealthy reasons: ``not_configured``, ``dependency_missing``, ``server_unreachable``."""
        s = self.settings
        start = time.perf_counter()

        def result(healthy: bool, details: str, reason: str = "") -> ProviderHealth:
            elapsed = max(0.1, (time.perf_counter() - start) * 1000.0)
            return ProviderHealth(PROVIDER_NAME, healthy, elapsed, _scrub(details, s.api_token), reason)

        missing = s.missing()
        if missing:
            return result(False, f"missing {', '.join(missing)}", "not_configured")
        absent = _missing_dependency(s)
        if absent:
            return result(False, f"missing client dependency {absent!r} (client={s.client}, "
                                 f"transport={s.transport})", "dependency_missing")
        try:
            probe = self._build_transport(timeout_ms=min(s.timeout_ms, s.health_timeout_ms))
        except WorldForgeRosError as exc:
            return result(False, f"client construction failed: {exc.message}", "dependency_missing")
        try:
            if s.transport == "http":
                probe.health()
            else:
                probe.call("ping", with_data=False)
        except ProviderError as exc:
            if exc.code == ErrorCode.PROVIDER_AUTH_FAILED:
                return result(False, f"server at {s.target} rejected the API token", "server_unreachable")
            return result(False, f"ping to {s.target} failed: {exc.message}", "server_unreachable")
        finally:
            probe.close()
        return result(True, f"configured for {s.target}")


def _observation_keys(built: dict[str, Any]) -> dict[str, list[int] | str]:
    out: dict[str, Any] = {}
    for key, value in built.items():
        if isinstance(value, dict):
            for sub, arr in value.items():
                out[f"{key}.{sub}"] = list(arr.shape) if isinstance(arr, np.ndarray) else "text"
        else:
            out[key] = list(value.shape) if isinstance(value, np.ndarray) else "text"
    return out


def _scrub(text: str, token: str) -> str:
    """Remove the literal token from text that may echo it (server error strings), before redaction."""
    return text.replace(token, "[redacted]") if token else text
