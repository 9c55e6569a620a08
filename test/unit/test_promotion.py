"""Promotion gates are enforced: scaffold fails closed, experimental needs an opt-in, beta/stable a manifest."""

import dataclasses
import itertools

import pytest

from worldforge_ros.core.contracts import ProviderProfile
from worldforge_ros.core.errors import ErrorCode, ProviderError
from worldforge_ros.core.promotion import IMPLEMENTATION_STATUSES, check_servable
from worldforge_ros.providers.reference import POLICY_PROFILE, SCORER_PROFILE

BASE = ProviderProfile(name="lab_policy", capabilities=("policy",))


def profile(status):
    return dataclasses.replace(BASE, implementation_status=status)


def servable(status, manifest_ok, allow_experimental):
    try:
        check_servable(profile(status), manifest_ok, allow_experimental)
    except ProviderError as exc:
        assert exc.code == ErrorCode.PROVIDER_STATUS_BLOCKED
        assert exc.details["status"] == status
        return False
    return True


@pytest.mark.parametrize("manifest_ok, allow_experimental", list(itertools.product([False, True], repeat=2)))
def test_gate_table(manifest_ok, allow_experimental):
    assert servable("scaffold", manifest_ok, allow_experimental) is False
    assert servable("experimental", manifest_ok, allow_experimental) is allow_experimental
    assert servable("beta", manifest_ok, allow_experimental) is manifest_ok
    assert servable("stable", manifest_ok, allow_experimental) is manifest_ok
    assert servable("reference", manifest_ok, allow_experimental) is True
    assert servable("production", manifest_ok, allow_experimental) is False
    assert servable("", manifest_ok, allow_experimental) is False


def test_messages_say_why():
    with pytest.raises(ProviderError, match="scaffold"):
        check_servable(profile("scaffold"), True, True)
    with pytest.raises(ProviderError, match="allow_experimental"):
        check_servable(profile("experimental"), True, False)
    with pytest.raises(ProviderError, match="runtime manifest"):
        check_servable(profile("stable"), False, True)
    assert "opt-in" in check_servable(profile("experimental"), False, True)


def test_reference_providers_are_honestly_labelled():
    assert "reference" in IMPLEMENTATION_STATUSES
    for prof in (POLICY_PROFILE, SCORER_PROFILE):
        assert prof.implementation_status == "reference"
        assert any("not a learned model" in note for note in prof.notes)
        assert "not a model" in check_servable(prof, runtime_manifest_ok=False, allow_experimental=False)
