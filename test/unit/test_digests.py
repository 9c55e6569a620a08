"""Canonical JSON, tensor digests and hash-chain verification that pinpoints the first bad record."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worldforge_ros.core import digests
from worldforge_ros.core.digests import (EXACT_FLOAT_RANGE, GENESIS_DIGEST, ChainLinkRecord, HashChain, canonical_json,
                                         digest_json, float_array_json, is_digest, tensor_digest, tensor_digests,
                                         verify_chain)
from worldforge_ros.core.trajectory import TrajectoryData


def test_canonical_json_is_order_free_compact_and_refuses_nan():
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert digest_json({"b": 1, "a": 2}) == digest_json({"a": 2, "b": 1})
    assert is_digest(digest_json({}))
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            canonical_json({"x": bad})


def test_is_digest_accepts_only_sha256_and_64_lower_case_hex():
    good = digest_json({})
    assert is_digest(good) and is_digest(GENESIS_DIGEST)
    for bad in (good + "\n", good[:-1], good + "0", good.upper(), "sha256:" + "g" * 64, "SHA256:" + "0" * 64,
                " " + good, "sha512:" + "0" * 64, "", None, 7, good.encode()):
        assert not is_digest(bad), bad


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


def test_the_fast_float_writer_is_installed():
    # scripts/setup and requirements.txt install orjson; without it every test below would only see the json path
    assert digests._orjson is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40), st.integers(1, 3))
def test_float_array_json_is_canonical_json_of_the_lists(values, rows):
    arr = np.array(values * rows, dtype=np.float64).reshape(rows, len(values))
    assert float_array_json(arr) == canonical_json(arr.tolist())
    assert float_array_json(arr[0]) == canonical_json(arr[0].tolist())


def test_float_array_json_at_the_edges_of_the_exact_range():
    low, high = EXACT_FLOAT_RANGE
    edges = [0.0, -0.0, low, np.nextafter(low, 0.0), np.nextafter(low, 1.0), high, np.nextafter(high, 0.0), 1e-300,
             5e-324, 1.7976931348623157e308, 100.0, 0.1, 2.0 ** 53 + 2.0]
    rng = np.random.default_rng(7)
    spread = np.exp(rng.uniform(np.log(1e-6), np.log(1e18), 20_000)) * rng.choice([-1.0, 1.0], 20_000)
    for arr in (np.array(edges), -np.array(edges), spread, spread.reshape(100, 200), spread[::3]):
        assert float_array_json(arr) == canonical_json(arr.tolist())


def test_float_array_json_refuses_non_finite_and_keeps_other_dtypes_exact():
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError):
            float_array_json(np.array([[0.5, bad]]))
    single = np.array([0.1, 1.7, -3.3], dtype=np.float32)  # float32 would be written with float32's shortest digits
    assert float_array_json(single) == canonical_json(single.tolist()) == "[0.10000000149011612,1.7000000476837158," \
        "-3.299999952316284]"
    assert float_array_json(np.array([], dtype=np.float64)) == "[]"


def test_trajectory_json_equals_canonical_json_of_its_dict_with_and_without_orjson(monkeypatch):
    rng = np.random.default_rng(3)
    pos = np.cumsum(rng.normal(scale=0.05, size=(16, 7)), axis=0)
    pos[3, 2] = 3e-6  # outside the exact range: that array goes through json
    traj = TrajectoryData([f"j{i}" for i in range(7)], pos, np.gradient(pos, axis=0), np.arange(1, 17) * 0.1)
    expected = canonical_json(traj.to_dict())
    assert traj.to_json() == expected
    monkeypatch.setattr(digests, "_orjson", None)
    again = TrajectoryData(traj.joint_names, traj.positions, traj.velocities, traj.times_s)
    assert again.to_json() == expected
