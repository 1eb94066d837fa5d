"""Data-parallel policy learners: N processes in one torch.distributed group train one policy.

A `DataParallelLearner` is one rank of such a group. It wraps the single-process
`rlfb.learner.policy.PolicyLearner` (which stays the learner of a one-process run) and plugs into
it through ``learner.parallel``, a `RankGroup`, at the few places where ranks must agree:

- **Slicing.** Every rank receives the whole batch and runs only its share of the rows that can
  change the update (`balanced_slices`: near-equal token counts, computed identically on every
  rank, so no rank needs to be told its share).
- **Global normalisation.** The loss denominator (valid tokens for ``token-mean``, valid
  sequences for the sequence means) is counted on the whole batch before slicing, so each rank's
  loss is its part of the *global* mean, and the ranks' gradients are *summed*: N ranks take the
  same step as one rank on the same batch, to float rounding (tested for both strategies). Token
  statistics (entropy, clip fraction) are summed over ranks before they are averaged.
- **Strategy** (``learner.strategy``):

  - ``ddp``: every rank holds the whole model and optimiser; after the micro-batches' backward
    passes the gradients are all-reduced (summed) in buckets once per optimiser step, so ranks
    may run different numbers of micro-batches.
  - ``fsdp``: each decoder layer and the root are sharded with FSDP2 ``fully_shard``:
    parameters, gradients and AdamW states live as 1/N shards (DTensors); a layer's full
    weights exist only while it computes. Every forward and backward is then collective, so
    ranks run in lockstep: one model forward per micro-batch, and a rank with fewer
    micro-batches than the busiest one runs zero-weight ones (`RankGroup.idle_step`).

- **Weights for sync** (`DataParallelLearner.named_weights`): under FSDP the full tensors are
  gathered one parameter at a time (``DTensor.full_tensor()``) and handed to the caller, which
  copies each into its transport buffer before the next is gathered; no rank holds more than one
  full copy of the model. Every rank must iterate together (the gathers are collective).
- **Checkpoints**: ``ddp`` writes exactly what `PolicyLearner.save` writes (rank 0); ``fsdp``
  writes the full HF model folder (gathered on rank 0, for eval and export) and the sharded
  optimiser state with `torch.distributed.checkpoint` (``optimizer/``, keyed by parameter name).
  Either loads into any number of ranks, and into a single-process learner
  (`rlfb.checkpoint.load_optimizer_state`).

Not supported (refused when the config loads): the PPO learner with its critic, online DPO, and
LoRA under ``fsdp`` (adapters are small: use ``ddp``).

torch.distributed is imported inside functions: importing this module stays light.
"""

from __future__ import annotations

import datetime
import heapq
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from rlfb.errors import ConfigError, RlfbError
from rlfb.learner.policy import _micro_batches

STRATEGIES = ("ddp", "fsdp")
#: Elements per all-reduce bucket of the ``ddp`` gradient sync (64 MiB of float32).
BUCKET_NUMEL = 16 * 1024 * 1024


def balanced_slices(tokens: Sequence[int], parts: int) -> list[list[int]]:
    """Indices ``0..len(tokens)-1`` split into ``parts`` lists with near-equal token sums.

    Longest first, each item goes to the part with the fewest tokens so far (ties: fewer items,
    then the lower part). Deterministic, so every rank computes the same split; each list is
    sorted.

    >>> balanced_slices([5, 3, 3, 2, 1], 2)
    [[0, 3], [1, 2, 4]]
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    heap = [(0, 0, p) for p in range(parts)]
    out: list[list[int]] = [[] for _ in range(parts)]
    for i in sorted(range(len(tokens)), key=lambda i: (-tokens[i], i)):
        load, count, p = heapq.heappop(heap)
        out[p].append(i)
        heapq.heappush(heap, (load + int(tokens[i]), count + 1, p))
    return [sorted(rows) for rows in out]


def backend_for(device: torch.device) -> str:
    """The collective backend for a learner on ``device``: NCCL on CUDA, gloo elsewhere."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_group(*, rank: int, world_size: int, init_method: str, backend: str,
               timeout_s: float = 1800.0) -> None:
    """Join the default torch.distributed process group of the learner ranks (blocks until all
    ``world_size`` ranks have joined). ``init_method``: ``tcp://host:port`` or ``file://path``."""
    import torch.distributed as dist

    if dist.is_initialized():
        raise RlfbError("this process already belongs to a torch.distributed group; a learner "
                        "rank needs a process of its own")
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))


