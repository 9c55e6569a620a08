"""``worldforge-ros fixtures DIR``: write tiny, clearly labelled *untrained* checkpoints for tests and the demo.

Layout (what ``config/lerobot_lewm.yaml`` expects under ``${WFROS_FIXTURES}``)::

    DIR/lerobot/act_state/      state-only ACT (Panda, 7 joints, chunk 16), with processor files
    DIR/lerobot/act_camera/     one-camera ACT (no pretrained backbone), with processor files
    DIR/lerobot/diffusion/      Diffusion policy (stochastic: seeded candidates), with processor files
    DIR/stablewm/checkpoints/panda/lewm_object.ckpt   tiny LeWorldModel (perturbed adaLN so costs differ)
    DIR/fixtures.json           what was written, sha256 of every file, "untrained": true

Nothing here is a trained model: the weights are seeded random numbers. Idempotent: an existing, complete
``fixtures.json`` of the same version is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

FIXTURES_VERSION = 1
LABEL = ("UNTRAINED FIXTURE: seeded random weights written by `worldforge-ros fixtures` for tests and the demo. "
         "Not a model; its actions and scores mean nothing.")


def _writers() -> dict[str, tuple[str, Callable[[Path], Path]]]:
    """name -> (relative directory, writer). Imports torch/LeRobot/stable-worldmodel only when called."""

    def act_state(path: Path) -> Path:
        from worldforge_ros.testing.lerobot_fixtures import write_act_state

        return write_act_state(path)

    def act_camera(path: Path) -> Path:
        from worldforge_ros.testing.lerobot_fixtures import write_act_camera

        return write_act_camera(path)

    def diffusion(path: Path) -> Path:
        from worldforge_ros.testing.lerobot_fixtures import write_diffusion

        return write_diffusion(path)

    def lewm(path: Path) -> Path:
        from worldforge_ros.testing.lewm_fixtures import write_tiny_lewm

        return write_tiny_lewm(path, run_name="panda/lewm", action_dim=7)

    return {"act_state": ("lerobot/act_state", act_state), "act_camera": ("lerobot/act_camera", act_camera),
            "diffusion": ("lerobot/diffusion", diffusion), "lewm": ("stablewm", lewm)}


FIXTURE_NAMES = ("act_state", "act_camera", "diffusion", "lewm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="where to write the fixtures (e.g. ~/.cache/worldforge_ros/fixtures)")
    parser.add_argument("--only", action="append", choices=FIXTURE_NAMES, default=[],
                        help="write only these fixtures (repeatable; default: all)")
    parser.add_argument("--force", action="store_true", help="rewrite even when a complete set exists")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _inventory(root: Path, relative: str) -> list[dict]:
    base = root / relative
    return [{"path": str(p.relative_to(root)), "bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(base.rglob("*")) if p.is_file()]


def existing(root: Path, names: tuple[str, ...]) -> dict | None:
    """The manifest of a complete fixture set covering ``names`` (every listed file still present), else None."""
    manifest_path = root / "fixtures.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != FIXTURES_VERSION or not set(names) <= set(manifest.get("fixtures", {})):
        return None
    files = [f for name in names for f in manifest["fixtures"][name]["files"]]
    if not all((root / f["path"]).is_file() and (root / f["path"]).stat().st_size == f["bytes"] for f in files):
        return None
    return manifest


def write_fixtures(root: Path, names: tuple[str, ...] = FIXTURE_NAMES, force: bool = False,
                   log: Callable[[str], None] = print) -> dict:
    """Write the named fixtures under ``root``; returns the manifest (also saved as ``fixtures.json``)."""
    root = root.expanduser().resolve()
    if not force:
        found = existing(root, names)
        if found is not None:
            log(f"fixtures: complete set already in {root} (use --force to rewrite)")
            return found
    root.mkdir(parents=True, exist_ok=True)
    writers = _writers()
    previous = existing(root, tuple(n for n in FIXTURE_NAMES if n not in names)) or {}
    manifest = {"version": FIXTURES_VERSION, "untrained": True, "label": LABEL,
                "fixtures": dict(previous.get("fixtures", {}))}
    for name in names:
        relative, writer = writers[name]
        started = time.perf_counter()
        writer(root / relative)
        files = _inventory(root, relative)
        manifest["fixtures"][name] = {"directory": relative, "files": files,
                                      "seconds": round(time.perf_counter() - started, 3)}
        log(f"fixtures: {name:<10} -> {root / relative} ({sum(f['bytes'] for f in files) / 1e6:.2f} MB, "
            f"{manifest['fixtures'][name]['seconds']:.1f} s)")
    (root / "README.txt").write_text(LABEL + "\n")
    (root / "fixtures.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def run(args: argparse.Namespace) -> int:
    names = tuple(dict.fromkeys(args.only)) or FIXTURE_NAMES
    try:
        write_fixtures(Path(args.directory), names, force=args.force)
    except ImportError as exc:
        print(f"worldforge-ros fixtures: a runtime is missing ({exc}); run scripts/setup", file=sys.stderr)
        return 2
    return 0
