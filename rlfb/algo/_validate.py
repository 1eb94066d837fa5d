"""Input checks shared by the `rlfb.algo` functions: one-line errors that say how to fix."""

from __future__ import annotations

import torch

from rlfb.errors import ConfigError, RlfbError


def same_shape(**tensors: torch.Tensor | None) -> None:
    """Raise `RlfbError` unless every non-None tensor has the same shape."""
    given = {k: v for k, v in tensors.items() if v is not None}
    shapes = {k: tuple(v.shape) for k, v in given.items()}
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise RlfbError(f"shape mismatch: {listing}; these tensors must have the same shape")


def ndim(name: str, tensor: torch.Tensor, dims: int, layout: str) -> None:
    """Raise `RlfbError` unless ``tensor`` has ``dims`` dimensions (``layout`` e.g. "[B, T]")."""
    if tensor.dim() != dims:
        raise RlfbError(f"{name} must be {layout}, got shape {tuple(tensor.shape)}")


def positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise `ConfigError` unless ``value`` > 0 (or >= 0 with ``allow_zero``)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value}")


def one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise `ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; use one of: {', '.join(choices)}")


def valid_mask(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Bool mask of usable entries: ``mask`` (if given) and not NaN in ``values``."""
    if mask is None:
        valid = torch.ones_like(values, dtype=torch.bool)
    else:
        same_shape(values=values, mask=mask)
        valid = mask.bool()
    return valid & ~torch.isnan(values)
