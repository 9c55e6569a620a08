"""Canonical JSON, ``sha256:`` digests and hash chains.

Canonical JSON = sorted keys, compact separators, UTF-8, NaN/Infinity refused. A plan's digest is its
identity everywhere after planning; a hash chain (``digest = sha256(prev_digest + payload)``) makes every
edit, drop or reorder of a record stream detectable.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

try:  # optional: the json module writes the same text, about 20x slower for float arrays
    import orjson as _orjson
except ImportError:  # pragma: no cover - requirements.txt installs it
    _orjson = None

GENESIS_DIGEST = "sha256:" + "0" * 64
"""``prev_digest`` of the first record of every chain."""


def _json_default(value: Any) -> Any:
    """numpy values as JSON-native ones (the encoder calls this only for types it does not know)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"canonical JSON cannot encode {type(value).__name__}")


def _keys_to_str(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _keys_to_str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_keys_to_str(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Serialize ``value`` canonically (sorted keys, compact, no NaN/Inf; numpy values become lists/numbers).

    The C encoder does the walk: ``allow_nan=False`` refuses NaN/Inf wherever they are (plain floats and
    numpy arrays alike), ``default`` converts numpy values. Non-string keys are turned into ``str(key)`` first
    (a rare, slower path)."""
    kwargs = dict(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)
    try:
        return json.dumps(value, **kwargs)
    except TypeError:
        return json.dumps(_keys_to_str(value), **kwargs)
    except ValueError as exc:
        raise ValueError(f"canonical JSON refuses non-finite numbers: {exc}") from None


EXACT_FLOAT_RANGE = (1e-4, 1e16)
"""Magnitudes (besides 0) whose shortest repr is plain decimal in both Python (``repr``) and orjson: outside it
Python writes an exponent (``1e-05``, ``1e+16``) and orjson a different form, so such arrays take the json path."""


def float_array_json(values: np.ndarray) -> str:
    """``canonical_json(values.tolist())`` of a float64 array (nested lists), written by orjson when every value
    is finite and 0 or within :data:`EXACT_FLOAT_RANGE` (the same shortest round-trip digits as Python's float
    repr, measured on 2.8 M values), else by :func:`canonical_json` (which refuses NaN/Inf)."""
    arr = np.asarray(values)
    if _orjson is not None and arr.dtype == np.float64 and arr.size and arr.flags.c_contiguous:
        magnitude = np.abs(arr)
        low, high = EXACT_FLOAT_RANGE
        if bool((((magnitude >= low) & (magnitude < high)) | (magnitude == 0.0)).all()):
            return _orjson.dumps(arr, option=_orjson.OPT_SERIALIZE_NUMPY).decode("ascii")
    return canonical_json(arr.tolist())


def canonical_json_spliced(value: Any, fragments: Mapping[str, str]) -> str:
    """``canonical_json`` of ``value`` in which each placeholder string (a key of ``fragments``, standing where a
    JSON value belongs) is replaced by that fragment, itself canonical JSON: equal to ``canonical_json`` of the
    value with the fragments' values in place, without serializing them again. Placeholders must be unguessable
    (e.g. hold a random nonce); one that is not found exactly once is a ValueError."""
    text = canonical_json(value)
    spots = []
    for placeholder, fragment in fragments.items():
        quoted = canonical_json(placeholder)
        found = text.count(quoted)  # counted in the text without the fragments: small
        if found != 1:
            raise ValueError(f"placeholder {placeholder!r} found {found} times, not once")
        start = text.index(quoted)
        spots.append((start, start + len(quoted), fragment))
    pieces, at = [], 0
    for start, end, fragment in sorted(spots):
        if start < at:
            raise ValueError("placeholders overlap in the serialized value")
        pieces += [text[at:start], fragment]
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def sha256_digest(data: bytes | str) -> str:
    """``sha256:<64 hex>`` of bytes (strings are UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_json(value: Any) -> str:
    """Digest of ``canonical_json(value)``."""
    return sha256_digest(canonical_json(value))


def tensor_digest(array: np.ndarray) -> str:
    """Digest over dtype, shape and C-order little-endian bytes of ``array``."""
    return tensor_digests(np.asarray(array)[None])[0]


def tensor_digests(batch: np.ndarray) -> list[str]:
    """``tensor_digest`` of each ``batch[i]`` (one header for the whole batch)."""
    arr = np.ascontiguousarray(batch)
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    header = _tensor_header(arr.dtype, tuple(int(n) for n in arr.shape[1:]))
    out = []
    for item in le:
        h = hashlib.sha256(header)
        h.update(item.tobytes(order="C"))
        out.append("sha256:" + h.hexdigest())
    return out


@functools.lru_cache(maxsize=256)
def _tensor_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The digest header of one tensor kind (a provider digests the same few kinds on every call); keyed by the
    dtype itself: ``dtype.name`` is computed in Python on every access (3 us)."""
    return canonical_json({"dtype": dtype.name, "shape": list(shape)}).encode("utf-8") + b"\n"


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: str) -> bool:
    """Whether ``value`` looks like ``sha256:<64 lower-case hex>``."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def chain_digest(prev_digest: str, payload: bytes | str) -> str:
    """One link: ``sha256(prev_digest + payload)``."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return sha256_digest(prev_digest.encode("ascii") + payload)


class HashChain:
    """Appends payloads to a chain and hands out ``(seq, prev_digest, digest)``; seq starts at 1."""

    def __init__(self, head: str = GENESIS_DIGEST, seq: int = 0) -> None:
        self.head = head
        self.seq = seq

    def append(self, payload: bytes | str) -> tuple[int, str, str]:
        prev = self.head
        digest = chain_digest(prev, payload)
        self.seq += 1
        self.head = digest
        return self.seq, prev, digest


@dataclass(frozen=True)
class ChainLinkRecord:
    """A record as read back for verification."""

    seq: int
    prev_digest: str
    digest: str
    payload: bytes


@dataclass(frozen=True)
class ChainVerification:
    """Outcome of :func:`verify_chain`: ``first_bad`` is the 0-based position of the first bad record."""

    ok: bool
    count: int
    head: str
    first_bad: int | None = None
    reason: str = ""


def verify_chain(records: Iterable[ChainLinkRecord], head: str = GENESIS_DIGEST) -> ChainVerification:
    """Recompute a chain and pinpoint the first record whose seq, link or digest does not fit."""
    expected_seq = 1
    count = 0
    for pos, rec in enumerate(records):
        count += 1
        if rec.seq != expected_seq:
            return ChainVerification(False, count, head, pos, f"seq {rec.seq} where {expected_seq} was expected")
        if rec.prev_digest != head:
            return ChainVerification(False, count, head, pos, "prev_digest does not match the previous record")
        digest = chain_digest(head, rec.payload)
        if digest != rec.digest:
            return ChainVerification(False, count, head, pos, "digest does not match the record's content")
        head = digest
        expected_seq += 1
    return ChainVerification(True, count, head)
