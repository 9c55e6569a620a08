"""``worldforge-ros doctor``: what this machine can run, without loading any weights.

Provider health (each provider's own ``health()``, configured from the environment and ``--param``), a
value-free environment summary, runtime-manifest validity, and the ROS pieces (rclpy, generated interfaces,
control_msgs, launch_ros). Exit 0 when every requested provider is healthy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from typing import Any

ENV_VARS = ("LEROBOT_POLICY_PATH", "LEROBOT_POLICY", "LEROBOT_POLICY_TYPE", "LEROBOT_DEVICE", "LEROBOT_CACHE_DIR",
            "LEROBOT_EMBODIMENT_TAG", "GROOT_POLICY_HOST", "GROOT_POLICY_PORT", "GROOT_POLICY_TIMEOUT_MS",
            "GROOT_POLICY_API_TOKEN", "GROOT_POLICY_STRICT", "GROOT_EMBODIMENT_TAG", "LEWORLDMODEL_POLICY",
            "LEWM_POLICY", "LEWORLDMODEL_CACHE_DIR", "LEWORLDMODEL_DEVICE", "STABLEWM_HOME", "ROS_DOMAIN_ID",
            "RMW_IMPLEMENTATION")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", action="append", default=[], help="only these providers (default: all)")
    parser.add_argument("--param", action="append", default=[], help="provider.key=value (JSON value)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _ros_checks() -> dict[str, bool]:
    return {name: importlib.util.find_spec(mod) is not None for name, mod in (
        ("rclpy", "rclpy"), ("generated interfaces", "worldforge_ros.srv"), ("control_msgs", "control_msgs"),
        ("launch_ros (ros2 launch)", "launch_ros"))}


def _provider_report(name: str, params: dict[str, Any]) -> dict[str, Any]:
    from worldforge_ros.core.redaction import redact_text
    from worldforge_ros.providers import registry

    entry = registry.get(name)
    row: dict[str, Any] = {"provider": name, "capability": entry.capability,
                           "manifest_valid": registry.runtime_manifest_ok(name)}
    try:
        provider = entry.create(params)
        health = provider.health()
        row.update(status=provider.profile.implementation_status, healthy=health.healthy, reason=health.reason,
                   details=redact_text(health.details), latency_ms=round(health.latency_ms, 3))
    except Exception as exc:  # a provider that cannot even be built is unhealthy, with its reason
        row.update(status="?", healthy=False, reason="not_constructible",
                   details=redact_text(f"{type(exc).__name__}: {exc}"), latency_ms=0.0)
    return row


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.core.workspace import env_summary
    from worldforge_ros.providers import registry

    names = args.provider or registry.names()
    params: dict[str, dict[str, Any]] = {}
    for item in args.param:
        key, _, value = item.partition("=")
        provider, _, pkey = key.partition(".")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        params.setdefault(provider, {})[pkey] = parsed
    rows = [_provider_report(n, params.get(n, {})) for n in names]
    report = {"providers": rows, "env": env_summary(ENV_VARS), "ros": _ros_checks()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'provider':<18}{'capability':<11}{'status':<13}{'manifest':<10}{'healthy':<9}details")
        for r in rows:
            details = r["details"] if r["healthy"] else f"[{r['reason']}] {r['details']}"
            print(f"{r['provider']:<18}{r['capability']:<11}{r['status']:<13}{str(r['manifest_valid']):<10}"
                  f"{str(r['healthy']):<9}{details}")
        present = [e["name"] + (" (secret)" if e["secret"] else "") for e in report["env"] if e["present"]]
        print("environment (names only): " + (", ".join(present) or "none of the provider variables set"))
        print("ROS: " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in report["ros"].items()))
    return 0 if all(r["healthy"] for r in rows) else 1
