"""The data that flows through the loop: prompts → rollouts → scored samples → experience.

Plain dataclasses with no Ray, vLLM or device knowledge, so they cross process boundaries
(pickled by Ray) unchanged. Tensor shapes are given as ``[B, T]`` where B is the number of
sequences and T the padded length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Prompt:
    """One task for the policy.

    Attributes:
        prompt_id: stable id, unique within a run (used to group samples and to count work).
        messages: chat messages (``[{"role": "user", "content": ...}, ...]``); rendered with the
            tokenizer's chat template and ``add_generation_prompt=True`` by the engine.
        reference: what verifiers compare against (an answer string, test cases ...).
        meta: anything else from the source (task name, difficulty ...).
    """

    prompt_id: str
    messages: tuple[dict[str, str], ...]
    reference: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingParams:
    """How to sample completions.

    Attributes:
        n: completions per prompt (the GRPO group size).
        max_new_tokens: cap on completion length; a capped completion has finish_reason "length".
        temperature: softmax temperature; 0 means greedy.
        top_p: nucleus sampling mass (1.0 = off).
        top_k: keep the k most likely tokens (-1 = off).
        seed: base seed; engines derive a per-request seed from it so runs are reproducible.
    """

    n: int = 1
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None


@dataclass
class Rollout:
    """One sampled completion with what the learner needs to train on it.

    Attributes:
        prompt_id: the `Prompt` it answers.
        sample_index: position within its group (0..n-1).
        prompt_token_ids: the rendered prompt, ``[P]``.
        completion_token_ids: the sampled tokens, ``[C]`` (including EOS when it stopped).
        text: the decoded completion (special tokens skipped).
        logprobs: behaviour-policy log-probability of each completion token, ``[C]``.
        finish_reason: "stop" (EOS or stop string) or "length" (hit max_new_tokens, or a
            multi-turn episode cut at its token budget).
        weight_version: the policy version that sampled it.
        completion_mask: multi-turn only, ``[C]``: 1 where the policy sampled the token, 0 where
            the environment or a tool wrote it (observations, the chat template's turn markers);
            None means every completion token is the policy's (single-turn).
        messages: multi-turn only: the whole transcript as chat messages (system prompt, user,
            assistant turns and observations, in order); None for single-turn.
        episode: multi-turn only: the episode's counters (turns, tool_calls, tool_errors,
            tool_timeouts, malformed_calls, tool_seconds, truncated); None for single-turn.

    In a multi-turn rollout ``completion_token_ids`` is every token after the first prompt
    (assistant turns and observations in order), ``logprobs`` is 0.0 at the environment's
    tokens, and ``text`` is the final assistant message (what the verifier scores).
    """

    prompt_id: str
    sample_index: int
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: str
    weight_version: int
    completion_mask: list[int] | None = None
    messages: list[dict[str, Any]] | None = None
    episode: dict[str, Any] | None = None


@dataclass
class ScoredSample:
    """A rollout with its reward.

    Attributes:
        rollout: the sample.
        reference: the prompt's reference (kept for logs and re-scoring).
        reward: the scalar reward, or None when a judge failed (masked).
        components: named reward parts (None = masked part).
        statuses: verifier status per component name ("correct", "timeout" ...).
        evidence: verifier evidence for the samples file.
    """

    rollout: Rollout
    reference: Any
    reward: float | None
    components: dict[str, float | None] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def masked(self) -> bool:
        """True when the sample must not contribute to the update (its judge failed)."""
        return self.reward is None


@dataclass
class ExperienceBatch:
    """Tensors for one policy update, right-padded to a common length T.

    Attributes:
        input_ids: ``[B, T]`` prompt followed by completion tokens.
        attention_mask: ``[B, T]`` 1 for real tokens.
        loss_mask: ``[B, T]`` 1 for completion tokens that count in the loss (0 for prompt,
            padding, and every token of a masked sample).
        old_logprobs: ``[B, T]`` behaviour logprobs aligned with ``input_ids`` (0 off the mask).
        advantages: ``[B, T]`` per-token advantages (0 off the mask).
        ref_logprobs: ``[B, T]`` reference-policy logprobs, or None when no KL is used.
        weight_versions: ``[B]`` policy version that sampled each row.
        scores: ``[B]`` each sample's scalar reward (NaN = masked), for learners that make
            their own advantages (PPO with a critic, or the KL in the reward); None otherwise.
        group_ids: ``[B]`` the group (prompt) index of each row, with ``scores`` when the
            learner folds the KL into the rewards before the group advantages; None otherwise.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor
    old_logprobs: torch.Tensor
    advantages: torch.Tensor
    ref_logprobs: torch.Tensor | None = None
    weight_versions: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    group_ids: torch.Tensor | None = None


@dataclass
class TokenBatch:
    """Supervised sequences (SFT, PPO-ptx), right-padded to a common length T.

    Attributes:
        input_ids: ``[B, T]`` prompt followed by target tokens.
        attention_mask: ``[B, T]`` 1 for real tokens.
        loss_mask: ``[B, T]`` 1 for the tokens trained on (the completion; 0 for prompt and
            padding).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor


@dataclass
class PreferenceBatch:
    """Preference pairs for DPO: rows ``0..P-1`` are the chosen completions, rows ``P..2P-1``
    the rejected ones of the same prompts, in the same order; right-padded to length T.

    Attributes:
        input_ids: ``[2P, T]`` prompt followed by completion tokens.
        attention_mask: ``[2P, T]`` 1 for real tokens.
        loss_mask: ``[2P, T]`` 1 on completion tokens.
        ref_logps: ``[2P]`` each row's summed completion logprob under the reference policy,
            or None when the learner is to compute it (IPO divides it by the token count).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor
    ref_logps: torch.Tensor | None = None

    @property
    def num_pairs(self) -> int:
        """P, the number of pairs."""
        return self.input_ids.shape[0] // 2
