"""The rollout engine's keyword options from a training config: one place for both executors.

``rollout.engine_options`` are passed as given; the vllm engine also gets the GPU settings
(``rollout.tensor_parallel_size``, ``rollout.gpu_memory_utilization``, ``rollout.colocate`` as
``sleep_mode``) and, when a LoRA run syncs adapters (`lora_sync`), the adapter's settings as
``lora``. A key set in ``rollout.engine_options`` wins over the derived one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlfb.errors import ConfigError
from rlfb.rollout.lora import lora_sync_mode

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


def lora_sync(cfg: TrainConfig) -> str | None:
    """``"adapter"`` or ``"merged"`` for a LoRA run (`rlfb.rollout.lora.lora_sync_mode`), None
    without LoRA."""
    lora = cfg.model.lora
    if not lora.enabled:
        return None
    return lora_sync_mode(lora.sync, cfg.rollout.engine, lora.target_modules)


def engine_options(cfg: TrainConfig) -> dict[str, Any]:
    """Keyword options of ``get_engine(cfg.rollout.engine, ...)``."""
    r = cfg.rollout
    derived: dict[str, Any] = {}
    if r.engine == "vllm":
        derived.update(tensor_parallel_size=r.tensor_parallel_size,
                       gpu_memory_utilization=r.gpu_memory_utilization, sleep_mode=r.colocate)
        if lora_sync(cfg) == "adapter":
            lora = cfg.model.lora
            derived["lora"] = {"rank": lora.rank, "alpha": lora.alpha,
                               "target_modules": list(lora.target_modules)}
    elif r.tensor_parallel_size != 1 or r.colocate:
        raise ConfigError(f"rollout.tensor_parallel_size and rollout.colocate apply to the vllm "
                          f"engine, not rollout.engine={r.engine!r}; set rollout.engine=vllm or "
                          "leave them at 1 and false")
    return {**derived, **dict(r.engine_options)}
