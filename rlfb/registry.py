"""One registry class for every pluggable thing in rlfb.

Verifiers, rewards, hedge detectors, advantage estimators, losses, rollout engines and prompt
sources each have a `Registry`. An entry joins a registry in one of three ways, all equivalent:

- a decorator: ``@VERIFIERS.register("palindrome")`` on a class or function;
- a lazy string: ``VERIFIERS.register("palindrome", "my_pkg.mod:Palindrome")``, imported on first
  use, so heavy modules stay unloaded until somebody asks for them;
- a Python entry point in the registry's group (``rlfb.verifiers``, ``rlfb.rewards``, ...), read
  the first time any process looks a name up. Built-ins join through entry points too, declared in
  rlfb's own ``pyproject.toml``, exactly as a third-party plugin would.

Because configs name entries by string and every process (a Ray worker included) reads the entry
points itself, no registry state has to be shipped between processes.

>>> reg = Registry("widget", group="rlfb.test_widgets")
>>> @reg.register("square")
... def square(x):
...     return x * x
>>> reg.get("square")(3)
9
>>> reg.get("sqare")
Traceback (most recent call last):
...
rlfb.errors.RegistryError: unknown widget 'sqare'; did you mean 'square'? (known: square)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from rlfb.errors import RegistryError, RlfbError

T = TypeVar("T")


@dataclass
class Entry:
    """One registered name: its target (an object, or a ``"module:attr"`` string not yet
    imported) and a human-readable origin used in error messages."""

    name: str
    target: Any
    origin: str

    @property
    def loaded(self) -> bool:
        """True once the target is an object rather than a lazy string."""
        return not isinstance(self.target, str)


def import_string(spec: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute.

    >>> import_string("os.path:join")("a", "b")
    'a/b'
    """
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise RegistryError(f"bad import string {spec!r}; write it as 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


def _caller_origin(depth: int = 2) -> str:
    frame = inspect.stack()[depth]
    return f"{frame.filename}:{frame.lineno}"


class Registry(Generic[T]):
    """Names → classes or functions, filled by decorator, lazy string or entry point.

    Args:
        kind: what the entries are, for messages ("verifier", "reward", ...).
        group: the entry-point group read on first lookup, e.g. ``"rlfb.verifiers"``.
        check: called with each object when it is registered or first imported; raises
            `TypeError` with a reason when the object does not fit (base-class/protocol check).
    """

    def __init__(
        self, kind: str, group: str | None = None, check: Callable[[Any], None] | None = None
    ) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._entries: dict[str, Entry] = {}
        self._entry_points_loaded = group is None
        self._lock = threading.RLock()

    # -- registration ---------------------------------------------------------------------
    def register(
        self, name: str, target: Any = None, *, origin: str | None = None
    ) -> Any:
        """Register ``target`` under ``name``; without ``target``, return a decorator.

        ``target`` may be an object or a lazy ``"module:attr"`` string.
        """
        if target is None:

            def decorator(obj: T) -> T:
                self.register(name, obj, origin=origin or _caller_origin())
                return obj

            return decorator
        if not isinstance(target, str):
            self._validate(name, target)
        self._add(Entry(name, target, origin or self._default_origin(target)))
        return target

    def _default_origin(self, target: Any) -> str:
        if isinstance(target, str):
            return f"lazy string {target!r} registered at {_caller_origin(3)}"
        module = getattr(target, "__module__", "?")
        return f"{module}:{getattr(target, '__qualname__', repr(target))}"

    def _add(self, entry: Entry) -> None:
        with self._lock:
            existing = self._entries.get(entry.name)
            if existing is not None and not self._same(existing, entry):
                raise RegistryError(
                    f"duplicate {self.kind} name {entry.name!r}: registered by {existing.origin} "
                    f"and again by {entry.origin}; rename one of them"
                )
            if existing is None:
                self._entries[entry.name] = entry

    @staticmethod
    def _same(a: Entry, b: Entry) -> bool:
        """Two registrations of the same target (e.g. a module imported twice) are not a clash."""
        if a.target is b.target:
            return True
        return _target_key(a.target) == _target_key(b.target)

    def _validate(self, name: str, obj: Any) -> None:
        if self._check is None:
            return
        try:
            self._check(obj)
        except TypeError as exc:
            raise RegistryError(f"{self.kind} {name!r} ({obj!r}) is not usable: {exc}") from None

    # -- discovery -------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        with self._lock:
            if self._entry_points_loaded:
                return
            self._entry_points_loaded = True
            seen: set[tuple[str, str]] = set()
            for ep in metadata.entry_points(group=self.group):
                if (ep.name, ep.value) in seen:  # the same distribution found twice on sys.path
                    continue
                seen.add((ep.name, ep.value))
                dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
                origin = f"entry point {ep.name} = {ep.value!r} of {dist} (group {self.group})"
                self._add(Entry(ep.name, ep.value, origin))

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """All entries (without importing lazy ones), sorted by name."""
        self._load_entry_points()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def origin(self, name: str) -> str:
        """Where ``name`` was registered."""
        return self._entry(name).origin

    # -- lookup ----------------------------------------------------------------------------
    def _entry(self, name: str) -> Entry:
        self._load_entry_points()
        entry = self._entries.get(name)
        if entry is None:
            raise RegistryError(self._unknown_message(name))
        return entry

    def _unknown_message(self, name: str) -> str:
        known = sorted(self._entries)
        if not known:
            return f"unknown {self.kind} {name!r}: none are registered (is the plugin installed?)"
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        if close:
            return (f"unknown {self.kind} {name!r}; did you mean "
                    f"{' or '.join(repr(c) for c in close)}? (known: {', '.join(known)})")
        return f"unknown {self.kind} {name!r}; did you mean one of: {', '.join(known)}?"

    def get(self, name: str) -> T:
        """The object registered under ``name``, importing it first if it is lazy; any failure of
        that import (a missing module, a syntax error, an exception at import time) is one
        `RegistryError` line naming the entry and where it came from."""
        entry = self._entry(name)
        if entry.loaded:
            return entry.target
        with self._lock:
            if isinstance(entry.target, str):
                try:
                    obj = import_string(entry.target)
                except Exception as exc:  # a missing or broken plugin module: one line
                    line = (str(exc).strip().splitlines() or [""])[0]
                    raise RegistryError(
                        f"{self.kind} {name!r} could not be imported from {entry.origin}: "
                        f"{type(exc).__name__}: {line}"
                    ) from exc
                self._validate(name, obj)
                entry.target = obj
        return entry.target


def _target_key(target: Any) -> str:
    if isinstance(target, str):
        return target
    return f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', id(target))}"


def subclass_check(base: type) -> Callable[[Any], None]:
    """A registry check that accepts subclasses of ``base`` only."""

    def check(obj: Any) -> None:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"expected a subclass of {base.__module__}.{base.__qualname__}")

    return check


def callable_check(obj: Any) -> None:
    """A registry check that accepts any callable (functions, classes)."""
    if not callable(obj):
        raise TypeError("expected a callable")


def make_instance(registry: Registry[Any], name: str, options: dict[str, Any]) -> Any:
    """Instantiate ``registry.get(name)(**options)``, turning unknown options into a clear error.

    The accepted options are the keyword parameters of the class's ``__init__``.
    """
    cls = registry.get(name)
    sig = inspect.signature(cls)
    params = sig.parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not accepts_any:
        allowed = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        for key in options:
            if key not in params:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}? " if close else ""
                listing = ", ".join(allowed) if allowed else "(none)"
                raise RegistryError(
                    f"{registry.kind} {name!r} has no option {key!r}; {hint}(options: {listing})"
                )
    try:
        return cls(**options)
    except RlfbError:
        raise
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{registry.kind} {name!r}: bad options {options!r}: {exc}") from exc
