"""Profiles name model locations with ${VAR:-default}: expansion rules and the shipped profiles' paths."""

import os

import pytest

from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.core.profiles import expand, load_profile


def test_variable_with_default_and_home():
    tree = {"a": "${WFROS_X:-~/fx}/lerobot", "b": ["${WFROS_X:-/d}/s"], "n": 3, "plain": "x$"}
    out = expand(tree, {})
    assert out["a"] == os.path.expanduser("~/fx") + "/lerobot"
    assert out["b"] == ["/d/s"] and out["n"] == 3 and out["plain"] == "x$"
    assert expand(tree, {"WFROS_X": "/lab/models"})["a"] == "/lab/models/lerobot"


def test_unset_variable_without_default_is_a_typed_error():
    with pytest.raises(RequestError) as err:
        expand("${WFROS_NOT_SET_ANYWHERE}/x", {})
    assert err.value.code == ErrorCode.INVALID_ARGUMENT and "WFROS_NOT_SET_ANYWHERE" in str(err.value)


def test_shipped_profiles_follow_the_fixtures_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("WFROS_FIXTURES", str(tmp_path))
    spec = load_profile("lerobot_lewm").node("provider_leworldmodel").flat_parameters()
    assert spec["leworldmodel.cache_dir"] == f"{tmp_path}/stablewm/checkpoints"
    assert spec["leworldmodel.trusted_roots"] == [f"{tmp_path}/stablewm"]
    lerobot = load_profile("lerobot_lewm").node("provider_lerobot").flat_parameters()
    assert lerobot["lerobot.policy_path"].startswith(str(tmp_path))


@pytest.mark.parametrize("profile, env, node, key, expected", [
    ("lerobot_lewm", {"LEROBOT_POLICY_PATH": "/models/act"}, "provider_lerobot", ("lerobot", "policy_path"),
     "/models/act"),
    ("lerobot_lewm", {"LEROBOT_DEVICE": "cuda"}, "provider_lerobot", ("lerobot", "device"), "cuda"),
    ("lerobot_lewm", {"LEROBOT_POLICY_TYPE": "act"}, "provider_lerobot", ("lerobot", "policy_type"), "act"),
    ("lerobot_lewm", {"LEWORLDMODEL_DEVICE": "cuda"}, "provider_leworldmodel", ("leworldmodel", "device"), "cuda"),
    ("gr00t_lewm", {"GROOT_POLICY_PORT": "6000"}, "provider_gr00t", ("gr00t", "port"), 6000),
    ("gr00t_lewm", {"GROOT_POLICY_HOST": "gpu.lab"}, "provider_gr00t", ("gr00t", "host"), "gpu.lab"),
    ("gr00t_lewm", {"GROOT_POLICY_GENERATION": "n1.7"}, "provider_gr00t", ("gr00t", "generation"), "n1.7"),
    ("gr00t_lewm", {"GROOT_POLICY_API_TOKEN_FILE": "/run/tok"}, "provider_gr00t", ("gr00t", "api_token_file"),
     "/run/tok"),
])
def test_profile_environment_overrides(monkeypatch, profile, env, node, key, expected):
    """The variables docs/lab-setup.md lists work under the robot profiles; unset, the profile's default stays
    (with its type: a port is an int)."""
    from worldforge_ros.core.profiles import load_profile

    for var in ("LEROBOT_POLICY_PATH", "LEROBOT_DEVICE", "LEROBOT_POLICY_TYPE", "LEWORLDMODEL_DEVICE",
                "GROOT_POLICY_PORT", "GROOT_POLICY_HOST", "GROOT_POLICY_GENERATION", "GROOT_POLICY_API_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    default = load_profile(profile).node(node).parameters[key[0]][key[1]]
    assert default != expected
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    got = load_profile(profile).node(node).parameters[key[0]][key[1]]
    assert got == expected and type(got) is type(expected)
    if key == ("gr00t", "port"):
        assert default == 5555
