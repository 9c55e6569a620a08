"""Test support shipped with the package: local test peers and conformance helpers (never real models)."""
