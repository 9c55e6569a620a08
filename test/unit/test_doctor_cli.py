"""`worldforge-ros doctor`: provider health with typed reasons, value-free environment summary."""

import json
import os
import subprocess
import sys


def _doctor(*args, env=None):
    return subprocess.run([sys.executable, "-m", "worldforge_ros.cli", "doctor", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_reference_providers_are_healthy():
    out = _doctor("--provider", "reference", "--provider", "reference_scorer", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["providers"]
    assert [r["healthy"] for r in rows] == [True, True]
    assert {r["status"] for r in rows} == {"reference"}


def test_unconfigured_gr00t_is_unhealthy_with_a_typed_reason_and_no_secret_values():
    secret = "tok-3f9c2a7e51"
    out = _doctor("--provider", "gr00t", "--json", env={"GROOT_POLICY_API_TOKEN": secret, "GROOT_POLICY_HOST": ""})
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["providers"][0]["reason"] == "not_configured"
    token = next(e for e in report["env"] if e["name"] == "GROOT_POLICY_API_TOKEN")
    assert token == {"name": "GROOT_POLICY_API_TOKEN", "present": True, "source": "env:GROOT_POLICY_API_TOKEN",
                     "secret": True}
    assert secret not in out.stdout + out.stderr
