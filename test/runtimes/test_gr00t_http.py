"""GR00T HTTP transport against a real HTTP server written here (issue 17, item 1).

The server is ``http.server`` in a thread on 127.0.0.1 with its own json-numpy decoding (base64 + dtype + shape),
not the transport's helpers. Covered: success (POST /act, GET /health), the bearer header, timeouts, 4xx/5xx
replies, error bodies, oversize replies (declared, undeclared and stalled), connection refused and the request
budget (PROVIDER_BUDGET_EXCEEDED), with the retry/budget events each path emits.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import httpx  # noqa: F401  (scripts/setup installs it; the transport imports it lazily)
from worldforge_ros.core.errors import ErrorCode, ProviderError  # noqa: E402
from worldforge_ros.providers.gr00t.http_transport import Gr00tHttpTransport, RetryPolicy  # noqa: E402

TOKEN = "tok-http-5f2a-do-not-leak"


def _np_to_json(arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr)
    return {"__numpy__": base64.b64encode(arr.tobytes()).decode(), "dtype": arr.dtype.str, "shape": list(arr.shape)}


def _json_to_np(obj: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(obj["__numpy__"]), dtype=np.dtype(obj["dtype"])).reshape(obj["shape"])


class Reply:
    """What the server answers to one request."""

    def __init__(self, status=200, body: bytes | dict | None = None, headers=None, delay=0.0, chunked=False,
                 declared_length: int | None = None, stall_after_body=0.0):
        self.status = status
        self.body = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        self.headers = dict(headers or {})
        self.delay = delay
        self.chunked = chunked
        self.declared_length = declared_length
        self.stall_after_body = stall_after_body


class Server:
    """A scripted HTTP server: each request takes the next Reply (the last one repeats)."""

    def __init__(self, *replies: Reply):
        self.replies = list(replies) or [Reply()]
        self.requests: list[dict] = []
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body, "time": time.monotonic()})
                reply = outer.replies[min(len(outer.requests) - 1, len(outer.replies) - 1)]
                if reply.delay and outer.stop.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for i in range(0, len(reply.body), 4096):
                            part = reply.body[i:i + 4096]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        n = reply.declared_length if reply.declared_length is not None else len(reply.body)
                        self.send_header("Content-Length", str(n))
                        self.end_headers()
                        self.wfile.write(reply.body)
                    self.wfile.flush()
                    if reply.stall_after_body:
                        outer.stop.wait(reply.stall_after_body)
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def transport(url, events=None, *, attempts=3, backoff=0.0, budget=30.0, timeout_s=2.0, **kw):
    sink = events.append if events is not None else None
    return Gr00tHttpTransport(url, timeout_s=timeout_s, event_sink=sink,
                              retry=RetryPolicy(max_attempts=attempts, backoff_seconds=backoff,
                                                max_elapsed_seconds=budget), **kw)


def _fails(fn, code) -> ProviderError:
    with pytest.raises(ProviderError) as err:
        fn()
    assert err.value.code == code, err.value
    return err.value


def test_act_round_trip_with_json_numpy_on_the_wire():
    action = np.arange(12, dtype=np.float32).reshape(1, 3, 4) / 7.0
    with Server(Reply(200, {"action": {"joint_position": _np_to_json(action)}})) as srv:
        t = transport(srv.url)
        obs = {"video": {"cam": np.zeros((1, 2, 2, 3), dtype=np.uint8)}, "state": {"q": np.array([0.5, -1.0])},
               "language": "pick"}
        reply = t.act(obs)
        t.close()
    np.testing.assert_array_equal(reply["action"]["joint_position"], action)
    assert reply["action"]["joint_position"].dtype == np.float32
    (req,) = srv.requests
    assert (req["method"], req["path"]) == ("POST", "/act")
    assert req["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in req["headers"]  # no token configured: no header at all
    sent = json.loads(req["body"])
    assert set(sent) == {"observation"}
    np.testing.assert_array_equal(_json_to_np(sent["observation"]["state"]["q"]), [0.5, -1.0])
    cam = _json_to_np(sent["observation"]["video"]["cam"])
    assert cam.shape == (1, 2, 2, 3) and cam.dtype == np.uint8
    assert sent["observation"]["language"] == "pick"


def test_health_get_and_bearer_header():
    with Server(Reply(200, {"status": "ok"})) as srv:
        t = transport(srv.url, api_token=TOKEN)
        assert t.health() == {"status": "ok"}
        t.close()
    (req,) = srv.requests
    assert (req["method"], req["path"]) == ("GET", "/health")
    assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(t)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_auth_failed_not_retried_and_token_stays_out(status):
    events = []
    with Server(Reply(status, {"detail": "bad token"})) as srv:
        t = transport(srv.url, events, api_token=TOKEN)
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_AUTH_FAILED)
        t.close()
    assert len(srv.requests) == 1
    assert err.details.get("status_code") == status
    assert TOKEN not in str(err) and all(TOKEN not in repr(e) for e in events)


def test_timeout_is_retried_then_provider_timeout():
    events = []
    with Server(Reply(200, {"ok": 1}, delay=2.0)) as srv:
        t = transport(srv.url, events, attempts=2, timeout_s=0.2)
        started = time.monotonic()
        _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_TIMEOUT)
        elapsed = time.monotonic() - started
        t.close()
    assert len(srv.requests) == 2
    assert elapsed < 1.5, elapsed  # two 0.2 s timeouts, not the server's 2 s
    assert [e.phase for e in events] == ["retry"]
    assert events[0].attempt == 1 and events[0].max_attempts == 2


def test_4xx_is_runtime_error_without_retry():
    events = []
    with Server(Reply(400, {"error": "observation lacks video.cam"})) as srv:
        t = transport(srv.url, events)
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_RUNTIME_ERROR)
        t.close()
    assert len(srv.requests) == 1 and events == []
    assert err.details.get("status_code") == 400 and "400" in err.message


def test_5xx_is_retried_and_a_later_success_is_returned():
    events = []
    with Server(Reply(503, {"error": "warming up"}), Reply(502, b"<html>bad gateway</html>",
                                                           headers={"Content-Type": "text/html"}),
                Reply(200, {"action": [1.0, 2.0]})) as srv:
        t = transport(srv.url, events, attempts=3)
        assert t.act({"x": np.zeros(2)}) == {"action": [1.0, 2.0]}
        t.close()
    assert len(srv.requests) == 3
    assert [(e.phase, e.status_code, e.attempt) for e in events] == [("retry", 503, 1), ("retry", 502, 2)]


def test_5xx_every_time_ends_in_runtime_error_after_max_attempts():
    with Server(Reply(500, {"error": "boom"})) as srv:
        t = transport(srv.url, attempts=3)
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_RUNTIME_ERROR)
        t.close()
    assert len(srv.requests) == 3 and err.details.get("status_code") == 500


def test_non_retryable_5xx_is_not_retried():
    with Server(Reply(501, b"")) as srv:
        t = transport(srv.url, attempts=3)
        _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_RUNTIME_ERROR)
        t.close()
    assert len(srv.requests) == 1


def test_200_with_an_error_body_is_runtime_error_and_not_json_is_contract_violation():
    with Server(Reply(200, {"error": "model not loaded " + "x" * 2000}), Reply(200, b"not json {")) as srv:
        t = transport(srv.url)
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_RUNTIME_ERROR)
        assert "model not loaded" in err.message and len(err.message) < 700  # quoted, bounded
        _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        t.close()


def test_oversize_reply_declared_by_content_length():
    body = json.dumps({"action": [0.0] * 500}).encode()
    with Server(Reply(200, body)) as srv:
        t = transport(srv.url, max_response_bytes=len(body) - 1)
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        t.close()
    assert "max_response_bytes" in err.message and len(srv.requests) == 1  # not retried


def test_oversize_chunked_reply_without_content_length():
    body = json.dumps({"action": [0.0] * 5000}).encode()
    with Server(Reply(200, body, chunked=True)) as srv:
        t = transport(srv.url, max_response_bytes=1024)
        _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        t.close()
    with Server(Reply(200, body, chunked=True)) as srv:  # the same reply within the cap is accepted
        t = transport(srv.url, max_response_bytes=len(body))
        assert len(t.act({"x": np.zeros(2)})["action"]) == 5000
        t.close()


def test_oversize_reply_is_refused_without_reading_it_all():
    """A server announcing a huge body and trickling it is refused at once, not read (or waited for) to the end:
    max_response_bytes bounds what the client reads, not only what it decodes."""
    with Server(Reply(200, b"[" + b"0," * 4096, declared_length=512 * 1024 * 1024, stall_after_body=5.0)) as srv:
        t = transport(srv.url, attempts=1, timeout_s=3.0, max_response_bytes=1024)
        started = time.monotonic()
        _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        elapsed = time.monotonic() - started
        t.close()
    assert elapsed < 2.0, elapsed
    with Server(Reply(200, b"[" + b"0," * 4096, declared_length=None, chunked=True, stall_after_body=5.0)) as srv:
        t = transport(srv.url, attempts=1, timeout_s=3.0, max_response_bytes=1024)
        started = time.monotonic()
        _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        t.close()
    assert time.monotonic() - started < 2.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_retried_then_unavailable():
    events = []
    t = transport(f"http://127.0.0.1:{_closed_port()}", events, attempts=3)
    err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_UNAVAILABLE)
    t.close()
    assert "ConnectError" in err.message
    assert [(e.phase, e.attempt) for e in events] == [("retry", 1), ("retry", 2)]


def test_budget_exhausted_by_backoff_is_budget_exceeded():
    events, slept = [], []
    with Server(Reply(503, {"error": "busy"})) as srv:
        t = Gr00tHttpTransport(srv.url, timeout_s=2.0, event_sink=events.append, sleep=slept.append,
                               retry=RetryPolicy(max_attempts=5, backoff_seconds=0.4, backoff_multiplier=2.0,
                                                 max_elapsed_seconds=1.0))
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_BUDGET_EXCEEDED)
        t.close()
    # the injected sleep takes no time, so elapsed stays ~0: backoffs 0.4 and 0.8 fit, the third (1.6 s) would
    # pass the 1 s budget -> the transport stops after 3 of its 5 attempts
    assert slept == [0.4, 0.8] and len(srv.requests) == 3
    assert [e.phase for e in events] == ["retry", "retry", "budget_exceeded"]
    assert err.details.get("status_code") == 503 and "budget" in err.message


def test_budget_caps_each_attempt_timeout():
    """A slow server cannot hold one request longer than the remaining budget, whatever timeout_s says."""
    events = []
    with Server(Reply(200, {"ok": 1}, delay=3.0)) as srv:
        t = transport(srv.url, events, attempts=3, backoff=0.05, budget=0.5, timeout_s=10.0)
        started = time.monotonic()
        err = _fails(lambda: t.act({"x": np.zeros(2)}), ErrorCode.PROVIDER_BUDGET_EXCEEDED)
        elapsed = time.monotonic() - started
        t.close()
    assert elapsed < 1.5, elapsed
    assert "timed out" in err.message
    assert events and events[-1].phase == "budget_exceeded"
