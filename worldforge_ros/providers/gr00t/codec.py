"""Msgpack codec for the Isaac-GR00T policy-server wire protocol, one flavour per generation.

Written from the protocol facts (``facts/runtimes.md`` §4), not from upstream code:

- ``n1.5`` and ``n1.6`` encode an ndarray as ``{"__ndarray_class__": True, "as_npy": <np.save bytes>}``
  (saved with ``allow_pickle=False``);
- ``n1.7`` uses the msgpack-numpy envelope
  ``{b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [...], b"data": <raw C-order bytes>}``;
- every decoder accepts both ndarray forms; object (pickled) dtypes are always refused;
- a ModalityConfig travels as ``{"__ModalityConfig_class__": True, "as_json": <JSON string (n1.5) or dict
  (n1.6)>}`` or ``{"__ModalityConfig__": True, "as_json": {dict}}`` (n1.7); decoders accept every marker.

Requests use the envelope ``{"endpoint": str, "data": payload, "api_token": str}`` (``data`` only when the
endpoint takes input, ``api_token`` only when set). Replies and arrays are capped in size (default 64 MiB).
msgpack and numpy are imported lazily so a missing dependency surfaces as a typed error, not an ImportError.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import re
import threading
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...core.errors import ErrorCode, ProviderError, RequestError

GENERATIONS: tuple[str, ...] = ("n1.5", "n1.6", "n1.7")
"""Wire generations this codec speaks. N1 (torch pickle) is deliberately not supported: it executes code."""

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Default cap for a whole reply and for any single array in it (64 MiB)."""

NPY_MARKER = "__ndarray_class__"
MODALITY_MARKER = "__ModalityConfig_class__"
MODALITY_MARKER_N17 = "__ModalityConfig__"
MSGPACK_NUMPY_KEYS = (b"nd", b"type", b"kind", b"shape", b"data")


@dataclass(frozen=True)
class ModalityConfig:
    """A decoded GR00T ModalityConfig: ``delta_indices`` and ``modality_keys`` plus the raw fields."""

    delta_indices: tuple[int, ...] = ()
    modality_keys: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "ModalityConfig":
        delta = fields.get("delta_indices") or ()
        keys = fields.get("modality_keys") or ()
        return cls(tuple(int(d) for d in delta), tuple(str(k) for k in keys), dict(fields))

    def to_fields(self) -> dict[str, Any]:
        out = dict(self.fields)
        out["delta_indices"] = list(self.delta_indices)
        out["modality_keys"] = list(self.modality_keys)
        return out


def check_generation(generation: str) -> str:
    """Return ``generation`` if known, else raise a typed RequestError naming the choices."""
    if generation not in GENERATIONS:
        raise RequestError(f"unknown GR00T wire generation {generation!r}; choose one of {list(GENERATIONS)} "
                           "(it cannot be auto-detected reliably)", ErrorCode.INVALID_ARGUMENT)
    return generation


def _import_msgpack():
    try:
        import msgpack  # noqa: PLC0415 (lazy: optional runtime)
    except ImportError as exc:  # pragma: no cover - exercised through health with a hidden module
        raise ProviderError("msgpack is not installed (needed by the GR00T client)",
                            ErrorCode.PROVIDER_DEPENDENCY_MISSING) from exc
    return msgpack


def _refuse_object_dtype(dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise ProviderError(f"refusing an object-dtype array ({dtype.str}): it would need pickle",
                            ErrorCode.PROVIDER_CONTRACT_VIOLATION)


def npy_header(array: np.ndarray) -> bytes:
    """The header ``np.save(array, allow_pickle=False)`` writes for a C-contiguous ``array`` (format 1.0)."""
    return _npy_header(array.dtype, array.shape)


@functools.lru_cache(maxsize=256)
def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    header = io.BytesIO()  # a camera's frames share dtype and shape: built once, not per message
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                  "fortran_order": False, "shape": shape})
    return header.getvalue()


def _bin_header(size: int) -> bytes:
    """The msgpack ``bin`` header for ``size`` bytes, in the smallest form (as msgpack writes it)."""
    if size < 1 << 8:
        return b"\xc4" + size.to_bytes(1, "big")
    if size < 1 << 16:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def npy_bytes(array: np.ndarray, data: Any) -> bytes:
    """The bytes ``np.save(array, allow_pickle=False)`` writes for a C-contiguous ``array``: its header, then
    ``data`` (``array``'s raw bytes), with one copy of ``data``."""
    return b"".join((npy_header(array), data))