class RankGroup:
    """What a `PolicyLearner` asks of its data-parallel group (``learner.parallel``).

    Args:
        strategy: ``"ddp"`` or ``"fsdp"``.
    """

    def __init__(self, strategy: str) -> None:
        import torch.distributed as dist

        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.strategy = strategy
        #: every forward and backward is collective: ranks run the same number (FSDP)
        self.lockstep = strategy == "fsdp"

    def own_micro_batches(self, attention_mask: torch.Tensor, size: int, rows: torch.Tensor
                          ) -> list[torch.Tensor]:
        """This rank's token-balanced share of ``rows`` (the whole batch's learning rows), in
        micro-batches of ``size``; in lockstep, padded with empty micro-batches to the busiest
        rank's count."""
        tokens = attention_mask[rows].sum(-1).tolist()
        mine = rows[balanced_slices(tokens, self.world_size)[self.rank]]
        chunks = _micro_batches(attention_mask, size, mine) if len(mine) else []
        if self.lockstep:
            most = int(self._reduce(torch.tensor([len(chunks)]), "max")[0])
            chunks += [rows[:0]] * (most - len(chunks))
        return chunks

    def forward_tokens(self, ids: torch.Tensor) -> int | None:
        """The token budget of one logprob call: in lockstep the whole micro-batch, so it takes
        exactly one model forward; else None (the method's default)."""
        return int(ids.numel()) if self.lockstep else None

    def idle_step(self, model: Any, backward: bool) -> None:
        """A zero-weight micro-batch: one forward (and backward) of a one-token input, so this
        rank takes part in the collectives of a micro-batch it does not have."""
        device = next(model.parameters()).device
        ids = torch.zeros((1, 1), dtype=torch.long, device=device)
        logits = model(input_ids=ids, use_cache=False).logits
        if backward:
            (logits.float().sum() * 0.0).backward()

    def reduce_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """``ddp``: sum every gradient over the ranks, in buckets (a missing one counts as 0).
        ``fsdp`` reduces in its backward hooks, so this is a no-op there."""
        if self.strategy != "ddp" or self.world_size == 1:
            return
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        for bucket in _buckets([p.grad for p in params], BUCKET_NUMEL):
            flat = self._reduce(_flatten_dense_tensors(bucket), "sum")
            for grad, synced in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
                grad.copy_(synced)

    def sum_stats(self, sums: dict[str, float]) -> dict[str, float]:
        """Per-key sums of every rank's statistics (a key a rank lacks counts as 0)."""
        import torch.distributed as dist

        every: list[dict[str, float]] = [{} for _ in range(self.world_size)]
        dist.all_gather_object(every, sums)
        out: dict[str, float] = {}
        for part in every:
            for key, value in part.items():
                out[key] = out.get(key, 0.0) + value
        return out

    def _reduce(self, tensor: torch.Tensor, op: str) -> torch.Tensor:
        import torch.distributed as dist

        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}
        device = torch.device("cuda", torch.cuda.current_device()) \
            if dist.get_backend() == "nccl" else torch.device("cpu")
        moved = tensor.to(device)
        dist.all_reduce(moved, op=ops[op])
        return moved.to(tensor.device)


def _buckets(tensors: list[torch.Tensor], numel: int) -> Iterator[list[torch.Tensor]]:
    """Consecutive tensors grouped up to ``numel`` elements (a larger tensor alone)."""
    bucket: list[torch.Tensor] = []
    size = 0
    for t in tensors:
        if bucket and size + t.numel() > numel:
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel()
    if bucket:
        yield bucket


