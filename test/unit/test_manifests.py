"""Runtime/run manifests: schemas enforced, secrets refused, the promotion gate reads them."""

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.core.manifests import (load_runtime_manifest, manifest_digest, manifests_dir, secret_problems,
                                           validate, validate_run_manifest, validate_runtime_assets)
from worldforge_ros.core.workspace import RunWorkspace
from worldforge_ros.providers.registry import ENTRIES, runtime_manifest_ok

SHIPPED = ("lerobot", "leworldmodel", "gr00t", "reference")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_runtime_manifests_validate(name):
    data = load_runtime_manifest(name)
    assert data["provider"] == name and manifest_digest(data).startswith("sha256:")


def test_every_non_reference_registry_provider_has_a_manifest():
    assert all(runtime_manifest_ok(name) for name in ENTRIES)
    assert not runtime_manifest_ok("no_such_provider")


def _lerobot():
    return json.loads((manifests_dir() / "runtime" / "lerobot.json").read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("smoke_test"), "smoke_test"),
    (lambda d: d.update(implementation_status="production"), "implementation_status"),
    (lambda d: d.update(capability="teleport"), "capability"),
    (lambda d: d.update(required_env_vars=["lower_case"]), "required_env_vars"),
    (lambda d: d.update(extra_field=1), "Additional properties"),
])
def test_schema_violations_are_named(mutate, message):
    data = _lerobot()
    mutate(data)
    with pytest.raises(RequestError) as err:
        validate(data, "runtime_manifest")
    assert err.value.code == ErrorCode.INVALID_ARGUMENT and message in str(err.value)


@pytest.mark.parametrize("secret", [
    "https://bucket.s3.amazonaws.com/model.ckpt?X-Amz-Signature=abc123&X-Amz-Expires=3600",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "password=hunter2",
    "https://user:pw@example.com/weights",
])
def test_secret_values_are_refused(secret):
    data = _lerobot()
    data["known_limitations"].append(secret)
    with pytest.raises(RequestError, match="refused"):
        validate(data, "runtime_manifest")


def test_secret_keys_with_values_are_refused_but_flags_are_not():
    assert secret_problems({"env": [{"name": "GROOT_POLICY_API_TOKEN", "secret": True}]}) == []
    assert secret_problems({"shapes": {"api_token": "tok-123"}}) == ["$.shapes.api_token: secret-looking key with a value"]


@settings(max_examples=40, deadline=None)
@given(token=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789", min_size=8, max_size=40))
def test_generated_signed_urls_never_validate(token):
    data = _lerobot()
    data["description"] = f"weights at https://cdn.example.org/m.bin?sig={token}&exp=1"
    with pytest.raises(RequestError):
        validate(data, "runtime_manifest")


def test_runtime_assets_schema():
    good = [{"role": "checkpoint", "path": "model.safetensors", "bytes": 10, "sha256": "sha256:" + "a" * 64}]
    validate_runtime_assets(good)
    bad = copy.deepcopy(good)
    bad[0]["sha256"] = "md5:abc"
    with pytest.raises(RequestError, match="sha256"):
        validate_runtime_assets(bad)


def test_run_workspace_manifest_validates_and_accepts_smoke_statuses(tmp_path):
    ws = RunWorkspace.create(tmp_path, kind="smoke", command_argv=["smoke", "--api-token", "tok-9"])
    data = json.loads(ws.manifest_path.read_text())
    validate_run_manifest(data)
    assert "tok-9" not in ws.manifest_path.read_text()
    ws.finish("skipped", result_summary={"reason": "opt-in not given"})
    assert json.loads(ws.manifest_path.read_text())["status"] == "skipped"
    with pytest.raises(RequestError):
        ws.finish("maybe")


def test_run_manifest_refuses_safety_claims(tmp_path):
    ws = RunWorkspace.create(tmp_path, kind="plan_and_review")
    data = json.loads(ws.manifest_path.read_text())
    data["worldforge_certifies_robot_safety"] = True
    with pytest.raises(RequestError, match="worldforge_certifies_robot_safety"):
        validate_run_manifest(data)