class Gr00tCodec:
    """Encode/decode GR00T messages for one ``generation`` with response and per-array size caps."""

    def __init__(self, generation: str, max_message_bytes: int = DEFAULT_MAX_BYTES,
                 max_array_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.generation = check_generation(generation)
        if max_message_bytes <= 0 or max_array_bytes <= 0:
            raise RequestError("size caps must be positive", ErrorCode.INVALID_ARGUMENT)
        self.max_message_bytes = int(max_message_bytes)
        self.max_array_bytes = int(max_array_bytes)
        self._packer: Any = None
        self._unpackb: Any = None
        self._pack_lock = threading.Lock()
        # n1.5/n1.6 arrays while pack() runs: each packed as a placeholder, spliced in afterwards (_splice)
        self._marker = os.urandom(16)
        self._spliced: list[tuple[bytes, bytes, memoryview]] = []
        self._out = bytearray()  # the spliced message, reused

    # ----------------------------------------------------------------- encoding
    def encode_array(self, array: np.ndarray) -> dict:
        """The generation's ndarray form (see module docstring)."""
        return self._encode_array(array, in_pack=False)

    def _encode_array(self, array: np.ndarray, *, in_pack: bool) -> dict:
        _refuse_object_dtype(array.dtype)
        if array.dtype.fields is not None:
            raise RequestError(f"structured dtype {array.dtype} is not supported on the wire",
                               ErrorCode.INVALID_ARGUMENT)
        if array.nbytes > self.max_array_bytes:
            raise RequestError(f"array of {array.nbytes} bytes exceeds max_array_bytes={self.max_array_bytes}",
                               ErrorCode.PAYLOAD_TOO_LARGE)
        contiguous = array if array.flags.c_contiguous else array.copy(order="C")
        # The pixels are handed to msgpack as a view: one copy (into the message) instead of two. Two fresh
        # buffers of a camera frame's size each cost page faults (measured: 1.4 ms vs 0.05 ms for 921 kB).
        data = memoryview(contiguous.reshape(-1)).cast("B") if contiguous.nbytes else b""
        if self.generation == "n1.7":
            return {b"nd": True, b"type": contiguous.dtype.str, b"kind": b"",
                    b"shape": list(contiguous.shape), b"data": data}
        if not in_pack:
            return {NPY_MARKER: True, "as_npy": npy_bytes(contiguous, data)}
        placeholder = self._marker + len(self._spliced).to_bytes(4, "big")
        self._spliced.append((placeholder, npy_header(contiguous), memoryview(data)))
        return {NPY_MARKER: True, "as_npy": placeholder}

    def _splice(self, packed: bytes) -> memoryview | None:
        """The message ``packed`` (each n1.5/n1.6 array a placeholder ``bin``) with every array's npy bytes in
        place of its placeholder, written into a buffer reused by later messages: the pixels are copied once,
        as the n1.7 form's are (a contiguous npy copy first, then msgpack's copy of it, was one copy more of
        every pixel). The same bytes msgpack writes for the npy bytes themselves. None when a placeholder is not
        found exactly once, in order (the caller packs plainly then)."""
        pieces, at = [], 0
        for placeholder, header, data in self._spliced:
            found = packed.find(placeholder, at)
            if found < at + 2 or packed[found - 2:found] != _bin_header(len(placeholder)) or \
                    packed.count(placeholder) != 1:
                return None
            pieces += [packed[at:found - 2], _bin_header(len(header) + len(data)), header, data]
            at = found + len(placeholder)
        pieces.append(packed[at:])
        total = sum(len(piece) for piece in pieces)  # data views are bytes-formatted: len is their size
        if len(self._out) < total:
            self._out = bytearray(total)
        with memoryview(self._out) as out:
            pos = 0
            for piece in pieces:
                out[pos:pos + len(piece)] = piece
                pos += len(piece)
        return memoryview(self._out)[:total]

    def encode_modality_config(self, config: ModalityConfig) -> dict:
        """The generation's ModalityConfig marker (used by the test peer and for round trips)."""
        fields = config.to_fields()
        if self.generation == "n1.5":
            return {MODALITY_MARKER: True, "as_json": json.dumps(fields, sort_keys=True)}
        if self.generation == "n1.6":
            return {MODALITY_MARKER: True, "as_json": fields}
        return {MODALITY_MARKER_N17: True, "as_json": fields}

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return self._encode_array(obj, in_pack=True)
        return self._default_plain(obj)

    def _default_plain(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return self._encode_array(obj, in_pack=False)
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, ModalityConfig):
            return self.encode_modality_config(obj)
        if isinstance(obj, tuple):
            return list(obj)
        raise RequestError(f"cannot encode {type(obj).__name__} for the GR00T wire", ErrorCode.INVALID_ARGUMENT)

    @contextlib.contextmanager
    def packed(self, obj: Any) -> Iterator[memoryview]:
        """A view of the msgpack bytes of ``obj`` (ndarrays/ModalityConfigs in this generation's form), valid inside
        the ``with`` block only: it is the codec's reused buffer, handed to the socket without a copy of its own.

        One Packer per codec, reused under a lock: ``msgpack.packb`` builds a Packer per call whose fresh buffer
        page-faults on every camera-sized message (measured: 120-200 us vs 7 us for a 150 kB request), and the
        bytes object ``Packer.pack`` returns is one more copy of every pixel."""
        with self._pack_lock:
            if self._packer is None:
                self._packer = _import_msgpack().Packer(default=self._default, use_bin_type=True, autoreset=False)
            try:
                try:
                    self._packer.pack(obj)
                except BaseException:
                    self._packer.reset()  # never leave half a message in the reused buffer
                    raise
                view = self._packer.getbuffer()
                if self._spliced:
                    packed = bytes(view)  # small: the arrays are placeholders
                    view.release()
                    self._packer.reset()
                    view = self._splice(packed)
                    if view is None:  # a placeholder that is not where it must be: pack plainly
                        view = memoryview(_import_msgpack().packb(obj, default=self._default_plain,
                                                                   use_bin_type=True))
            finally:
                for _, _, data in self._spliced:
                    data.release()
                self._spliced.clear()
            try:
                yield view
            finally:
                view.release()
                self._packer.reset()

    def pack(self, obj: Any) -> bytes:
        """msgpack bytes of ``obj`` with ndarrays/ModalityConfigs in this generation's form (a copy of
        :meth:`packed`'s view)."""
        with self.packed(obj) as view:
            return bytes(view)

    def encoded_request(self, endpoint: str, data: Any = None, *, api_token: str = "",
                        with_data: bool = True) -> contextlib.AbstractContextManager[memoryview]:
        """The request envelope as a view valid inside the ``with`` block (see :meth:`packed`). ``data`` is sent
        when ``with_data``; the token only when non-empty."""
        request: dict[str, Any] = {"endpoint": endpoint}
        if with_data:
            request["data"] = data
        if api_token:
            request["api_token"] = api_token
        return self.packed(request)

    def encode_request(self, endpoint: str, data: Any = None, *, api_token: str = "",
                       with_data: bool = True) -> bytes:
        """The request envelope as bytes (see :meth:`encoded_request`)."""
        with self.encoded_request(endpoint, data, api_token=api_token, with_data=with_data) as view:
            return bytes(view)

    # ----------------------------------------------------------------- decoding
    def _decode_npy(self, obj: dict) -> np.ndarray:
        payload = obj.get("as_npy")
        if not isinstance(payload, (bytes, bytearray)):
            raise ProviderError("ndarray marker without np.save bytes", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        if len(payload) > self.max_array_bytes + 4096:
            raise ProviderError(f"array of {len(payload)} bytes exceeds max_array_bytes={self.max_array_bytes}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        array = _npy_fast(payload)
        if array is not None:
            _refuse_object_dtype(array.dtype)
            self._check_array_size(array.nbytes)
            return array
        try:
            array = np.load(io.BytesIO(payload), allow_pickle=False)
        except ValueError as exc:  # object arrays need pickle; np.load refuses them here
            raise ProviderError(f"refusing ndarray payload: {exc}", ErrorCode.PROVIDER_CONTRACT_VIOLATION) from exc
        _refuse_object_dtype(array.dtype)
        self._check_array_size(array.nbytes)
        return array

    def _decode_msgpack_numpy(self, obj: dict) -> Any:
        dtype = _msgpack_numpy_dtype(obj.get(b"type"), obj.get(b"kind", b""))
        data = obj.get(b"data", b"")
        if not isinstance(data, (bytes, bytearray)):
            raise ProviderError("msgpack-numpy envelope without data bytes", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        if not obj.get(b"nd"):  # a numpy scalar
            return np.frombuffer(data, dtype=dtype)[0] if len(data) == dtype.itemsize else _bad_size(data, dtype)
        shape = obj.get(b"shape", ())
        if not isinstance(shape, (list, tuple)) or not all(type(s) is int and s >= 0 for s in shape):
            raise ProviderError(f"msgpack-numpy shape {shape!r} is not a list of non-negative integers",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for hostile shapes
        self._check_array_size(expected)
        if len(data) != expected:
            raise ProviderError(f"msgpack-numpy data has {len(data)} bytes, shape {tuple(shape)} of {dtype.str} "
                                f"needs {expected}", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()  # a writable array that owns its memory

    def _check_array_size(self, nbytes: int) -> None:
        if nbytes > self.max_array_bytes:
            raise ProviderError(f"array of {nbytes} bytes exceeds max_array_bytes={self.max_array_bytes}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)

    def _object_hook(self, obj: dict) -> Any:
        if NPY_MARKER in obj:
            return self._decode_npy(obj)
        if b"nd" in obj and b"data" in obj:
            return self._decode_msgpack_numpy(obj)
        if MODALITY_MARKER in obj or MODALITY_MARKER_N17 in obj:
            fields = obj.get("as_json")
            if isinstance(fields, str):
                try:
                    fields = json.loads(fields)
                except json.JSONDecodeError as exc:
                    raise ProviderError("ModalityConfig as_json is not JSON",
                                        ErrorCode.PROVIDER_CONTRACT_VIOLATION) from exc
            if not isinstance(fields, dict):
                raise ProviderError("ModalityConfig without an as_json object", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            return ModalityConfig.from_fields(fields)
        return obj

    def unpack(self, message: bytes) -> Any:
        """Decode a reply (or request, for the peer). Oversize or malformed input raises ProviderError."""
        if len(message) > self.max_message_bytes:
            raise ProviderError(f"reply of {len(message)} bytes exceeds max_message_bytes={self.max_message_bytes}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        if self._unpackb is None:
            self._unpackb = _import_msgpack().unpackb
        try:
            return self._unpackb(message, object_hook=self._object_hook, raw=False)
        except ProviderError:
            raise
        except Exception as exc:  # msgpack raises several unrelated types for garbage input
            raise ProviderError(f"reply is not valid msgpack: {type(exc).__name__}",
                                ErrorCode.PROVIDER_CONTRACT_VIOLATION) from exc


_NPY_V1_HEADER = re.compile(rb"\{'descr': '([<>|=]?[a-zA-Z][0-9]*)', 'fortran_order': (False|True), "
                            rb"'shape': \(([0-9, ]*)\), \} *\n")


def _npy_fast(payload: bytes) -> np.ndarray | None:
    """The array of an npy 1.0 payload whose header is the plain form np.save writes for a simple dtype, without
    np.load's header evaluation (ast.literal_eval: ~40 us a reply); None for anything else (np.load decides)."""
    if len(payload) < 10 or payload[:8] != b"\x93NUMPY\x01\x00":
        return None
    end = 10 + int.from_bytes(payload[8:10], "little")
    found = _NPY_V1_HEADER.fullmatch(payload, 10, end)
    if found is None:
        return None
    try:
        dtype = np.dtype(found.group(1).decode("ascii"))
        shape = tuple(int(part) for part in found.group(3).split(b",") if part.strip())
    except (TypeError, ValueError):
        return None
    if dtype.hasobject or dtype.itemsize == 0:
        return None
    count = math.prod(shape)
    if len(payload) - end != count * dtype.itemsize:
        return None  # truncated or padded: np.load gives the typed error
    flat = np.frombuffer(payload, dtype=dtype, count=count, offset=end)
    return flat.reshape(shape, order="F" if found.group(2) == b"True" else "C").copy(order="K")


def _bad_size(data: bytes, dtype: np.dtype) -> Any:
    raise ProviderError(f"msgpack-numpy scalar has {len(data)} bytes for dtype {dtype.str}",
                        ErrorCode.PROVIDER_CONTRACT_VIOLATION)


@functools.lru_cache(maxsize=64)
def _cached_dtype(type_field: str) -> np.dtype:
    try:
        dtype = np.dtype(type_field)
    except TypeError as exc:
        raise ProviderError(f"unknown dtype {type_field!r}", ErrorCode.PROVIDER_CONTRACT_VIOLATION) from exc
    _refuse_object_dtype(dtype)
    return dtype


def _msgpack_numpy_dtype(type_field: Any, kind: Any) -> np.dtype:
    """The dtype a msgpack-numpy envelope names; structured, pickled and object dtypes raise ProviderError."""
    if kind not in (b"", ""):
        raise ProviderError(f"refusing msgpack-numpy array of kind {kind!r} (structured/pickled)",
                            ErrorCode.PROVIDER_CONTRACT_VIOLATION)
    if isinstance(type_field, bytes):
        type_field = type_field.decode("ascii", "replace")
    if not isinstance(type_field, str):
        raise ProviderError("msgpack-numpy envelope without a dtype string", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
    return _cached_dtype(type_field)
