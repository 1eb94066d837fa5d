"""Per-token logprobs (and entropies) of given sequences under a causal LM, without padding waste.

Alignment (every function here): for ``input_ids`` ``[B, T]``, the result ``out[b, t]`` is

    log softmax(z[b, t-1] / temperature)[input_ids[b, t]]

the logprob of token t given the tokens before it in its own row, where ``z[b, t-1]`` are the
logits at the previous real position. Entropies are those of the same distributions. Positions
that predict nothing are 0: padding, the first real token of each row and, when
``completion_mask`` is given, every position where it is 0 (the prompt). This is the layout of
`rlfb.types.ExperienceBatch` (``old_logprobs`` aligned with ``input_ids``) and of the engines'
behaviour logprobs (`rlfb.rollout.base`) placed at the completion positions.

Rows may be right- or left-padded (each row's real tokens must be contiguous).

Methods:

- ``"packed"`` (default): the real tokens of several rows are concatenated into one row of at
  most ``max_tokens`` tokens, with ``position_ids`` restarting at 0 for each sequence and no
  attention mask. `transformers` (checked on 5.19, sdpa and eager attention, CPU) then builds
  a block-diagonal causal mask from the position ids, so no sequence sees another (tested). No padding is computed, and the vocabulary projection runs only at the positions
  that are needed (``logits_to_keep``).
- ``"bucketed"``: rows sorted by length and run in micro-batches of similar length, each padded
  to its own longest row (for models whose attention ignores packed position ids).
- ``"padded"``: one forward over the batch as given; the reference the others are tested
  against.

Vocabulary projection in chunks (``logits_chunk``, default `DEFAULT_LOGITS_CHUNK` positions):
the model's body gives the final hidden states, and the output layer, the float32 log-softmax,
the picked logprob and the entropy run over ``logits_chunk`` positions at a time, each chunk
under activation checkpointing. Only the ``[N, H]`` hidden states are kept for the backward
pass, which recomputes one chunk's ``[chunk, V]`` logits at a time, so the ``[N, V]`` logits
and their float32 log-softmax and softmax copies (three tensors of 4·N·V bytes kept for the
backward pass in the direct computation) never exist whole. The values and gradients are
those of the direct computation (``logits_chunk=0``) to float rounding (tested); the price is
one extra output-layer matmul per chunk in the backward pass. Models whose forward changes the
logits after the output layer (soft-capping, logit scaling: `_LOGIT_TRANSFORMS`) use the direct
computation.

Entropies without a gradient (``entropy_grad=False``, when the loss has no entropy term): the
same values, computed from the detached log-softmax. With a graph, the entropy's exp(logp) and
logp stay saved for as long as the entropy tensor lives although no gradient reaches them: in
the direct computation two more ``[N, V]`` tensors, and in chunks one recomputed pair per chunk
from its backward pass on (the learner holds a micro-batch's entropies until its next forward
pass is over).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from rlfb.errors import ConfigError

METHODS = ("packed", "bucketed", "padded")
#: Default tokens per forward pass. Packs stay small because on CPU (sdpa or eager) the packed
#: mask is dense: attention costs pack_len^2 although only the diagonal blocks count, so packs
#: of 512 tokens beat both padding and larger packs (docs/performance.md). With
#: flash-attention's varlen kernel on a GPU, larger packs cost nothing extra.
DEFAULT_MAX_TOKENS = {"packed": 512, "bucketed": 4096, "padded": 0}
#: Default positions per chunk of the vocabulary projection (module docstring); 0 = all at once.
DEFAULT_LOGITS_CHUNK = 256
#: Config attributes of models whose logits are not just ``output_layer(hidden)``.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def sequence_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      completion_mask: torch.Tensor | None = None, temperature: float = 1.0,
                      *, method: str = "packed", max_tokens: int | None = None,
                      logits_chunk: int | None = None) -> torch.Tensor:
    """Logprob of each token given the previous ones, ``[B, T]`` float32 (see module docstring).

    Differentiable; wrap in ``torch.no_grad()`` when no gradient is needed. Arguments as
    `logprobs_and_entropy`.
    """
    return _compute(model, input_ids, attention_mask, completion_mask, temperature, method,
                    max_tokens, logits_chunk, with_entropy=False, entropy_grad=False)[0]


def rollout_logprobs(model: Any, rollouts: Sequence[Any], temperature: float = 1.0
                     ) -> list[torch.Tensor]:
    """The model's logprob of each completion token of each `rlfb.types.Rollout` (float32, on
    the CPU, no gradient): what the engine's behaviour logprobs are checked against after a
    weight sync (engine tests, `experiments/bench/gpu_check.py`, `lora_sync.py`)."""
    seqs = [list(r.prompt_token_ids) + list(r.completion_token_ids) for r in rollouts]
    ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    attn, comp = torch.zeros_like(ids), torch.zeros_like(ids)
    for b, (s, r) in enumerate(zip(seqs, rollouts)):
        ids[b, : len(s)], attn[b, : len(s)] = torch.tensor(s), 1
        comp[b, len(r.prompt_token_ids) : len(s)] = 1
    device = next(model.parameters()).device
    with torch.no_grad():
        out = sequence_logprobs(model, ids.to(device), attn.to(device), comp.to(device),
                                temperature=temperature).float().cpu()
    return [out[b, len(r.prompt_token_ids) : len(s)] for b, (s, r) in enumerate(zip(seqs, rollouts))]


def logprobs_and_entropy(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                         completion_mask: torch.Tensor | None = None, temperature: float = 1.0,
                         *, method: str = "packed", max_tokens: int | None = None,
                         logits_chunk: int | None = None, entropy_grad: bool = True
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logprobs, entropy)``, both ``[B, T]`` float32 and aligned as in the module docstring.

    Args:
        model: a causal LM (``transformers`` or peft-wrapped) returning ``.logits``.
        input_ids: ``[B, T]`` token ids.
        attention_mask: ``[B, T]`` 1 for real tokens (contiguous per row).
        completion_mask: ``[B, T]`` optional; positions where it is 0 are left at 0 and, with
            ``"packed"``, their logits are not computed at all.
        temperature: logits are divided by it (> 0), matching the sampling distribution.
        method: ``"packed"``, ``"bucketed"`` or ``"padded"``.
        max_tokens: token budget per forward pass (``"packed"``, ``"bucketed"``); a longer
            sequence runs alone. None: `DEFAULT_MAX_TOKENS` for the method.
        logits_chunk: positions whose vocabulary logits exist at once (module docstring);
            0 = the direct computation over all positions; None: `DEFAULT_LOGITS_CHUNK`.
        entropy_grad: False when no loss differentiates the entropy (``entropy_coef`` 0): the
            entropies are then the same values without a graph, so the backward pass keeps no
            ``[positions, V]`` tensors for them.
    """
    return _compute(model, input_ids, attention_mask, completion_mask, temperature, method,
                    max_tokens, logits_chunk, with_entropy=True, entropy_grad=entropy_grad)


