"""Help text for config fields, read from the docstring under each field in `schema.py`.

>>> from rlfb.config.schema import AlgoConfig
>>> field_docs(AlgoConfig)["kl_coef"]
'Weight of the KL to the reference policy (0 = no reference model).'
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from functools import cache
from typing import Any

from rlfb.config.coerce import field_types, type_name


@cache
def _module_docs(module_name: str) -> dict[str, dict[str, str]]:
    """``{class name: {field: docstring}}`` for every class in a module's source."""
    import importlib

    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    out: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            docs: dict[str, str] = {}
            body = node.body
            for stmt, after in zip(body, body[1:]):
                if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                        and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                        and isinstance(after.value.value, str)):
                    docs[stmt.target.id] = inspect.cleandoc(after.value.value)
            out[node.name] = docs
    return out


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (fields without one are absent)."""
    return dict(_module_docs(cls.__module__).get(cls.__qualname__, {}))


def config_fields(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """Every leaf field below ``cls``: ``(dotted path, type, default, help)``, in order."""
    docs, types_ = field_docs(cls), field_types(cls)
    rows: list[tuple[str, str, Any, str]] = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        tp = types_[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(config_fields(tp, path + "."))
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        rows.append((path, type_name(tp), default, docs.get(f.name, "")))
    return rows


def describe_config(cls: type | None = None) -> str:
    """Every field of the train config with its type, default and help, grouped by section."""
    from rlfb.config.schema import TrainConfig

    cls = cls or TrainConfig
    lines: list[str] = []
    section = None
    for path, tp, default, doc in config_fields(cls):
        head = path.rsplit(".", 1)[0] if "." in path else ""
        if head != section:
            section = head
            lines.append(f"\n{section}:" if section else "")
        default_text = "null" if default is None else repr(default)
        lines.append(f"  {path}: {tp} = {default_text}")
        lines.extend(f"      {line}" for line in doc.splitlines())
    return "\n".join(lines).strip("\n") + "\n"
