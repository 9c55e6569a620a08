"""HTTP transport for GR00T policy servers started in HTTP mode: ``POST /act``, ``GET /health``.

Bodies are JSON with json-numpy style arrays ``{"__numpy__": <base64 raw bytes>, "dtype": <descr>,
"shape": [...]}``; ``POST /act`` sends ``{"observation": {...}}``. Every request has a timeout, a retry policy
(:class:`RetryPolicy`, WorldForge's defaults: retry on 408/429/500/502/503/504 and on connection errors and
timeouts, exponential backoff) and a request budget (``max_elapsed_seconds``). Each retry emits a ``retry``
:class:`ProviderEvent` and an exhausted budget a ``budget_exceeded`` one through ``event_sink``. The token,
if any, goes in an ``Authorization: Bearer`` header and never into an event or message.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...core.errors import ErrorCode, ProviderError
from ...core.events import ProviderEvent

RETRYABLE_STATUS_CODES = (408, 429, 500, 502, 503, 504)
PROVIDER_NAME = "gr00t"


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts, backoff and the overall request budget for one logical request."""

    max_attempts: int = 3
    backoff_seconds: float = 0.1
    backoff_multiplier: float = 2.0
    retryable_status_codes: tuple[int, ...] = RETRYABLE_STATUS_CODES
    max_elapsed_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff_seconds < 0 or self.backoff_multiplier < 1:
            raise ValueError("need max_attempts >= 1, backoff_seconds >= 0, backoff_multiplier >= 1")
        if self.max_elapsed_seconds <= 0:
            raise ValueError("max_elapsed_seconds must be > 0")

    def backoff(self, attempt: int) -> float:
        """Delay after failed ``attempt`` (1-based)."""
        return self.backoff_seconds * self.backoff_multiplier ** (attempt - 1)


