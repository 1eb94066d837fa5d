"""Weights as one flat byte buffer: the unit that crosses a process boundary in a weight sync.

`pack` copies ``(name, tensor)`` pairs end to end into one contiguous ``uint8`` NumPy array (each
tensor at a 64-byte-aligned offset) and keeps a small index (name, dtype, shape, offset). One
large array is what Ray's object store moves fastest: ``ray.put`` copies it into shared memory
at about memcpy speed, while the same bytes as a list of hundreds of arrays cost about ten times
more (docs/performance.md), and a reader on the same node maps it without a copy. `unpack` gives
back ``(name, tensor)`` *views* of the buffer in packing order: exactly what
`RolloutEngine.update_weights` takes. A sync therefore costs three copies: into the buffer (which
the learner reuses between syncs, so its pages stay warm), into the store, into the engine.

Bytes are dtype-agnostic, so dtypes NumPy lacks (bfloat16) round-trip bit for bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rlfb.errors import RlfbError

ALIGN = 64  # byte alignment of every tensor in the buffer


@dataclass(frozen=True)
class TensorEntry:
    """Name, dtype (torch name, e.g. ``"bfloat16"``), shape and byte offset of one tensor."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's data."""
        numel = 1
        for d in self.shape:
            numel *= d
        return numel * _dtype(self.dtype).itemsize


@dataclass
class WeightPayload:
    """A policy's weights packed for transport.

    Attributes:
        version: the learner's weight version these weights are.
        entries: one `TensorEntry` per tensor, in packing order.
        buffer: ``uint8`` array ``[size]`` holding every tensor's bytes at its entry's offset.
    """

    version: int
    entries: tuple[TensorEntry, ...]
    buffer: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes of tensor data (alignment padding not counted)."""
        return sum(e.nbytes for e in self.entries)


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise RlfbError(f"weight payload names an unknown torch dtype {name!r}")
    return dtype


def layout(tensors: Iterable[tuple[str, torch.Tensor]]) -> tuple[list[TensorEntry], int]:
    """The entries (with aligned offsets) of ``tensors`` and the buffer size they need.

    >>> entries, size = layout([("a", torch.ones(3, dtype=torch.bfloat16)), ("b", torch.ones(2))])
    >>> [(e.name, e.offset, e.nbytes) for e in entries], size
    ([('a', 0, 6), ('b', 64, 8)], 72)
    """
    entries, size, seen = [], 0, set()
    for name, t in tensors:
        if name in seen:
            raise RlfbError(f"weight payload got tensor {name!r} twice; names must be unique")
        seen.add(name)
        offset = -(-size // ALIGN) * ALIGN
        entry = TensorEntry(name, str(t.dtype).removeprefix("torch."), tuple(t.shape), offset)
        entries.append(entry)
        size = offset + entry.nbytes
    return entries, size


def pack(named_tensors: Iterable[tuple[str, torch.Tensor]], version: int,
         out: np.ndarray | None = None, entries: Sequence[TensorEntry] | None = None
         ) -> WeightPayload:
    """Copy tensors (any device, dtype or layout) into one CPU byte buffer.

    ``out`` is reused when it is a ``uint8`` array of exactly the needed size (pass the last
    payload's buffer to keep its pages warm), else a new one is allocated. With ``entries``
    (their `layout`, known in advance) the tensors are copied as the iterable yields them, so
    a producer that makes each tensor on the fly (a sharded learner gathering one full tensor
    at a time) never holds more than one besides the buffer.

    >>> p = pack([("w", torch.ones(2, 3)), ("b", torch.zeros(3, dtype=torch.bfloat16))], 7)
    >>> [(e.name, e.dtype, e.shape, e.offset) for e in p.entries], p.nbytes
    ([('w', 'float32', (2, 3), 0), ('b', 'bfloat16', (3,), 64)], 30)
    """
    if entries is None:
        named_tensors = [(name, t.detach()) for name, t in named_tensors]
        entries = layout(named_tensors)[0]
    size = max((e.offset + e.nbytes for e in entries), default=0)
    if out is None or out.dtype != np.uint8 or out.shape != (size,):
        out = np.empty(size, dtype=np.uint8)
    flat = torch.from_numpy(out)
    for (name, t), e in zip(named_tensors, entries, strict=True):
        if name != e.name or tuple(t.shape) != e.shape:
            raise RlfbError(f"weight payload expected {e.name!r} {e.shape}, got {name!r} "
                            f"{tuple(t.shape)}")
        if e.nbytes:
            flat[e.offset : e.offset + e.nbytes].copy_(
                t.detach().reshape(-1).contiguous().view(torch.uint8))
    return WeightPayload(version=version, entries=tuple(entries), buffer=out)


def unpack(payload: WeightPayload) -> list[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` views of the payload's buffer, in packing order (no copy)."""
    buffer = payload.buffer
    if buffer.dtype != np.uint8 or buffer.ndim != 1:
        raise RlfbError("weight payload buffer must be a flat uint8 array")
    with warnings.catch_warnings():
        # Ray hands out object-store arrays read-only; the views are only ever read.
        warnings.filterwarnings("ignore", message=".*not writable.*")
        flat = torch.from_numpy(buffer) if buffer.size else torch.empty(0, dtype=torch.uint8)
    out = []
    for e in payload.entries:
        if e.offset % ALIGN or e.offset + e.nbytes > flat.numel():
            raise RlfbError(f"weight payload tensor {e.name!r} lies outside the buffer "
                            f"(offset {e.offset}, {e.nbytes} bytes, buffer {flat.numel()})")
        dtype = _dtype(e.dtype)
        if e.nbytes == 0:
            out.append((e.name, torch.empty(e.shape, dtype=dtype)))
            continue
        out.append((e.name, flat[e.offset : e.offset + e.nbytes].view(dtype).reshape(e.shape)))
    return out


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
