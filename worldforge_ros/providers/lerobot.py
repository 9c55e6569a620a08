"""LeRobot policy provider: a local checkpoint loaded the way LeRobot users do, processors applied.

Load path (``configure``): ``PreTrainedConfig.from_pretrained(dir)`` -> ``get_policy_class(type).from_pretrained``
-> ``make_pre_post_processors(config, pretrained_path=dir)``; ``.to(device)``, ``.eval()``,
``requires_grad_(False)``. Every call runs the preprocessor (batch dim, device, normalization) and the
postprocessor (un-normalization), so actions come out in robot units — WorldForge skips them and returns
normalized actions. ``reset()`` starts every call (every plan is a new episode).

Candidates: Diffusion is stochastic — ``N`` candidates are ``N`` seeded noise samples denoised in one batched
call (seed = ``seed`` + i); ACT and other deterministic policies return one candidate (metadata says so).
Settings: parameters, else ``LEROBOT_POLICY_PATH``, ``LEROBOT_POLICY_TYPE``, ``LEROBOT_DEVICE``,
``LEROBOT_CACHE_DIR``, ``LEROBOT_EMBODIMENT_TAG``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..bridges.lerobot_observation import build_batch
from ..core.contracts import PolicyResult, ProviderHealth, ProviderProfile
from ..core.errors import ErrorCode, ProviderError, RequestError, WorldForgeRosError
from ..core.events import ProviderEvent
from ..core.observation import ObservationData

MODES = ("select_action", "predict_chunk")
STOCHASTIC_TYPES = ("diffusion",)
PREPROCESSOR_FILE = "policy_preprocessor.json"

PROFILE = ProviderProfile(
    name="lerobot", capabilities=("policy",), is_local=True, package="lerobot==0.4.4",
    description="LeRobot policy from a local checkpoint, pre/post-processors applied (actions in robot units).",
    implementation_status="beta", deterministic=False,
    supported_modalities=("joint_state", "image", "environment_state"), artifact_types=("action_chunk",),
    notes=("Diffusion: N seeded samples per call; ACT: one deterministic chunk.",
           "Checkpoints need LeRobot >= 0.4 processor files."))


@dataclass
class LeRobotSettings:
    policy_path: str = ""
    policy_type: str = ""
    device: str = "cpu"
    cache_dir: str = ""
    embodiment_tag: str = ""
    seed: int = 0
    joint_names: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> "LeRobotSettings":
        env = os.environ if env is None else env
        return cls(policy_path=str(config.get("policy_path") or env.get("LEROBOT_POLICY_PATH", "")),
                   policy_type=str(config.get("policy_type") or env.get("LEROBOT_POLICY_TYPE", "")),
                   device=str(config.get("device") or env.get("LEROBOT_DEVICE") or "cpu"),
                   cache_dir=str(config.get("cache_dir") or env.get("LEROBOT_CACHE_DIR", "")),
                   embodiment_tag=str(config.get("embodiment_tag") or env.get("LEROBOT_EMBODIMENT_TAG", "")),
                   seed=int(config.get("seed") or 0),
                   joint_names=tuple(str(n) for n in (config.get("joint_names") or ()) if n))


@dataclass
class LeRobotPolicy:
    """Policy provider over a LeRobot checkpoint directory."""

    settings: LeRobotSettings
    event_sink: Callable[[ProviderEvent], Any] | None = None
    profile: ProviderProfile = PROFILE
    policy: Any = field(default=None, repr=False)
    preprocessor: Any = field(default=None, repr=False)
    postprocessor: Any = field(default=None, repr=False)
    policy_type: str = ""
    calls: int = 0

    # ------------------------------------------------------------------ health / lifecycle
    def health(self) -> ProviderHealth:
        """WorldForge's order: not configured -> checkpoint path missing -> dependency missing -> ok. Never loads."""
        started = time.perf_counter()

        def done(healthy: bool, details: str, reason: str = "") -> ProviderHealth:
            return ProviderHealth(self.profile.name, healthy, (time.perf_counter() - started) * 1000.0, details,
                                  "" if healthy else reason)

        path = self.settings.policy_path
        if not path:
            return done(False, "no checkpoint configured (lerobot.policy_path or LEROBOT_POLICY_PATH)",
                        "not_configured")
        if not (Path(path).expanduser() / "config.json").is_file():
            return done(False, f"checkpoint path {path} has no config.json", "checkpoint_missing")
        if importlib.util.find_spec("lerobot") is None or importlib.util.find_spec("torch") is None:
            return done(False, "lerobot / torch not installed", "dependency_missing")
        state = f"loaded {self.policy_type}" if self.policy is not None else "not loaded yet"
        return done(True, f"checkpoint {Path(path).name} ({state}); device {self.settings.device}")

    def configure(self) -> None:
        """Load config, weights and processors from the checkpoint directory."""
        if self.policy is not None:
            return
        path = Path(self.settings.policy_path).expanduser()
        if not self.settings.policy_path:
            raise ProviderError("no checkpoint configured (lerobot.policy_path or LEROBOT_POLICY_PATH)",
                                ErrorCode.PROVIDER_NOT_CONFIGURED)
        if not (path / "config.json").is_file():
            raise ProviderError(f"checkpoint path {path} has no config.json", ErrorCode.PROVIDER_NOT_CONFIGURED)
        if not (path / PREPROCESSOR_FILE).is_file():
            raise ProviderError(f"{path} has no {PREPROCESSOR_FILE}: a checkpoint saved before LeRobot 0.4 must be "
                                "migrated to the processor format first", ErrorCode.PROVIDER_NOT_CONFIGURED,
                                reason="processor_missing")
        try:
            import torch
            from lerobot.configs.policies import PreTrainedConfig
            from lerobot.policies.factory import get_policy_class, make_pre_post_processors
        except ImportError as exc:
            raise ProviderError(f"lerobot is not importable: {exc}", ErrorCode.PROVIDER_DEPENDENCY_MISSING) from exc
        try:
            config = PreTrainedConfig.from_pretrained(str(path))
            if self.settings.policy_type and self.settings.policy_type != config.type:
                raise ProviderError(f"checkpoint is a {config.type!r} policy, configured policy_type is "
                                    f"{self.settings.policy_type!r}", ErrorCode.PROVIDER_NOT_CONFIGURED)
            config.device = self.settings.device
            policy = get_policy_class(config.type).from_pretrained(str(path), config=config)
            policy = policy.to(torch.device(self.settings.device)).eval()
            policy.requires_grad_(False)
            pre, post = make_pre_post_processors(
                policy.config, pretrained_path=str(path),
                preprocessor_overrides={"device_processor": {"device": self.settings.device}})
        except WorldForgeRosError:
            raise
        except Exception as exc:  # ProcessorMigrationError, bad safetensors, unknown type ...
            raise ProviderError(f"loading {path.name} failed: {type(exc).__name__}: {exc}",
                                ErrorCode.PROVIDER_RUNTIME_ERROR) from exc
        self.policy, self.preprocessor, self.postprocessor, self.policy_type = policy, pre, post, config.type

    def close(self) -> None:
        self.policy = self.preprocessor = self.postprocessor = None

    @property
    def stochastic(self) -> bool:
        return self.policy_type in STOCHASTIC_TYPES

    # ------------------------------------------------------------------ inference
    def _diffusion(self, batch: dict[str, Any], count: int, mode: str) -> Any:
        """``count`` seeded samples in one batched denoising call (the queues filled first, as 0.4.4 needs)."""
        import torch
        from lerobot.policies.utils import populate_queues

        config = self.policy.config
        expanded = {k: v.expand(count, *v.shape[1:]) for k, v in batch.items()
                    if torch.is_tensor(v) and k.startswith("observation.")}
        if config.image_features:
            expanded["observation.images"] = torch.stack([expanded[k] for k in config.image_features], dim=-4)
        self.policy._queues = populate_queues(self.policy._queues, expanded)
        generator = torch.Generator(device="cpu")
        noise = torch.stack([torch.randn((config.horizon, config.action_feature.shape[0]),
                                         generator=generator.manual_seed(self.settings.seed + i))
                             for i in range(count)]).to(next(self.policy.parameters()).device)
        with torch.random.fork_rng(devices=[]):  # the denoising steps draw noise too: seed them, locally
            torch.manual_seed(self.settings.seed)
            chunk = self.policy.predict_action_chunk(expanded, noise=noise)
        return chunk[:, :1] if mode == "select_action" else chunk

    def _act(self, batch: dict[str, Any], mode: str) -> Any:
        if mode == "select_action":
            return self.policy.select_action(batch)[:, None, :]
        return self.policy.predict_action_chunk(batch)

    def raw_actions(self, observation: ObservationData, num_candidates: int = 1, mode: str = "predict_chunk") -> Any:
        """Normalized model output ``(N, H, D)`` torch tensor (before the postprocessor); resets the policy."""
        import torch

        batch = self.preprocessor(build_batch(observation, self.policy.config.input_features,
                                              self.settings.joint_names))
        self.policy.reset()
        with torch.inference_mode():
            if self.stochastic:
                return self._diffusion(batch, num_candidates, mode)
            return self._act(batch, mode)

    def select_actions(self, observation: ObservationData, num_candidates: int = 1,
                       mode: str = "predict_chunk") -> PolicyResult:
        """``predict_chunk`` -> ``(N, H, D)``; ``select_action`` -> ``(N, 1, D)``; un-normalized, float64."""
        started = time.perf_counter()
        try:
            if mode not in MODES:
                raise RequestError(f"mode {mode!r} not in {list(MODES)}", ErrorCode.INVALID_ARGUMENT)
            if isinstance(num_candidates, bool) or int(num_candidates) < 1:
                raise RequestError(f"num_candidates must be >= 1, got {num_candidates!r}", ErrorCode.INVALID_ARGUMENT)
            if self.policy is None:
                raise ProviderError("lerobot is not configured (configure() first)", ErrorCode.PROVIDER_UNAVAILABLE)
            count = int(num_candidates) if self.stochastic else 1
            try:
                raw = self.raw_actions(observation, count, mode)
                actions = self.postprocessor(raw)
            except WorldForgeRosError:
                raise
            except Exception as exc:
                raise ProviderError(f"{self.policy_type} inference failed: {type(exc).__name__}: {exc}",
                                    ErrorCode.PROVIDER_RUNTIME_ERROR) from exc
            array = actions.detach().to("cpu").double().numpy()
            if array.ndim != 3 or array.shape[0] != count:
                raise ProviderError(f"policy returned shape {array.shape}, expected ({count}, H, D)",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            if not np.all(np.isfinite(array)):
                raise ProviderError("policy returned NaN/Inf actions", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        except WorldForgeRosError as err:
            self._emit("failure", started, err.message, {"error_code": int(err.code), "mode": mode}, int(err.code))
            raise
        self.calls += 1
        metadata = {"policy_type": self.policy_type, "mode": mode, "device": self.settings.device,
                    "stochastic": self.stochastic, "candidates_requested": int(num_candidates),
                    "candidates_returned": count, "processors_applied": True, "action_shape": list(array.shape),
                    "seeds": [self.settings.seed + i for i in range(count)] if self.stochastic else [],
                    "checkpoint": Path(self.settings.policy_path).name}
        self._emit("success", started, "", metadata, 0)
        return PolicyResult(self.profile.name, {"action": array}, self.settings.embodiment_tag, metadata)

    def _emit(self, phase: str, started: float, message: str, metadata: dict, status: int) -> None:
        if self.event_sink is None:
            return
        self.event_sink(ProviderEvent.build(self.profile.name, "policy", phase, message=message, metadata=metadata,
                                            status_code=status or None,
                                            duration_ms=(time.perf_counter() - started) * 1000.0))


def make_lerobot_policy(config: Mapping[str, Any], sink: Callable | None = None) -> LeRobotPolicy:
    """Registry factory: non-empty ROS parameters, environment fallbacks."""
    return LeRobotPolicy(LeRobotSettings.from_config(config), event_sink=sink)
