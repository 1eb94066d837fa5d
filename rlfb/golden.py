"""Golden cases as data: a JSON Lines file beside the module it checks, read by one loader.

Every verifier, reward and hedge detector keeps its labelled examples in ``<name>_cases.jsonl``
next to its code, one case per line, with the fields of its case dataclass
(`rlfb.verifiers.base.GoldenCase`, `rlfb.rewards.hedging.detect.HedgeCase`). ``expected`` is
written as the enum's value ("correct", "hedged", ...). Data stays data: a case is added by
appending a line, without touching code, and `rlfb verifiers check` reads the same file.

>>> import tempfile, pathlib
>>> from dataclasses import dataclass
>>> from enum import Enum
>>> class Mood(str, Enum):
...     HAPPY = "happy"
>>> @dataclass(frozen=True)
... class Case:
...     text: str
...     expected: Mood
>>> path = pathlib.Path(tempfile.mkdtemp()) / "cases.jsonl"
>>> _ = path.write_text('{"text": "yay", "expected": "happy"}\\n')
>>> load_cases(path, Case, Mood)
(Case(text='yay', expected=<Mood.HAPPY: 'happy'>),)
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def case_file(module_file: str, name: str) -> Path:
    """The cases file ``<name>_cases.jsonl`` in the directory of ``module_file``
    (pass ``__file__``)."""
    return Path(module_file).with_name(f"{name}_cases.jsonl")


def load_cases(path: Path, case_type: type[T], expected: type[Enum]) -> tuple[T, ...]:
    """Read ``path`` (JSON Lines; blank lines skipped) into ``case_type`` instances, converting
    each record's ``expected`` with the enum ``expected``. A bad line raises `ValueError` naming
    the file, the line and the problem."""
    names = {f.name for f in dataclasses.fields(case_type)}  # type: ignore[arg-type]
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        cases.append(_case(line, case_type, expected, names, f"{path}:{number}"))
    return tuple(cases)


def _case(line: str, case_type: type[T], expected: type[Enum], names: set[str], where: str) -> T:
    try:
        record: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg})") from None
    unknown = sorted(set(record) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; fields are {sorted(names)}")
    try:
        record["expected"] = expected(record["expected"])
        return case_type(**record)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{where}: bad case ({type(exc).__name__}: {exc})") from None


def dump_case(case: Any) -> str:
    """One JSON line for ``case`` (a case dataclass), fields at their defaults left out."""
    record = {}
    for f in dataclasses.fields(case):
        value = getattr(case, f.name)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING \
                or value != default:
            record[f.name] = value.value if isinstance(value, Enum) else value
    return json.dumps(record, ensure_ascii=False)