def shard_model(model: Any) -> bool:
    """FSDP2: shard each decoder layer (the model's ``_no_split_modules`` classes), then the
    rest. Gradients are summed over ranks, not averaged: the loss is already normalised by the
    global count.

    `rlfb.learner.logprobs` may call the body (embeddings, layers, final norm) and the output
    layer one after the other (vocabulary projection in chunks) rather than through the root's
    forward, so where it can, the body and the output layer are units of their own. With tied
    embeddings they share one tensor, which FSDP2 can only reduce correctly from a single
    forward: then both stay in the root's unit, and the caller must run the whole model's
    forward (returns False); else returns True."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    layer_types = set(getattr(model, "_no_split_modules", None) or ())
    for module in model.modules():
        if type(module).__name__ in layer_types:
            fully_shard(module)
    body, head = model.get_decoder(), model.get_output_embeddings()
    split = body is not None and body is not model and head is not None
    if split:
        body_params = {id(p) for p in body.parameters()}
        split = not any(id(p) in body_params for p in head.parameters())
    if split:
        fully_shard(head)
        fully_shard(body)
    fully_shard(model)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_force_sum_reduction_for_comms(True)  # gloo has no pre-scaled sum
            module.set_gradient_divide_factor(1.0)
    with torch.no_grad():  # FSDP sets itself up at the first call: make it the root's
        model(input_ids=torch.zeros((1, 1), dtype=torch.long,
                                    device=next(model.parameters()).device), use_cache=False)
    reshard(model)
    return split


def reshard(model: Any) -> None:
    """Put every FSDP unit of ``model`` back to its shards. The root keeps its weights gathered
    after a forward until its backward, and while gathered its modules hold full-size
    parameters: the optimiser, the weight sync and checkpoints must see the sharded ones."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def _rebuild_optimizer(learner: Any) -> None:
    """A fresh AdamW and schedule over the learner's (now sharded) parameters, with the same
    hyper-parameters and learning-rate rule as the ones the learner built."""
    from rlfb.learner.policy import adamw

    old, sched = learner.optimizer, learner.scheduler
    options = {k: old.defaults[k] for k in ("lr", "betas", "eps", "weight_decay", "amsgrad")}
    learner.optimizer = adamw([p for p in learner.model.parameters() if p.requires_grad],
                              **options)
    learner.scheduler = torch.optim.lr_scheduler.LambdaLR(learner.optimizer,
                                                          sched.lr_lambdas[0])


