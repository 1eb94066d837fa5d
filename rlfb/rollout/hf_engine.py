"""Rollout engine on Hugging Face `transformers` ``generate`` (CPU or one GPU).

Sampling is done by this engine, not by ``generate``: a logits processor draws each row's token
from its own `torch.Generator` (seeded per request, see `rlfb.rollout.base`), records the
behaviour logprob ``log_softmax(raw_logits / T)[token]`` of the unmodified policy, and hands
``generate`` a one-hot score so its greedy step picks that token. This gives per-request
reproducibility independent of batch composition, and the logprobs never see top-p/top-k.

Rows (prompt × sample) are sorted by prompt length and run in batches of ``batch_size`` with left
padding; generation stops per row at an eos token (``generation_config.eos_token_id`` and the
tokenizer's eos).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence

import torch

from rlfb.errors import RlfbError
from rlfb.models.load import load_policy, render_prompt
from rlfb.rollout.base import (
    check_lengths,
    check_version,
    cut_at_stop,
    request_seeds,
    torch_dtype,
    validate_sampling,
)
from rlfb.types import Prompt, Rollout, SamplingParams


def _truncate(logp: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``logp`` [B, V] with tokens outside the top-k / top-p set at -inf."""
    if top_k > 0 and top_k < logp.shape[-1]:
        kth = torch.topk(logp, top_k, dim=-1).values[:, -1:]
        logp = logp.masked_fill(logp < kth, float("-inf"))
    if top_p < 1.0:
        sorted_lp, order = torch.sort(logp, dim=-1, descending=True)
        mass_before = torch.cumsum(sorted_lp.softmax(-1), dim=-1) - sorted_lp.softmax(-1)
        drop_sorted = mass_before >= top_p  # keep the smallest prefix whose mass reaches top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logp = logp.masked_fill(drop, float("-inf"))
    return logp


class _RowSampler:
    """A ``generate`` logits processor that samples each row with its own generator."""

    def __init__(self, sampling: SamplingParams, generators: list[torch.Generator]) -> None:
        self.sampling = sampling
        self.generators = generators
        self.tokens: list[torch.Tensor] = []
        self.logprobs: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        s = self.sampling
        raw = scores.float()
        if s.temperature == 0:
            logp = raw.log_softmax(-1)
            chosen = logp.argmax(-1)
        else:
            logp = (raw / s.temperature).log_softmax(-1)
            probs = _truncate(logp, s.top_k, s.top_p).softmax(-1)
            chosen = torch.cat([
                torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)
            ])
        self.tokens.append(chosen)
        self.logprobs.append(logp.gather(-1, chosen[:, None])[:, 0])
        onehot = torch.full_like(scores, float("-inf"))
        return onehot.scatter(-1, chosen[:, None], 0.0)


