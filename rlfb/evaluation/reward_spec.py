"""A reward named on the command line: a registry name with options, or a YAML file.

The YAML file holds either a reward section (``name:`` and ``options:``, as under ``reward:``
in a training config) or a whole training config, whose ``reward:`` section is used::

    name: hedging
    options: {verifier: math, payoffs: {unhedged: {wrong: -8}}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rlfb.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RewardSpec:
    """A reward by registry name and keyword options (what a config's ``reward:`` holds)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """The `rlfb.rewards.Reward` instance (unknown names and options raise RegistryError)."""
        from rlfb.rewards import get_reward

        return get_reward(self.name, **self.options)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "options"}``, JSON-ready."""
        return {"name": self.name, "options": dict(self.options)}


def reward_spec(text: str, options: Mapping[str, Any] | None = None) -> RewardSpec:
    """The reward named by ``text``: a ``.yaml``/``.yml`` file (see the module docstring), or a
    registry name with ``options``. Options given with a file are merged over the file's."""
    if text.endswith(YAML_SUFFIXES) or Path(text).is_file():
        spec = _from_yaml(Path(text))
        return RewardSpec(spec.name, {**spec.options, **dict(options or {})})
    return RewardSpec(text, dict(options or {}))


_SHAPE = ("a mapping with a 'name' (reward registry name) and optional 'options', or a training "
          "config with a 'reward:' section")


def _from_yaml(path: Path) -> RewardSpec:
    from rlfb.config.load import read_yaml

    if not path.is_file():
        raise ConfigError(f"reward config file {str(path)!r} does not exist; give a YAML file "
                          "with name: and options:, or a reward registry name")
    data = read_yaml(path, "reward config", _SHAPE)
    if isinstance(data, Mapping) and isinstance(data.get("reward"), Mapping):
        data = data["reward"]
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ConfigError(f"reward config {str(path)!r} must be {_SHAPE}")
    unknown = set(data) - {"name", "options"}
    if unknown:
        raise ConfigError(f"reward config {str(path)!r} has unknown keys {sorted(unknown)}; "
                          "only name and options are read")
    opts = data.get("options") or {}
    if not isinstance(opts, Mapping):
        raise ConfigError(f"reward config {str(path)!r}: options must be a mapping, got {opts!r}")
    return RewardSpec(data["name"], dict(opts))
