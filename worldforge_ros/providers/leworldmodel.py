"""LeWorldModel score provider (stable-worldmodel): one batched ``get_cost`` call for all candidates.

Checkpoint resolution follows ``stable_worldmodel.policy.AutoCostModel``: ``policy`` is an existing path, else
``<cache_dir or $STABLEWM_HOME/checkpoints>/<policy>``; a directory means its newest ``*_object.ckpt``, anything
else ``<path>_object.ckpt``. We resolve it ourselves first (health never loads and never creates directories),
then refuse it unless its real path lies under one of ``trusted_roots``: the file is a pickled module and loading
it executes code. Only then is the upstream loader called on that exact file.

Scores are costs (distance of the predicted final latent to the goal latent): ``lower_is_better=True``.
Settings: parameters, else ``LEWORLDMODEL_POLICY``, ``LEWORLDMODEL_CACHE_DIR`` / ``STABLEWM_HOME``,
``LEWORLDMODEL_DEVICE``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..bridges.lewm_observation import build_inputs
from ..core.contracts import ProviderHealth, ProviderProfile, ScoreResult
from ..core.errors import ErrorCode, ProviderError, RequestError, WorldForgeRosError
from ..core.events import ProviderEvent
from ..core.observation import ObservationData

CKPT_SUFFIX = "_object.ckpt"

PROFILE = ProviderProfile(
    name="leworldmodel", capabilities=("score",), is_local=True, package="stable-worldmodel==0.1.1",
    description="LeWorldModel cost model: scores (S, H, A) action candidates from a camera frame and a goal image.",
    implementation_status="beta", deterministic=True, required_env_vars=(),
    supported_modalities=("image", "goal_image", "action"), artifact_types=("score",),
    notes=("Checkpoints are pickled modules: only files under trusted_roots are loaded.",
           "Lower is better (latent distance to the goal)."))


@dataclass
class LeWorldModelSettings:
    policy: str = ""
    cache_dir: str = ""
    device: str = "cpu"
    trusted_roots: tuple[str, ...] = ()
    camera: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> "LeWorldModelSettings":
        env = os.environ if env is None else env
        home = env.get("STABLEWM_HOME", "")
        cache = config.get("cache_dir") or env.get("LEWORLDMODEL_CACHE_DIR") or (
            str(Path(home) / "checkpoints") if home else "")
        roots = tuple(str(r) for r in (config.get("trusted_roots") or ()) if r)
        return cls(policy=str(config.get("policy") or env.get("LEWORLDMODEL_POLICY", "")), cache_dir=str(cache),
                   device=str(config.get("device") or env.get("LEWORLDMODEL_DEVICE") or "cpu"),
                   trusted_roots=roots, camera=str(config.get("camera") or ""))


def resolve_checkpoint(policy: str, cache_dir: str = "") -> Path:
    """The ``*_object.ckpt`` file AutoCostModel would load for ``policy`` (without creating anything)."""
    if Path(policy).exists():
        run_path = Path(policy)
    else:
        base = Path(cache_dir) if cache_dir else Path(os.environ.get("STABLEWM_HOME",
                                                                     "~/.stable_worldmodel")) / "checkpoints"
        run_path = base.expanduser() / policy
    if run_path.is_dir():
        found = sorted(run_path.glob("*" + CKPT_SUFFIX), key=lambda p: p.stat().st_ctime, reverse=True)
        if not found:
            raise ProviderError(f"no *{CKPT_SUFFIX} in {run_path}", ErrorCode.PROVIDER_NOT_CONFIGURED,
                                reason="checkpoint_missing")
        return found[0]
    return Path(f"{run_path}{CKPT_SUFFIX}")


def check_trusted(path: Path, trusted_roots: tuple[str, ...]) -> Path:
    """``path``'s real location if it lies under a trusted root (symlinks resolved), else UNTRUSTED_CHECKPOINT."""
    real = path.resolve()
    roots = [Path(r).expanduser().resolve() for r in trusted_roots]
    if not any(real == root or root in real.parents for root in roots):
        raise ProviderError(f"refusing to load {real}: pickled checkpoints execute code on load and it is not "
                            f"under a trusted root (leworldmodel.trusted_roots = {[str(r) for r in roots]})",
                            ErrorCode.UNTRUSTED_CHECKPOINT)
    return real


