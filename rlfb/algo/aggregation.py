"""Masked statistics, whitening, and the ways a per-token loss ``[B, T]`` becomes a scalar.

Aggregation modes (``mode=`` of `aggregate`; ``mask`` is the loss mask ``[B, T]``, a "valid
sequence" is a row with at least one valid token):

- ``"token-mean"``: sum over all valid tokens / number of valid tokens. Every token weighs the
  same, so long answers weigh more (DAPO's token-level loss; TRL ``loss_type="dapo"``/"bnpo").
- ``"seq-mean-token-mean"``: mean over each sequence's valid tokens, then mean over valid
  sequences. Every sequence weighs the same (the original GRPO objective; TRL ``"grpo"``).
- ``"seq-mean-token-sum"``: sum over each sequence's valid tokens, then mean over valid
  sequences.
- ``"seq-mean-token-sum-norm"``: sum over each sequence's valid tokens divided by a constant
  ``norm_length`` (default T, the padded length; pass the generation's max_new_tokens), then
  mean over valid sequences: Dr.GRPO's unbiased form (TRL ``"dr_grpo"``). verl's mode of the
  same name sums, rather than averages, over sequences; ours is B times smaller, like TRL's.

Sequences with no valid token (masked samples) are left out of every sequence mean rather than
counted as zeros. With ``denominator`` the count is given instead of taken from this batch: pass
the global token (or sequence) count when a batch is split into micro-batches, and the sum of the
micro-batch losses equals the full-batch loss. A batch with nothing valid aggregates to 0 (still
attached to the graph), never NaN.
"""

from __future__ import annotations

import torch

from rlfb.algo._validate import one_of, positive, same_shape

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def _weights(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    same_shape(values=x, mask=mask)
    return mask.to(torch.float64 if x.dtype == torch.float64 else torch.float32)


def _where_valid(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x * w`` with masked entries exactly 0 even where ``x`` is NaN or inf."""
    return torch.where(w != 0, x * w, torch.zeros((), dtype=x.dtype))


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``sum(x * w) / sum(w)`` over all entries (``dim=None``) or along ``dim``.

    ``mask`` is bool, 0/1, or non-negative float weights of the shape of ``x``. Where the weights
    sum to 0 the result is 0, not NaN. Entries of ``x`` off the mask may be NaN.
    """
    w = _weights(x, mask)
    total = _where_valid(x, w).sum() if dim is None else _where_valid(x, w).sum(dim)
    count = w.sum() if dim is None else w.sum(dim)
    return torch.where(count > 0, total / count.clamp_min(1e-30), torch.zeros_like(total))


def masked_var(x: torch.Tensor, mask: torch.Tensor, *, unbiased: bool = True) -> torch.Tensor:
    """Variance of the valid entries of ``x`` (scalar), weights as in `masked_mean`.

    ``unbiased`` applies Bessel's correction ``n / (n - 1)`` with n the sum of the weights (with
    token counts as weights this equals the variance over the expanded tokens, as in verl and
    TRL). With n <= 1 the variance is 0 (one sample carries no spread).
    """
    w = _weights(x, mask)
    mean = masked_mean(x, w)
    var = masked_mean((x - mean) ** 2, w)
    if not unbiased:
        return var
    n = w.sum()
    return torch.where(n > 1, var * n / (n - 1).clamp_min(1e-30), torch.zeros_like(var))


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True,
                  unbiased: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the valid entries; 0 off the mask.

    Args:
        x: any shape, e.g. advantages ``[B, T]``.
        mask: bool/0-1 mask or float weights, the shape of ``x``.
        shift_mean: False adds the mean back after scaling (only the scale is normalised), as
            TRL's ``whiten(shift_mean=False)`` does for PPO rewards.
        unbiased: Bessel-corrected variance (verl and TRL do this).
        eps: added to the variance (not the std) before the square root.
    """
    positive("eps", eps, allow_zero=True)
    w = _weights(x, mask)
    mean = masked_mean(x, w)
    var = masked_var(x, w, unbiased=unbiased)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return _where_valid(out, (w != 0).to(w.dtype))


def aggregate(loss: torch.Tensor, mask: torch.Tensor, *, mode: str = "token-mean",
              norm_length: float | None = None, denominator: float | None = None) -> torch.Tensor:
    """Reduce a per-token loss to a scalar (see the module docstring for the modes).

    Args:
        loss: ``[B, T]`` per-token loss (entries off the mask are ignored, even NaN).
        mask: ``[B, T]`` loss mask, bool or 0/1.
        mode: one of `AGG_MODES`.
        norm_length: the constant divisor of ``"seq-mean-token-sum-norm"`` (default T).
        denominator: the count to divide by instead of this batch's own: valid tokens for
            ``"token-mean"``, valid sequences for the ``seq-mean-*`` modes.

    Returns:
        A scalar tensor.
    """
    one_of("loss aggregation mode", mode, AGG_MODES)
    if denominator is not None:
        positive("denominator", denominator)
    valid = mask.bool()
    w = _weights(loss, valid)
    token_loss = _where_valid(loss, w)
    if mode == "token-mean":
        count = w.sum() if denominator is None else torch.tensor(float(denominator))
        return _safe_div(token_loss.sum(), count)
    seq_tokens = w.sum(-1)
    seq_sum = token_loss.sum(-1)
    if mode == "seq-mean-token-mean":
        per_seq = torch.where(seq_tokens > 0, seq_sum / seq_tokens.clamp_min(1), seq_sum * 0)
    elif mode == "seq-mean-token-sum":
        per_seq = seq_sum
    else:
        length = float(loss.shape[-1]) if norm_length is None else float(norm_length)
        positive("norm_length", length)
        per_seq = seq_sum / length
    n_seq = (seq_tokens > 0).sum() if denominator is None else torch.tensor(float(denominator))
    return _safe_div(per_seq.sum(), n_seq)


def _safe_div(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    count = count.to(total.dtype)
    return torch.where(count > 0, total / count.clamp_min(1e-30), total * 0)
