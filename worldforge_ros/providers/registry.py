"""Provider registry: name -> capability, parameters and a lazy factory.

The provider node declares ``<name>.<param>`` ROS parameters from these specs; an empty string or empty list
means "not given" so WorldForge's environment variables (``LEROBOT_POLICY_PATH``, ``GROOT_POLICY_HOST``,
``LEWORLDMODEL_POLICY`` ...) still apply. Provider modules are imported only by ``create``: a missing runtime is
an unhealthy provider with a typed reason, never an ImportError at node start.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from worldforge_ros.core.errors import ErrorCode, RequestError
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.core.promotion import check_servable

EventSink = Callable[[Any], Any]


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    capability: str  # "policy" | "score"
    module: str
    factory: str
    params: tuple[ParamSpec, ...]

    def prefixed_params(self) -> tuple[ParamSpec, ...]:
        """Specs named ``<provider>.<param>`` as the node declares them."""
        return tuple(dataclasses.replace(s, name=f"{self.name}.{s.name}") for s in self.params)

    def create(self, config: dict[str, Any], event_sink: EventSink | None = None) -> Any:
        """Build the provider (imports its module now). Empty values are dropped so env fallbacks apply."""
        given = {k: v for k, v in config.items() if v not in ("", [], None)}
        module = importlib.import_module(self.module)
        return getattr(module, self.factory)(given, event_sink)

    def check_servable(self, provider: Any, allow_experimental: bool) -> str:
        """Promotion gate: scaffold fails closed, experimental needs opt-in, beta/stable need a valid manifest."""
        return check_servable(provider.profile, runtime_manifest_ok(self.name), allow_experimental)


def runtime_manifest_ok(name: str) -> bool:
    """Whether ``manifests/runtime/<name>.json`` exists and validates against its schema."""
    try:
        from worldforge_ros.core.manifests import load_runtime_manifest

        load_runtime_manifest(name.removesuffix("_scorer"))
        return True
    except Exception:
        return False


_COMMON_DEVICE = ParamSpec("device", "", "Torch device (empty: env fallback, else cpu).", read_only=True)

ENTRIES: dict[str, ProviderEntry] = {e.name: e for e in (
    ProviderEntry("reference", "policy", "worldforge_ros.providers.factories", "make_reference_policy", (
        ParamSpec("horizon", 16, "Steps per proposed chunk.", read_only=True, min_value=1, max_value=1024),
        ParamSpec("goal_positions", [], "Goal joint positions (empty: the observation's 'goal_positions' extra).",
                  read_only=True, list_kind="double"),
        ParamSpec("noise_std", 0.05, "Std-dev of each candidate's goal perturbation.", min_value=0.0),
        ParamSpec("seed", 0, "Seed of the candidate noise.", min_value=0),
        ParamSpec("max_step", 0.0, "Max per-step displacement (0 = unbounded).", min_value=0.0),
        ParamSpec("embodiment_tag", "", "Embodiment tag reported with the actions."),
        ParamSpec("latency_s", 0.0, "Simulated compute time per call (s): for timeout tests and benchmarks.",
                  min_value=0.0, max_value=600.0),
    )),
    ProviderEntry("reference_scorer", "score", "worldforge_ros.providers.factories", "make_reference_scorer", (
        ParamSpec("goal_positions", [], "Goal joint positions (empty: the observation's 'goal_positions' extra).",
                  read_only=True, list_kind="double"),
    )),
    ProviderEntry("lerobot", "policy", "worldforge_ros.providers.lerobot", "make_lerobot_policy", (
        ParamSpec("policy_path", "", "Local LeRobot checkpoint directory (env LEROBOT_POLICY_PATH).", read_only=True),
        ParamSpec("policy_type", "", "act|diffusion|pi0|pi0fast|sac|smolvla|tdmpc|vqbet (env LEROBOT_POLICY_TYPE).",
                  read_only=True),
        _COMMON_DEVICE,
        ParamSpec("cache_dir", "", "Cache directory (env LEROBOT_CACHE_DIR).", read_only=True),
        ParamSpec("embodiment_tag", "", "Embodiment tag (env LEROBOT_EMBODIMENT_TAG).", read_only=True),
        ParamSpec("seed", 0, "Base seed for stochastic policies' candidate samples.", min_value=0),
        ParamSpec("joint_names", [], "Joint order of observation.state (empty: the observation's order).",
                  read_only=True),
    )),
    ProviderEntry("gr00t", "policy", "worldforge_ros.providers.factories", "make_gr00t_policy", (
        ParamSpec("host", "", "GR00T policy server host (env GROOT_POLICY_HOST).", read_only=True),
        ParamSpec("port", 0, "Server port (0: env GROOT_POLICY_PORT, else 5555).", read_only=True, min_value=0,
                  max_value=65535),
        ParamSpec("timeout_ms", 0, "Send/receive timeout (0: env GROOT_POLICY_TIMEOUT_MS, else 15000).",
                  min_value=0),
        ParamSpec("generation", "", "Wire generation n1.5|n1.6|n1.7 (must be explicit).", read_only=True),
        ParamSpec("transport", "", "zmq (default) or http.", read_only=True),
        ParamSpec("http_url", "", "Base URL for the HTTP transport.", read_only=True),
        ParamSpec("client", "", "builtin (default) or upstream.", read_only=True),
        ParamSpec("embodiment_tag", "", "Embodiment tag of the server (env GROOT_EMBODIMENT_TAG).", read_only=True),
        ParamSpec("action_keys", [], "Action keys concatenated (in order) into the 'action' tensor.",
                  read_only=True),
        ParamSpec("api_token_file", "", "File holding the API token (else env GROOT_POLICY_API_TOKEN). The token "
                  "itself is never a parameter: parameters are readable with `ros2 param get`.", read_only=True),
        ParamSpec("state_keys", [], "state.<key>=joint,joint,... mappings for the observation bridge.",
                  read_only=True),
    )),
    ProviderEntry("leworldmodel", "score", "worldforge_ros.providers.leworldmodel", "make_leworldmodel_scorer", (
        ParamSpec("policy", "", "Run name, e.g. pusht/lewm (env LEWORLDMODEL_POLICY).", read_only=True),
        ParamSpec("cache_dir", "", "Checkpoint root (env LEWORLDMODEL_CACHE_DIR / STABLEWM_HOME).", read_only=True),
        _COMMON_DEVICE,
        ParamSpec("trusted_roots", [], "Directories pickled checkpoints may be loaded from (they run code).",
                  read_only=True),
        ParamSpec("camera", "", "Camera whose image is scored (empty: the first).", read_only=True),
    )),
)}


def names() -> list[str]:
    return sorted(ENTRIES)


def get(name: str) -> ProviderEntry:
    if name not in ENTRIES:
        raise RequestError(f"unknown provider {name!r}; known: {names()}", ErrorCode.UNKNOWN_PROVIDER)
    return ENTRIES[name]