@dataclass
class LeWorldModelScorer:
    """Score provider over a LeWM cost model. ``configure()`` loads; ``score_actions`` makes one ``get_cost`` call."""

    settings: LeWorldModelSettings
    event_sink: Callable[[ProviderEvent], Any] | None = None
    profile: ProviderProfile = PROFILE
    _model: Any = field(default=None, repr=False)
    _checkpoint: Path | None = None
    calls: int = 0

    # ------------------------------------------------------------------ health / lifecycle
    def health(self) -> ProviderHealth:
        """WorldForge's order: not configured -> checkpoint missing -> dependency missing -> ok. Never loads."""
        started = time.perf_counter()

        def done(healthy: bool, details: str, reason: str = "") -> ProviderHealth:
            return ProviderHealth(self.profile.name, healthy, (time.perf_counter() - started) * 1000.0, details,
                                  "" if healthy else reason)

        if not self.settings.policy:
            return done(False, "no checkpoint configured (leworldmodel.policy or LEWORLDMODEL_POLICY)",
                        "not_configured")
        try:
            path = resolve_checkpoint(self.settings.policy, self.settings.cache_dir)
        except ProviderError as err:
            return done(False, str(err), "checkpoint_missing")
        if not path.is_file():
            return done(False, f"checkpoint {path} does not exist", "checkpoint_missing")
        try:
            check_trusted(path, self.settings.trusted_roots)
        except ProviderError as err:
            return done(False, str(err), "untrusted_checkpoint")
        if importlib.util.find_spec("stable_worldmodel") is None or importlib.util.find_spec("torch") is None:
            return done(False, "stable_worldmodel / torch not installed", "dependency_missing")
        state = "loaded" if self._model is not None else "not loaded yet"
        return done(True, f"checkpoint {path.name} ({state}); device {self.settings.device}")

    def configure(self) -> None:
        """Resolve, check trust, load through AutoCostModel, move to the device."""
        if self._model is not None:
            return
        if not self.settings.policy:
            raise ProviderError("no checkpoint configured (leworldmodel.policy or LEWORLDMODEL_POLICY)",
                                ErrorCode.PROVIDER_NOT_CONFIGURED)
        path = resolve_checkpoint(self.settings.policy, self.settings.cache_dir)
        if not path.is_file():
            raise ProviderError(f"checkpoint {path} does not exist", ErrorCode.PROVIDER_NOT_CONFIGURED)
        real = check_trusted(path, self.settings.trusted_roots)
        try:
            import torch
            from stable_worldmodel.policy import AutoCostModel
        except ImportError as exc:
            raise ProviderError(f"stable_worldmodel is not importable: {exc}",
                                ErrorCode.PROVIDER_DEPENDENCY_MISSING) from exc
        stem = str(real)[: -len(CKPT_SUFFIX)]
        try:  # cache_dir given so the upstream loader never creates $STABLEWM_HOME as a side effect
            model = AutoCostModel(stem, cache_dir=str(real.parent))
            model = model.to(torch.device(self.settings.device)).eval()
            model.requires_grad_(False)
        except Exception as exc:
            raise ProviderError(f"loading {real.name} failed: {type(exc).__name__}: {exc}",
                                ErrorCode.PROVIDER_RUNTIME_ERROR) from exc
        self._model, self._checkpoint = model, real

    def close(self) -> None:
        self._model = None

    # ------------------------------------------------------------------ model facts
    @property
    def model(self) -> Any:
        if self._model is None:
            raise ProviderError("leworldmodel is not configured (configure() first)", ErrorCode.PROVIDER_UNAVAILABLE)
        return self._model

    def action_dim(self) -> int:
        encoder = getattr(self.model, "action_encoder", None)
        return int(getattr(encoder, "input_dim", 0) or 0)

    def image_size(self) -> int:
        config = getattr(getattr(self.model, "encoder", None), "config", None)
        return int(getattr(config, "image_size", 224) or 224)

    # ------------------------------------------------------------------ scoring
    def _candidates(self, candidates: Any) -> np.ndarray:
        array = np.asarray(candidates)
        if array.ndim != 3 or 0 in array.shape:
            raise RequestError(f"candidates must be (S, H, A), got shape {array.shape}", ErrorCode.SHAPE_MISMATCH)
        if array.dtype.kind not in "fiu":
            raise RequestError(f"candidates must be numeric, got {array.dtype}", ErrorCode.INVALID_ARGUMENT)
        if not np.all(np.isfinite(array)):
            raise RequestError("candidates contain NaN/Inf", ErrorCode.NON_FINITE_VALUE)
        dim = self.action_dim()
        if dim and array.shape[2] != dim:
            raise RequestError(f"candidates have action dim {array.shape[2]}; the model's action encoder takes {dim}",
                               ErrorCode.SHAPE_MISMATCH)
        return array.astype(np.float32, copy=False)

    def score_actions(self, observation: ObservationData, candidates: Any) -> ScoreResult:
        """Score all ``S`` candidates in one batched ``get_cost``; ``best_index`` = argmin."""
        started = time.perf_counter()
        try:
            import torch

            array = self._candidates(candidates)
            model = self.model
            device = next(model.parameters()).device
            info = build_inputs(observation, array.shape[0], self.image_size(), array.shape[2], self.settings.camera)
            info = {k: v.to(device) for k, v in info.items()}  # fresh dict per call: get_cost caches into it
            shapes = {k: list(v.shape) for k, v in info.items()}
            action = torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0).to(device)
            try:
                with torch.inference_mode():
                    cost = model.get_cost(info, action)
            except Exception as exc:
                raise ProviderError(f"get_cost failed: {type(exc).__name__}: {exc}",
                                    ErrorCode.PROVIDER_RUNTIME_ERROR) from exc
            self.calls += 1
            scores = cost.detach().to("cpu", torch.float64).numpy()
            if scores.shape == (1, array.shape[0]):
                scores = scores[0]
            if scores.shape != (array.shape[0],):
                raise ProviderError(f"get_cost returned shape {tuple(cost.shape)} for {array.shape[0]} candidates",
                                    ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            if not np.all(np.isfinite(scores)):
                raise ProviderError("get_cost returned NaN/Inf", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
        except WorldForgeRosError as err:
            self._emit("failure", started, err.message, {"error_code": int(err.code)}, int(err.code))
            raise
        metadata = {"input_shapes": shapes, "candidates_shape": list(array.shape), "score_shape": list(cost.shape),
                    "batched_calls": 1, "device": str(device), "image_size": self.image_size(),
                    "checkpoint": self._checkpoint.name if self._checkpoint else ""}
        self._emit("success", started, "", metadata, 0)
        return ScoreResult(self.profile.name, scores, int(np.argmin(scores)), lower_is_better=True,
                           metadata=metadata)

    def _emit(self, phase: str, started: float, message: str, metadata: dict, status: int) -> None:
        if self.event_sink is None:
            return
        self.event_sink(ProviderEvent.build(self.profile.name, "score", phase, message=message, metadata=metadata,
                                            status_code=status or None,
                                            duration_ms=(time.perf_counter() - started) * 1000.0))


def make_leworldmodel_scorer(config: Mapping[str, Any], sink: Callable | None = None) -> LeWorldModelScorer:
    """Registry factory: non-empty ROS parameters, environment fallbacks."""
    return LeWorldModelScorer(LeWorldModelSettings.from_config(config), event_sink=sink)
