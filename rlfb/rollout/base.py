"""The rollout-engine contract and the helpers every engine shares.

An engine turns prompts into `Rollout`s and accepts new weights between calls. Engines are looked
up by name (``get_engine("hf", path)``, ``get_engine("vllm", path)``) from `rlfb.rollout.ENGINES`.

Behaviour logprobs (``Rollout.logprobs``) follow one convention in every engine, the one the
learner computes with ``sequence_logprobs(model, ..., temperature=T)``:

    logprobs[i] = log_softmax(z_i / T)[token_i]

where ``z_i`` are the policy's raw logits at the step that produced ``token_i`` and ``T`` is
``SamplingParams.temperature`` (greedy decoding, ``T == 0``, counts as ``T = 1``). They are the
logprobs of the *unmodified* policy at that temperature: no top-p or top-k truncation and no
renormalisation over the kept tokens, so at weight version v the learner's ratio
``exp(learner_logprob - behaviour_logprob)`` is 1 up to numerics. Engines that cannot report
these under truncated sampling reject top-p/top-k with a `ConfigError` instead of returning
something else.

Order and seeds: ``generate`` returns ``len(prompts) * n`` rollouts, prompt-major (all samples of
prompt 0, then prompt 1 ...), ``sample_index`` 0..n-1. With ``SamplingParams.seed`` set, sample
``j`` of a prompt draws from seed ``request_seed(seed, prompt_id, k) + j`` (``k`` counts earlier
prompts with the same id in the call), so a result does not depend on what else is in the batch
(up to floating-point differences between batch shapes). Vary the seed between calls (e.g.
``seed + step``) or identical prompts get identical samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import torch

from rlfb.errors import ConfigError
from rlfb.types import Prompt, Rollout, SamplingParams

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
_SEED_LIMIT = 2**31 - 2**16  # children seeds (seed + j) stay below 2**31


@runtime_checkable
class RolloutEngine(Protocol):
    """Samples completions from the current policy weights."""

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """``sampling.n`` rollouts per prompt, prompt-major, with behaviour logprobs (see the
        module docstring for the logprob convention)."""
        ...

    def update_weights(
        self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int
    ) -> None:
        """Load new weights (Hugging Face parameter names) in place and set `weight_version`."""
        ...

    @property
    def weight_version(self) -> int:
        """The policy version stamped on every rollout generated now (0 at start)."""
        ...

    def close(self) -> None:
        """Free the model; the engine cannot generate afterwards."""
        ...


def validate_sampling(sampling: SamplingParams) -> None:
    """Raise `ConfigError` naming the first unusable field of ``sampling``."""
    if not isinstance(sampling.n, int) or sampling.n < 1:
        raise ConfigError(f"sampling.n must be an integer >= 1, got {sampling.n!r}")
    if not isinstance(sampling.max_new_tokens, int) or sampling.max_new_tokens < 1:
        raise ConfigError(
            f"sampling.max_new_tokens must be an integer >= 1, got {sampling.max_new_tokens!r}"
        )
    if sampling.temperature < 0:
        raise ConfigError(f"sampling.temperature must be >= 0 (0 = greedy), got {sampling.temperature}")
    if not 0 < sampling.top_p <= 1:
        raise ConfigError(f"sampling.top_p must be in (0, 1] (1 = off), got {sampling.top_p}")
    if sampling.top_k == 0 or sampling.top_k < -1:
        raise ConfigError(f"sampling.top_k must be -1 (off) or >= 1, got {sampling.top_k}")


def request_seeds(prompts: Sequence[Prompt], base_seed: int | None) -> list[int | None]:
    """One seed per prompt, derived from ``base_seed`` and the prompt id (None when unseeded).

    >>> a = request_seeds([Prompt("x", ()), Prompt("y", ()), Prompt("x", ())], 0)
    >>> a == request_seeds([Prompt("x", ()), Prompt("y", ()), Prompt("x", ())], 0)
    True
    >>> len(set(a))  # a repeated prompt id still gets its own seed
    3
    """
    if base_seed is None:
        return [None] * len(prompts)
    seen: dict[str, int] = {}
    seeds: list[int | None] = []
    for prompt in prompts:
        k = seen.get(prompt.prompt_id, 0)
        seen[prompt.prompt_id] = k + 1
        digest = hashlib.blake2b(f"{base_seed}\x00{prompt.prompt_id}\x00{k}".encode(), digest_size=8)
        seeds.append(int.from_bytes(digest.digest(), "little") % _SEED_LIMIT)
    return seeds


def check_lengths(prompt_ids: Sequence[Sequence[int]], max_new_tokens: int, limit: int,
                  prompts: Sequence[Prompt], engine: str) -> None:
    """Raise `ConfigError` when a prompt plus ``max_new_tokens`` exceeds ``limit`` tokens."""
    for ids, prompt in zip(prompt_ids, prompts):
        if len(ids) + max_new_tokens > limit:
            raise ConfigError(
                f"{engine} engine: prompt {prompt.prompt_id!r} has {len(ids)} tokens and "
                f"max_new_tokens is {max_new_tokens}, over the {limit}-token limit; shorten the "
                "prompt, lower max_new_tokens or raise the engine's max_model_len"
            )


def cut_at_stop(tokens: Sequence[int], logprobs: Sequence[float], stop_ids: set[int],
                max_new_tokens: int) -> tuple[list[int], list[float], str]:
    """Trim a generated row after its first stop token (kept) and name the finish reason.

    >>> cut_at_stop([5, 7, 2, 0, 0], [-1.0, -2.0, -3.0, 0.0, 0.0], {2}, 5)
    ([5, 7, 2], [-1.0, -2.0, -3.0], 'stop')
    >>> cut_at_stop([5, 7], [-1.0, -2.0], {2}, 2)
    ([5, 7], [-1.0, -2.0], 'length')
    """
    for i, tok in enumerate(tokens):
        if tok in stop_ids:
            return list(tokens[: i + 1]), list(logprobs[: i + 1]), FINISH_STOP
    if len(tokens) < max_new_tokens:
        raise RuntimeError(
            f"generation ended after {len(tokens)} < {max_new_tokens} tokens without a stop token"
        )
    return list(tokens), list(logprobs), FINISH_LENGTH


def check_version(version: object) -> int:
    """``version`` as an int, or `ConfigError` when it is not a non-negative integer."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigError(f"weight version must be a non-negative integer, got {version!r}")
    return version


def torch_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"float32"`` / ``"bfloat16"`` / ``"float16"`` (or a dtype) as a `torch.dtype`."""
    if isinstance(name, torch.dtype):
        return name
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ConfigError(f"unknown dtype {name!r}; use one of {sorted(table)}")
    return table[name]
