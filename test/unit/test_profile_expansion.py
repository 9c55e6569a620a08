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
