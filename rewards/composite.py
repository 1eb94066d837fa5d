"""`"composite"`: a weighted sum of verifiers, rewards and shaping terms, with gates.

Options are config-friendly (names, never callables)::

    reward:
      name: composite
      options:
        normalize: group            # none | group | group_after_sum
        gate_value: -4.0
        components:
          - {name: format, kind: verifier, weight: 0.2, gate: true, options: {mode: tags}}
          - {name: correct, kind: reward, reward: hedging, weight: 1.0,
             options: {verifier: math}}
          - {name: overlong, kind: shaping, fn: soft_overlong, weight: 1.0,
             options: {max_length: 512, cache_length: 128, unit: words}}

A component has a ``name`` (unique; its key in ``components``), a ``kind`` and what that kind
builds: ``verifier`` (a registered verifier, value = its score; ``verifier:`` defaults to
``name``), ``reward`` (a registered reward, nested composites included; ``reward:`` defaults to
``name``) or ``shaping`` (`rlfb.rewards.shaping_reward`; ``fn:`` defaults to ``name``). Optional:
``weight`` (1.0), ``options`` ({}), ``gate`` (false), ``gate_threshold`` (1.0) and
``reference_key`` (the component sees ``reference[key]``: with references like
``{"prompt": ..., "answer": ...}`` a math verifier takes ``answer`` while a reward model reads
the prompt from the whole dict).

Semantics, per sample:

- **Gates.** A gate component whose value is below its ``gate_threshold`` sets the total to
  ``gate_value`` (default 0.0). Pick ``gate_value`` at or below the worst reward the other
  components can give — with hedging inside, 0.0 would pay a model to break the format instead of
  answering wrong (−4): use ``gate_value: -4``. A passing gate adds ``weight · value`` like any
  other component.
- **Masking.** The total is None (masked) when a gate's value is None, or when no gate fails and
  any weighted component is None. A failing gate decides the total on its own, so other masked
  parts do not mask it.
- **Normalisation** within a prompt's group (``group_ids``; needs `score_batch`):
  ``"none"`` sums raw values; ``"group"`` standardises each component within the group first,
  ``(v − mean) / (std + eps)`` over the group's unmasked values of that component (population
  std; with ``normalize_std: false`` only the mean is removed), then sums (normalise-then-sum;
  a failing gate still gives ``gate_value`` itself); ``"group_after_sum"`` sums raw values,
  with ``gate_value`` as the total of a gated sample, and then standardises the totals within
  the group (gated samples included, so a failing gate ranks as a total of ``gate_value``).
- **Clipping.** ``clip: [low, high]`` clips the weighted sum before any after-sum normalisation
  (never the ``gate_value``).

Every component is reported: ``components[name]`` is its raw value and a sub-reward's own parts
appear as ``"name/part"``; verifier results keep their component's name; ``info`` holds
``gated_by``, the normalised values (``normalized``) and each part's own ``info`` (``parts``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Hashable, Sequence

from rlfb.errors import ConfigError, RlfbError
from rlfb.rewards.base import Reward, RewardResult, score_batch_with_prompts
from rlfb.rewards.composite_spec import ComponentSpec, parse_components, parse_clip
from rlfb.rewards.shaping import clip_reward

NORMALIZE = ("none", "group", "group_after_sum")


@dataclass
class _Part:
    spec: ComponentSpec
    reward: Reward
    results: list[RewardResult] = field(default_factory=list)


def _build(spec: ComponentSpec) -> Reward:
    if spec.kind == "verifier":
        from rlfb.rewards.verifier_reward import VerifierReward

        return VerifierReward(verifier=spec.target, options=spec.options)
    if spec.kind == "reward":
        from rlfb.rewards import get_reward

        return get_reward(spec.target, **spec.options)
    from rlfb.rewards.shaping_reward import ShapingReward

    return ShapingReward(spec.target, **spec.options)


def standardize(values: Sequence[float | None], groups: Sequence[Hashable], *, eps: float = 1e-6,
                scale: bool = True) -> list[float | None]:
    """``(v − group mean) / (group std + eps)`` (population std), or ``v − mean`` when
    ``scale`` is False; None stays None and is left out of the statistics.

    >>> standardize([1.0, 3.0, None, 5.0], ["a", "a", "a", "b"], eps=0.0)
    [-1.0, 1.0, None, 0.0]
    """
    members: dict[Hashable, list[float]] = defaultdict(list)
    for v, g in zip(values, groups):
        if v is not None:
            members[g].append(v)
    stats = {}
    for g, vs in members.items():
        mean = sum(vs) / len(vs)
        std = math.sqrt(sum((v - mean) ** 2 for v in vs) / len(vs))
        stats[g] = (mean, std)
    out: list[float | None] = []
    for v, g in zip(values, groups):
        if v is None:
            out.append(None)
            continue
        mean, std = stats[g]
        if not scale:
            out.append(v - mean)
        else:  # a group whose values are all equal (std 0) gives 0 even with eps = 0
            out.append((v - mean) / (std + eps) if std + eps > 0 else 0.0)
    return out


def _sub_references(references: Sequence[Any], spec: ComponentSpec) -> Sequence[Any]:
    key = spec.reference_key
    if key is None:
        return references
    out = []
    for ref in references:
        if not isinstance(ref, dict) or key not in ref:
            raise RlfbError(f"composite component {spec.name!r} reads reference[{key!r}], but a "
                            f"reference is {type(ref).__name__}"
                            + (f" with keys {sorted(ref)}" if isinstance(ref, dict) else "")
                            + "; fix reference_key or the prompt source")
        out.append(ref[key])
    return out


class CompositeReward(Reward):
    """Weighted, gated, optionally group-normalised sum of components (see the module
    docstring).

    Args:
        components: the component specs (dicts).
        normalize: "none", "group" (normalise-then-sum) or "group_after_sum".
        gate_value: the total when a gate fails.
        eps: added to the group std.
        normalize_std: divide by the group std (else only subtract the mean).
        clip: ``[low, high]`` for the weighted sum (either may be null).
    """

    version = "1"

    def __init__(self, components: list[dict[str, Any]], normalize: str = "none",
                 gate_value: float = 0.0, eps: float = 1e-6, normalize_std: bool = True,
                 clip: Sequence[float | None] | None = None) -> None:
        if normalize not in NORMALIZE:
            raise ConfigError(f"composite normalize {normalize!r} must be one of {list(NORMALIZE)}")
        self.specs = parse_components(components)
        self.normalize = normalize
        self.gate_value = float(gate_value)
        self.eps = float(eps)
        self.normalize_std = bool(normalize_std)
        self.clip = parse_clip(clip)
        self.parts = [_Part(spec, _build(spec)) for spec in self.specs]

    def score(self, completion: str, reference: Any) -> RewardResult:
        """Score one completion (only with ``normalize="none"``: a group needs its members)."""
        if self.normalize != "none":
            raise RlfbError(f"composite normalize={self.normalize!r} needs a group: call "
                            "score_batch(completions, references, group_ids)")
        return self.score_batch([completion], [reference], [0])[0]

    def score_batch(self, completions: Sequence[str], references: Sequence[Any],
                    group_ids: Sequence[Hashable] | None = None,
                    prompts: Sequence[Any] | None = None) -> list[RewardResult]:
        """Score every component on the whole batch, then gate, normalise and sum; ``prompts``
        reach the components that take them (a reward model)."""
        if len(completions) != len(references):
            raise ValueError(f"score_batch got {len(completions)} completions and "
                             f"{len(references)} references")
        if group_ids is None:
            if self.normalize != "none":
                raise RlfbError(f"composite normalize={self.normalize!r} needs group_ids "
                                "(the prompt id of each sample)")
            group_ids = list(range(len(completions)))
        elif len(group_ids) != len(completions):
            raise ValueError(f"{len(group_ids)} group_ids for {len(completions)} completions")
        for part in self.parts:
            refs = _sub_references(references, part.spec)
            part.results = score_batch_with_prompts(part.reward, completions, refs, group_ids,
                                                    prompts)
        raw = {p.spec.name: [r.value for r in p.results] for p in self.parts}
        used = raw
        if self.normalize == "group":
            used = {name: standardize(vs, group_ids, eps=self.eps, scale=self.normalize_std)
                    for name, vs in raw.items()}
        totals, gated = self._totals(raw, used, len(completions))
        if self.normalize == "group_after_sum":
            totals = standardize(totals, group_ids, eps=self.eps, scale=self.normalize_std)
        return [self._result(i, totals[i], gated[i], used) for i in range(len(completions))]

    def _totals(self, raw: dict[str, list[float | None]], used: dict[str, list[float | None]],
                n: int) -> tuple[list[float | None], list[list[str]]]:
        totals: list[float | None] = []
        gated: list[list[str]] = []
        for i in range(n):
            gates = [s for s in self.specs if s.gate]
            if any(raw[s.name][i] is None for s in gates):
                totals.append(None)
                gated.append([])
                continue
            failed = [s.name for s in gates
                      if raw[s.name][i] < s.gate_threshold]  # type: ignore[operator]
            gated.append(failed)
            if failed:
                totals.append(self.gate_value)
                continue
            values = [used[s.name][i] for s in self.specs]
            if any(v is None for v in values):
                totals.append(None)
                continue
            total = sum(s.weight * v for s, v in zip(self.specs, values))  # type: ignore[misc]
            if self.clip is not None:
                total = clip_reward(total, *self.clip)
            totals.append(total)
        return totals, gated

    def _result(self, i: int, total: float | None, gated: list[str],
                used: dict[str, list[float | None]]) -> RewardResult:
        components: dict[str, float | None] = {}
        verify_results: dict[str, Any] = {}
        parts_info: dict[str, Any] = {}
        for part in self.parts:
            name, res = part.spec.name, part.results[i]
            components[name] = res.value
            if len(res.components) > 1:
                components.update({f"{name}/{k}": v for k, v in res.components.items()})
            if len(res.verify_results) == 1:
                verify_results[name] = next(iter(res.verify_results.values()))
            else:
                verify_results.update({f"{name}/{k}": v for k, v in res.verify_results.items()})
            if res.info:
                parts_info[name] = res.info
        info: dict[str, Any] = {"gated_by": gated, "parts": parts_info}
        if self.normalize == "group":
            info["normalized"] = {name: vs[i] for name, vs in used.items()}
        return RewardResult(total, components, verify_results, info)