def _broadcast_module(model: Any) -> None:
    """Rank 0's parameters and buffers to every rank (replicas start identical)."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t.data, 0)


class DataParallelLearner:
    """One rank of a data-parallel policy learner (module docstring).

    Call `build` in each rank's process; every method but `version` and `weight_entries` must
    be called on every rank together.

    Args:
        learner: the rank's `PolicyLearner` (built identically on every rank).
        strategy: ``"ddp"`` or ``"fsdp"``.
    """

    def __init__(self, learner: Any, strategy: str) -> None:
        from rlfb.learner.policy import PolicyLearner

        if strategy not in STRATEGIES:
            raise ConfigError(f"learner.strategy={strategy!r} is unknown; use one of "
                              f"{STRATEGIES}")
        if type(learner) is not PolicyLearner:
            raise ConfigError(f"a data-parallel learner group runs the policy learner; "
                              f"{type(learner).__name__} runs in one process "
                              "(set ray.learner.count=1)")
        if strategy == "fsdp" and learner.lora:
            raise ConfigError("learner.strategy=fsdp does not shard LoRA adapters; use "
                              "learner.strategy=ddp with model.lora.enabled")
        self.learner = learner
        self.strategy = strategy
        if strategy == "fsdp":
            split = shard_model(learner.model)
            if learner.ref_model is not None:
                shard_model(learner.ref_model)
            if not split:  # tied embeddings: logits through the root's forward, not in chunks
                learner.logits_chunk = 0
            _rebuild_optimizer(learner)
        else:
            _broadcast_module(learner.model)
            if learner.ref_model is not None:
                _broadcast_module(learner.ref_model)
        learner.parallel = RankGroup(strategy)
        self.rank = learner.parallel.rank
        self.world_size = learner.parallel.world_size

    @classmethod
    def build(cls, factory: Callable[[], Any], *, rank: int, world_size: int,
              init_method: str, strategy: str, timeout_s: float = 1800.0
              ) -> DataParallelLearner:
        """Join the group (backend from the learner's device: NCCL on CUDA, gloo else) and wrap
        the learner that ``factory`` builds."""
        learner = factory()
        device = next(learner.model.parameters()).device
        init_group(rank=rank, world_size=world_size, init_method=init_method,
                   backend=backend_for(device), timeout_s=timeout_s)
        return cls(learner, strategy)

    # -- training ----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The weight version (the same on every rank)."""
        return self.learner.version

    def update(self, batch: Any) -> dict[str, float]:
        """One update on the whole ``batch`` (every rank gets the same one); every rank
        returns the same token statistics, summed over the ranks."""
        return self.learner.update(batch)

    # -- weights -----------------------------------------------------------------------------
    def _sharded_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """State-dict entries (DTensors under FSDP), each shared parameter once, in order."""
        model = self.learner.model
        if self.strategy == "fsdp":
            reshard(model)
        params = dict(model.named_parameters(remove_duplicate=False))
        seen: set[int] = set()
        for name, tensor in model.state_dict().items():
            param = params.get(name)
            if param is not None:
                if id(param) in seen:
                    continue
                seen.add(id(param))
            yield name, tensor

    def named_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The policy's full weights, one tensor at a time (module docstring); every rank must
        iterate to the end together under FSDP."""
        if self.strategy == "ddp":
            from rlfb.sync.payload import skip_aliases

            yield from skip_aliases(self.learner.named_weights())
            return
        from torch.distributed.tensor import DTensor

        for name, tensor in self._sharded_weights():
            full = tensor.full_tensor() if isinstance(tensor, DTensor) else tensor
            yield name, full.detach()

    def weight_entries(self) -> list[Any]:
        """Name, dtype and shape of every tensor `named_weights` yields (no gathering)."""
        from rlfb.sync.payload import layout, skip_aliases

        if self.strategy == "ddp":
            return layout(skip_aliases(self.learner.named_weights()))[0]
        return layout(self._sharded_weights())[0]

    def drain_weights(self) -> None:
        """Take part in a weight gather without keeping anything (ranks other than 0)."""
        if self.strategy == "fsdp":
            for _ in self.named_weights():
                pass

    # -- checkpoints -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the checkpoint part (module docstring); every rank calls it."""
        import torch.distributed as dist

        path = Path(path)
        if self.strategy == "ddp":
            if self.rank == 0:
                self.learner.save(path)
        else:
            _save_sharded(self.learner, path, self.rank)
        dist.barrier()

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint part written by any number of ranks; every rank calls it."""
        import torch.distributed as dist

        if self.strategy == "ddp":
            self.learner.load(path)
        else:
            _load_sharded(self.learner, Path(path))
        dist.barrier()

    def close(self) -> None:
        """Leave the process group."""
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _save_sharded(learner: Any, path: Path, rank: int) -> None:
    """FSDP: the full HF model folder (gathered on rank 0) and the optimiser state by DCP."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    from rlfb.checkpoint import OPTIMIZER_DCP

    reshard(learner.model)
    full = get_model_state_dict(learner.model, options=StateDictOptions(full_state_dict=True,
                                                                         cpu_offload=True))
    if rank == 0:
        path.mkdir(parents=True, exist_ok=True)
        learner.model.save_pretrained(path / "model", state_dict=full)
        learner.tokenizer.save_pretrained(path / "model")
        torch.save({"optimizer": None, "scheduler": learner.scheduler.state_dict(),
                    "version": learner.version}, path / "optimizer.pt")
    del full
    state = get_optimizer_state_dict(learner.model, learner.optimizer)
    dcp.save({"optimizer": state}, checkpoint_id=str(path / OPTIMIZER_DCP))


def _load_sharded(learner: Any, path: Path) -> None:
    """FSDP: the full weights of ``model/`` into the shards, then the optimiser state (DCP, or
    the index-keyed ``optimizer.pt`` of a single-process learner)."""
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    from rlfb.checkpoint import check_loaded_keys, load_optimizer_state

    reshard(learner.model)
    full = load_file(path / "model" / "model.safetensors")
    check_loaded_keys(learner.model, *set_model_state_dict(
        learner.model, full, options=StateDictOptions(full_state_dict=True, strict=False)), path)
    saved = load_optimizer_state(learner.model, learner.optimizer, path)
    learner.scheduler.load_state_dict(saved["scheduler"])
    learner.version = saved["version"]
