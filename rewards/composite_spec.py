"""Parsing and validation of ``composite`` component specs (see `rlfb.rewards.composite`)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from rlfb.errors import ConfigError

KINDS = ("verifier", "reward", "shaping")
#: The key that names what each kind builds (defaults to the component's name).
TARGET_KEY = {"verifier": "verifier", "reward": "reward", "shaping": "fn"}
_COMMON = ("name", "kind", "weight", "gate", "gate_threshold", "options", "reference_key")


@dataclass(frozen=True)
class ComponentSpec:
    """One validated composite component.

    Attributes:
        name: unique key in the composite's ``components``.
        kind: "verifier", "reward" or "shaping".
        target: the registry name (verifier, reward) or shaping function it builds.
        weight: multiplier in the weighted sum.
        gate: when true, a value below ``gate_threshold`` sets the total to ``gate_value``.
        gate_threshold: the pass mark of a gate.
        options: keyword options for what it builds.
        reference_key: when set, the component sees ``reference[reference_key]`` instead of the
            whole reference (e.g. "answer" for a math verifier while a reward model reads
            "prompt" from the same dict).
    """

    name: str
    kind: str
    target: str
    weight: float = 1.0
    gate: bool = False
    gate_threshold: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    reference_key: str | None = None


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def parse_component(raw: Any, index: int) -> ComponentSpec:
    """One spec from its dict; unknown keys get a did-you-mean error."""
    where = f"composite component #{index}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping with name and kind, got {raw!r}")
    name, kind = raw.get("name"), raw.get("kind")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} needs a 'name' (a non-empty string)")
    where = f"composite component {name!r}"
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} must be one of {list(KINDS)}")
    allowed = (*_COMMON, TARGET_KEY[kind])
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where} has no key {key!r}; {hint}(keys for kind {kind!r}: "
                              f"{', '.join(allowed)})")
    target = raw.get(TARGET_KEY[kind], name)
    if not isinstance(target, str):
        raise ConfigError(f"{where}: {TARGET_KEY[kind]} must be a name, got {target!r}")
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}: options must be a mapping, got {options!r}")
    reference_key = raw.get("reference_key")
    if reference_key is not None and not isinstance(reference_key, str):
        raise ConfigError(f"{where}: reference_key must be a string, got {reference_key!r}")
    gate = raw.get("gate", False)
    if not isinstance(gate, bool):
        raise ConfigError(f"{where}: gate must be true or false, got {gate!r}")
    return ComponentSpec(
        name=name, kind=kind, target=target,
        weight=_number(where, "weight", raw.get("weight", 1.0)), gate=gate,
        gate_threshold=_number(where, "gate_threshold", raw.get("gate_threshold", 1.0)),
        options=dict(options), reference_key=reference_key,
    )


def parse_components(components: Any) -> list[ComponentSpec]:
    """All specs, with unique names and at least one component."""
    if not isinstance(components, Sequence) or isinstance(components, (str, bytes)) \
            or not components:
        raise ConfigError("composite needs a non-empty list of components, e.g. "
                          "[{name: correct, kind: verifier, verifier: math}]")
    specs = [parse_component(raw, i) for i, raw in enumerate(components)]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"composite component name {spec.name!r} is used twice; "
                              "give each component its own name")
        seen.add(spec.name)
    return specs


def parse_clip(clip: Sequence[float | None] | None) -> tuple[float | None, float | None] | None:
    """``[low, high]`` → a tuple (either may be None); None stays None."""
    if clip is None:
        return None
    if isinstance(clip, (str, bytes)) or not isinstance(clip, Sequence) or len(clip) != 2:
        raise ConfigError(f"composite clip must be [low, high], got {clip!r}")
    low, high = (None if b is None else _number("composite clip", "bound", b) for b in clip)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"composite clip bounds reversed: [{low}, {high}]")
    return low, high