def encode_json_numpy(obj: Any) -> Any:
    """Replace ndarrays (recursively) by json-numpy dicts; refuse object dtypes."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise ProviderError("refusing an object-dtype array", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        array = obj if obj.flags.c_contiguous else obj.copy(order="C")
        return {"__numpy__": base64.b64encode(array.tobytes()).decode("ascii"),
                "dtype": np.lib.format.dtype_to_descr(array.dtype), "shape": list(array.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): encode_json_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_json_numpy(v) for v in obj]
    return obj


def _json_numpy_hook(obj: dict) -> Any:
    if "__numpy__" not in obj:
        return obj
    try:
        dtype = np.dtype(obj["dtype"] if isinstance(obj["dtype"], str) else tuple(obj["dtype"]))
    except (TypeError, KeyError) as exc:
        raise ProviderError("json-numpy array with an unknown dtype", ErrorCode.PROVIDER_CONTRACT_VIOLATION) from exc
    if dtype.hasobject:
        raise ProviderError("refusing an object-dtype array", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
    data = base64.b64decode(obj["__numpy__"])
    shape = tuple(int(s) for s in obj.get("shape", ()))
    if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ProviderError(f"json-numpy data length does not match shape {shape}",
                            ErrorCode.PROVIDER_CONTRACT_VIOLATION)
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode_json_numpy(text: str | bytes) -> Any:
    """Parse JSON, turning json-numpy dicts into ndarrays."""
    try:
        return json.loads(text, object_hook=_json_numpy_hook)
    except json.JSONDecodeError as exc:
        raise ProviderError("reply is not JSON", ErrorCode.PROVIDER_CONTRACT_VIOLATION) from exc


class Gr00tHttpTransport:
    """httpx client for one GR00T HTTP server (``base_url`` like ``http://127.0.0.1:8000``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 15.0, retry: RetryPolicy | None = None,
                 event_sink: Callable[[ProviderEvent], None] | None = None, api_token: str = "",
                 max_response_bytes: int = 64 * 1024 * 1024, sleep: Callable[[float], None] = time.sleep) -> None:
        try:
            import httpx  # noqa: PLC0415 (lazy: optional runtime)
        except ImportError as exc:
            raise ProviderError("httpx is not installed (needed by the GR00T HTTP transport)",
                                ErrorCode.PROVIDER_DEPENDENCY_MISSING) from exc
        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.event_sink = event_sink
        self.max_response_bytes = int(max_response_bytes)
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
        self.timeout_s = float(timeout_s)
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s, headers=headers)

    def __repr__(self) -> str:
        return f"Gr00tHttpTransport(base_url={self.base_url!r}, retry={self.retry!r})"

    def close(self) -> None:
        self._client.close()

    def act(self, observation: dict[str, Any]) -> Any:
        """``POST /act`` with ``{"observation": ...}``; returns the decoded reply."""
        body = json.dumps({"observation": encode_json_numpy(observation)})
        return self.request("POST", "/act", content=body)

    def health(self) -> dict[str, Any]:
        """``GET /health``; returns the decoded JSON (any 2xx is healthy)."""
        reply = self.request("GET", "/health")
        return reply if isinstance(reply, dict) else {"status": "ok", "reply": type(reply).__name__}

    def _emit(self, phase: str, method: str, path: str, attempt: int, status: int | None, message: str,
              elapsed_s: float) -> None:
        if self.event_sink is None:
            return
        self.event_sink(ProviderEvent.build(
            PROVIDER_NAME, "policy", phase, method=method, target=self.base_url + path, status_code=status,
            attempt=attempt, max_attempts=self.retry.max_attempts, duration_ms=elapsed_s * 1000.0, message=message,
            metadata={"max_elapsed_seconds": self.retry.max_elapsed_seconds, "transport": "http"}))

    def request(self, method: str, path: str, *, content: str | None = None) -> Any:
        """One logical request with retries inside the budget. Raises typed ProviderErrors."""
        httpx = self._httpx
        policy = self.retry
        start = time.monotonic()
        headers = {"Content-Type": "application/json"} if content is not None else None
        for attempt in range(1, policy.max_attempts + 1):
            status: int | None = None
            remaining = policy.max_elapsed_seconds - (time.monotonic() - start)
            try:
                # streamed, so _decode reads at most max_response_bytes (a huge or trickled reply is cut off)
                with self._client.stream(method, path, content=content, headers=headers,
                                         timeout=max(0.001, min(self.timeout_s, remaining))) as response:
                    status = response.status_code
                    if status < 400:
                        return self._decode(response)
                if status in (401, 403):
                    raise ProviderError(f"{method} {path} refused the credentials (HTTP {status})",
                                        ErrorCode.PROVIDER_AUTH_FAILED, status_code=status)
                failure = ProviderError(f"{method} {path} failed with HTTP {status}", ErrorCode.PROVIDER_RUNTIME_ERROR,
                                        status_code=status)
                retryable = status in policy.retryable_status_codes
            except httpx.TimeoutException:
                failure = ProviderError(f"{method} {path} timed out", ErrorCode.PROVIDER_TIMEOUT)
                retryable = True
            except httpx.TransportError as exc:
                failure = ProviderError(f"{method} {path} transport error: {type(exc).__name__}",
                                        ErrorCode.PROVIDER_UNAVAILABLE)
                retryable = True
            if not retryable or attempt == policy.max_attempts:
                raise failure
            delay = policy.backoff(attempt)
            elapsed = time.monotonic() - start
            if elapsed + delay >= policy.max_elapsed_seconds:
                message = (f"request budget of {policy.max_elapsed_seconds:g} s exhausted after {attempt} attempt(s) "
                           f"({failure.message})")
                self._emit("budget_exceeded", method, path, attempt, status, message, elapsed)
                raise ProviderError(message, ErrorCode.PROVIDER_BUDGET_EXCEEDED, status_code=status)
            self._emit("retry", method, path, attempt, status, failure.message, elapsed)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, response: Any) -> Any:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise ProviderError(f"reply of {declared} bytes exceeds max_response_bytes={self.max_response_bytes}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise ProviderError(f"reply exceeds max_response_bytes={self.max_response_bytes} (read {size} bytes)",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            chunks.append(chunk)
        body = b"".join(chunks)
        reply = decode_json_numpy(body) if body else {}
        if isinstance(reply, dict) and "error" in reply:
            raise ProviderError(f"server reported an error: {str(reply['error'])[:500]}",
                                ErrorCode.PROVIDER_RUNTIME_ERROR)
        return reply
