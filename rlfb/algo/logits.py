"""Logprobs of labels and entropies from logits, optionally in row chunks to bound memory.

Both work on logits of any leading shape (``[B, T, V]`` typically) and compute in float32 (or
float64 when given float64), whatever the input dtype: bf16 log-softmax loses too much
precision for importance ratios.

``logprob = logits[label] - logsumexp(logits)`` never forms the full ``[B, T, V]`` log-softmax as
a separate tensor. With ``chunk_size`` the rows (the flattened leading dimensions) are processed
``chunk_size`` at a time, so the float32 copy and the softmax-sized temporaries are
``[chunk_size, V]`` instead of ``[B*T, V]``: for a 150k vocabulary and 8k tokens that is the
difference between ~5 GB and a few MB per temporary. (Under autograd each chunk still keeps
what its backward needs.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rlfb.algo._validate import positive
from rlfb.errors import RlfbError


def _compute_dtype(logits: torch.Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def _shifted(rows: torch.Tensor, dtype: torch.dtype, temperature: float) -> torch.Tensor:
    """``rows / temperature`` minus each row's (detached) max: logprobs and entropy are
    invariant to the shift, and ``picked - logsumexp`` no longer cancels two large numbers."""
    z = rows.to(dtype) / temperature
    return z - z.detach().amax(-1, keepdim=True)


def _by_rows(fn: Callable[..., torch.Tensor], logits: torch.Tensor,
             extra: torch.Tensor | None, chunk_size: int | None) -> torch.Tensor:
    """Apply ``fn(rows [N, V], extra_rows [N] | None) -> [N]`` over row chunks; reshape back."""
    lead = logits.shape[:-1]
    rows = logits.reshape(-1, logits.shape[-1])
    flat_extra = None if extra is None else extra.reshape(-1)
    if chunk_size is None or rows.shape[0] <= chunk_size:
        return fn(rows, flat_extra).reshape(lead)
    positive("chunk_size", chunk_size)
    parts = [
        fn(rows[i : i + chunk_size], None if flat_extra is None else flat_extra[i : i + chunk_size])
        for i in range(0, rows.shape[0], chunk_size)
    ]
    return torch.cat(parts).reshape(lead)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor, *, temperature: float = 1.0,
                         chunk_size: int | None = None) -> torch.Tensor:
    """``log softmax(logits / temperature)[labels]``.

    Args:
        logits: ``[..., V]``, e.g. ``[B, T, V]`` (already shifted so that position t predicts
            ``labels[..., t]``).
        labels: ``[...]`` integer token ids, e.g. ``[B, T]``; each in ``[0, V)``.
        temperature: > 0; the logits are divided by it (match the sampling temperature).
        chunk_size: process this many rows (positions) at a time; None = all at once.

    Returns:
        ``[...]`` float32 logprobs (float64 for float64 logits), differentiable.
    """
    positive("temperature", temperature)
    if logits.shape[:-1] != labels.shape:
        raise RlfbError(f"logits {tuple(logits.shape)} must be labels {tuple(labels.shape)} "
                        "plus a vocabulary dimension")
    if labels.dtype not in (torch.int64, torch.int32):
        raise RlfbError(f"labels must be integer token ids, got {labels.dtype}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[-1]):
        raise RlfbError(f"labels must lie in [0, {logits.shape[-1]}) (the vocabulary); "
                        "replace padding ids such as -100 before calling")
    dtype = _compute_dtype(logits)

    def rows_logprobs(rows: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
        z = _shifted(rows, dtype, temperature)
        picked = z.gather(-1, idx.long().unsqueeze(-1)).squeeze(-1)
        return picked - torch.logsumexp(z, dim=-1)

    return _by_rows(rows_logprobs, logits, labels, chunk_size)


def entropy_from_logits(logits: torch.Tensor, *, temperature: float = 1.0,
                        chunk_size: int | None = None) -> torch.Tensor:
    """Entropy of ``softmax(logits / temperature)`` per position: ``[..., V]`` -> ``[...]``.

    Computed as ``logsumexp(z) - sum(softmax(z) * z)`` (stable for any logit scale: no
    ``log(0)``, no overflow; ``-inf`` logits, e.g. from top-k masking, count as probability 0).
    ``chunk_size`` as in `logprobs_from_logits`.

    Returns:
        ``[...]`` float32 entropies in nats (float64 for float64 logits), differentiable.
    """
    positive("temperature", temperature)
    dtype = _compute_dtype(logits)

    def rows_entropy(rows: torch.Tensor, _: torch.Tensor | None) -> torch.Tensor:
        z = _shifted(rows, dtype, temperature)
        lse = torch.logsumexp(z, dim=-1, keepdim=True)
        p = (z - lse).exp()
        pz = torch.where(p > 0, p * z, torch.zeros((), dtype=dtype))  # -inf logits: 0, not NaN
        return lse.squeeze(-1) - pz.sum(-1)

    return _by_rows(rows_entropy, logits, None, chunk_size)
