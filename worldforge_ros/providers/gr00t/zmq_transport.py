"""ZeroMQ REQ client for a GR00T policy server: timeouts always on, socket rebuilt after any failure.

A REQ socket that missed a reply cannot send again (``EFSM``), so after any timeout, transport error or
dropped connection the socket is closed (``LINGER=0``) and a fresh one is connected before the error is
raised. ``RCVTIMEO``/``SNDTIMEO`` are always set and ``MAXMSGSIZE`` caps what the transport accepts; an
oversize reply makes ZeroMQ drop the connection, which a socket monitor notices within one receive slice
(``POLL_SLICE_MS``), so it is reported as a typed error instead of a silent wait for the timeout.

``pyzmq`` is imported lazily: :func:`import_zmq` raises a typed ``PROVIDER_DEPENDENCY_MISSING`` error.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from ...core.errors import ErrorCode, ProviderError
from .codec import Gr00tCodec

ERROR_FRAME = b"ERROR"
"""The raw reply frame N1-era servers (and some N1.6 paths) send on failure."""

POLL_SLICE_MS = 50


def import_zmq():
    """Import pyzmq or raise a typed dependency error."""
    try:
        import zmq  # noqa: PLC0415 (lazy: optional runtime)
    except ImportError as exc:
        raise ProviderError("pyzmq is not installed (needed by the GR00T client)",
                            ErrorCode.PROVIDER_DEPENDENCY_MISSING) from exc
    return zmq


class Gr00tZmqClient:
    """One REQ connection to ``tcp://host:port`` speaking ``codec``'s generation. Thread-safe (one lock).

    ``call`` returns the decoded reply or raises ProviderError: ``PROVIDER_TIMEOUT`` (no reply in time),
    ``PROVIDER_UNAVAILABLE`` (transport error, connection dropped), ``PROVIDER_AUTH_FAILED``
    (``Unauthorized`` reply), ``PROVIDER_RUNTIME_ERROR`` (``{"error": ...}`` or ``b"ERROR"``),
    ``PROVIDER_CONTRACT_VIOLATION`` (undecodable or oversize reply). The token never appears in messages.
    """

    def __init__(self, host: str, port: int, codec: Gr00tCodec, *, timeout_ms: int = 15000,
                 api_token: str = "") -> None:
        self._zmq = import_zmq()
        self.host = host
        self.port = int(port)
        self.codec = codec
        self.timeout_ms = int(timeout_ms)
        self._api_token = api_token
        # One process-wide context, never terminated by us: a per-client context reclaimed by the garbage
        # collector (a client nobody closed) can run Context.__del__ -> term() after its sockets' weakrefs were
        # cleared, and term() then waits forever for sockets it can no longer close, freezing whichever thread
        # ran the collection. Sockets are LINGER=0 and are closed explicitly (close(), rebuild()).
        self._context = self._zmq.Context.instance()
        self._lock = threading.Lock()
        self._socket = None
        self._monitor = None
        self.rebuild_count = 0
        """How many times the REQ socket was closed and recreated after a failure."""
        self._connect()

    @property
    def target(self) -> str:
        """``host:port`` (what events and health show; never the token)."""
        return f"{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return (f"Gr00tZmqClient(target={self.target!r}, generation={self.codec.generation!r}, "
                f"timeout_ms={self.timeout_ms}, api_token={'[set]' if self._api_token else '[unset]'})")

    def _connect(self) -> None:
        zmq = self._zmq
        sock = self._context.socket(zmq.REQ)
        self._full_slice_ms = self._slice_ms = max(1, min(POLL_SLICE_MS, self.timeout_ms))
        sock.setsockopt(zmq.RCVTIMEO, self._slice_ms)  # the call's deadline is checked between slices
        sock.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.codec.max_message_bytes)
        # pyzmq's get_monitor_socket() names the endpoint after the socket's file descriptor; a descriptor reused
        # right after close() can still find the old inproc endpoint bound (libzmq reaps it asynchronously) and
        # fails with EADDRINUSE. A per-connection unique name cannot collide.
        address = f"inproc://wfros-gr00t-monitor-{uuid.uuid4().hex}"
        sock.monitor(address, zmq.EVENT_DISCONNECTED)
        self._monitor = self._context.socket(zmq.PAIR)
        self._monitor.connect(address)
        sock.connect(self.endpoint)
        self._socket = sock

    def _close_socket(self) -> None:
        if self._socket is not None:
            try:
                self._socket.disable_monitor()
            except Exception:  # noqa: BLE001 - best effort while tearing down
                pass
            self._socket.close(linger=0)
            self._socket = None
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None

    def rebuild(self) -> None:
        """Close the REQ socket and connect a fresh one (after any timeout or error)."""
        self._close_socket()
        self._connect()
        self.rebuild_count += 1

    def close(self) -> None:
        with self._lock:
            self._close_socket()

    def _drain_monitor(self) -> None:
        zmq = self._zmq
        while self._monitor.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._monitor.recv_multipart()

    def _receive(self, deadline: float) -> bytes:
        """The reply, waited for in blocking ``recv`` slices of ``RCVTIMEO = POLL_SLICE_MS``; between slices the
        monitor (a dropped connection) and the deadline are checked. A blocking recv measured 2-3 % faster per
        round trip than polling the REQ and monitor sockets together (bench/gr00t_transport.py)."""
        socket, zmq = self._socket, self._zmq
        if self._slice_ms != self._full_slice_ms:  # the previous call's last slice was shortened
            self._set_slice(self._full_slice_ms)
        while True:
            try:
                return socket.recv()
            except zmq.Again:
                pass
            if self._monitor.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                self._monitor.recv_multipart()
                raise ProviderError(
                    f"connection to {self.target} dropped while waiting for the reply (the server closed it, or "
                    f"the reply exceeded max_message_bytes={self.codec.max_message_bytes})",
                    ErrorCode.PROVIDER_UNAVAILABLE, target=self.target)
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise ProviderError(f"no reply from {self.target} within {self.timeout_ms} ms",
                                    ErrorCode.PROVIDER_TIMEOUT, target=self.target)
            if remaining_ms < self._slice_ms:
                self._set_slice(remaining_ms)  # the last slice ends at the deadline, not up to a slice after it

    def _set_slice(self, slice_ms: int) -> None:
        self._socket.setsockopt(self._zmq.RCVTIMEO, slice_ms)
        self._slice_ms = slice_ms

    def call(self, endpoint: str, data: Any = None, *, with_data: bool = True) -> Any:
        """Send one request and return the decoded reply; on any failure rebuild the socket, then raise."""
        with self._lock:
            if self._socket is None:
                raise ProviderError("GR00T client is closed", ErrorCode.PROVIDER_UNAVAILABLE)
            try:
                # The request is the codec's reused buffer, copied once into the ZeroMQ message by send(). An
                # encoding error (RequestError) leaves before anything was sent and keeps the socket.
                with self.codec.encoded_request(endpoint, data, api_token=self._api_token,
                                                with_data=with_data) as request:
                    self._drain_monitor()
                    deadline = time.monotonic() + self.timeout_ms / 1000.0
                    self._socket.send(request)
                message = self._receive(deadline)
                reply = self._interpret(message)
            except ProviderError:
                self.rebuild()  # any failure: never reuse a REQ socket whose state is in doubt
                raise
            except self._zmq.Again as exc:
                self.rebuild()
                raise ProviderError(f"sending to {self.target} timed out after {self.timeout_ms} ms",
                                    ErrorCode.PROVIDER_TIMEOUT, target=self.target) from exc
            except self._zmq.ZMQError as exc:
                self.rebuild()
                raise ProviderError(f"transport error talking to {self.target}: {exc}",
                                    ErrorCode.PROVIDER_UNAVAILABLE, target=self.target) from exc
        return reply

    def _interpret(self, message: bytes) -> Any:
        if message == ERROR_FRAME:
            raise ProviderError(f"server at {self.target} replied b'ERROR' (is it the right policy server and "
                                "generation?)", ErrorCode.PROVIDER_RUNTIME_ERROR, target=self.target)
        reply = self.codec.unpack(message)
        if isinstance(reply, dict) and "error" in reply:
            text = str(reply["error"])[:500]
            if text.startswith("Unauthorized"):
                raise ProviderError(f"server at {self.target} refused the API token ({text})",
                                    ErrorCode.PROVIDER_AUTH_FAILED, target=self.target)
            raise ProviderError(f"server at {self.target} reported an error: {text}",
                                ErrorCode.PROVIDER_RUNTIME_ERROR, target=self.target)
        return reply
