"""Redaction (WorldForge's rules) at event construction, event fields and phases, and the event sinks."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worldforge_ros.core.event_sinks import CallbackSink, FanoutSink, JsonlSink, MemorySink, read_jsonl
from worldforge_ros.core.events import PHASES, EventChain, ProviderEvent
from worldforge_ros.core.redaction import REDACTED, _apply_text_rules, redact_metadata, redact_text, redact_url

SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=10,
                 max_size=40).map(lambda s: "S3CR" + s)
KEYS = st.sampled_from(["api_key", "password", "token", "secret", "authorization", "client_secret", "passwd",
                        "API-KEY", "x_auth_token", "credential"])


def serialized(event):
    return json.dumps(event.to_dict(), sort_keys=True)


@settings(max_examples=60, deadline=None)
@given(secret=SECRET, key=KEYS, host=st.sampled_from(["example.com", "10.0.0.5:8000", "gpu-host.lab"]))
def test_generated_secrets_never_survive_into_a_serialized_event(secret, key, host):
    event = ProviderEvent.build(
        "gr00t", "policy", "failure",
        target=f"https://user:{secret}@{host}/act?sig={secret}#frag-{secret}",
        message=f"call failed: Authorization: Bearer {secret} ({key}={secret}; {key}: {secret})",
        metadata={"nested": {key: secret, "list": [f"{key}={secret}", {"url": f"http://{host}/x?token={secret}"}]},
                  "note": f'{{"{key}": "{secret}"}}', "tags": {f"Authorization: Bearer {secret}"},
                  "frozen": frozenset({f"https://{host}/a?X-Amz-Signature={secret}"}), "pair": (f"{key}={secret}",)},
        request_id=f"req-{key}={secret}")
    assert secret not in serialized(event)


FRAGMENTS = st.sampled_from(["Token", "BEARER ", "api-key", "sig", "x-amz-", "://", "https", "=", ": ", "'", '"',
                              " ", "abc", "ä", "S3CR", "/p?q=1", "&", "{", "}", "password", "Signed_URL"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(FRAGMENTS, max_size=12))
def test_fast_path_never_changes_what_the_rules_produce(parts):
    text = "".join(parts)
    assert redact_text(text) == _apply_text_rules(text)


@pytest.mark.parametrize("text", ["Token:///p?q=1", "file:///w.ckpt?X-Amz-Signature=S3CRx#S3CRy", "http://[::1/x?token=S3CRz"])
def test_scheme_without_host_is_redacted_not_recursed(text):
    # Found by the property test above: "scheme:///..." with no host sent redact_url back into redact_text
    # forever (RecursionError out of event construction).
    out = redact_text(text)
    assert "?" not in out and "S3CR" not in out
    event = ProviderEvent.build("gr00t", "policy", "failure", target=text, message=text)
    assert "S3CR" not in serialized(event)


def test_url_rules_keep_what_is_useful():
    assert redact_url("https://u:p@host:8443/v1/act?X-Amz-Signature=abc#f") == "https://host:8443/v1/act"
    assert redact_text("see http://h/p?q=1 now") == "see http://h/p now"
    assert redact_text("Bearer abc.def") == f"Bearer {REDACTED}"
    assert redact_text("shape=(16, 7) device=cpu") == "shape=(16, 7) device=cpu"  # not secrets: untouched


def test_sets_in_metadata_are_scanned_like_lists():
    # A set of strings went through the bounding step unredacted (only lists and tuples were scanned).
    meta = {"tags": {"Authorization: Bearer S3CRabcdef"}, "frozen": frozenset({"token=S3CRxyz"})}
    event = ProviderEvent.build("lerobot", "policy", "success", metadata=meta)
    assert event.metadata == {"tags": [f"Authorization: {REDACTED} {REDACTED}"], "frozen": [f"token={REDACTED}"]}
    assert "S3CR" not in json.dumps(redact_metadata(meta))


def test_metadata_is_bounded_and_never_holds_tensors():
    event = ProviderEvent.build("lerobot", "policy", "success",
                                metadata={"raw": np.zeros((64, 64), dtype=np.float32), "blob": b"\x00" * 4096,
                                          "long": "x" * 10_000, "many": list(range(1000)), "nan": float("nan")})
    meta = event.metadata
    assert meta["raw"] == {"type": "ndarray", "dtype": "float32", "shape": [64, 64]}
    assert meta["blob"] == {"type": "bytes", "bytes": 4096}
    assert len(meta["long"]) < 2100 and len(meta["many"]) < 100 and meta["nan"] is None
    assert len(serialized(event)) < 8000


def test_event_fields_phases_and_correlation_ids():
    for phase in PHASES:
        assert ProviderEvent.build("p", "Score", phase).phase == phase
    with pytest.raises(ValueError):
        ProviderEvent.build("p", "score", "succeeded")
    with pytest.raises(ValueError):
        ProviderEvent.build("p", "score", "retry", attempt=3, max_attempts=2)
    with pytest.raises(ValueError):
        ProviderEvent.build("p", "score", "success", tenant="x")
    event = ProviderEvent.build("p", "SCORE", "retry", method="post", attempt=2, max_attempts=3, status_code=503,
                                run_id="run", request_id="req", trace_id="t", span_id="s", artifact_id="a",
                                input_digest="sha256:" + "0" * 64)
    assert (event.operation, event.method, event.status_code) == ("score", "POST", 503)
    assert (event.run_id, event.request_id, event.trace_id, event.span_id, event.artifact_id) == \
        ("run", "req", "t", "s", "a")


def test_event_chain_stamps_seq_prev_and_digest():
    chain = EventChain()
    first = chain.stamp(ProviderEvent.build("p", "policy", "success", stamp_ns=1))
    second = chain.stamp(ProviderEvent.build("p", "policy", "failure", stamp_ns=2))
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_digest == first.digest and chain.head == second.digest
    replay = EventChain()
    assert replay.stamp(ProviderEvent.build("p", "policy", "success", stamp_ns=1)).digest == first.digest


def test_sinks_deliver_clean_chained_events(tmp_path):
    import dataclasses

    memory, seen = MemorySink(), []
    jsonl = JsonlSink(tmp_path / "logs" / "events.jsonl", chained=False)
    fan = FanoutSink([memory, jsonl, CallbackSink(seen.append)], chained=True)
    smuggled = dataclasses.replace(ProviderEvent.build("gr00t", "policy", "success"),
                                   message="token=hunter2-secret-value")  # bypassed build(): the sink cleans it
    for event in (smuggled, ProviderEvent.build("gr00t", "policy", "failure")):
        fan(event)
    fan.close()
    text = (tmp_path / "logs" / "events.jsonl").read_text()
    assert "hunter2" not in text and "hunter2" not in serialized(memory.events[0])
    read = read_jsonl(tmp_path / "logs" / "events.jsonl")
    assert [e.seq for e in read] == [1, 2] and read[1].prev_digest == read[0].digest == memory.events[0].digest
    assert fan.chain_head == read[1].digest and [e.digest for e in seen] == [e.digest for e in read]
