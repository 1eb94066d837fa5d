"""rlfb.data: prompt sources, looked up by name, and the sampler that walks them.

>>> from rlfb.data import get_prompt_source, PromptSampler
>>> src = get_prompt_source("reasoning_gym", task="chain_sum", size=8, seed=1)
>>> p = src.get(0)
>>> p.prompt_id, p.messages[0]["role"], p.reference == str(eval(p.meta["metadata"]["expression"]))
('chain_sum:1:0', 'user', True)
>>> len(PromptSampler(src, seed=0).next_batch(3))
3

Built-ins (``hf_files``, ``reasoning_gym``) join `PROMPT_SOURCES` through the
``rlfb.prompt_sources`` entry-point group, like a plugin. A source is any callable returning an
object with ``__len__`` and ``get(index) -> Prompt`` (see `rlfb.data.base`).
"""

from __future__ import annotations

from typing import Any, Callable

from rlfb.data.base import PromptSampler, PromptSource
from rlfb.data.split import first_prompts, split_sources
from rlfb.errors import RegistryError
from rlfb.registry import Registry, callable_check, make_instance

PROMPT_SOURCES: Registry[Callable[..., PromptSource]] = Registry(
    "prompt source", group="rlfb.prompt_sources", check=callable_check
)


def register_prompt_source(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register a prompt-source class or factory (decorator form) or a ``"module:attr"`` string."""
    return PROMPT_SOURCES.register(name, target)


def get_prompt_source(name: str, **options: Any) -> PromptSource:
    """A new prompt source; options are the keyword arguments of its class or factory."""
    source = make_instance(PROMPT_SOURCES, name, options)
    if not isinstance(source, PromptSource):
        raise RegistryError(f"prompt source {name!r} returned {type(source).__name__}, which "
                            "lacks __len__ and get(index)")
    return source


def list_prompt_sources() -> list[str]:
    """Names of all registered prompt sources, sorted."""
    return PROMPT_SOURCES.names()


__all__ = [
    "PROMPT_SOURCES",
    "PromptSampler",
    "PromptSource",
    "first_prompts",
    "get_prompt_source",
    "list_prompt_sources",
    "register_prompt_source",
    "split_sources",
]
