"""Registry of embodiment translators, built from a YAML/dict config plus lab plug-ins.

Config shape (``config/embodiments.yaml``)::

    embodiments:
      panda_7dof:
        type: joint_space            # joint_space | pusht_planar | <entry point name>
        joint_names: [panda_joint1, ...]
        action_dim: 7
        horizon: 16
        dt: 0.1
        semantics: absolute          # absolute | delta | relative
        limits: {position_min: [...], position_max: [...], velocity_max: [...]}
        margin: 0.02                 # fraction of each range / velocity limit kept clear
        max_start_distance: 0.05

Any other ``type`` names an entry point in the group ``worldforge_ros.translators``; it is loaded lazily (only
when that embodiment is first requested) and called as ``factory(name, spec) -> translator``. A translator is any
object with ``contract``, ``joint_names`` and ``translate(raw, start=None, embodiment_tag="", max_steps=0)``.
"""

from __future__ import annotations

import os
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from .errors import ErrorCode, RequestError, TranslatorError, WorldForgeRosError
from .translators import EmbodimentTranslator, JointSpaceTranslator, PushTPlanarTranslator

ENTRY_POINT_GROUP = "worldforge_ros.translators"
BUILTIN_TYPES: dict[str, Callable[[str, Mapping[str, Any]], EmbodimentTranslator]] = {
    "joint_space": JointSpaceTranslator.from_config,
    "pusht_planar": PushTPlanarTranslator.from_config,
}


def default_config_path() -> Path | None:
    """``config/embodiments.yaml`` from the source tree, else from an ament install share dir, else None."""
    here = Path(__file__).resolve().parents[2] / "config" / "embodiments.yaml"
    if here.is_file():
        return here
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "share" / "worldforge_ros" / "config" / "embodiments.yaml" if prefix else None
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _entry_point(type_name: str) -> Callable[[str, Mapping[str, Any]], Any]:
    matches = [ep for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == type_name]
    if not matches:
        raise TranslatorError(f"no translator type {type_name!r}: not built in ({sorted(BUILTIN_TYPES)}) and no "
                              f"entry point of that name in group {ENTRY_POINT_GROUP!r}", ErrorCode.TRANSLATOR_MISSING,
                              type=type_name)
    try:
        return matches[0].load()
    except Exception as exc:  # a broken plug-in is a typed error, never an ImportError out of the planner
        raise TranslatorError(f"translator plug-in {type_name!r} failed to load: {type(exc).__name__}: {exc}",
                              ErrorCode.TRANSLATOR_MISSING, type=type_name) from None


def _looks_like_translator(obj: Any) -> bool:
    return all(hasattr(obj, attr) for attr in ("contract", "joint_names", "translate"))


class TranslatorRegistry:
    """Embodiment name -> translator, built lazily from the config (and cached)."""

    def __init__(self, embodiments: Mapping[str, Mapping[str, Any]]) -> None:
        self._specs: dict[str, dict[str, Any]] = {}
        for name, spec in embodiments.items():
            if not isinstance(spec, Mapping) or not spec.get("type"):
                raise TranslatorError(f"embodiment {name!r} needs a mapping with a 'type'",
                                      ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
            self._specs[str(name)] = dict(spec)
        self._built: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str | Path | None = None) -> "TranslatorRegistry":
        """From a dict (``{"embodiments": {...}}`` or the inner mapping), a YAML path, or the default file.

        Built-in types are constructed (and so validated) eagerly; plug-in types load on first use.
        """
        if config is None:
            path = default_config_path()
            if path is None:
                raise TranslatorError("no embodiments config found", ErrorCode.TRANSLATOR_MISSING)
            config = path
        if isinstance(config, (str, Path)):
            try:
                config = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise TranslatorError(f"cannot read embodiments config {config}: {exc}",
                                      ErrorCode.TRANSLATOR_MISSING) from None
        if not isinstance(config, Mapping):
            raise TranslatorError("embodiments config must be a mapping", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        embodiments = config.get("embodiments", config)
        registry = cls(embodiments)
        for name, spec in registry._specs.items():
            if spec["type"] in BUILTIN_TYPES:
                registry.get(name)
        return registry

    def names(self) -> list[str]:
        """Configured embodiment names, sorted."""
        return sorted(self._specs)

    def spec(self, name: str) -> dict[str, Any]:
        """A copy of the config entry of ``name``."""
        self._require(name)
        return dict(self._specs[name])

    def _require(self, name: str) -> None:
        if name not in self._specs:
            raise RequestError(f"unknown embodiment {name!r}; configured: {self.names()}",
                               ErrorCode.UNKNOWN_EMBODIMENT, embodiment=name)

    def get(self, name: str) -> Any:
        """The translator of ``name`` (built on first use). Unknown name: ``RequestError(UNKNOWN_EMBODIMENT)``."""
        self._require(name)
        if name in self._built:
            return self._built[name]
        spec = self._specs[name]
        factory = BUILTIN_TYPES.get(spec["type"]) or _entry_point(spec["type"])
        try:
            translator = factory(name, spec)
        except WorldForgeRosError:
            raise
        except Exception as exc:
            raise TranslatorError(f"translator {name!r} ({spec['type']}) failed to build: {type(exc).__name__}: "
                                  f"{exc}", ErrorCode.TRANSLATOR_CONTRACT_VIOLATION) from None
        if not _looks_like_translator(translator):
            raise TranslatorError(f"translator {name!r} from {spec['type']!r} lacks contract/joint_names/translate",
                                  ErrorCode.TRANSLATOR_CONTRACT_VIOLATION)
        self._built[name] = translator
        return translator

    def contract_summaries(self) -> dict[str, dict[str, Any]]:
        """``contract_summary()`` of every embodiment that is built or buildable now (plug-ins load here)."""
        out = {}
        for name in self.names():
            translator = self.get(name)
            summarize = getattr(translator, "contract_summary", None) or translator.contract.contract_summary
            out[name] = summarize()
        return out
