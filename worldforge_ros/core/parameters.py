"""Parameter specifications in one place (generate_parameter_library's idea, without a build step).

Each node declares its parameters from a list of :class:`ParamSpec`: type from the default, a description,
``read_only``, and validators (``choices``, ``min_value``/``max_value``, ``non_empty``). :func:`validate_params`
checks a whole set at startup and reports every bad value in one clear message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import ErrorCode, RequestError


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``name`` (dots allowed, e.g. ``lerobot.policy_path``), default, description, validators."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    choices: tuple[Any, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    non_empty: bool = False
    secret: bool = False
    list_kind: str = "string"  # element type of list parameters: "string" or "double"

    @property
    def kind(self) -> type:
        if isinstance(self.default, bool):
            return bool
        if isinstance(self.default, (list, tuple)):
            return list
        return type(self.default)

    def check(self, value: Any) -> str | None:
        """None when ``value`` is valid, else the reason."""
        kind = self.kind
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is list:
            if not isinstance(value, (list, tuple)):
                return f"must be a list, got {type(value).__name__}"
        elif kind is float:
            if not isinstance(value, float) or not math.isfinite(value):
                return f"must be a finite number, got {value!r}"
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"must be {kind.__name__}, got {type(value).__name__}"
        if self.choices and value not in self.choices:
            return f"must be one of {list(self.choices)}, got {value!r}"
        if self.min_value is not None and value < self.min_value:
            return f"must be >= {self.min_value}, got {value!r}"
        if self.max_value is not None and value > self.max_value:
            return f"must be <= {self.max_value}, got {value!r}"
        if self.non_empty and not value:
            return "must not be empty"
        return None


def validate_params(specs: Iterable[ParamSpec], values: dict[str, Any]) -> dict[str, Any]:
    """Check ``values`` against ``specs``; returns them with defaults filled. Raises one RequestError listing all."""
    out: dict[str, Any] = {}
    problems = []
    for spec in specs:
        value = values.get(spec.name, spec.default)
        if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        reason = spec.check(value)
        if reason:
            shown = "[redacted]" if spec.secret else repr(value)
            problems.append(f"{spec.name}={shown}: {reason}")
        out[spec.name] = value
    if problems:
        raise RequestError("invalid parameters: " + "; ".join(problems), ErrorCode.INVALID_ARGUMENT)
    return out


def describe(specs: Iterable[ParamSpec]) -> list[dict[str, Any]]:
    """Parameter table for docs and ``--help`` output (secrets show no default)."""
    rows = []
    for s in specs:
        rows.append({"name": s.name, "type": s.kind.__name__, "default": None if s.secret else s.default,
                     "read_only": s.read_only, "description": s.description,
                     "choices": list(s.choices), "min": s.min_value, "max": s.max_value})
    return rows
