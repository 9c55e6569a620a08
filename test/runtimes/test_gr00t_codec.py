"""GR00T codec: golden bytes derived by hand, round trips, both ndarray forms, refusals and size caps."""

from __future__ import annotations

import io
import json
import struct

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError
from worldforge_ros.providers.gr00t.codec import GENERATIONS, Gr00tCodec, ModalityConfig, check_generation

ARRAY = np.array([1.5, -2.0], dtype="<f4")


def _hand_npy(descr: str, shape: tuple[int, ...], payload: bytes) -> bytes:
    """NPY format 1.0 written out by hand: magic, version, uint16 header length, padded dict header."""
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    preamble = 10  # 6 magic + 2 version + 2 length
    total = preamble + len(header) + 1
    padded = header + " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(padded)) + padded.encode("latin1") + payload


def _np_save(array: np.ndarray) -> bytes:
    """What ``np.save(array, allow_pickle=False)`` writes."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _bin8(data: bytes) -> bytes:
    return b"\xc4" + bytes([len(data)]) + data


def _fixstr(text: str) -> bytes:
    raw = text.encode()
    return bytes([0xA0 | len(raw)]) + raw


def test_hand_written_npy_matches_np_save():
    assert _np_save(ARRAY) == _hand_npy("<f4", (2,), ARRAY.tobytes())


@pytest.mark.parametrize("generation", ["n1.5", "n1.6"])
def test_npsave_generation_golden_bytes(generation):
    npy = _hand_npy("<f4", (2,), struct.pack("<ff", 1.5, -2.0))
    # {"__ndarray_class__": True, "as_npy": <bin>} spelled out byte by byte (fixmap of 2)
    assert len(npy) == 136  # 128-byte aligned header + 8 data bytes: fits a bin8
    expected = b"\x82" + _fixstr("__ndarray_class__") + b"\xc3" + _fixstr("as_npy") + _bin8(npy)
    assert Gr00tCodec(generation).pack(ARRAY) == expected
    # the same dict built by hand and packed by msgpack agrees
    assert expected == msgpack.packb({"__ndarray_class__": True, "as_npy": npy}, use_bin_type=True)


def test_msgpack_numpy_generation_golden_bytes():
    data = struct.pack("<ff", 1.5, -2.0)
    expected = (b"\x85" + _bin8(b"nd") + b"\xc3" + _bin8(b"type") + _fixstr("<f4") + _bin8(b"kind") + _bin8(b"")
                + _bin8(b"shape") + b"\x91\x02" + _bin8(b"data") + _bin8(data))
    assert Gr00tCodec("n1.7").pack(ARRAY) == expected
    hand_dict = {b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [2], b"data": data}
    assert msgpack.packb(hand_dict, use_bin_type=True) == expected


@pytest.mark.parametrize("generation", GENERATIONS)
def test_request_envelope_golden_and_token_only_when_set(generation):
    codec = Gr00tCodec(generation)
    assert codec.encode_request("ping", with_data=False) == b"\x81" + _fixstr("endpoint") + _fixstr("ping")
    with_token = codec.encode_request("reset", {"options": None}, api_token="tok")
    assert with_token == (b"\x83" + _fixstr("endpoint") + _fixstr("reset") + _fixstr("data") + b"\x81"
                          + _fixstr("options") + b"\xc0" + _fixstr("api_token") + _fixstr("tok"))
    assert "api_token" not in msgpack.unpackb(codec.encode_request("reset", {"options": None}))


def test_nested_request_golden_matches_hand_built_dict():
    video = np.zeros((1, 1, 2, 2, 3), dtype=np.uint8)
    hand = {"endpoint": "get_action",
            "data": {"observation": {"video": {"front": {"__ndarray_class__": True, "as_npy": _np_save(video)}},
                                     "language": {"task": [["go"]]}}}}
    ours = Gr00tCodec("n1.6").encode_request(
        "get_action", {"observation": {"video": {"front": video}, "language": {"task": [["go"]]}}})
    assert ours == msgpack.packb(hand, use_bin_type=True)
    hand17 = {"endpoint": "get_action",
              "data": {"observation": {"video": {"front": {b"nd": True, b"type": "|u1", b"kind": b"",
                                                           b"shape": [1, 1, 2, 2, 3], b"data": video.tobytes()}}}}}
    assert Gr00tCodec("n1.7").encode_request(
        "get_action", {"observation": {"video": {"front": video}}}) == msgpack.packb(hand17, use_bin_type=True)


@pytest.mark.parametrize("decoder", GENERATIONS)
@pytest.mark.parametrize("encoder", GENERATIONS)
def test_every_decoder_accepts_both_ndarray_forms(encoder, decoder):
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(5, dtype=np.uint8),
              "c": np.array(7, dtype=np.int64), "d": np.zeros((0, 3), dtype=np.float64)}
    decoded = Gr00tCodec(decoder).unpack(Gr00tCodec(encoder).pack(arrays))
    for key, value in arrays.items():
        assert decoded[key].dtype == value.dtype and decoded[key].shape == value.shape
        np.testing.assert_array_equal(decoded[key], value)


@settings(max_examples=25, deadline=None)
@given(generation=st.sampled_from(GENERATIONS),
       array=hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.int64, np.int32]),
                        shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5)))
def test_round_trip_property(generation, array):
    codec = Gr00tCodec(generation)
    out = codec.unpack(codec.pack({"x": array}))["x"]
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_non_contiguous_and_big_endian_arrays_survive():
    base = np.arange(24, dtype=">f8").reshape(4, 6)[:, ::2]
    for generation in GENERATIONS:
        codec = Gr00tCodec(generation)
        np.testing.assert_array_equal(codec.unpack(codec.pack(base)), base)


def _hand_packed(obj):
    """msgpack of ``obj`` with every ndarray as the np.save form, built without our codec."""
    def default(value):
        if isinstance(value, np.ndarray):
            return {"__ndarray_class__": True, "as_npy": _np_save(value)}
        raise TypeError(type(value))
    return msgpack.packb(obj, default=default, use_bin_type=True)


@settings(max_examples=30, deadline=None)
@given(generation=st.sampled_from(["n1.5", "n1.6"]),
       sizes=st.lists(st.sampled_from([0, 1, 100, 127, 128, 65_400, 65_535, 65_536, 200_000]), min_size=1,
                      max_size=4))
def test_spliced_npy_arrays_are_the_bytes_msgpack_writes(generation, sizes):
    """n1.5/n1.6 arrays are packed as placeholders and their np.save bytes spliced in afterwards (one copy of the
    pixels): the message must be byte for byte what msgpack writes for the np.save bytes, across the bin8 /
    bin16 / bin32 size classes, nested, beside other values, and again from the reused buffer after a bigger one."""
    codec = Gr00tCodec(generation)
    arrays = [np.arange(n, dtype=np.uint8) for n in sizes]
    obs = {"video": {f"cam{i}": a for i, a in enumerate(arrays)}, "language": {"task": [["go"]]},
           "state": [arrays[0], {"x": 1.5}]}
    expected = _hand_packed({"endpoint": "get_action", "data": {"observation": obs}, "api_token": "t"})
    assert codec.encode_request("get_action", {"observation": obs}, api_token="t") == expected
    small = {"a": np.zeros(3, dtype=np.float32)}
    assert codec.pack(small) == _hand_packed(small)  # the reused buffer holds a longer message's tail


@pytest.mark.parametrize("generation", ["n1.5", "n1.6"])
def test_a_placeholder_found_in_the_data_falls_back_to_plain_packing(generation):
    """A value that happens to hold an array's placeholder bytes makes the splice ambiguous: the codec packs the
    message plainly instead, with the same bytes."""
    codec = Gr00tCodec(generation)
    clash = codec._marker + (0).to_bytes(4, "big")  # the placeholder of the message's first array
    obs = {"a": np.arange(5, dtype=np.float64), "b": clash}
    assert codec.pack(obs) == _hand_packed(obs)
    assert codec.pack({"b": clash, "a": np.arange(5, dtype=np.float64)}) == \
        _hand_packed({"b": clash, "a": np.arange(5, dtype=np.float64)})


@pytest.mark.parametrize("generation", GENERATIONS)
def test_reused_packer_forgets_a_refused_message(generation):
    """The codec reuses one msgpack Packer: a message refused half-way must leave nothing behind in its buffer."""
    codec = Gr00tCodec(generation)
    expected = msgpack.packb({"a": [1, 2], "b": "x"}, use_bin_type=True)
    with pytest.raises(ProviderError):
        codec.pack({"a": [1, 2], "b": np.array([None], dtype=object)})  # fails after "a" was written
    assert codec.pack({"a": [1, 2], "b": "x"}) == expected
    frame = np.arange(224 * 224 * 3, dtype=np.uint8).reshape(1, 1, 224, 224, 3)
    first = codec.pack({"video": frame})
    assert codec.pack({"video": frame}) == first  # the same bytes from the reused buffer, every call
    np.testing.assert_array_equal(codec.unpack(first)["video"], frame)


def test_object_dtype_refused_in_both_directions():
    objects = np.array([{"a": 1}, None], dtype=object)
    for generation in GENERATIONS:
        with pytest.raises(ProviderError) as err:
            Gr00tCodec(generation).pack(objects)
        assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION
    crafted = msgpack.packb({b"nd": True, b"type": "|O", b"kind": b"", b"shape": [1], b"data": b"\0" * 8})
    structured = msgpack.packb({b"nd": True, b"type": "|V8", b"kind": b"V", b"shape": [1], b"data": b"\0" * 8})
    pickled_npy = io.BytesIO()
    np.save(pickled_npy, objects, allow_pickle=True)
    npy_marker = msgpack.packb({"__ndarray_class__": True, "as_npy": pickled_npy.getvalue()})
    for generation in GENERATIONS:
        for message in (crafted, structured, npy_marker):
            with pytest.raises(ProviderError) as err:
                Gr00tCodec(generation).unpack(message)
            assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION


def test_msgpack_numpy_length_mismatch_refused():
    bad = msgpack.packb({b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [3], b"data": b"\0" * 8})
    with pytest.raises(ProviderError, match="needs 12"):
        Gr00tCodec("n1.7").unpack(bad)


def test_modality_config_markers_per_generation():
    config = ModalityConfig.from_fields({"delta_indices": [0, 1], "modality_keys": ["video.front"],
                                         "sin_cos_embedding_keys": None})
    n15 = Gr00tCodec("n1.5").encode_modality_config(config)
    assert n15["__ModalityConfig_class__"] is True and isinstance(n15["as_json"], str)
    assert json.loads(n15["as_json"])["delta_indices"] == [0, 1]
    n16 = Gr00tCodec("n1.6").encode_modality_config(config)
    assert n16["__ModalityConfig_class__"] is True and n16["as_json"]["modality_keys"] == ["video.front"]
    n17 = Gr00tCodec("n1.7").encode_modality_config(config)
    assert n17["__ModalityConfig__"] is True and isinstance(n17["as_json"], dict)
    for marker in (n15, n16, n17):  # every decoder accepts every marker
        for generation in GENERATIONS:
            decoded = Gr00tCodec(generation).unpack(msgpack.packb({"video": marker}))["video"]
            assert decoded.delta_indices == (0, 1) and decoded.modality_keys == ("video.front",)


def test_size_caps():
    codec = Gr00tCodec("n1.6", max_message_bytes=1000, max_array_bytes=100)
    with pytest.raises(RequestError) as err:
        codec.pack(np.zeros(50, dtype=np.float32))
    assert err.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    big = Gr00tCodec("n1.6").pack(np.zeros(50, dtype=np.float32))
    with pytest.raises(ProviderError, match="max_array_bytes"):
        codec.unpack(big)
    with pytest.raises(ProviderError, match="max_array_bytes"):
        Gr00tCodec("n1.7", max_array_bytes=100).unpack(Gr00tCodec("n1.7").pack(np.zeros(50, dtype=np.float32)))
    with pytest.raises(ProviderError, match="max_message_bytes"):
        codec.unpack(b"\xc4\xff" + b"\0" * 1500)


def test_garbage_and_unknown_generation_are_typed():
    with pytest.raises(ProviderError) as err:
        Gr00tCodec("n1.6").unpack(b"\xc1\xc1")
    assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION
    with pytest.raises(RequestError):
        check_generation("n1")


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_, ">f8"]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
       st.booleans())
def test_npy_replies_decode_like_np_load(array, fortran):
    """Replies in npy form (n1.5/n1.6) skip np.load's header evaluation when the header is np.save's plain form:
    the result must be what np.load gives, for any shape, byte order and memory order."""
    source = np.asfortranarray(array) if fortran else array
    saved = _np_save(source)
    expected = np.load(io.BytesIO(saved), allow_pickle=False)
    message = msgpack.packb({"a": {"__ndarray_class__": True, "as_npy": saved}}, use_bin_type=True)
    got = Gr00tCodec("n1.6").unpack(message)["a"]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_truncated_npy_reply_is_a_contract_violation():
    message = msgpack.packb({"__ndarray_class__": True, "as_npy": _np_save(np.zeros((4, 7), dtype=np.float32))[:-4]},
                            use_bin_type=True)
    with pytest.raises(ProviderError) as err:
        Gr00tCodec("n1.6").unpack(message)
    assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION
