"""Factories the registry calls: ROS parameter mappings -> provider objects (imports happen here, lazily)."""

from __future__ import annotations

import time
from typing import Any, Callable

from worldforge_ros.core.errors import ErrorCode, RequestError


def _strings(values: Any) -> list[str]:
    return [v for v in (values or []) if v]


def make_reference_policy(config: dict[str, Any], sink: Callable | None = None) -> Any:
    from worldforge_ros.providers.reference import ReferencePolicy

    latency_s = float(config.pop("latency_s", 0.0))
    policy = ReferencePolicy.from_config(config)
    return SimulatedLatency(policy, latency_s) if latency_s > 0 else policy


class SimulatedLatency:
    """The reference policy plus a fixed simulated compute time per call (timeout tests, benchmarks)."""

    def __init__(self, inner: Any, latency_s: float) -> None:
        self._inner = inner
        self.latency_s = latency_s
        self.profile = inner.profile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def select_actions(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.latency_s)
        return self._inner.select_actions(*args, **kwargs)


def make_reference_scorer(config: dict[str, Any], sink: Callable | None = None) -> Any:
    from worldforge_ros.providers.reference import ReferenceScorer

    return ReferenceScorer.from_config(config)


def parse_state_keys(items: Any) -> dict[str, tuple[str, ...]]:
    """``["arm=j1,j2,j3", "gripper=g"]`` -> ``{"arm": ("j1", "j2", "j3"), "gripper": ("g",)}``."""


    out: dict[str, tuple[str, ...]] = {}
    for item in _strings(items):
        key, sep, joints = item.partition("=")
        names = tuple(j.strip() for j in joints.split(",") if j.strip())
        if not sep or not key.strip() or not names:
            raise RequestError(f"gr00t.state_keys entry {item!r} is not 'key=joint,joint,...'",
                               ErrorCode.INVALID_ARGUMENT)
        out[key.strip().removeprefix("state.")] = names
    return out


def read_token_file(path: str) -> str:
    """The token in ``path`` (surrounding whitespace stripped; '' for no path). Unreadable or empty is a typed
    error naming the file, never its content."""
    if not path:
        return ""
    from pathlib import Path

    try:
        token = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RequestError(f"api_token_file {path}: {exc.strerror or exc}", ErrorCode.PROVIDER_AUTH_FAILED) from None
    if not token:
        raise RequestError(f"api_token_file {path} is empty", ErrorCode.PROVIDER_AUTH_FAILED)
    return token


def make_gr00t_policy(config: dict[str, Any], sink: Callable | None = None) -> Any:
    from worldforge_ros.bridges.gr00t_observation import Gr00tObservationBridge
    from worldforge_ros.providers.gr00t import Gr00tPolicy

    values = {k: v for k, v in config.items() if k not in ("state_keys", "api_token_file")}
    token = read_token_file(config.get("api_token_file") or "")
    if token:
        values["api_token"] = token
    if "action_keys" in values:
        values["action_keys"] = tuple(_strings(values["action_keys"]))
    for key in ("port", "timeout_ms"):
        if not values.get(key):
            values.pop(key, None)
    policy = Gr00tPolicy(event_sink=sink, **values)
    state = parse_state_keys(config.get("state_keys"))
    if state:
        policy._bridge = Gr00tObservationBridge(generation=policy.settings.generation, state_joints=state)
    return policy
