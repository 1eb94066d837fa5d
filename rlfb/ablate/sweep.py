"""The sweep file of `rlfb ablate`: a base config, a grid of named axes, and seeds.

.. code-block:: yaml

    name: hedging-vs-binary
    base: ../hedging-smollm2.yaml        # a config file (relative to this file), or a mapping
    output_dir: runs/ablations/hedging-vs-binary   # default: runs/ablations/<name>
    overrides: {run.steps: 8}           # dotted overrides applied to every arm (optional)
    seeds: [0, 1]
    num_cpus_per_arm: 2                 # Ray CPUs each arm reserves (default 1)
    num_gpus_per_arm: 1                 # Ray GPUs each arm reserves (default 0: Ray hides the
                                        # GPUs from the arm; learner.device=auto then uses one)
    axes:                               # axis → level → dotted overrides of that level
      payoff:
        hedging: {reward.name: hedging, reward.options: {verifier: math}}
        binary: {reward.name: verifier, reward.options: {verifier: math}}
    report: {group_by: tier}            # optional: question-level comparisons and a success
                                        # criterion (`rlfb.ablate.questions`)

Every combination of one level per axis, times every seed, is one arm: a normal run directory
``<output_dir>/<axis>=<level>/.../seed=<seed>`` whose config is the base with the common
overrides, the levels' overrides (in axis order), ``run.seed``, ``run.output_dir`` and
``run.name`` applied. A dotted key naming a whole section option (``reward.options``) replaces
it; a deeper key (``reward.options.payoffs``) changes only that entry. Paths inside the
config (data files, model folders) are relative to the working directory, as for `rlfb train`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TYPE_CHECKING

import yaml

from rlfb.ablate.questions import ReportSpec, parse_report_spec
from rlfb.algorithms import make_algorithm
from rlfb.errors import ConfigError

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig

SWEEP_KEYS = ("name", "base", "output_dir", "overrides", "seeds", "num_cpus_per_arm",
              "num_gpus_per_arm", "axes", "report")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True, eq=False)
class Arm:
    """One run of the sweep: a combination of levels and a seed (hashed by identity: its
    override values may be mappings)."""

    levels: tuple[tuple[str, str], ...]
    """``(axis, level)`` pairs, in axis order."""
    seed: int
    overrides: tuple[tuple[str, Any], ...]
    """Dotted overrides of the levels, in order."""

    @property
    def group(self) -> str:
        """The arm without its seed, e.g. ``payoff=hedging`` (seeds of a group are averaged)."""
        return "/".join(f"{a}={lvl}" for a, lvl in self.levels)

    @property
    def name(self) -> str:
        """Stable, readable name and relative run directory, e.g. ``payoff=hedging/seed=1``."""
        return f"{self.group}/seed={self.seed}" if self.levels else f"seed={self.seed}"


@dataclass
class Sweep:
    """A parsed sweep file."""

    name: str
    base: dict[str, Any]
    output_dir: Path
    seeds: list[int]
    axes: dict[str, dict[str, dict[str, Any]]]
    overrides: dict[str, Any] = field(default_factory=dict)
    num_cpus_per_arm: float = 1.0
    num_gpus_per_arm: float = 0.0
    source: str = ""
    report: ReportSpec | None = None
    """What the report compares question by question, and the criterion it judges
    (`rlfb.ablate.questions`); None: the defaults, no criterion."""

    def arms(self) -> list[Arm]:
        """Every (level combination × seed), levels in file order, seeds innermost."""
        per_axis = [[(axis, lvl, tuple(sets.items())) for lvl, sets in levels.items()]
                    for axis, levels in self.axes.items()]
        out = []
        for combo in itertools.product(*per_axis):
            levels = tuple((a, lvl) for a, lvl, _ in combo)
            overrides = tuple(kv for _, _, sets in combo for kv in sets)
            out.extend(Arm(levels, seed, overrides) for seed in self.seeds)
        return out

    def groups(self) -> list[str]:
        """Arm groups (level combinations) in order."""
        return list(dict.fromkeys(arm.group for arm in self.arms()))


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError(f"sweep {source}: {message}")


def _overrides(source: str, where: str, value: Any) -> dict[str, Any]:
    """A mapping of dotted keys → values, or a list of ``key=value`` strings."""
    if value is None:
        return {}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, raw = str(item).partition("=")
            if not sep or not key.strip():
                raise _fail(source, f"{where}: bad override {item!r}; write key=value")
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        return out
    if not isinstance(value, Mapping):
        raise _fail(source, f"{where} must map dotted keys to values, e.g. {{reward.name: "
                            f"hedging}}, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _axes(source: str, value: Any) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(value, Mapping) or not value:
        raise _fail(source, "axes must map axis names to {level name: overrides}, e.g. "
                            "axes: {payoff: {hedging: {reward.name: hedging}, ...}}")
    axes: dict[str, dict[str, dict[str, Any]]] = {}
    for axis, levels in value.items():
        if not _NAME.match(str(axis)) or str(axis) == "seed":
            raise _fail(source, f"axis name {axis!r} must be letters, digits, _ . + - "
                                "(and not 'seed')")
        if not isinstance(levels, Mapping) or not levels:
            raise _fail(source, f"axis {axis!r} must map level names to overrides")
        for level in levels:
            if not _NAME.match(str(level)):
                raise _fail(source, f"level name {level!r} of axis {axis!r} must be letters, "
                                    "digits, _ . + -")
        axes[str(axis)] = {str(lvl): _overrides(source, f"axes.{axis}.{lvl}", sets)
                           for lvl, sets in levels.items()}
    return axes


def _seeds(source: str, value: Any) -> list[int]:
    seeds = [value] if isinstance(value, int) else value
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise _fail(source, f"seeds must be a non-empty list of integers, got {value!r}")
    if len(set(seeds)) != len(seeds):
        raise _fail(source, f"seeds has duplicates: {seeds}")
    return list(seeds)


def _base(source: str, value: Any, here: Path) -> dict[str, Any]:
    from rlfb.config.load import read_yaml

    if isinstance(value, str):
        path = Path(value) if Path(value).is_absolute() else here / value
        return read_yaml(path)
    if isinstance(value, Mapping):
        return dict(value)
    raise _fail(source, "base must be a config file path (relative to the sweep file) or an "
                        "inline config mapping")


def parse_sweep(data: Any, source: str = "<inline>", here: Path = Path(".")) -> Sweep:
    """A `Sweep` from the plain data of a sweep file; bad input is a one-line `ConfigError`."""
    if not isinstance(data, Mapping):
        raise _fail(source, "must be a mapping with base:, axes: and seeds:")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise _fail(source, f"unknown key(s) {', '.join(map(repr, unknown))}; a sweep has "
                            f"{', '.join(SWEEP_KEYS)}")
    for key in ("base", "axes", "seeds"):
        if key not in data:
            raise _fail(source, f"missing {key}:")
    name = str(data.get("name") or Path(source).stem)
    if not _NAME.match(name):
        raise _fail(source, f"name {name!r} must be letters, digits, _ . + -")
    cpus = data.get("num_cpus_per_arm", 1.0)
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0:
        raise _fail(source, f"num_cpus_per_arm must be a number > 0, got {cpus!r}")
    gpus = data.get("num_gpus_per_arm", 0.0)
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or gpus < 0:
        raise _fail(source, f"num_gpus_per_arm must be a number >= 0, got {gpus!r}")
    return Sweep(name=name, base=_base(source, data["base"], here),
                 output_dir=Path(data.get("output_dir") or f"runs/ablations/{name}"),
                 seeds=_seeds(source, data["seeds"]), axes=_axes(source, data["axes"]),
                 overrides=_overrides(source, "overrides", data.get("overrides")),
                 num_cpus_per_arm=float(cpus), num_gpus_per_arm=float(gpus), source=source,
                 report=parse_report_spec(source, data.get("report")))


def load_sweep(path: str | Path) -> Sweep:
    """Read and parse a sweep file."""
    from rlfb.config.load import read_yaml

    path = Path(path)
    return parse_sweep(read_yaml(path), source=str(path), here=path.parent)


def arm_config_data(sweep: Sweep, arm: Arm) -> dict[str, Any]:
    """The plain config data of ``arm`` (base + common + level overrides + run settings)."""
    import copy

    from rlfb.config.coerce import apply_override
    from rlfb.config.schema import TrainConfig

    data = copy.deepcopy(sweep.base)
    run = {"run.seed": arm.seed, "run.output_dir": str(sweep.output_dir / arm.name),
           "run.name": f"{sweep.name}/{arm.name}", "run.resume": None}
    for key, value in [*sweep.overrides.items(), *arm.overrides, *run.items()]:
        try:
            apply_override(data, TrainConfig, key.split("."), copy.deepcopy(value))
        except ConfigError as exc:
            raise ConfigError(f"arm {arm.name}: {exc}") from None
    return data


def arm_configs(sweep: Sweep) -> dict[Arm, Any]:
    """Every arm's resolved, validated `TrainConfig` (the first bad one raises, naming its arm),
    before anything runs."""
    from rlfb.config import config_from_dict

    out = {}
    for arm in sweep.arms():
        try:
            cfg = config_from_dict(arm_config_data(sweep, arm))
        except ConfigError as exc:
            msg = str(exc)
            raise ConfigError(msg if msg.startswith("arm ") else f"arm {arm.name}: {msg}") from None
        if cfg.run.executor != "local":
            raise ConfigError(f"arm {arm.name}: run.executor={cfg.run.executor!r}; arms of a "
                              "sweep run with the local executor (the sweep itself spreads arms "
                              "over Ray)")
        if not make_algorithm(cfg.algo).online:
            raise ConfigError(f"arm {arm.name}: algo.name={cfg.algo.name!r} is offline; "
                              "rlfb ablate runs online RL configs")
        _check_names(cfg, arm)
        out[arm] = cfg
    return out


def _check_names(cfg: TrainConfig, arm: Arm) -> None:
    """The reward, evaluation verifier and hedge detector an arm names are registered."""
    from rlfb.rewards import list_rewards
    from rlfb.rewards.hedging.detect import list_hedge_detectors
    from rlfb.verifiers import list_verifiers

    checks = [("reward.name", cfg.reward.name, list_rewards()),
              ("eval.verifier", cfg.eval.verifier, list_verifiers())]
    if cfg.eval.hedge_detector:
        checks.append(("eval.hedge_detector", cfg.eval.hedge_detector, list_hedge_detectors()))
    for key, name, known in checks:
        if name not in known:
            raise ConfigError(f"arm {arm.name}: {key}={name!r} is not registered "
                              f"(known: {', '.join(known)})")
