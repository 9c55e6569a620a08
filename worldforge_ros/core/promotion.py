"""Promotion gates, enforced: whether a provider may serve given its ``implementation_status``.

WorldForge records ``scaffold -> experimental -> beta -> stable`` but never enforces it. Here:

- ``scaffold``: a reserved name; fails closed, always.
- ``experimental``: serves only with an explicit opt-in (``allow_experimental``).
- ``beta`` / ``stable``: serve only with a valid runtime manifest.
- ``reference``: serves; an honestly labelled test/reference provider, never presented as a model.
- anything else: refused.

Refusals are ``ProviderError(PROVIDER_STATUS_BLOCKED)``.
"""

from __future__ import annotations

from .contracts import PROMOTION_STATUSES, ProviderProfile
from .errors import ErrorCode, ProviderError

REFERENCE_STATUS = "reference"
IMPLEMENTATION_STATUSES: tuple[str, ...] = PROMOTION_STATUSES + (REFERENCE_STATUS,)
"""Every status a profile may declare."""


def check_servable(profile: ProviderProfile, runtime_manifest_ok: bool, allow_experimental: bool = False) -> str:
    """Raise ``PROVIDER_STATUS_BLOCKED`` unless ``profile`` may serve; else return a one-line reason it may."""
    status = profile.implementation_status
    name = profile.name
    if status == "scaffold":
        raise ProviderError(f"provider {name!r} is a scaffold (reserved name, no implementation): fails closed",
                            ErrorCode.PROVIDER_STATUS_BLOCKED, status=status)
    if status == "experimental":
        if not allow_experimental:
            raise ProviderError(f"provider {name!r} is experimental; serving it needs the explicit opt-in "
                                "allow_experimental:=true", ErrorCode.PROVIDER_STATUS_BLOCKED, status=status)
        return f"{name}: experimental, served by explicit opt-in"
    if status in ("beta", "stable"):
        if not runtime_manifest_ok:
            raise ProviderError(f"provider {name!r} is {status} but has no valid runtime manifest; {status} "
                                "providers serve only with one", ErrorCode.PROVIDER_STATUS_BLOCKED, status=status)
        return f"{name}: {status} with a valid runtime manifest"
    if status == REFERENCE_STATUS:
        return f"{name}: reference provider for tests, benchmarks and demos (not a model)"
    raise ProviderError(f"provider {name!r} declares unknown implementation_status {status!r}; known: "
                        f"{list(IMPLEMENTATION_STATUSES)}", ErrorCode.PROVIDER_STATUS_BLOCKED, status=status)
