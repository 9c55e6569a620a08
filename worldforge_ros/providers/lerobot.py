"""LeRobot policy provider: a checkpoint loaded the way LeRobot users do, pre/post-processors applied.

Load path (``configure``, lazy and cached): ``PreTrainedConfig.from_pretrained(path)`` ->
``get_policy_class(type).from_pretrained(path, config=...)`` -> ``make_pre_post_processors(policy.config,
pretrained_path=path)``; then ``.to(device)``, ``.eval()``, ``requires_grad_(False)``. Every call runs the
preprocessor (batch dimension, device, normalization) and the postprocessor (un-normalization), so actions come
out in robot units - WorldForge skips the pipelines and returns normalized actions; we don't.

``reset()`` starts every call (every plan is a new episode), so no stale action queue leaks between plans.
Candidates: stochastic policy types give ``N`` seeded samples (Diffusion: one batched denoising call whose
initial noise for candidate ``i`` is drawn with seed ``seed + i``; other sampling policies: one call per candidate
under seed ``seed + i``); deterministic ones (ACT) give one candidate whatever was asked, and the metadata says
so. All runs are seeded, so the same observation and seed reproduce the same actions on the same device.

Settings: ROS parameters, else ``LEROBOT_POLICY_PATH`` (alias ``LEROBOT_POLICY``), ``LEROBOT_POLICY_TYPE``,
``LEROBOT_DEVICE`` (default cpu), ``LEROBOT_CACHE_DIR``, ``LEROBOT_EMBODIMENT_TAG``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..bridges.lerobot_observation import batch_summary, build_batch
from ..core.contracts import PolicyResult, ProviderHealth, ProviderProfile
from ..core.errors import ErrorCode, ProviderError, RequestError, WorldForgeRosError
from ..core.events import ProviderEvent
from ..core.observation import ObservationData

MODES = ("select_action", "predict_chunk")
POLICY_TYPES = ("act", "diffusion", "pi0", "pi0_fast", "pi05", "sac", "smolvla", "tdmpc", "vqbet")
"""LeRobot 0.4.4 type names accepted (WorldForge's list, ``pi0fast`` spelled as 0.4.4 registers it, plus pi05)."""
TYPE_ALIASES = {"pi0fast": "pi0_fast"}
STOCHASTIC_TYPES = frozenset({"diffusion", "pi0", "pi0_fast", "pi05", "sac", "smolvla", "tdmpc", "vqbet"})
"""Types whose inference samples (noise, categorical draws, MPPI): N candidates are N seeded samples."""
CONFIG_FILE = "config.json"
PROCESSOR_FILES = ("policy_preprocessor.json", "policy_postprocessor.json")
LOADER_MODE = "typed_from_pretrained"
MIGRATE_COMMAND = "python -m lerobot.processor.migrate_policy_normalization --pretrained-path {path}"


def migrate_hint(path: Any) -> str:
    """How to turn a pre-0.4 checkpoint (normalization inside the model) into the processor format."""
    return f"migrate it with `{MIGRATE_COMMAND.format(path=path)}` (LeRobot >= 0.4)"

PROFILE = ProviderProfile(
    name="lerobot", capabilities=("policy",), is_local=True, package="lerobot==0.4.4",
    description="LeRobot policy from a checkpoint directory, pre/post-processors applied (actions in robot units).",
    implementation_status="beta", deterministic=False, required_env_vars=(),
    supported_modalities=("joint_state", "image", "environment_state", "language"),
    artifact_types=("action_chunk",),
    notes=("Stochastic types (diffusion ...): N seeded samples per call; deterministic ones (act): one candidate.",
           "Checkpoints need LeRobot >= 0.4 processor files (policy_preprocessor.json, policy_postprocessor.json).",
           "Seeded: the same observation and seed reproduce the same actions on the same device."))


def looks_local(path: str) -> bool:
    """A filesystem path (absolute, ``~``/``.`` relative, existing) rather than a hub id like ``lerobot/act``."""
    return path.startswith(("/", "~", ".")) or path.count("/") != 1 or Path(path).expanduser().exists()


def normalize_type(policy_type: str) -> str:
    name = policy_type.strip().lower()
    return TYPE_ALIASES.get(name, name)


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
        """Non-empty parameters win; WorldForge's environment variables fill the rest."""
        env = os.environ if env is None else env
        return cls(policy_path=str(config.get("policy_path") or env.get("LEROBOT_POLICY_PATH")
                                   or env.get("LEROBOT_POLICY", "")),
                   policy_type=normalize_type(str(config.get("policy_type") or env.get("LEROBOT_POLICY_TYPE", ""))),
                   device=str(config.get("device") or env.get("LEROBOT_DEVICE") or "cpu"),
                   cache_dir=str(config.get("cache_dir") or env.get("LEROBOT_CACHE_DIR", "")),
                   embodiment_tag=str(config.get("embodiment_tag") or env.get("LEROBOT_EMBODIMENT_TAG", "")),
                   seed=int(config.get("seed") or 0),
                   joint_names=tuple(str(n) for n in (config.get("joint_names") or ()) if n))

    def problem(self, processors: bool = True) -> tuple[str, str]:
        """``(reason, details)`` of the first configuration/checkpoint problem, ``("", "")`` when none.

        Checks files only (never loads): not configured -> unsupported type -> local checkpoint incomplete
        (``processors``: also the processor files, else LeRobot's own error reports them at load).
        """
        if not self.policy_path:
            return "not_configured", "no checkpoint configured (lerobot.policy_path or LEROBOT_POLICY_PATH)"
        if self.policy_type and self.policy_type not in POLICY_TYPES:
            return "not_configured", f"policy_type {self.policy_type!r} not supported (known: {list(POLICY_TYPES)})"
        if not looks_local(self.policy_path):
            return "", ""  # a hub id: checked when loaded
        path = Path(self.policy_path).expanduser()
        if not path.is_dir():
            return "checkpoint_missing", f"checkpoint directory {path} does not exist"
        if not (path / CONFIG_FILE).is_file():
            return "checkpoint_missing", f"checkpoint {path} has no {CONFIG_FILE}"
        missing = [name for name in PROCESSOR_FILES if processors and not (path / name).is_file()]
        if missing:
            return "checkpoint_missing", (f"checkpoint {path} has no {', '.join(missing)}: saved before LeRobot "
                                          f"0.4 or incomplete; {migrate_hint(path)}")
        return "", ""


@dataclass
class LeRobotPolicy:
    """Policy provider over a LeRobot checkpoint. ``configure()`` loads; ``select_actions`` runs one plan step."""

    settings: LeRobotSettings
    event_sink: Callable[[ProviderEvent], Any] | None = None
    profile: ProviderProfile = PROFILE
    policy: Any = field(default=None, repr=False)
    preprocessor: Any = field(default=None, repr=False)
    postprocessor: Any = field(default=None, repr=False)
    policy_type: str = ""
    calls: int = 0
    input_shapes: dict[str, list[int]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ health / lifecycle
    def health(self) -> ProviderHealth:
        """WorldForge's order: not configured -> checkpoint path missing -> dependency missing -> ok. Never loads."""
        started = time.perf_counter()

        def done(healthy: bool, details: str, reason: str = "") -> ProviderHealth:
            return ProviderHealth(self.profile.name, healthy, (time.perf_counter() - started) * 1000.0, details,
                                  "" if healthy else reason)

        reason, details = self.settings.problem()
        if reason:
            return done(False, details, reason)
        missing = [m for m in ("torch", "lerobot") if importlib.util.find_spec(m) is None]
        if missing:
            return done(False, f"{' and '.join(missing)} not importable", "dependency_missing")
        state = f"loaded {self.policy_type}" if self.policy is not None else "not loaded yet"
        where = Path(self.settings.policy_path).name if looks_local(self.settings.policy_path) else \
            f"hub id {self.settings.policy_path} (not verified offline)"
        return done(True, f"configured for {where}; loader={LOADER_MODE}; device={self.settings.device}; {state}")

    def configure(self) -> None:
        """Load config, weights and processors (the user load path); typed ProviderError on any failure."""
        if self.policy is not None:
            return
        reason, details = self.settings.problem(processors=False)
        if reason:
            raise ProviderError(details, ErrorCode.PROVIDER_NOT_CONFIGURED, reason=reason)
        try:
            import torch
            from lerobot.configs.policies import PreTrainedConfig
            from lerobot.policies.factory import get_policy_class, make_pre_post_processors
            from lerobot.processor.pipeline import ProcessorMigrationError
        except ImportError as exc:
            raise ProviderError(f"lerobot is not importable: {exc}", ErrorCode.PROVIDER_DEPENDENCY_MISSING) from exc
        device = self.settings.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ProviderError(f"device {device!r} requested but CUDA is not available",
                                ErrorCode.PROVIDER_UNAVAILABLE)
        local = looks_local(self.settings.policy_path)
        source = str(Path(self.settings.policy_path).expanduser()) if local else self.settings.policy_path
        hub = {} if local else {"cache_dir": self.settings.cache_dir or None}
        try:
            config = PreTrainedConfig.from_pretrained(source, **hub)
            if self.settings.policy_type and self.settings.policy_type != config.type:
                raise ProviderError(f"checkpoint is a {config.type!r} policy, configured policy_type is "
                                    f"{self.settings.policy_type!r}", ErrorCode.PROVIDER_NOT_CONFIGURED)
            config.device = device
            policy = get_policy_class(config.type).from_pretrained(source, config=config, **hub)
            policy = policy.to(torch.device(device)).eval()
            policy.requires_grad_(False)
            override = {"device_processor": {"device": device}}
            pre, post = make_pre_post_processors(policy.config, pretrained_path=source,
                                                 preprocessor_overrides=override)
        except WorldForgeRosError:
            raise
        except ProcessorMigrationError as exc:
            raise ProviderError(f"checkpoint {Path(source).name} has no processor pipelines (saved before LeRobot "
                                f"0.4): {migrate_hint(source)}", ErrorCode.PROVIDER_NOT_CONFIGURED,
                                reason="processor_missing") from exc
        except FileNotFoundError as exc:
            if not any(name in str(exc) for name in PROCESSOR_FILES):
                raise ProviderError(f"loading {Path(source).name} failed: {exc}", ErrorCode.PROVIDER_NOT_CONFIGURED) \
                    from exc
            raise ProviderError(f"checkpoint {Path(source).name} has incomplete processor pipelines ({exc}); "
                                f"{migrate_hint(source)}", ErrorCode.PROVIDER_NOT_CONFIGURED,
                                reason="processor_missing") from exc
        except Exception as exc:  # bad safetensors, unknown type, offline hub id ...
            raise ProviderError(f"loading {Path(source).name} failed: {type(exc).__name__}: {exc}",
                                ErrorCode.PROVIDER_RUNTIME_ERROR) from exc
        self.policy, self.preprocessor, self.postprocessor, self.policy_type = policy, pre, post, config.type

    def close(self) -> None:
        self.policy = self.preprocessor = self.postprocessor = None

    def reset(self) -> None:
        """Clear the policy's observation/action queues (done at the start of every ``select_actions``)."""
        if self.policy is not None:
            self.policy.reset()

    @property
    def stochastic(self) -> bool:
        return self.policy_type in STOCHASTIC_TYPES

    # ------------------------------------------------------------------ inference
    def _fill_queues(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Fill observation queues as ``select_action`` would (0.4.4 queue policies read them for chunks)."""
        queues = getattr(self.policy, "_queues", None)
        if not isinstance(queues, dict):
            return batch
        import torch
        from lerobot.policies.utils import populate_queues

        batch = dict(batch)
        images = list(getattr(self.policy.config, "image_features", None) or ())
        if images and "observation.images" in queues:
            batch["observation.images"] = torch.stack([batch[k] for k in images], dim=-4)
        self.policy._queues = populate_queues(queues, batch, exclude_keys=["action"])
        return batch

    def _one(self, batch: dict[str, Any], mode: str) -> Any:
        """One policy call on a batch of 1: ``(1, 1, D)`` or ``(1, H, D)`` normalized actions."""
        if mode == "select_action":
            return self.policy.select_action(batch)[:, None, :]
        return self.policy.predict_action_chunk(self._fill_queues(batch))

    def _diffusion(self, batch: dict[str, Any], count: int, mode: str) -> Any:
        """``count`` seeded samples in one batched denoising call, the queues filled first (0.4.4 needs it)."""
        import torch

        config = self.policy.config
        device = next(self.policy.parameters()).device
        expanded = {k: v.expand(count, *v.shape[1:]) for k, v in batch.items()
                    if torch.is_tensor(v) and k.startswith("observation.")}
        expanded = self._fill_queues(expanded)
        generator = torch.Generator(device="cpu")
        noise = torch.stack([torch.randn((config.horizon, config.action_feature.shape[0]),
                                         generator=generator.manual_seed(self.settings.seed + i))
                             for i in range(count)]).to(device)
        with _seeded(self.settings.seed, device):  # the DDPM steps draw noise too: seeded, locally
            chunk = self.policy.predict_action_chunk(expanded, noise=noise)
        return chunk[:, :1] if mode == "select_action" else chunk

    def raw_actions(self, observation: ObservationData, num_candidates: int = 1, mode: str = "predict_chunk") -> Any:
        """Normalized model output ``(N, H, D)`` (torch, before the postprocessor); resets the policy first."""
        import torch

        self.configure()
        raw_batch = build_batch(observation, self.policy.config.input_features, self.settings.joint_names)
        self.input_shapes = batch_summary(raw_batch)
        device = next(self.policy.parameters()).device
        with torch.inference_mode():
            batch = self.preprocessor(raw_batch)
            if self.policy_type == "diffusion":
                self.policy.reset()
                return self._diffusion(batch, num_candidates, mode)
            outputs = []
            for i in range(num_candidates if self.stochastic else 1):
                self.policy.reset()  # every candidate (and every plan) starts a fresh episode
                with _seeded(self.settings.seed + i, device):
                    outputs.append(self._one(batch, mode))
            return torch.cat(outputs, dim=0)

    def select_actions(self, observation: ObservationData, num_candidates: int = 1,
                       mode: str = "predict_chunk") -> PolicyResult:
        """``predict_chunk`` -> ``(N, H, D)``; ``select_action`` -> ``(N, 1, D)``; un-normalized, float64."""
        started = time.perf_counter()
        try:
            if mode not in MODES:
                raise RequestError(f"mode {mode!r} not in {list(MODES)}", ErrorCode.INVALID_ARGUMENT)
            if isinstance(num_candidates, bool) or not isinstance(num_candidates, (int, np.integer)) \
                    or num_candidates < 1:
                raise RequestError(f"num_candidates must be >= 1, got {num_candidates!r}", ErrorCode.INVALID_ARGUMENT)
            self.configure()
            count = int(num_candidates) if self.stochastic else 1
            try:
                import torch

                raw = self.raw_actions(observation, count, mode)
                with torch.inference_mode():
                    actions = self.postprocessor(raw)
            except WorldForgeRosError:
                raise
            except Exception as exc:
                raise ProviderError(f"{self.policy_type} inference failed: {type(exc).__name__}: {exc}",
                                    ErrorCode.PROVIDER_RUNTIME_ERROR) from exc
            array = actions.detach().to("cpu", torch.float64).numpy()
            if array.ndim != 3 or array.shape[0] != count:
                raise ProviderError(f"policy returned shape {list(array.shape)}, expected ({count}, H, D)",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            if not np.all(np.isfinite(array)):
                raise ProviderError(f"{self.policy_type} returned NaN/Inf actions",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        except WorldForgeRosError as err:
            self._emit("failure", started, err.message, {"error_code": int(err.code), "mode": mode,
                                                          "policy_type": self.policy_type or self.settings.policy_type,
                                                          "checkpoint": Path(self.settings.policy_path).name},
                       int(err.code))
            raise
        self.calls += 1
        metadata = self._metadata(mode, int(num_candidates), array.shape, list(raw.shape))
        self._emit("success", started, "", metadata, 0)
        return PolicyResult(self.profile.name, {"action": array},
                            self.settings.embodiment_tag or observation.embodiment_tag, metadata)

    def _metadata(self, mode: str, requested: int, shape: tuple[int, ...], raw_shape: list[int]) -> dict[str, Any]:
        """Bounded, value-free: shapes, device, type, mode, processors - never tensors."""
        count = int(shape[0])
        return {"runtime": "lerobot", "loader_mode": LOADER_MODE, "policy_type": self.policy_type, "mode": mode,
                "device": self.settings.device, "checkpoint": Path(self.settings.policy_path).name,
                "stochastic": self.stochastic, "candidates_requested": requested, "candidates_returned": count,
                "candidate_count": count, "seeds": [self.settings.seed + i for i in range(count)],
                "action_shape": list(shape), "raw_action_shape": raw_shape, "action_horizon": int(shape[1]),
                "action_dim": int(shape[2]), "input_shapes": dict(self.input_shapes),
                "joint_order": "configured" if self.settings.joint_names else "observation",
                "processors_applied": True, "processors": {
                    "pre": [type(s).__name__ for s in getattr(self.preprocessor, "steps", ())],
                    "post": [type(s).__name__ for s in getattr(self.postprocessor, "steps", ())]}}

    def _emit(self, phase: str, started: float, message: str, metadata: dict, status: int) -> None:
        if self.event_sink is None:
            return
        self.event_sink(ProviderEvent.build(self.profile.name, "policy", phase, message=message, metadata=metadata,
                                            status_code=status or None,
                                            duration_ms=(time.perf_counter() - started) * 1000.0))


class _seeded:
    """Seed torch's global RNG inside the block and restore it after (candidate samples, DDPM steps)."""

    def __init__(self, seed: int, device: Any) -> None:
        self.seed, self.device = int(seed), device

    def __enter__(self) -> None:
        import torch

        cuda = [self.device] if getattr(self.device, "type", "cpu") == "cuda" else []
        self._fork = torch.random.fork_rng(devices=cuda)
        self._fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: Any) -> None:
        self._fork.__exit__(*exc)


def make_lerobot_policy(config: Mapping[str, Any], sink: Callable | None = None) -> LeRobotPolicy:
    """Registry factory: non-empty ROS parameters, environment fallbacks (nothing loaded until ``configure``)."""
    return LeRobotPolicy(LeRobotSettings.from_config(config), event_sink=sink)
