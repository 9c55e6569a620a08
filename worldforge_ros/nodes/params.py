"""Declare a node's parameters from core ParamSpecs, with descriptors, and validate them at startup."""

from __future__ import annotations

from typing import Any, Iterable

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from worldforge_ros.core.parameters import ParamSpec, validate_params


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    constraints = []
    if spec.choices:
        constraints.append(f"one of {list(spec.choices)}")
    if spec.non_empty:
        constraints.append("non-empty")
    desc.additional_constraints = "; ".join(constraints)
    if spec.kind is float and (spec.min_value is not None or spec.max_value is not None):
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min_value if spec.min_value is not None else -1e300),
            to_value=float(spec.max_value if spec.max_value is not None else 1e300), step=0.0)]
    if spec.kind is int and (spec.min_value is not None or spec.max_value is not None):
        desc.integer_range = [IntegerRange(from_value=int(spec.min_value if spec.min_value is not None else -2**62),
                                           to_value=int(spec.max_value if spec.max_value is not None else 2**62),
                                           step=0)]
    return desc


def declare_and_validate(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node`` and return validated values (raises RequestError listing bad values).

    Later ``ros2 param set`` calls are validated by the same specs.
    """
    specs = list(specs)
    values = {}
    for spec in specs:
        if spec.kind is list:
            default = list(spec.default)
            ptype = Parameter.Type.DOUBLE_ARRAY if spec.list_kind == "double" else Parameter.Type.STRING_ARRAY
            param = node.declare_parameter(spec.name, default if default else ptype, _descriptor(spec))
        else:
            param = node.declare_parameter(spec.name, spec.default, _descriptor(spec))
        value = param.value
        values[spec.name] = list(value) if spec.kind is list and value is not None else value
        if spec.kind is list and value is None:
            values[spec.name] = []
    by_name = {s.name: s for s in specs}

    def on_set(params: list[Parameter]) -> SetParametersResult:
        for p in params:
            spec = by_name.get(p.name)
            reason = spec.check(list(p.value) if spec and spec.kind is list else p.value) if spec else None
            if reason:
                return SetParametersResult(successful=False, reason=f"{p.name}: {reason}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return validate_params(specs, values)
