"""Weight sync by broadcast in a torch.distributed group: learner = rank 0, engines = ranks 1..N.

The learner flattens its weights into one byte buffer and broadcasts it; every engine receives
into a buffer of the same size (the layout, `TensorEntry` list, is fixed for a model and handed
out once when the group forms) and loads views of it. The group is built directly from a
``TCPStore`` and a backend object, not through ``init_process_group``, so it never touches the
default process group that an in-process vLLM engine creates for itself.

Backends:

- ``gloo``: CPU tensors. This is what the test suite runs (on CPU).
- ``nccl``: CUDA tensors, GPU to GPU. The code path differs from gloo only in the backend object
  and the device of the buffers; it has **not** been run in this repository's CI (no GPU there).

A broadcast is collective: the learner and every engine must enter it together. With actors that
run one call at a time this waits until every engine has finished its current generation, so
this path does not overlap with generation the way the object-store path does.
"""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rlfb.errors import RlfbError
from rlfb.sync.payload import TensorEntry

BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class GroupSpec:
    """How one member joins a broadcast group.

    Attributes:
        host, port: the TCPStore of rank 0.
        rank: this member's rank (0 = the learner).
        world_size: 1 + number of engines.
        backend: "gloo" or "nccl".
        entries: the weight layout (what receivers allocate), in broadcast order.
        timeout_s: how long a member waits for the others.
    """

    host: str
    port: int
    rank: int
    world_size: int
    backend: str
    entries: tuple[TensorEntry, ...]
    timeout_s: float = 300.0


@dataclass
class Group:
    """A joined member: its backend object, device and the layout."""

    backend: object
    device: torch.device
    spec: GroupSpec


def free_address() -> tuple[str, int]:
    """This node's IP address (as Ray sees it) and a free TCP port."""
    import ray

    host = ray.util.get_node_ip_address()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return host, int(s.getsockname()[1])


def join(spec: GroupSpec) -> Group:
    """Join the group (blocks until all ``world_size`` members have joined)."""
    import torch.distributed as dist

    if spec.backend not in BACKENDS:
        raise RlfbError(f"weight-sync backend {spec.backend!r} is unknown; use one of {BACKENDS}")
    timeout = datetime.timedelta(seconds=spec.timeout_s)
    store = dist.TCPStore(spec.host, spec.port, spec.world_size, is_master=spec.rank == 0,
                          timeout=timeout)
    if spec.backend == "nccl":  # GPU only; not exercised by the CPU test suite
        device = torch.device("cuda", torch.cuda.current_device())
        backend = dist.ProcessGroupNCCL(store, spec.rank, spec.world_size)
    else:
        device = torch.device("cpu")
        backend = dist.ProcessGroupGloo(store, spec.rank, spec.world_size, timeout)
    return Group(backend=backend, device=device, spec=spec)


def _size(entries: tuple[TensorEntry, ...]) -> int:
    return max((e.offset + e.nbytes for e in entries), default=0)


def broadcast(group: Group, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> int:
    """Rank 0: send the tensors (laid out as the group's entries); returns the bytes sent.
    Each tensor is copied into the send buffer as the iterable yields it (a sharded learner
    gathers them one at a time)."""
    entries = group.spec.entries
    flat = torch.empty(_size(entries), dtype=torch.uint8, device=group.device)
    names = []
    for (name, tensor), e in zip(named_tensors, entries, strict=True):
        names.append(name)
        if name == e.name and e.nbytes:
            src = tensor.detach().reshape(-1).contiguous().view(torch.uint8)
            flat[e.offset : e.offset + e.nbytes].copy_(src)
    if names != [e.name for e in entries]:
        raise RlfbError("the learner's weights changed names or order since the broadcast group "
                        "formed; re-form the group")
    group.backend.broadcast(flat, 0).wait()
    return sum(e.nbytes for e in entries)


def receive(group: Group) -> list[tuple[str, torch.Tensor]]:
    """Ranks 1..N: receive one broadcast; ``(name, tensor)`` views in layout order."""
    entries = group.spec.entries
    flat = torch.empty(_size(entries), dtype=torch.uint8, device=group.device)
    group.backend.broadcast(flat, 0).wait()
    return [(e.name, flat[e.offset : e.offset + e.nbytes].view(getattr(torch, e.dtype))
             .reshape(e.shape)) for e in entries]


class CollectiveSync:
    """Controller side of the broadcast path (`rlfb.sync.base.WeightSync`).

    The group forms at the first push: the learner opens a TCPStore on a free port of its node,
    everyone joins, the layout travels once. An engine that Ray restarts is not in the group any
    more: `restore` gives it the current weights through the object store and the group is formed
    anew at the next push. Every push waits (a broadcast is collective).
    """

    name = "collective"

    def __init__(self, backend: str = "gloo", timeout_s: float = 300.0) -> None:
        if backend not in BACKENDS:
            raise RlfbError(f"ray.collective_backend={backend!r} is unknown; use one of "
                            f"{BACKENDS}")
        self.backend = backend
        self.timeout_s = timeout_s
        self._members: tuple[Any, ...] | None = None

    def _form(self, learner: Any, engines: Sequence[Any]) -> None:
        import ray

        host, port = ray.get(learner.rendezvous.remote())
        entries = tuple(ray.get(learner.weight_entries.remote()))
        size = len(engines) + 1
        specs = [GroupSpec(host, port, rank, size, self.backend, entries, self.timeout_s)
                 for rank in range(size)]
        ray.get([learner.join_group.remote(specs[0])]
                + [e.join_group.remote(s) for e, s in zip(engines, specs[1:])])
        self._members = tuple(engines)

    def push(self, learner: Any, engines: Sequence[Any], version: int, *,
             wait: bool = True) -> dict[str, float]:
        """Broadcast (always waits; ``wait`` is accepted for the interface)."""
        import ray

        start = time.perf_counter()
        if self._members != tuple(engines):
            self._form(learner, engines)
        (nbytes, send_s), *loads = ray.get(
            [learner.broadcast_weights.remote()]
            + [e.receive_weights.remote(version) for e in engines])
        return {"sync/bytes": float(nbytes), "sync/publish_s": send_s,
                "sync/load_s": max(loads, default=0.0),
                "sync/seconds": time.perf_counter() - start}

    def restore(self, learner: Any, engine: Any) -> Any:
        """Give a restarted engine the current weights via the object store; re-form later."""
        import ray

        self._members = None
        (ref,), _, _ = ray.get(learner.publish_weights.remote())
        return engine.load_weights.remote(ref, ray.get(learner.version.remote()))
