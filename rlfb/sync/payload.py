"""Weights as NumPy byte arrays: the unit that crosses a process boundary in a weight sync.

`pack` turns ``(name, tensor)`` pairs into a `WeightPayload`: a small index (name, dtype, shape)
and one flat ``uint8`` NumPy array per tensor. For contiguous CPU tensors the arrays are *views*
of the tensors (no copy). Ray stores NumPy arrays in its shared-memory object store without
pickling their bytes (one copy, made by ``ray.put``), and a reader on the same node maps them
without a copy, so a sync through the object store costs one copy into the store and one copy into
the engine's parameters. `unpack` gives back ``(name, tensor)`` views in packing order: exactly
what `RolloutEngine.update_weights` takes.

Bytes are dtype-agnostic, so dtypes NumPy lacks (bfloat16) round-trip bit for bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from rlfb.errors import RlfbError


@dataclass(frozen=True)
class TensorEntry:
    """Name, dtype (torch name, e.g. ``"bfloat16"``) and shape of one packed tensor."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass
class WeightPayload:
    """A policy's weights packed for transport.

    Attributes:
        version: the learner's weight version these weights are.
        entries: one `TensorEntry` per tensor, in packing order.
        arrays: one flat ``uint8`` array ``[numel * element_size]`` per entry.
    """

    version: int
    entries: tuple[TensorEntry, ...]
    arrays: tuple[np.ndarray, ...]

    @property
    def nbytes(self) -> int:
        """Bytes of tensor data."""
        return sum(a.nbytes for a in self.arrays)


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise RlfbError(f"weight payload names an unknown torch dtype {name!r}")
    return dtype


def pack(named_tensors: Iterable[tuple[str, torch.Tensor]], version: int) -> WeightPayload:
    """Index and byte views of tensors (GPU or non-contiguous tensors are copied to the CPU).

    >>> w = torch.ones(2, 3)
    >>> p = pack([("w", w), ("b", torch.zeros(3, dtype=torch.bfloat16))], 7)
    >>> [(e.name, e.dtype, e.shape) for e in p.entries], p.nbytes
    ([('w', 'float32', (2, 3)), ('b', 'bfloat16', (3,))], 30)
    >>> p.arrays[0].ctypes.data == w.data_ptr()  # a view, not a copy
    True
    """
    entries: list[TensorEntry] = []
    arrays: list[np.ndarray] = []
    seen: set[str] = set()
    for name, tensor in named_tensors:
        if name in seen:
            raise RlfbError(f"weight payload got tensor {name!r} twice; names must be unique")
        seen.add(name)
        t = tensor.detach()
        entries.append(TensorEntry(name, str(t.dtype).removeprefix("torch."), tuple(t.shape)))
        flat = t.to("cpu").contiguous().reshape(-1)
        arrays.append(flat.view(torch.uint8).numpy())
    return WeightPayload(version=version, entries=tuple(entries), arrays=tuple(arrays))


def skip_aliases(named_tensors: Iterable[tuple[str, torch.Tensor]]
                 ) -> Iterator[tuple[str, torch.Tensor]]:
    """The tensors without those that alias one already given (same storage, offset, shape
    and dtype), e.g. an ``lm_head.weight`` tied to ``embed_tokens.weight``: a receiver whose
    model ties them (the same architecture) updates both through the first name.

    >>> w = torch.ones(2, 2)
    >>> [n for n, _ in skip_aliases([("embed", w), ("head", w), ("other", w.clone())])]
    ['embed', 'other']
    """
    seen: set[tuple[int, int, tuple[int, ...], torch.dtype]] = set()
    for name, t in named_tensors:
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
        if key in seen:
            continue
        seen.add(key)
        yield name, t


def unpack(payload: WeightPayload) -> list[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` views of the payload's arrays, in packing order (no copy)."""
    if len(payload.entries) != len(payload.arrays):
        raise RlfbError(f"weight payload has {len(payload.entries)} entries but "
                        f"{len(payload.arrays)} arrays")
    out = []
    with warnings.catch_warnings():
        # Ray hands out object-store arrays read-only; the views are only ever read.
        warnings.filterwarnings("ignore", message=".*not writable.*")
        for e, arr in zip(payload.entries, payload.arrays):
            dtype = _dtype(e.dtype)
            expected = int(np.prod(e.shape, dtype=np.int64)) * dtype.itemsize
            if arr.dtype != np.uint8 or arr.ndim != 1 or arr.nbytes != expected:
                raise RlfbError(f"weight payload tensor {e.name!r}: expected {expected} bytes of "
                                f"uint8, got {arr.nbytes} bytes of {arr.dtype}")
            if expected == 0:  # NumPy gives empty arrays stride 0, which torch cannot view
                out.append((e.name, torch.empty(e.shape, dtype=dtype)))
                continue
            out.append((e.name, torch.from_numpy(arr).view(dtype).reshape(e.shape)))
    return out
