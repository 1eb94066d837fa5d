"""Parsing helpers shared by subcommands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import yaml

from rlfb.errors import RlfbError


def is_override(word: str) -> bool:
    """True for a ``key=value`` word of the command line (not an option, a key before ``=``).

    >>> is_override("run.steps=3"), is_override("--ray-address=auto"), is_override("x.yaml")
    (True, False, False)
    """
    key, sep, _ = word.partition("=")
    return bool(sep) and bool(key.strip()) and not word.startswith("-")


def parse_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into a dict; values are read as YAML scalars or lists
    (``3`` → int, ``true`` → bool, ``[a, b]`` → list, anything else → str).

    >>> parse_options(["timeout_s=5", "mode=json", "flags=[IGNORECASE]"])
    {'timeout_s': 5, 'mode': 'json', 'flags': ['IGNORECASE']}
    """
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise RlfbError(f"bad option {pair!r}; write it as key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        options[key.strip()] = value
    return options


def read_text(path: str, what: str) -> str:
    """Read a text file, or raise a one-line error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RlfbError(f"cannot read {what} file {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RlfbError(f"{what} file {path!r} is not UTF-8 text") from None


def parse_json(text: str, what: str) -> Any:
    """Parse JSON, or raise a one-line error naming what it was."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RlfbError(f"{what} is not valid JSON: {exc}") from None
