"""Client-side checks of GR00T observations and replies (upstream's strict checks are unimplemented).

Always checked (wire-level, the server would fail anyway): nested generations need a top-level ``video``,
``state`` or ``language``; video ``uint8 (B,T,H,W,3)``; state ``float32 (B,T,D)``; language ``[[str]] * B``;
one batch size throughout. Flat (n1.5): ``video.<cam>`` ``uint8 (T,H,W,3)``, ``state.<key>`` float ``(T,D)``,
the task as ``[str]``. ``strict`` adds checks against the server's modality config: every configured key
is present and ``T == len(delta_indices)``.

Replies are turned into per-key action tensors ``(B, H, D)`` (see :func:`actions_from_reply`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.errors import ErrorCode, ProviderError, RequestError
from .codec import ModalityConfig


def _bad(message: str) -> RequestError:
    return RequestError(message, ErrorCode.OBSERVATION_INVALID)


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix) + 1:] if key.startswith(prefix + ".") else key


def _check_against_modality(modality: str, arrays: dict[str, np.ndarray], config: ModalityConfig | None,
                            time_axis: int) -> None:
    if config is None:
        return
    wanted = [_strip(k, modality) for k in config.modality_keys]
    missing = [k for k in wanted if k not in arrays]
    if missing:
        raise _bad(f"strict: the server's modality config wants {modality} keys {missing}")
    horizon = len(config.delta_indices)
    for key, arr in arrays.items():
        if horizon and arr.shape[time_axis] != horizon:
            raise _bad(f"strict: {modality}.{key} has T={arr.shape[time_axis]}, the server's delta_indices "
                       f"need T={horizon}")


def check_nested_observation(obs: Any, *, strict: bool = False,
                             modality: dict[str, ModalityConfig] | None = None) -> int:
    """Validate an n1.6/n1.7 observation; returns its batch size B."""
    if not isinstance(obs, dict) or not ({"video", "state", "language"} & set(obs)):
        raise _bad("observation needs a top-level 'video', 'state' or 'language' key")
    unknown = set(obs) - {"video", "state", "language"}
    if unknown:
        raise _bad(f"unknown top-level observation keys {sorted(unknown)}")
    batches: set[int] = set()
    for cam, arr in obs.get("video", {}).items():
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 5 or arr.shape[-1] != 3:
            raise _bad(f"video.{cam} must be a uint8 ndarray (B,T,H,W,3), got {_describe(arr)}")
        batches.add(arr.shape[0])
    for key, arr in obs.get("state", {}).items():
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.ndim != 3:
            raise _bad(f"state.{key} must be a float32 ndarray (B,T,D), got {_describe(arr)}")
        if not np.all(np.isfinite(arr)):
            raise RequestError(f"state.{key} has non-finite values", ErrorCode.NON_FINITE_VALUE)
        batches.add(arr.shape[0])
    for key, value in obs.get("language", {}).items():
        if (not isinstance(value, list) or not all(isinstance(row, list) and row and
                                                   all(isinstance(s, str) for s in row) for row in value)):
            raise _bad(f"language.{key} must be [[str]] * B")
        batches.add(len(value))
    if len(batches) != 1:
        raise _bad(f"inconsistent batch sizes across modalities: {sorted(batches)}")
    if strict and modality:
        _check_against_modality("video", obs.get("video", {}), modality.get("video"), 1)
        _check_against_modality("state", obs.get("state", {}), modality.get("state"), 1)
    return batches.pop()


def check_flat_observation(obs: Any, *, strict: bool = False,
                           modality: dict[str, ModalityConfig] | None = None) -> None:
    """Validate an n1.5 flat observation (unbatched, ``T`` first)."""
    if not isinstance(obs, dict) or not any(k.startswith(("video.", "state.")) for k in obs):
        raise _bad("flat observation needs 'video.<cam>' or 'state.<key>' entries")
    videos, states = {}, {}
    for key, value in obs.items():
        if key.startswith("video."):
            if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 4 or value.shape[-1] != 3:
                raise _bad(f"{key} must be a uint8 ndarray (T,H,W,3), got {_describe(value)}")
            videos[key[6:]] = value
        elif key.startswith("state."):
            if not isinstance(value, np.ndarray) or value.dtype not in (np.float32, np.float64) or value.ndim != 2:
                raise _bad(f"{key} must be a float ndarray (T,D), got {_describe(value)}")
            states[key[6:]] = value
        elif key.startswith("annotation."):
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise _bad(f"{key} must be [str]")
    if strict and modality:
        _check_against_modality("video", videos, modality.get("video"), 0)
        _check_against_modality("state", states, modality.get("state"), 0)


def tile_nested(obs: dict[str, Any], count: int) -> dict[str, Any]:
    """Repeat a batch-1 nested observation ``count`` times along B (one server call, ``count`` samples)."""
    out: dict[str, Any] = {}
    for modality, entries in obs.items():
        if modality == "language":
            out[modality] = {k: [list(v[0]) for _ in range(count)] for k, v in entries.items()}
        else:
            out[modality] = {k: np.repeat(v, count, axis=0) for k, v in entries.items()}
    return out


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {tuple(value.shape)}"
    return type(value).__name__


def _contract(message: str) -> ProviderError:
    return ProviderError(message, ErrorCode.PROVIDER_CONTRACT_VIOLATION)


def action_dict_from_reply(reply: Any, generation: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a get_action reply into ``({key: ndarray}, info)``; keys lose any ``action.`` prefix."""
    if generation == "n1.5":
        action, info = reply, {}
    else:
        if not isinstance(reply, (list, tuple)) or len(reply) != 2:
            raise _contract(f"{generation} get_action reply must be [action, info], got {type(reply).__name__}")
        action, info = reply
    if not isinstance(action, dict) or not action:
        raise _contract("get_action reply holds no action dict")
    out: dict[str, np.ndarray] = {}
    for key, value in action.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            raise _contract(f"action {key!r} is not a numeric ndarray ({_describe(value)})")
        if value.ndim == 2:
            value = value[None]  # n1.5 replies are unbatched (H, D)
        if value.ndim != 3:
            raise _contract(f"action {key!r} must be (H,D) or (B,H,D), got shape {value.shape}")
        out[_strip(str(key), "action")] = value
    return out, info if isinstance(info, dict) else {"info": str(type(info).__name__)}


def concatenate_actions(per_key: dict[str, np.ndarray], order: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...], str]:
    """The main ``(B, H, D)`` action: ``per_key`` concatenated on D in ``order`` (configured) or sorted."""
    source = "configured"
    if order:
        keys = tuple(_strip(k, "action") for k in order)
        missing = [k for k in keys if k not in per_key]
        if missing:
            raise _contract(f"reply lacks configured action keys {missing} (got {sorted(per_key)})")
    else:
        keys, source = tuple(sorted(per_key)), "sorted_reply_keys"
    leading = {per_key[k].shape[:2] for k in keys}
    if len(leading) != 1:
        raise _contract(f"action keys disagree on (B, H): { {k: per_key[k].shape for k in keys} }")
    main = np.concatenate([per_key[k].astype(np.float32, copy=False) for k in keys], axis=-1)
    return main, keys, source
