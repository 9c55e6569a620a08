"""``worldforge-ros smoke PROVIDER``: run one provider against a real host-supplied checkpoint or server.

Opt-in: nothing runs unless ``WFROS_LIVE=1`` (a live smoke may load large checkpoints or reach a GPU host).
Without the opt-in the run is recorded as ``skipped`` with the reason. With it, the provider is built from the
registry (``--param key=value`` plus its environment fallbacks), health-checked, configured and run once on a
synthetic Panda observation (joint state, a rendered camera frame and goal image); the result is checked with
:mod:`worldforge_ros.testing.conformance`. Either way a run manifest is written to
``<evidence-dir>/runs/<run id>/run_manifest.json``: status ``passed|failed|skipped``, input and result digests,
a value-free environment summary and the runtime assets (checkpoint files with sha256) — the evidence a
provider needs for ``beta``/``stable``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

LIVE_ENV = "WFROS_LIVE"
PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
GOAL = HOME + np.array([0.30, 0.20, -0.20, 0.30, 0.10, 0.20, 0.0])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider", help="registry name: lerobot, leworldmodel, gr00t, reference, reference_scorer")
    parser.add_argument("--param", action="append", default=[], help="provider parameter key=value (JSON value)")
    parser.add_argument("--evidence-dir", default="evidence", help="root of run workspaces")
    parser.add_argument("--candidates", type=int, default=2, help="candidates asked of a policy / scored")


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _observation():
    from worldforge_ros.core.observation import ImageData, ObservationData
    from worldforge_ros.testing.lewm_fixtures import render_joint_image

    return ObservationData(stamp_ns=time.time_ns(), task="reach the goal pose", embodiment_tag="panda_7dof",
                           joint_names=PANDA, joint_positions=HOME.copy(),
                           images=(ImageData("front", "rgb8", render_joint_image(HOME)),),
                           extras={"goal_positions": GOAL.copy(), "goal_image": render_joint_image(GOAL)})


def _file_asset(role: str, path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"role": role, "path": str(path), "bytes": path.stat().st_size, "sha256": "sha256:" + digest.hexdigest()}


def runtime_assets(provider: Any) -> list[dict[str, Any]]:
    """Checkpoint files the provider loaded (LeRobot directory, LeWM pickle), each with size and sha256."""
    assets = []
    settings = getattr(provider, "settings", None)
    policy_path = getattr(settings, "policy_path", "")
    if policy_path and Path(policy_path).expanduser().is_dir():
        for path in sorted(Path(policy_path).expanduser().iterdir()):
            if path.is_file():
                assets.append(_file_asset("lerobot_checkpoint", path))
    checkpoint = getattr(provider, "_checkpoint", None)
    if checkpoint is not None and Path(checkpoint).is_file():
        assets.append(_file_asset("lewm_checkpoint", Path(checkpoint)))
    return assets


def _input_digest(observation: Any) -> str:
    from worldforge_ros.core.digests import digest_json, tensor_digest

    return digest_json({"summary": observation.summary(), "positions": tensor_digest(observation.joint_positions),
                        "images": [tensor_digest(i.pixels) for i in observation.images],
                        "extras": {k: tensor_digest(np.asarray(v)) for k, v in observation.extras.items()}})


def smoke(name: str, params: dict[str, Any], candidates: int = 2) -> dict[str, Any]:
    """Run the provider once; returns ``{"status", "problems", "input_digest", "result_digest", ...}``."""
    from worldforge_ros.core.digests import tensor_digest
    from worldforge_ros.providers import registry
    from worldforge_ros.testing.conformance import check_policy_provider, check_score_provider

    entry = registry.get(name)
    events: list[Any] = []
    provider = entry.create(params, events.append)
    health = provider.health()
    summary: dict[str, Any] = {"provider": name, "capability": entry.capability,
                               "implementation_status": provider.profile.implementation_status,
                               "health": {"healthy": health.healthy, "reason": health.reason}}
    if not health.healthy:
        return {**summary, "status": "failed", "problems": [f"unhealthy: [{health.reason}] {health.details}"]}
    started = time.perf_counter()
    provider.configure()
    observation = _observation()
    summary["input_digest"] = _input_digest(observation)
    if entry.capability == "policy":
        problems = check_policy_provider(provider, observation, num_candidates=candidates, events=events)
        result = provider.select_actions(observation, candidates, "predict_chunk")
        summary["result_digest"] = tensor_digest(result.actions["action"])
        summary["result_shape"] = list(result.actions["action"].shape)
    else:
        from worldforge_ros.providers.reference import ReferencePolicy

        proposals = ReferencePolicy(horizon=16, seed=1).chunks(HOME, GOAL, max(2, candidates))
        problems = check_score_provider(provider, observation, proposals, events=events)
        result = provider.score_actions(observation, proposals)
        summary["result_digest"] = tensor_digest(np.asarray(result.scores))
        summary["result_shape"] = [len(result.scores)]
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["events"] = len(events)
    summary["runtime_assets"] = runtime_assets(provider)
    provider.close()
    return {**summary, "status": "failed" if problems else "passed", "problems": problems}


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.commands.doctor import ENV_VARS
    from worldforge_ros.core.errors import WorldForgeRosError
    from worldforge_ros.core.manifests import validate_runtime_assets
    from worldforge_ros.core.redaction import redact_text
    from worldforge_ros.core.workspace import RunWorkspace

    workspace = RunWorkspace.create(Path(args.evidence_dir), kind=f"smoke:{args.provider}",
                                    command_argv=["worldforge-ros", "smoke", args.provider, *args.param],
                                    env_names=ENV_VARS + (LIVE_ENV,))
    if os.environ.get(LIVE_ENV) != "1":
        reason = f"live smoke runs only with {LIVE_ENV}=1 (it loads real checkpoints or reaches a real server)"
        workspace.finish("skipped", result_summary={"provider": args.provider, "reason": reason})
        print(f"smoke {args.provider}: skipped: {reason}\nrun manifest: {workspace.manifest_path}")
        return 0
    try:
        outcome = smoke(args.provider, _params(args.param), args.candidates)
    except WorldForgeRosError as err:
        outcome = {"provider": args.provider, "status": "failed", "problems": [redact_text(str(err))]}
    assets = outcome.pop("runtime_assets", [])
    if assets:
        validate_runtime_assets(assets)
        workspace.manifest["runtime_assets"] = assets
    outcome["problems"] = [redact_text(p) for p in outcome["problems"]]
    workspace.finish(outcome["status"], result_summary=outcome)
    print(f"smoke {args.provider}: {outcome['status']}" +
          "".join(f"\n  - {p}" for p in outcome["problems"]) + f"\nrun manifest: {workspace.manifest_path}")
    return 0 if outcome["status"] == "passed" else 1

