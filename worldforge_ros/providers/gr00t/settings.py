"""Settings of the GR00T policy client: constructor values first, WorldForge's env vars as fallbacks.

| setting | env fallback | default |
|---|---|---|
| host | ``GROOT_POLICY_HOST`` | (required) |
| port | ``GROOT_POLICY_PORT`` | 5555 |
| timeout_ms | ``GROOT_POLICY_TIMEOUT_MS`` | 15000 |
| api_token (secret) | ``GROOT_POLICY_API_TOKEN`` | unset |
| strict | ``GROOT_POLICY_STRICT`` (1/true/yes/on, 0/false/no/off) | false |
| embodiment_tag | ``GROOT_EMBODIMENT_TAG`` | "" |
| generation | ``GROOT_POLICY_GENERATION`` | (required: n1.5, n1.6, n1.7) |

The token is kept out of ``repr`` and :meth:`Gr00tSettings.summary`; only its presence is ever shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...core.errors import ErrorCode, RequestError
from .codec import DEFAULT_MAX_BYTES, GENERATIONS

ENV_VARS = {
    "host": "GROOT_POLICY_HOST",
    "port": "GROOT_POLICY_PORT",
    "timeout_ms": "GROOT_POLICY_TIMEOUT_MS",
    "api_token": "GROOT_POLICY_API_TOKEN",
    "strict": "GROOT_POLICY_STRICT",
    "embodiment_tag": "GROOT_EMBODIMENT_TAG",
    "generation": "GROOT_POLICY_GENERATION",
}
CLIENTS = ("builtin", "upstream")
TRANSPORTS = ("zmq", "http")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RequestError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, got {text!r}",
                       ErrorCode.INVALID_ARGUMENT)


def _parse_int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError as exc:
        raise RequestError(f"{name} must be an integer, got {text!r}", ErrorCode.INVALID_ARGUMENT) from exc
    if value < minimum:
        raise RequestError(f"{name} must be >= {minimum}, got {value}", ErrorCode.INVALID_ARGUMENT)
    return value


@dataclass(frozen=True)
class Gr00tSettings:
    """Resolved settings. Build with :meth:`resolve` to apply env fallbacks and validation."""

    host: str = ""
    port: int = 5555
    timeout_ms: int = 15000
    api_token: str = field(default="", repr=False)
    strict: bool = False
    embodiment_tag: str = ""
    generation: str = ""
    client: str = "builtin"
    transport: str = "zmq"
    http_url: str = ""
    action_keys: tuple[str, ...] = ()
    max_message_bytes: int = DEFAULT_MAX_BYTES
    max_array_bytes: int = DEFAULT_MAX_BYTES
    health_timeout_ms: int = 2000
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **values: Any) -> "Gr00tSettings":
        """Constructor ``values`` (None = not given) win; env vars fill the rest; defaults last."""
        env = os.environ if env is None else env
        resolved: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, var in ENV_VARS.items():
            given = values.pop(name, None)
            if given is not None and given != "":
                resolved[name], sources[name] = given, "direct"
            elif env.get(var, "").strip():
                text = env[var]
                if name in ("port", "timeout_ms"):
                    resolved[name] = _parse_int(var, text, 1)
                elif name == "strict":
                    resolved[name] = parse_bool(var, text)
                else:
                    resolved[name] = text.strip()
                sources[name] = f"env:{var}"
            else:
                sources[name] = "default" if name not in ("host", "generation", "api_token") else "unset"
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise RequestError(f"unknown GR00T settings {sorted(unknown)}", ErrorCode.INVALID_ARGUMENT)
        resolved.update({k: v for k, v in values.items() if v is not None})
        if "action_keys" in resolved:
            resolved["action_keys"] = tuple(resolved["action_keys"])
        settings = cls(**resolved, sources=sources)
        settings.validate()
        return settings

    def validate(self) -> None:
        problems = []
        if self.generation and self.generation not in GENERATIONS:
            problems.append(f"generation must be one of {list(GENERATIONS)}, got {self.generation!r}")
        if self.client not in CLIENTS:
            problems.append(f"client must be one of {list(CLIENTS)}, got {self.client!r}")
        if self.transport not in TRANSPORTS:
            problems.append(f"transport must be one of {list(TRANSPORTS)}, got {self.transport!r}")
        if not 1 <= int(self.port) <= 65535:
            problems.append(f"port must be 1-65535, got {self.port}")
        if self.timeout_ms < 1 or self.health_timeout_ms < 1:
            problems.append("timeouts must be >= 1 ms")
        if self.max_message_bytes < 1 or self.max_array_bytes < 1:
            problems.append("size caps must be >= 1 byte")
        if problems:
            raise RequestError("invalid GR00T settings: " + "; ".join(problems), ErrorCode.INVALID_ARGUMENT)

    @property
    def target(self) -> str:
        """``host:port`` (ZeroMQ) or the HTTP base URL, for health and events."""
        return self.http_url if self.transport == "http" else f"{self.host}:{self.port}"

    def missing(self) -> list[str]:
        """Names of required settings that are missing (health's ``not_configured`` reason)."""
        out = []
        if self.transport == "http":
            if not self.http_url:
                out.append("http_url")
        elif not self.host:
            out.append(ENV_VARS["host"])
        if not self.generation:
            out.append(ENV_VARS["generation"] + " (generation)")
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Value-free config summary: name, present, source, secret (WorldForge's ``config_summary``)."""
        rows = []
        for name in ENV_VARS:
            value = getattr(self, name)
            rows.append({"name": name, "env": ENV_VARS[name], "present": value not in ("", None),
                         "source": self.sources.get(name, "direct"), "secret": name == "api_token"})
        return rows
