"""`worldforge-ros smoke`: skipped without the opt-in; with it, real providers run and leave a run manifest."""

import json

import pytest

from worldforge_ros.cli import main
from worldforge_ros.core.manifests import validate_run_manifest
from worldforge_ros.testing.lerobot_fixtures import write_diffusion
from worldforge_ros.testing.lewm_fixtures import write_tiny_lewm


def manifest(root):
    (path,) = list((root / "runs").glob("*/run_manifest.json"))
    data = json.loads(path.read_text())
    validate_run_manifest(data)
    return data


def test_without_opt_in_it_records_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WFROS_LIVE", raising=False)
    assert main(["smoke", "lerobot", "--evidence-dir", str(tmp_path)]) == 0
    data = manifest(tmp_path)
    assert data["status"] == "skipped" and "WFROS_LIVE=1" in data["result_summary"]["reason"]
    assert "skipped" in capsys.readouterr().out


def test_live_lerobot_smoke_passes_with_digests_and_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("WFROS_LIVE", "1")
    checkpoint = write_diffusion(tmp_path / "diffusion", seed=2)
    assert main(["smoke", "lerobot", "--param", f"policy_path={checkpoint}", "--evidence-dir",
                 str(tmp_path / "ev")]) == 0
    data = manifest(tmp_path / "ev")
    summary = data["result_summary"]
    assert data["status"] == "passed" and summary["problems"] == []
    assert summary["input_digest"].startswith("sha256:") and summary["result_digest"].startswith("sha256:")
    assert summary["result_shape"] == [2, 16, 7]
    assert {a["path"].rsplit("/", 1)[-1] for a in data["runtime_assets"]} >= {"config.json", "model.safetensors"}
    assert {e["name"]: e["present"] for e in data["env_summary"]}["WFROS_LIVE"] is True


def test_live_leworldmodel_smoke_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("WFROS_LIVE", "1")
    monkeypatch.setenv("STABLEWM_HOME", str(tmp_path / "home"))
    write_tiny_lewm(tmp_path / "swm", "panda/lewm")
    assert main(["smoke", "leworldmodel", "--param", "policy=panda/lewm", "--param",
                 f"cache_dir={tmp_path}/swm/checkpoints", "--param", f'trusted_roots=["{tmp_path}/swm"]',
                 "--evidence-dir", str(tmp_path / "ev")]) == 0
    data = manifest(tmp_path / "ev")
    assert data["status"] == "passed"
    assert [a["role"] for a in data["runtime_assets"]] == ["lewm_checkpoint"]


@pytest.mark.parametrize("provider, params", [
    ("lerobot", ["policy_path=/nonexistent/checkpoint"]),
    ("leworldmodel", ["policy=panda/lewm", "cache_dir=/nonexistent"]),
])
def test_live_smoke_of_a_missing_checkpoint_fails_with_reason(tmp_path, monkeypatch, provider, params):
    monkeypatch.setenv("WFROS_LIVE", "1")
    argv = ["smoke", provider, "--evidence-dir", str(tmp_path)]
    for item in params:
        argv += ["--param", item]
    assert main(argv) == 1
    data = manifest(tmp_path)
    assert data["status"] == "failed" and "checkpoint_missing" in data["result_summary"]["problems"][0]
