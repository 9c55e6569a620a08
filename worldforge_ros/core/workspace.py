"""Run workspaces: ``<root>/runs/<run-id>/{bag,reports,logs}`` plus ``run_manifest.json``.

Run ids are ``YYYYMMDDTHHMMSSZ-<8 hex>``. Paths are resolved inside the workspace only (``..``, absolute paths
and symlinks that leave it are refused). The run manifest starts ``running`` and ends ``completed``,
``failed``, ``passed`` or ``skipped`` (validated against ``manifests/schema/run_manifest.schema.json``); it is value-free about the environment and its command line is redacted.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import ErrorCode, RequestError
from .redaction import is_secret_key, redact_text

RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[a-f0-9]{8}$")
MANIFEST_SCHEMA_VERSION = 1
FINAL_STATUSES = ("completed", "failed", "passed", "skipped")
"""How a run ends: completed/failed (graph runs), passed/failed/skipped (smoke runs)."""
_SECRET_FLAGS = ("--token", "--api-token", "--api_token", "--password", "--secret", "--api-key", "--api_key")


def new_run_id(now: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(4)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Command line with secret flag values replaced and every argument passed through redact_text."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("[redacted]")
            hide_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if flag.lower() in _SECRET_FLAGS:
            if eq:
                out.append(f"{flag}=[redacted]")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out


def env_summary(names: Iterable[str], environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Value-free description of environment variables: name, present, source, secret."""
    env = os.environ if environ is None else environ
    return [{"name": n, "present": bool(env.get(n, "").strip()), "source": f"env:{n}" if env.get(n) else "unset",
             "secret": is_secret_key(n) or any(m in n.lower() for m in ("key", "credential"))} for n in names]


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class RunWorkspace:
    run_id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def bag_dir(self) -> Path:
        """Where the bag goes (not created: the bag writer creates it)."""
        return self.path / "bag"

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def manifest_path(self) -> Path:
        return self.path / "run_manifest.json"

    @classmethod
    def create(cls, root: Path | str, *, kind: str, command_argv: Sequence[str] = (), config_profile: str = "",
               run_id: str | None = None, env_names: Iterable[str] = ()) -> "RunWorkspace":
        from worldforge_ros import __version__

        run_id = run_id or new_run_id()
        if not RUN_ID_RE.match(run_id):
            raise RequestError(f"run id {run_id!r} is not YYYYMMDDTHHMMSSZ-<8 hex>", ErrorCode.INVALID_ARGUMENT)
        path = Path(root).expanduser().resolve() / "runs" / run_id
        path.mkdir(parents=True, exist_ok=False)
        for sub in ("reports", "logs"):
            (path / sub).mkdir()
        manifest = {
            "schema_version": MANIFEST_SCHEMA_VERSION, "run_id": run_id,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "package_version": __version__,
            "kind": kind, "command_argv": redact_argv(command_argv), "status": "running",
            "config_profile": config_profile, "env_summary": env_summary(env_names), "event_count": 0,
            "artifact_paths": {}, "result_summary": {},
            "layout": {"bag": "bag", "reports": "reports", "logs": "logs"},
            "worldforge_certifies_robot_safety": False,
        }
        ws = cls(run_id, path, manifest)
        ws._write()
        return ws

    def _write(self) -> None:
        from .manifests import validate_run_manifest

        validate_run_manifest(self.manifest)
        _write_json_atomic(self.manifest_path, self.manifest)

    def resolve(self, relpath: str | Path) -> Path:
        """A path inside the workspace; refuses absolute paths, ``..`` and symlinks that leave it."""
        rel = Path(relpath)
        if rel.is_absolute():
            raise RequestError(f"{relpath}: absolute paths are refused inside a run workspace",
                               ErrorCode.INVALID_ARGUMENT)
        target = (self.path / rel).resolve()
        if target != self.path and self.path not in target.parents:
            raise RequestError(f"{relpath} escapes the run workspace {self.path}", ErrorCode.INVALID_ARGUMENT)
        return target

    def finish(self, status: str = "completed", *, event_count: int | None = None,
               result_summary: dict[str, Any] | None = None, artifact_paths: dict[str, str] | None = None) -> None:
        if status not in FINAL_STATUSES:
            raise RequestError(f"status must be one of {FINAL_STATUSES}, got {status!r}", ErrorCode.INVALID_ARGUMENT)
        self.manifest["status"] = status
        if event_count is not None:
            self.manifest["event_count"] = int(event_count)
        if result_summary:
            self.manifest["result_summary"] = dict(result_summary)
        for name, rel in (artifact_paths or {}).items():
            self.resolve(rel)
            self.manifest["artifact_paths"][name] = str(rel)
        self.manifest["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._write()