def _compute(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             completion_mask: torch.Tensor | None, temperature: float, method: str,
             max_tokens: int | None, logits_chunk: int | None, with_entropy: bool,
             entropy_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if method not in METHODS:
        raise ConfigError(f"unknown logprob method {method!r}; use one of {METHODS}")
    max_tokens = DEFAULT_MAX_TOKENS[method] if max_tokens is None else max_tokens
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0 for logprobs, got {temperature}")
    if input_ids.shape != attention_mask.shape or input_ids.dim() != 2:
        raise ConfigError(f"input_ids {tuple(input_ids.shape)} and attention_mask "
                          f"{tuple(attention_mask.shape)} must both be [B, T]")
    logits_chunk = DEFAULT_LOGITS_CHUNK if logits_chunk is None else logits_chunk
    if logits_chunk < 0:
        raise ConfigError(f"logits_chunk must be >= 0 (0 = all positions at once), "
                          f"got {logits_chunk}")
    targets = _targets(attention_mask, completion_mask)
    stats = _TokenStats(temperature, with_entropy, logits_chunk, entropy_grad)
    if method == "padded":
        return _padded(model, input_ids, attention_mask, targets, stats)
    spans = _spans(attention_mask)
    if method == "bucketed":
        return _bucketed(model, input_ids, attention_mask, targets, spans, stats, max_tokens)
    return _packed(model, input_ids, targets, spans, stats, max_tokens)


def _targets(attention_mask: torch.Tensor, completion_mask: torch.Tensor | None) -> torch.Tensor:
    """``[B, T]`` bool: positions that get a logprob (real, not a row's first, in completion)."""
    real = attention_mask.bool()
    first = real & ~torch.nn.functional.pad(real[:, :-1], (1, 0), value=False)
    targets = real & ~first
    if completion_mask is not None:
        if completion_mask.shape != attention_mask.shape:
            raise ConfigError(f"completion_mask {tuple(completion_mask.shape)} must match "
                              f"attention_mask {tuple(attention_mask.shape)}")
        targets &= completion_mask.bool()
    return targets


def _spans(attention_mask: torch.Tensor) -> list[tuple[int, int]]:
    """``(start, length)`` of each row's real tokens; raises if a row has holes."""
    lengths = attention_mask.sum(-1).tolist()
    starts = attention_mask.int().argmax(-1).tolist()
    spans = []
    for b, (start, length) in enumerate(zip(starts, lengths)):
        if not bool(attention_mask[b, start : start + length].all()):
            raise ConfigError(f"row {b} of attention_mask is not one contiguous run of 1s; "
                              "pad only on the left or the right")
        spans.append((int(start), int(length)))
    return spans


@dataclass(frozen=True)
class _TokenStats:
    """Logprob of the labels and (optionally; else 0) entropy under softmax(logits / T), from
    logits, or from final hidden states through the output layer in chunks (`run`)."""

    temperature: float
    with_entropy: bool
    logits_chunk: int = 0
    entropy_grad: bool = True

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        logp = (logits.float() / self.temperature).log_softmax(-1)
        picked = logp.gather(-1, labels[..., None])[..., 0]
        if not self.with_entropy:
            return picked, torch.zeros_like(picked)
        # Without entropy_grad, nothing of the entropy is recorded for the backward pass: its
        # exp(logp) and logp would otherwise stay saved (a [positions, V] pair, recomputed per
        # chunk) until the entropy tensor is dropped, although no gradient ever flows there.
        source = logp if self.entropy_grad else logp.detach()
        return picked, -(source.exp() * source).sum(-1)

    def run(self, model: Any, positions: torch.Tensor, labels: torch.Tensor,
            **model_inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logprobs, entropies)`` ``[N]`` at the flat ``positions`` (indices into the
        flattened ``[B*T]`` positions of ``model_inputs``), predicting ``labels`` ``[N]``."""
        split = _body_and_head(model) if self.logits_chunk else None
        if split is None:
            out = model(**model_inputs, use_cache=False).logits
            return self(out.reshape(-1, out.shape[-1])[positions], labels)
        body, head = split
        hidden = body(**model_inputs, use_cache=False).last_hidden_state
        hidden = hidden.reshape(-1, hidden.shape[-1])[positions]
        parts = []
        for i in range(0, len(positions), self.logits_chunk):
            args = (head, hidden[i:i + self.logits_chunk], labels[i:i + self.logits_chunk])
            if torch.is_grad_enabled():
                parts.append(checkpoint(self._from_hidden, *args, use_reentrant=False))
            else:
                parts.append(self._from_hidden(*args))
        if not parts:
            empty = hidden.new_zeros(0, dtype=torch.float32)
            return empty, empty
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _from_hidden(self, head: Any, hidden: torch.Tensor, labels: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        return self(head(hidden), labels)


def _body_and_head(model: Any) -> tuple[Any, Any] | None:
    """The model's body (returning ``last_hidden_state``) and output layer, when its logits are
    exactly ``head(hidden)``; None for models that transform them further (`_LOGIT_TRANSFORMS`)
    or do not expose both parts."""
    config = getattr(model, "config", None)
    if any(getattr(config, name, None) is not None for name in _LOGIT_TRANSFORMS):
        return None
    get_body = getattr(model, "get_decoder", None)
    get_head = getattr(model, "get_output_embeddings", None)
    if get_body is None or get_head is None:
        return None
    body, head = get_body(), get_head()
    if body is None or head is None or body is model:
        return None
    return body, head


def _padded(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
            targets: torch.Tensor, stats: _TokenStats) -> tuple[torch.Tensor, torch.Tensor]:
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    width = input_ids.shape[1]
    flat_targets = targets.reshape(-1).nonzero()[:, 0]  # flat index of each target token
    lp, ent = stats.run(model, flat_targets - 1, input_ids.reshape(-1)[flat_targets],
                        input_ids=input_ids, attention_mask=attention_mask,
                        position_ids=positions)
    rows, cols = flat_targets // width, flat_targets % width
    out_lp = torch.zeros(input_ids.shape, dtype=torch.float32, device=lp.device)
    out_ent = torch.zeros_like(out_lp)
    return out_lp.index_put((rows, cols), lp), out_ent.index_put((rows, cols), ent)


def _bucketed(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              targets: torch.Tensor, spans: list[tuple[int, int]], stats: _TokenStats,
              max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    out_lp = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    out_ent = torch.zeros_like(out_lp)
    order = sorted(range(len(spans)), key=lambda b: spans[b][1])
    for rows in _length_buckets(order, spans, max_tokens):
        width = max(spans[b][1] for b in rows)
        ids = input_ids.new_full((len(rows), width), 0)
        mask = torch.zeros_like(ids)
        tgt = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
        for i, b in enumerate(rows):
            start, length = spans[b]
            ids[i, :length] = input_ids[b, start : start + length]
            mask[i, :length] = 1
            tgt[i, :length] = targets[b, start : start + length]
        lp, ent = _padded(model, ids, mask, tgt, stats)
        for i, b in enumerate(rows):
            start, length = spans[b]
            out_lp[b, start : start + length] = lp[i, :length]
            out_ent[b, start : start + length] = ent[i, :length]
    return out_lp, out_ent


def _length_buckets(order: list[int], spans: list[tuple[int, int]], max_tokens: int
                    ) -> list[list[int]]:
    """Consecutive rows (sorted by length) grouped while rows x longest <= max_tokens."""
    buckets: list[list[int]] = []
    for b in order:
        if buckets and (len(buckets[-1]) + 1) * spans[b][1] <= max_tokens:
            buckets[-1].append(b)
        else:
            buckets.append([b])
    return buckets


@dataclass
class _Pack:
    rows: list[int]
    tokens: int


def _make_packs(spans: list[tuple[int, int]], max_tokens: int) -> list[_Pack]:
    """First-fit decreasing: each pack holds whole sequences, at most ``max_tokens`` in all."""
    packs: list[_Pack] = []
    for b in sorted(range(len(spans)), key=lambda b: -spans[b][1]):
        length = spans[b][1]
        if length == 0:
            continue
        for pack in packs:
            if pack.tokens + length <= max_tokens:
                pack.rows.append(b)
                pack.tokens += length
                break
        else:
            packs.append(_Pack([b], length))
    return packs


def _packed(model: Any, input_ids: torch.Tensor, targets: torch.Tensor,
            spans: list[tuple[int, int]], stats: _TokenStats, max_tokens: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    out_lp = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    out_ent = torch.zeros_like(out_lp)
    for pack in _make_packs(spans, max_tokens):
        ids, pos, keep, dest_rows, dest_cols = [], [], [], [], []
        offset = 0
        for b in pack.rows:
            start, length = spans[b]
            ids.append(input_ids[b, start : start + length])
            pos.append(torch.arange(length, device=input_ids.device))
            cols = targets[b, start : start + length].nonzero()[:, 0]
            keep.append(offset + cols - 1)  # the position whose logits predict the target
            dest_rows.append(torch.full_like(cols, b))
            dest_cols.append(start + cols)
            offset += length
        keep_idx = torch.cat(keep)
        if keep_idx.numel() == 0:
            continue
        flat = torch.cat(ids)[None]
        inputs = dict(input_ids=flat, position_ids=torch.cat(pos)[None], attention_mask=None)
        if stats.logits_chunk:
            lp, ent = stats.run(model, keep_idx, flat[0, keep_idx + 1], **inputs)
        else:  # the direct computation: the output layer only at the kept positions
            logits = model(**inputs, use_cache=False, logits_to_keep=keep_idx).logits[0]
            lp, ent = stats(logits, flat[0, keep_idx + 1])
        rows_i, cols_i = torch.cat(dest_rows), torch.cat(dest_cols)
        out_lp = out_lp.index_put((rows_i, cols_i), lp)
        out_ent = out_ent.index_put((rows_i, cols_i), ent)
    return out_lp, out_ent