class HFEngine:
    """`RolloutEngine` on ``transformers`` ``generate``.

    Args:
        model_path: a Hugging Face causal-LM folder with a chat template.
        dtype: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"``.
        device: torch device, ``"cpu"`` (default) or e.g. ``"cuda"``.
        batch_size: rows (prompt × sample) per ``generate`` call.
    """

    def __init__(self, model_path: str, *, dtype: str = "float32", device: str = "cpu",
                 batch_size: int = 32) -> None:
        if batch_size < 1:
            raise RlfbError(f"hf engine: batch_size must be >= 1, got {batch_size}")
        self.model_path = str(model_path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        model, self.tokenizer = load_policy(model_path, dtype=torch_dtype(dtype))
        self.model = model.to(self.device)
        self.tokenizer.padding_side = "left"
        self.stop_ids = _stop_ids(self.model, self.tokenizer)
        self._version = 0

    @property
    def weight_version(self) -> int:
        """The policy version stamped on new rollouts."""
        return self._version

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """``sampling.n`` rollouts per prompt, prompt-major; see `rlfb.rollout.base`."""
        model = self._live_model()
        validate_sampling(sampling)
        prompt_ids = [render_prompt(self.tokenizer, p) for p in prompts]
        limit = model.config.max_position_embeddings
        check_lengths(prompt_ids, sampling.max_new_tokens, limit, prompts, "hf")
        seeds = request_seeds(prompts, sampling.seed)
        rows = [(p, j) for p in range(len(prompts)) for j in range(sampling.n)]
        rows.sort(key=lambda r: len(prompt_ids[r[0]]))
        done: dict[tuple[int, int], Rollout] = {}
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            gens = [_generator(seeds[p], j, self.device) for p, j in chunk]
            outs = self._generate_batch([prompt_ids[p] for p, _ in chunk], gens, sampling)
            for (p, j), (tokens, logprobs, reason) in zip(chunk, outs):
                done[(p, j)] = Rollout(
                    prompt_id=prompts[p].prompt_id, sample_index=j,
                    prompt_token_ids=list(prompt_ids[p]), completion_token_ids=tokens,
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    logprobs=logprobs, finish_reason=reason, weight_version=self._version,
                )
        return [done[r] for r in sorted(done)]

    def generate_tokens(self, prefixes: Sequence[Sequence[int]], sampling: SamplingParams,
                        seeds: Sequence[int | None]) -> list[tuple[list[int], list[float], str]]:
        """One sample per token prefix: ``(tokens, logprobs, finish_reason)`` per row, in order.

        The token-level call of multi-turn episodes (`rlfb.environments.episodes`): a prefix
        is a whole conversation so far, already tokenised, and is never re-rendered. Row ``i``
        draws from ``seeds[i]`` (None: unseeded), so ``generate_tokens([ids], s, [seed + j])``
        gives sample ``j`` of `generate` for a prompt rendering to ``ids`` with request seed
        ``seed``; ``sampling.n`` is ignored. Logprobs follow `rlfb.rollout.base`.
        """
        model = self._live_model()
        validate_sampling(sampling)
        if len(seeds) != len(prefixes):
            raise RlfbError(f"hf engine: {len(prefixes)} prefixes but {len(seeds)} seeds")
        limit = model.config.max_position_embeddings
        for i, ids in enumerate(prefixes):
            if len(ids) + sampling.max_new_tokens > limit:
                raise RlfbError(f"hf engine: prefix {i} has {len(ids)} tokens and max_new_tokens "
                                f"is {sampling.max_new_tokens}, over the {limit}-token limit")
        order = sorted(range(len(prefixes)), key=lambda i: len(prefixes[i]))
        out: list[tuple[list[int], list[float], str] | None] = [None] * len(prefixes)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            gens = [_generator(seeds[i], 0, self.device) for i in chunk]
            results = self._generate_batch([list(prefixes[i]) for i in chunk], gens, sampling)
            for i, result in zip(chunk, results):
                out[i] = result
        return [r for r in out if r is not None]

    @torch.no_grad()
    def _generate_batch(self, batch: list[list[int]], gens: list[torch.Generator],
                        sampling: SamplingParams) -> list[tuple[list[int], list[float], str]]:
        from transformers import GenerationConfig, LogitsProcessorList

        enc = self.tokenizer.pad({"input_ids": batch}, padding=True, return_tensors="pt")
        sampler = _RowSampler(sampling, gens)
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens, do_sample=False,
            eos_token_id=sorted(self.stop_ids), pad_token_id=self.tokenizer.pad_token_id,
        )
        out = self.model.generate(
            input_ids=enc["input_ids"].to(self.device),
            attention_mask=enc["attention_mask"].to(self.device),
            generation_config=config, logits_processor=LogitsProcessorList([sampler]),
        )
        new = out[:, enc["input_ids"].shape[1]:].cpu()
        picked = torch.stack(sampler.tokens, 1).cpu()
        logprobs = torch.stack(sampler.logprobs, 1).cpu()
        results = []
        for i in range(len(batch)):
            tokens, lps, reason = cut_at_stop(new[i].tolist(), logprobs[i].tolist(),
                                              self.stop_ids, sampling.max_new_tokens)
            if tokens != picked[i, : len(tokens)].tolist():
                raise RuntimeError("hf engine: generate did not follow the sampled tokens")
            results.append((tokens, lps, reason))
        return results

    def update_weights(
        self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int
    ) -> None:
        """Copy tensors into the parameters of the same Hugging Face names, in place.

        Any subset of the model's parameters and buffers may be given; an unknown name or a
        shape mismatch raises `RlfbError` (tensors copied before it stay copied).
        """
        version = check_version(version)
        targets = self._live_model().state_dict(keep_vars=True)
        with torch.no_grad():
            for name, tensor in named_tensors:
                target = targets.get(name)
                if target is None:
                    raise RlfbError(f"hf engine: the model has no weight named {name!r}")
                if tuple(target.shape) != tuple(tensor.shape):
                    raise RlfbError(f"hf engine: weight {name!r} has shape {tuple(tensor.shape)}, "
                                    f"the model expects {tuple(target.shape)}")
                target.copy_(tensor.detach())
        self._version = version

    def close(self) -> None:
        """Drop the model; later calls raise `RlfbError`."""
        self.model = None
        gc.collect()

    def _live_model(self):
        if self.model is None:
            raise RlfbError("hf engine is closed; create a new engine")
        return self.model


def _generator(seed: int | None, sample_index: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed + sample_index)
    return gen


def _stop_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise RlfbError("hf engine: the model has no eos token; set eos_token_id in its config")
    return ids
