"""rlfb.environments: single- and multi-turn episodes, tools, and their registries.

>>> from rlfb.environments import get_environment, list_environments
>>> env = get_environment("single-turn")
>>> env.max_turns, "single-turn" in list_environments()
(1, True)

Environments join `ENVIRONMENTS` through the ``rlfb.environments`` entry-point group and tools
join `TOOLS` through ``rlfb.tools``, built-ins included, exactly as a plugin package would; every
process (a Ray worker too) reads the entry points itself, so only names cross process
boundaries. The contract is in `rlfb.environments.base`.
"""

from __future__ import annotations

from typing import Any, Callable

from rlfb.environments.base import (
    Environment,
    EpisodeState,
    ParsedTurn,
    StepResult,
    Tool,
    ToolCall,
    ToolFormat,
    ToolResult,
    run_tool,
)
from rlfb.registry import Registry, make_instance, subclass_check

ENVIRONMENTS: Registry[type[Environment]] = Registry(
    "environment", group="rlfb.environments", check=subclass_check(Environment)
)
TOOLS: Registry[type[Tool]] = Registry("tool", group="rlfb.tools", check=subclass_check(Tool))


def register_environment(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register an `Environment` subclass (decorator form) or a lazy ``"module:Class"`` string."""
    return ENVIRONMENTS.register(name, target)


def get_environment(name: str, **options: Any) -> Environment:
    """A new environment; options are its class's keyword arguments (``env.options``).

    Raises `rlfb.errors.RegistryError` for an unknown name (with close matches), an unknown
    option, or a plugin that fails to import.
    """
    return make_instance(ENVIRONMENTS, name, options)


def list_environments() -> list[str]:
    """Names of all registered environments, sorted."""
    return ENVIRONMENTS.names()


def register_tool(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register a `Tool` subclass (decorator form) or a lazy ``"module:Class"`` string."""
    return TOOLS.register(name, target)


def get_tool(name: str, **options: Any) -> Tool:
    """A new tool; options are its class's keyword arguments (e.g. ``timeout_s``)."""
    return make_instance(TOOLS, name, options)


def list_tools() -> list[str]:
    """Names of all registered tools, sorted."""
    return TOOLS.names()


__all__ = [
    "ENVIRONMENTS",
    "TOOLS",
    "Environment",
    "EpisodeState",
    "ParsedTurn",
    "StepResult",
    "Tool",
    "ToolCall",
    "ToolFormat",
    "ToolResult",
    "get_environment",
    "get_tool",
    "list_environments",
    "list_tools",
    "register_environment",
    "register_tool",
    "run_tool",
]
