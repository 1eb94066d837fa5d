"""rlfb.verifiers: the verifier registry and contract.

>>> from rlfb.verifiers import get_verifier
>>> r = get_verifier("format").verify("<think>2+2</think><answer>4</answer>", None)
>>> r.status.value, r.extracted
('correct', '4')

Verifiers are found by name in the ``rlfb.verifiers`` entry-point group (built-ins included),
by ``register_verifier`` decorators, or by lazy ``"module:Class"`` strings.
"""

from __future__ import annotations

from typing import Any, Callable

from rlfb.registry import Registry, make_instance, subclass_check
from rlfb.verifiers.base import (
    GoldenCase,
    Verdict,
    Verifier,
    VerifyResult,
    VerifyStatus,
    default_score,
)

VERIFIERS: Registry[type[Verifier]] = Registry(
    "verifier", group="rlfb.verifiers", check=subclass_check(Verifier)
)


def register_verifier(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register a `Verifier` subclass (decorator form) or a lazy ``"module:Class"`` string."""
    return VERIFIERS.register(name, target)


def get_verifier(name: str, **options: Any) -> Verifier:
    """A new verifier instance; options are the class's keyword arguments.

    Raises `rlfb.errors.RegistryError` for an unknown name (with close matches) or option.
    """
    verifier = make_instance(VERIFIERS, name, options)
    verifier.name = name
    return verifier


def list_verifiers() -> list[str]:
    """Names of all registered verifiers, sorted."""
    return VERIFIERS.names()


__all__ = [
    "VERIFIERS",
    "GoldenCase",
    "Verdict",
    "Verifier",
    "VerifyResult",
    "VerifyStatus",
    "default_score",
    "get_verifier",
    "list_verifiers",
    "register_verifier",
]
