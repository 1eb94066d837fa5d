"""The scorer role: turns rollouts into `ScoredSample`s with a registered reward.

The reward is named in the config (``reward.name`` and ``reward.options``) and resolved through
the rewards registry in whichever process the scorer runs, so a Ray scorer actor builds the same
reward from the same names. A judge failure (TIMEOUT/ERROR) arrives as ``value = None`` and stays
None: the sample is masked and counted, never scored as 0.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from rlfb.types import Prompt, Rollout, ScoredSample


class Scorer:
    """Scores rollouts with ``get_reward(reward, **options)``.

    Args:
        reward: reward registry name (e.g. "verifier", "composite", "hedging").
        options: keyword options of that reward.
    """

    def __init__(self, reward: str, options: Mapping[str, Any] | None = None) -> None:
        from rlfb.rewards import get_reward

        self.reward_name = reward
        self.reward = get_reward(reward, **dict(options or {}))

    def score(self, prompts: Sequence[Prompt], rollouts: Sequence[Rollout]) -> list[ScoredSample]:
        """Score every rollout against its prompt's reference (prompts are matched by id); a
        reward that judges the prompt too (a reward model) gets the prompt's messages."""
        from rlfb.rewards.base import score_batch_with_prompts

        by_id = {p.prompt_id: p for p in prompts}
        missing = {r.prompt_id for r in rollouts} - by_id.keys()
        if missing:
            raise ValueError(f"rollouts for unknown prompt ids: {sorted(missing)[:5]}")
        references = [by_id[r.prompt_id].reference for r in rollouts]
        results = score_batch_with_prompts(
            self.reward, [r.text for r in rollouts], references, [r.prompt_id for r in rollouts],
            [list(by_id[r.prompt_id].messages) for r in rollouts])
        return [_scored(r, ref, res) for r, ref, res in zip(rollouts, references, results)]


def _scored(rollout: Rollout, reference: Any, result: Any) -> ScoredSample:
    statuses = {name: vr.status.value for name, vr in result.verify_results.items()}
    evidence = {name: {"extracted": vr.extracted, "info": vr.info}
                for name, vr in result.verify_results.items()}
    if result.info:
        evidence["reward_info"] = result.info
    return ScoredSample(rollout=rollout, reference=reference, reward=result.value,
                        components=dict(result.components), statuses=statuses, evidence=evidence)


def status_counts(samples: Sequence[ScoredSample]) -> dict[str, int]:
    """Counts of verifier statuses over samples, keyed ``"<component>/<status>"``."""
    counts: Counter[str] = Counter()
    for s in samples:
        for name, status in s.statuses.items():
            counts[f"{name}/{status}"] += 1
    return dict(sorted(counts.items()))
