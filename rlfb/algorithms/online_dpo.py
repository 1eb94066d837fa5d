"""Online DPO: the verifier registry drives preference learning.

Each step of the online trainer (`rlfb.trainers.online.OnlineTrainer`) samples
``rollout.n`` completions per prompt from the current policy and scores them with the configured
reward (verifiers, composites, reward models). `preference_pairs` then makes one pair per
prompt: the highest-scoring completion is chosen, the lowest-scoring one rejected. A prompt
whose valid scores are all equal (a tie, including one with fewer than two valid samples) gives
no pair and is counted in ``dpo/ties_skipped``; masked samples (failed judges) never take part.
The learner (`rlfb.learner.preference.DPOLearner`, reference kept in memory) takes a DPO step
on the pairs, the new weights are synced to the engine, and the loop repeats. With
``buffer.drop_zero_variance=true`` ties are refused by the buffer and more prompts are sampled.

Among equal best (or worst) scores the first sample wins, so pairs are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Callable, TYPE_CHECKING

from rlfb.algorithms.base import OnlineAlgorithm, policy_settings
from rlfb.errors import ConfigError

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


def pick_pair(rewards: Sequence[float | None], lengths: Sequence[int]
              ) -> tuple[int, int] | None:
    """``(chosen, rejected)`` sample indices of one group, or None for a tie.

    Samples with a None reward (masked) or no completion token are skipped.

    >>> pick_pair([0.0, 1.0, None, 0.0], [3, 4, 5, 6])
    (1, 0)
    >>> pick_pair([1.0, 1.0], [3, 3]) is None
    True
    """
    valid = [i for i, (r, n) in enumerate(zip(rewards, lengths)) if r is not None and n > 0]
    if len(valid) < 2:
        return None
    best = max(valid, key=lambda i: (rewards[i], -i))
    worst = min(valid, key=lambda i: (rewards[i], i))
    if rewards[best] == rewards[worst]:
        return None
    return best, worst


def preference_pairs(groups: Sequence[Any], pad_token_id: int) -> tuple[Any, dict[str, float]]:
    """``(PreferenceBatch or None, stats)`` from buffer groups (`rlfb.buffer.Group`).

    Stats: ``dpo/pairs``, ``dpo/ties_skipped``, and the mean score of chosen and rejected
    completions (``dpo/chosen_score``, ``dpo/rejected_score``).
    """
    from rlfb.data.records import Pair, preference_batch

    pairs, chosen_scores, rejected_scores = [], [], []
    for group in groups:
        samples = group.samples
        picked = pick_pair([s.reward for s in samples],
                           [len(s.rollout.completion_token_ids) for s in samples])
        if picked is None:
            continue
        c, r = samples[picked[0]], samples[picked[1]]
        if c.rollout.prompt_token_ids != r.rollout.prompt_token_ids:
            raise ConfigError(f"samples of prompt {group.prompt_id!r} have different prompt "
                              "tokens; the engine must render a prompt the same way each time")
        pairs.append(Pair(tuple(c.rollout.prompt_token_ids),
                          tuple(c.rollout.completion_token_ids),
                          tuple(r.rollout.completion_token_ids)))
        chosen_scores.append(float(c.reward))
        rejected_scores.append(float(r.reward))
    stats = {"dpo/pairs": float(len(pairs)), "dpo/ties_skipped": float(len(groups) - len(pairs))}
    if not pairs:
        return None, stats
    stats["dpo/chosen_score"] = sum(chosen_scores) / len(pairs)
    stats["dpo/rejected_score"] = sum(rejected_scores) / len(pairs)
    return preference_batch(pairs, pad_token_id), stats


class OnlineDPO(OnlineAlgorithm):
    """Online DPO: n samples per prompt ranked by the reward, (best, worst) pairs, DPO steps."""

    def check(self, cfg: TrainConfig) -> None:
        """Pairs need two samples per prompt; pairs replace advantages; dpo.beta is the KL."""
        if cfg.rollout.n < 2:
            raise ConfigError(f"online_dpo ranks several completions per prompt, so rollout.n "
                              f"must be >= 2 (got {cfg.rollout.n})")
        if cfg.algo.advantage is not None:
            raise ConfigError(f"algo.advantage={cfg.algo.advantage!r} does not apply to "
                              "online_dpo (pairs replace advantages); remove it")
        if cfg.algo.ppo_epochs != 1 or cfg.algo.kl_coef:
            raise ConfigError("online_dpo takes one DPO step per batch and its KL control is "
                              "dpo.beta; leave algo.ppo_epochs=1 and algo.kl_coef=0")

    def learner_factory(self, cfg: TrainConfig, model_path: str) -> Callable[[], Any]:
        """The `DPOLearner` with the reference model kept in memory."""
        from rlfb.learner.preference import DPOLearner

        _, kwargs = policy_settings(cfg)
        d = cfg.dpo
        options = {k: v for k, v in kwargs.items() if k != "ppo_epochs"}
        return partial(DPOLearner, model_path, beta=d.beta, loss_type=d.loss,
                       label_smoothing=d.label_smoothing, reference="model", **options)

    def batch(self, groups: list[Any], pad_token_id: int) -> tuple[Any, dict[str, Any]]:
        """`preference_pairs` of the groups (None when every group is a tie)."""
        return preference_pairs(groups, pad_token_id)
