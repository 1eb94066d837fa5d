"""Plain YAML data → typed config dataclasses, and dotted overrides applied to plain data.

Values are checked against each field's annotation (int, float, bool, str, Literal, Optional /
unions, list, tuple, dict, nested dataclasses, Any). Safe conversions are made (an int where a
float is expected, "1e-6" — which YAML reads as a string — to a float, 3 to "3" for a string
field); anything else is a `ConfigError` naming the full dotted path. Unknown keys get a
did-you-mean.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from rlfb.config.schema import REMOVED_KEYS
from rlfb.errors import ConfigError

NoneType = type(None)


@cache
def field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of a config dataclass's fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def type_name(tp: Any) -> str:
    """A readable name for an annotation: ``int | None``, ``one of 'a', 'b'``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join("null" if a is NoneType else type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    return "any" if tp is Any else getattr(tp, "__name__", str(tp))


def unknown_key(key: str, path: str, known: Sequence[str]) -> ConfigError:
    """The did-you-mean error for ``key`` under ``path`` (for a removed key: what to do)."""
    full = f"{path}.{key}" if path else key
    if full in REMOVED_KEYS:
        return ConfigError(f"config key '{full}' was removed: {REMOVED_KEYS[full]}; delete it")
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean '{path + '.' if path else ''}{close[0]}'? " if close else ""
    where = path or "the config"
    return ConfigError(f"unknown config key '{full}'; {hint}({where} has: {', '.join(known)})")


def build(cls: type, data: Any, path: str = "") -> Any:
    """An instance of dataclass ``cls`` from a mapping (missing keys keep their defaults)."""
    if isinstance(data, cls):
        data = dataclasses.asdict(data)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'the config'} must be a mapping of keys to values, "
                          f"got {type(data).__name__} {data!r}")
    types_ = field_types(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in types_:
            raise unknown_key(str(key), path, list(types_))
        kwargs[key] = coerce(value, types_[key], f"{path}.{key}" if path else str(key))
    return cls(**kwargs)


def coerce(value: Any, tp: Any, path: str) -> Any:
    """``value`` checked (and safely converted) against annotation ``tp``."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, {} if value is None else value, path)  # an empty section
    if origin in (Union, types.UnionType):
        if value is None:
            if NoneType in args:
                return None
            raise _mismatch(value, tp, path)
        for arm in (a for a in args if a is not NoneType):
            try:
                return coerce(value, arm, path)
            except ConfigError:
                continue
        raise _mismatch(value, tp, path)
    if value is None:
        raise ConfigError(f"{path} cannot be null; expected {type_name(tp)}")
    if origin is Literal:
        return _literal(value, args, path)
    if origin in (list, tuple):
        return _sequence(value, tp, path)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _mismatch(value, tp, path)
        return {str(k): coerce(v, args[1], f"{path}.{k}") for k, v in value.items()}
    return _scalar(value, tp, path)


def _mismatch(value: Any, tp: Any, path: str) -> ConfigError:
    return ConfigError(f"{path} must be {type_name(tp)}, got {type(value).__name__} {value!r}")


def _literal(value: Any, choices: tuple[Any, ...], path: str) -> Any:
    if value in choices:
        return value
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"{path} must be one of {', '.join(map(repr, choices))}; "
                      f"got {value!r}. {hint}".rstrip())


def _sequence(value: Any, tp: Any, path: str) -> Any:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise _mismatch(value, tp, path)
    args = get_args(tp)
    if get_origin(tp) is list:
        return [coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{path} must have {len(args)} items ({type_name(tp)}), "
                          f"got {len(value)}: {value!r}")
    return tuple(coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def _scalar(value: Any, tp: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass
    elif tp is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
    raise _mismatch(value, tp, path)


# -- overrides -------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[list[str], Any]:
    """``"algo.kl_coef=0.01"`` → ``(["algo", "kl_coef"], 0.01)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"bad override {text!r}; write it as section.key=value, "
                          "e.g. algo.kl_coef=0.01")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: the value is not valid YAML: {exc}") from exc
    return [p.strip() for p in parts], value


def apply_override(data: dict[str, Any], cls: type, parts: list[str], value: Any) -> None:
    """Set ``value`` at dotted ``parts`` in the plain ``data`` of dataclass ``cls``.

    Keys are checked against the schema down to a dict-typed field (e.g. ``data.options``),
    below which any key may be set; such a dict starts from its current or default value.
    """
    node, tp, done = data, cls, []
    for i, key in enumerate(parts):
        types_ = field_types(tp)
        if key not in types_:
            raise unknown_key(key, ".".join(done), list(types_))
        done.append(key)
        ftype = _unwrap_optional(types_[key])
        last = i == len(parts) - 1
        if last:
            if dataclasses.is_dataclass(ftype) and isinstance(value, Mapping) \
                    and isinstance(node.get(key), Mapping):
                node[key] = {**node[key], **value}
            else:
                node[key] = value
            return
        if dataclasses.is_dataclass(ftype):
            node = _child(node, key, ".".join(done))
            tp = ftype
        elif get_origin(ftype) is dict or ftype is Any:
            if key not in node:
                node[key] = copy.deepcopy(_default(tp, key))
            target = _child(node, key, ".".join(done))
            _set_nested(target, parts[i + 1 :], value, ".".join(done))
            return
        else:
            raise ConfigError(f"'{'.'.join(done)}' is {type_name(types_[key])}, not a section; "
                              f"cannot set '{'.'.join(parts)}'")


def _child(node: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    child = node.get(key)
    if child is None:
        child = node[key] = {}
    if not isinstance(child, dict):
        raise ConfigError(f"'{path}' must be a mapping, got {child!r}")
    return child


def _set_nested(node: dict[str, Any], keys: list[str], value: Any, path: str) -> None:
    for key in keys[:-1]:
        path = f"{path}.{key}"
        node = _child(node, key, path)
    node[keys[-1]] = value


def _unwrap_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not NoneType]
        if len(arms) == 1:
            return arms[0]
    return tp


def _default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return {} if f.default is None else f.default
