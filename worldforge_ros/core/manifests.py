"""Runtime manifests, run manifests and runtime-asset lists: JSON Schemas under ``manifests/schema/``.

- ``manifests/runtime/<provider>.json`` states what a provider needs and claims; ``beta``/``stable`` providers
  serve only when theirs validates (``core/promotion.py``).
- ``run_manifest.json`` of every run workspace (``core/workspace.py``) validates against
  ``run_manifest.schema.json``; runtime assets (checkpoint files with sha256) against ``runtime_assets``.

Every manifest is also refused when it carries a secret: a non-empty value under a secret-looking key, or a
string that redaction would change (bearer tokens, ``password=...``, signed-URL queries, URL userinfo).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .digests import digest_json
from .errors import ErrorCode, RequestError
from .profiles import share_dir
from .redaction import is_secret_key, redact_text

SCHEMAS = ("runtime_manifest", "run_manifest", "runtime_assets")


def manifests_dir() -> Path:
    """``manifests/`` of the source tree, a pip install or the ament install."""
    return share_dir("manifests")


@lru_cache(maxsize=None)
def _schema(name: str) -> dict[str, Any]:
    if name not in SCHEMAS:
        raise RequestError(f"unknown manifest schema {name!r}; known: {list(SCHEMAS)}", ErrorCode.INVALID_ARGUMENT)
    return json.loads((manifests_dir() / "schema" / f"{name}.schema.json").read_text())


def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    resources = [(f"{other}.schema.json", Resource.from_contents(_schema(other))) for other in SCHEMAS]
    registry = Registry().with_resources(resources)
    return jsonschema.Draft202012Validator(_schema(name), registry=registry)


def secret_problems(data: Any, path: str = "$") -> list[str]:
    """Where ``data`` holds something secret-looking (value-free descriptions, never the secret itself)."""
    problems: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}"
            if is_secret_key(str(key)) and value not in (None, "", False, True, [], {}):
                problems.append(f"{where}: secret-looking key with a value")
            else:
                problems += secret_problems(value, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            problems += secret_problems(value, f"{path}[{i}]")
    elif isinstance(data, str) and redact_text(data) != data:
        problems.append(f"{path}: a token, password or signed URL in the text")
    return problems


def validate(data: Any, schema: str) -> None:
    """Validate ``data`` against ``manifests/schema/<schema>.schema.json`` and the no-secrets rule."""
    errors = sorted(_validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in first.path)
        raise RequestError(f"{schema} invalid at {where}: {first.message}"
                           + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""),
                           ErrorCode.INVALID_ARGUMENT)
    secrets_found = secret_problems(data)
    if secrets_found:
        raise RequestError(f"{schema} refused: {'; '.join(secrets_found[:5])}", ErrorCode.INVALID_ARGUMENT)


def validate_run_manifest(data: dict[str, Any]) -> None:
    validate(data, "run_manifest")


def validate_runtime_assets(data: list[dict[str, Any]]) -> None:
    validate(data, "runtime_assets")


def load_runtime_manifest(name: str) -> dict[str, Any]:
    """``manifests/runtime/<name>.json``, validated; a typed error when missing, invalid or naming another provider."""
    path = manifests_dir() / "runtime" / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RequestError(f"no runtime manifest for provider {name!r} ({path})", ErrorCode.INVALID_ARGUMENT) from None
    except ValueError as exc:
        raise RequestError(f"runtime manifest {path} is not JSON: {exc}", ErrorCode.INVALID_ARGUMENT) from exc
    validate(data, "runtime_manifest")
    if data["provider"] != name:
        raise RequestError(f"runtime manifest {path} describes {data['provider']!r}, not {name!r}",
                           ErrorCode.INVALID_ARGUMENT)
    return data


def manifest_digest(data: Any) -> str:
    """``sha256:`` of the canonical JSON of a manifest (recorded in plans and run manifests)."""
    return digest_json(data)
