"""Rollout engines: sample completions with behaviour logprobs, refresh weights in place.

>>> from rlfb.rollout import ENGINES
>>> "hf" in ENGINES and "vllm" in ENGINES
True

``get_engine("hf", path)`` runs ``transformers`` ``generate``; ``get_engine("vllm", path)`` runs
an in-process ``vllm.LLM``. Both implement `rlfb.rollout.base.RolloutEngine`. Engines register
through the ``rlfb.engines`` entry-point group, so a plugin package can add its own.
"""

from __future__ import annotations

from typing import Any

from rlfb.registry import Registry, callable_check, make_instance
from rlfb.rollout.base import RolloutEngine

ENGINES: Registry[Any] = Registry("rollout engine", group="rlfb.engines", check=callable_check)


def get_engine(name: str, model_path: str, **options: Any) -> RolloutEngine:
    """Create the engine registered as ``name`` for the model folder ``model_path``.

    Options are the engine class's keyword arguments (``batch_size=``, ``max_model_len=`` ...);
    an unknown option raises `RegistryError` listing the accepted ones.
    """
    return make_instance(ENGINES, name, {"model_path": str(model_path), **options})


__all__ = ["ENGINES", "RolloutEngine", "get_engine"]
