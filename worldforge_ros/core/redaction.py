"""Redaction (WorldForge's rules), applied before anything is published, logged or written.

- URLs (a target, or any URL inside text): query string, fragment and userinfo are dropped; scheme, host, port
  and path stay (this neutralises signed URLs).
- ``Bearer <token>`` -> ``Bearer [redacted]``.
- ``key=value`` where the key contains a secret marker -> ``key=[redacted]``.
- ``key: value`` and ``"key": "value"`` with the same markers plus ``bearer`` -> value redacted (quotes kept).
- Mapping keys containing a marker -> ``"[redacted]"``; strings are scanned recursively, lists included.

:func:`safe_metadata` (what an event's metadata goes through) redacts and also makes metadata JSON-safe and
bounded: tensors and bytes become a type/dtype/shape summary (never values), long strings and lists are capped,
nesting is limited.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
SECRET_MARKERS = ("api_key", "api-key", "apikey", "authorization", "credential", "password", "passwd", "secret",
                  "signature", "signed_url", "token", "private_key", "x-amz-", "sig")
_KV_MARKERS = ("api_key", "api-key", "apikey", "authorization", "credential", "password", "passwd", "secret",
               "signature", "signed_url", "token", "private_key")
_COLON_MARKERS = _KV_MARKERS + ("bearer",)

MAX_STRING_CHARS = 2000
MAX_LIST_ITEMS = 64
MAX_DEPTH = 6
MAX_KEYS = 128

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+)")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_KEY = r"[A-Za-z0-9_.\-]*(?:%s)[A-Za-z0-9_.\-]*"
_KV = re.compile(r"(?i)\b(%s)=([^\s&\"',;]+)" % (_KEY % "|".join(re.escape(m) for m in _KV_MARKERS)))
_COLON_QUOTED = re.compile(r"""(?i)(["']?)(%s)\1(\s*:\s*)(["'])(.*?)\4""" %
                           (_KEY % "|".join(re.escape(m) for m in _COLON_MARKERS)))
_COLON_BARE = re.compile(r"""(?i)(["']?)(%s)\1(\s*:\s*)(?!["'\s])([^\s,;}]+)""" %
                         (_KEY % "|".join(re.escape(m) for m in _COLON_MARKERS)))


_SECRET_KEY = re.compile("|".join(re.escape(m) for m in _COLON_MARKERS))
"""Any marker of a secret key (``sig`` only as the whole key): one scan instead of one per marker."""
_TEXT_MAY_HOLD_SECRET = re.compile("|".join(re.escape(m) for m in ("://",) + _COLON_MARKERS))
"""What every text rule needs somewhere in the (lower-cased) text: a URL scheme separator or a marker."""


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (case-insensitive marker match)."""
    low = str(key).lower()
    return _SECRET_KEY.search(low) is not None or low in ("sig", "x-amz-signature")


def redact_url(url: str) -> str:
    """Drop userinfo, query and fragment of a URL; non-URLs are redacted as text."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _strip_query(url)
    if not parts.scheme:
        return redact_text(url)
    if not parts.netloc:  # "file:///x?sig=..", "token:///..": no host to keep, still no query or fragment
        return _strip_query(url)
    host = parts.hostname or ""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _strip_query(url: str) -> str:
    """A URL-like string that does not parse as scheme://host: cut at ``?``/``#``, then the non-URL text rules
    (never the URL rule again: that is what called us)."""
    return _apply_text_rules(re.split(r"[?#]", url, maxsplit=1)[0], urls=False)


def redact_text(text: str) -> str:
    """Apply every text rule: URLs, bearer tokens, ``key=value`` and ``key: value`` secrets."""
    if not text:
        return text
    text = str(text)
    low = text.lower()
    # Fast path: every rule needs a URL scheme separator or a marker (bearer included) in the text.
    if _TEXT_MAY_HOLD_SECRET.search(low) is None:
        return text
    return _apply_text_rules(text)


def _apply_text_rules(text: str, urls: bool = True) -> str:
    """The text rules without the fast path (tests compare both on generated text)."""
    if urls:
        text = _URL.sub(lambda m: redact_url(m.group(1)), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KV.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _COLON_QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{REDACTED}"
                                       f"{m.group(4)}", text)
    text = _COLON_BARE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{REDACTED}", text)
    return text


_SEQUENCES = (list, tuple, set, frozenset)
"""Containers whose items are scanned (as a list): a set of strings is as likely to hold a secret as a list."""


def redact_metadata(value: Any) -> Any:
    """Redact a JSON-like structure: secret-named keys lose their values, every string is scanned."""
    if isinstance(value, dict):
        return {str(k): (REDACTED if is_secret_key(k) else redact_metadata(v)) for k, v in value.items()}
    if isinstance(value, _SEQUENCES):
        return [redact_metadata(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _tensor_summary(value: Any) -> dict[str, Any] | None:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(value, (int, float, bool)):
        return {"type": type(value).__name__, "dtype": str(dtype), "shape": [int(s) for s in shape]}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": type(value).__name__, "bytes": len(value)}
    return None


def safe_metadata(value: Any, depth: int = 0) -> Any:
    """What an event may carry, in one walk: secret-named keys lose their values and every string is redacted
    (as :func:`redact_metadata`), and the copy is JSON-safe and bounded: tensors/bytes summarised, strings and
    lists capped, depth limited, NaN -> None."""
    summary = _tensor_summary(value)
    if summary is not None:
        return summary
    if depth >= MAX_DEPTH:
        return "[truncated: depth]"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): (REDACTED if is_secret_key(k) else safe_metadata(v, depth + 1)) for k, v in items[:MAX_KEYS]}
        if len(items) > MAX_KEYS:
            out["_truncated_keys"] = len(items) - MAX_KEYS
        return out
    if isinstance(value, _SEQUENCES):
        seq = list(value)
        out_list = [safe_metadata(v, depth + 1) for v in seq[:MAX_LIST_ITEMS]]
        if len(seq) > MAX_LIST_ITEMS:
            out_list.append(f"[truncated: {len(seq) - MAX_LIST_ITEMS} more items]")
        return out_list
    if isinstance(value, str):
        text = redact_text(value)
        return text if len(text) <= MAX_STRING_CHARS else text[:MAX_STRING_CHARS] + "...[truncated]"
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return safe_metadata(value.item(), depth)
    return safe_metadata(repr(value), depth)
