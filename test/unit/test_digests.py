"""Canonical JSON, tensor digests and hash-chain verification that pinpoints the first bad record."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worldforge_ros.core.digests import (GENESIS_DIGEST, ChainLinkRecord, HashChain, canonical_json, digest_json,
                                         is_digest, tensor_digest, tensor_digests, verify_chain)


def test_canonical_json_is_order_free_compact_and_refuses_nan():
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert digest_json({"b": 1, "a": 2}) == digest_json({"a": 2, "b": 1})
    assert is_digest(digest_json({}))
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            canonical_json({"x": bad})


def test_tensor_digest_covers_dtype_shape_and_bytes():
    base = np.arange(6, dtype=np.float32)
    assert tensor_digest(base) == tensor_digest(base.copy())
    assert tensor_digest(base) != tensor_digest(base.astype(np.float64))
    assert tensor_digest(base) != tensor_digest(base.reshape(2, 3))
    changed = base.copy()
    changed[5] = 5.0001
    assert tensor_digest(base) != tensor_digest(changed)
    assert tensor_digest(base.reshape(2, 3).T) == tensor_digest(np.ascontiguousarray(base.reshape(2, 3).T))
    assert tensor_digest(base.astype(">f4")) == tensor_digest(base)  # byte order is normalised


def chain(payloads):
    hc = HashChain()
    return [ChainLinkRecord(*hc.append(p), payload=p) for p in payloads]


PAYLOADS = st.lists(st.binary(min_size=1, max_size=32), min_size=2, max_size=12)


@settings(max_examples=60, deadline=None)
@given(payloads=PAYLOADS, data=st.data())
def test_every_single_edit_drop_and_reorder_is_caught_at_its_position(payloads, data):
    records = chain(payloads)
    assert verify_chain(records).ok and verify_chain(records).head == records[-1].digest
    i = data.draw(st.integers(0, len(records) - 1))
    edited = list(records)
    edited[i] = ChainLinkRecord(records[i].seq, records[i].prev_digest, records[i].digest,
                                records[i].payload + b"!")
    result = verify_chain(edited)
    assert not result.ok and result.first_bad == i
    dropped = records[:i] + records[i + 1:]
    result = verify_chain(dropped)
    if i < len(records) - 1:
        assert not result.ok and result.first_bad == i
    else:  # dropping the tail is only visible against the recorded head
        assert result.head != records[-1].digest
    j = data.draw(st.integers(0, len(records) - 1).filter(lambda j: j != i))
    swapped = list(records)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    result = verify_chain(swapped)
    assert not result.ok and result.first_bad == min(i, j)


def test_verify_from_a_given_head():
    records = chain([b"a", b"b", b"c"])
    assert verify_chain(records[:1], GENESIS_DIGEST).ok
    assert not verify_chain(records[1:]).ok


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["<f8", ">f8", "<f4", "<i8", "u1"]), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_tensor_digests_equal_each_items_tensor_digest(dtype, n, h, d):
    batch = (np.arange(n * h * d) * 1.5 - 3).reshape(n, h, d).astype(dtype)
    assert tensor_digests(batch) == [tensor_digest(batch[i]) for i in range(n)]
    assert len(set(tensor_digests(batch))) == n
