"""`"format"`: does a completion have the required shape?

Three modes, chosen with ``mode``:

``tags`` (default)
    The think/answer structure ``<think>…</think><answer>…</answer>`` with configurable tag
    names. Strict about structure: text before the first tag or after the closing answer tag, a
    second think or answer block, nested or unclosed tags, blocks in the wrong order, a missing
    block, or an empty answer are all WRONG. Tags are matched exactly (case-sensitive, no
    attributes); any other text is content.

    Whitespace policy (``whitespace``):

    - ``"lenient"`` (default): any whitespace (spaces, tabs, newlines) may stand before the first
      tag, between ``</think>`` and ``<answer>``, and after ``</answer>``.
    - ``"strict"``: nothing before the first tag; at most one newline between the blocks; at most
      one trailing newline after ``</answer>``.

    Inside the blocks anything goes except tags; the answer is stripped of surrounding whitespace
    and returned as ``extracted`` so other verifiers can chain on it. ``require_think=False``
    makes the think block optional (when present it must come first).

``regex``
    The completion must match ``pattern`` (or, when ``pattern`` is not set, the reference, read
    as a pattern). ``match="full"`` (default) needs the whole completion, stripped, to match;
    ``"search"`` accepts a match anywhere. ``extracted`` is the named group ``answer``, else
    group 1, else the whole match.

``json``
    The completion must parse as JSON (``extract="raw"``), or be one fenced code block holding
    JSON (``"fenced"``), or either (``"auto"``, default); with ``schema`` (a dict, or a path to a
    JSON file) it must also validate against that JSON Schema (via the ``jsonschema`` library).
    ``extracted`` is the parsed value re-serialised compactly with sorted keys.

The reference is unused in ``tags`` and ``json`` modes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from rlfb.errors import ConfigError
from rlfb.golden import case_file, load_cases
from rlfb.verifiers.base import GoldenCase, Verdict, Verifier, VerifyStatus


CORRECT, WRONG = VerifyStatus.CORRECT, VerifyStatus.WRONG
_FENCE = re.compile(r"^```[A-Za-z0-9_+-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)
_FLAGS = {"IGNORECASE": re.IGNORECASE, "DOTALL": re.DOTALL, "MULTILINE": re.MULTILINE}


def _wrong(reason: str, **info: Any) -> Verdict:
    return Verdict(WRONG, info={"reason": reason, **info})


class FormatVerifier(Verifier):
    """Checks tag structure, a regular expression, or JSON (see the module docstring)."""

    version = "1"
    golden_cases: tuple[GoldenCase, ...] = load_cases(
        case_file(__file__, "format"), GoldenCase, VerifyStatus)

    def __init__(
        self,
        mode: Literal["tags", "regex", "json"] = "tags",
        think_tag: str = "think",
        answer_tag: str = "answer",
        require_think: bool = True,
        whitespace: Literal["lenient", "strict"] = "lenient",
        pattern: str | None = None,
        match: Literal["full", "search"] = "full",
        flags: list[str] | tuple[str, ...] = (),
        schema: dict[str, Any] | str | None = None,
        extract: Literal["auto", "raw", "fenced"] = "auto",
    ) -> None:
        _check_choice("mode", mode, ("tags", "regex", "json"))
        _check_choice("whitespace", whitespace, ("lenient", "strict"))
        _check_choice("match", match, ("full", "search"))
        _check_choice("extract", extract, ("auto", "raw", "fenced"))
        for tag in (think_tag, answer_tag):
            if not re.fullmatch(r"[A-Za-z][\w.-]*", tag):
                raise ConfigError(f"format: tag name {tag!r} is not a plain name like 'answer'")
        if think_tag == answer_tag:
            raise ConfigError("format: think_tag and answer_tag must differ")
        self.mode = mode
        self.think_tag, self.answer_tag = think_tag, answer_tag
        self.require_think = require_think
        self.whitespace = whitespace
        self.match = match
        self.extract = extract
        self._flags = _parse_flags(flags)
        self._pattern = _compile(pattern, self._flags) if pattern is not None else None
        self._schema = _load_schema(schema) if schema is not None else None
        self._tag_re = re.compile(f"</?(?:{re.escape(think_tag)}|{re.escape(answer_tag)})>")

    def judge(self, completion: str, reference: Any) -> Verdict:
        """Judge the completion's shape in the configured mode."""
        if not isinstance(completion, str):
            raise TypeError(f"completion must be a string, got {type(completion).__name__}")
        if self.mode == "tags":
            return self._judge_tags(completion)
        if self.mode == "regex":
            return self._judge_regex(completion, reference)
        return self._judge_json(completion)

    # -- tags ------------------------------------------------------------------------------
    def _judge_tags(self, text: str) -> Verdict:
        tags = [(m.group(0), m.start(), m.end()) for m in self._tag_re.finditer(text)]
        names = [t[0] for t in tags]
        think = [f"<{self.think_tag}>", f"</{self.think_tag}>"]
        answer = [f"<{self.answer_tag}>", f"</{self.answer_tag}>"]
        if names == think + answer:
            gaps = (text[: tags[0][1]], text[tags[1][2] : tags[2][1]], text[tags[3][2] :])
            body = text[tags[2][2] : tags[3][1]]
        elif names == answer and not self.require_think:
            gaps = (text[: tags[0][1]], "", text[tags[1][2] :])
            body = text[tags[0][2] : tags[1][1]]
        else:
            return _wrong(self._structure_problem(names), tags=names)
        problem = self._gap_problem(*gaps)
        if problem:
            return _wrong(problem, tags=names)
        if not body.strip():
            return _wrong("the answer block is empty", tags=names)
        return Verdict(CORRECT, extracted=body.strip(), info={"tags": names})

    def _structure_problem(self, names: list[str]) -> str:
        """A one-line description of why the tag sequence is not the required one."""
        t_open, t_close = f"<{self.think_tag}>", f"</{self.think_tag}>"
        a_open, a_close = f"<{self.answer_tag}>", f"</{self.answer_tag}>"
        if not names:
            return "no tags found"
        if names.count(a_open) > 1 or names.count(a_close) > 1:
            return f"more than one {a_open} block"
        if names.count(t_open) > 1 or names.count(t_close) > 1:
            return f"more than one {t_open} block"
        if a_open not in names:
            return f"missing {a_open} block"
        if self.require_think and t_open not in names:
            return f"missing {t_open} block"
        if names.count(t_open) != names.count(t_close) or a_close not in names:
            return "unclosed or unopened tag"
        return "tags nested or in the wrong order: " + " ".join(names)

    def _gap_problem(self, before: str, between: str, after: str) -> str | None:
        if self.whitespace == "lenient":
            checks = ((before, "text before the first tag"), (between, "text between the blocks"),
                      (after, "text after the closing answer tag"))
            for gap, what in checks:
                if gap.strip():
                    return what
            return None
        if before:
            return "text before the first tag (strict whitespace)"
        if between not in ("", "\n"):
            return "more than one newline between the blocks (strict whitespace)"
        if after not in ("", "\n"):
            return "text after the closing answer tag (strict whitespace)"
        return None

    # -- regex -----------------------------------------------------------------------------
    def _judge_regex(self, text: str, reference: Any) -> Verdict:
        pattern = self._pattern
        if pattern is None:
            if not isinstance(reference, str):
                raise ConfigError("format: regex mode needs `pattern` or a string reference")
            pattern = _compile(reference, self._flags)
        m = pattern.fullmatch(text.strip()) if self.match == "full" else pattern.search(text)
        if m is None:
            return _wrong(f"no {self.match} match for pattern", pattern=pattern.pattern)
        if "answer" in pattern.groupindex:
            extracted = m.group("answer")
        elif pattern.groups:
            extracted = m.group(1)
        else:
            extracted = m.group(0)
        return Verdict(CORRECT, extracted=extracted, info={"span": list(m.span())})

    # -- json ------------------------------------------------------------------------------
    def _judge_json(self, text: str) -> Verdict:
        stripped = text.strip()
        fenced = _FENCE.match(stripped)
        candidates: list[tuple[str, str]] = []
        if self.extract in ("auto", "raw"):
            candidates.append(("raw", stripped))
        if self.extract in ("auto", "fenced") and fenced:
            candidates.append(("fenced", fenced.group(1)))
        errors = []
        for source, candidate in candidates:
            try:
                value = json.loads(candidate)
            except json.JSONDecodeError as exc:
                errors.append(f"{source}: {exc}")
                continue
            return self._validate_json(value, source)
        if not candidates:
            return _wrong("not a single fenced code block")
        return _wrong("not valid JSON", errors=errors)

    def _validate_json(self, value: Any, source: str) -> Verdict:
        extracted = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if self._schema is not None:
            import jsonschema

            validator = jsonschema.validators.validator_for(self._schema)(self._schema)
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
            if errors:
                where = "/".join(str(p) for p in errors[0].path) or "(root)"
                return _wrong(f"schema violation at {where}: {errors[0].message}", source=source)
        return Verdict(CORRECT, extracted=extracted, info={"source": source})


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"format: {name}={value!r} is not one of {', '.join(choices)}")


def _parse_flags(flags: list[str] | tuple[str, ...] | str) -> int:
    if isinstance(flags, str):
        flags = [flags]
    value = 0
    for flag in flags:
        if flag.upper() not in _FLAGS:
            raise ConfigError(f"format: unknown regex flag {flag!r}; use {', '.join(_FLAGS)}")
        value |= _FLAGS[flag.upper()]
    return value


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ConfigError(f"format: bad regular expression {pattern!r}: {exc}") from None


def _load_schema(schema: dict[str, Any] | str) -> dict[str, Any]:
    import jsonschema

    if isinstance(schema, str):
        path = Path(schema)
        try:
            schema = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"format: cannot read JSON schema file {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"format: JSON schema file {path} is not JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise ConfigError("format: schema must be a JSON object (a dict) or a path to one")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"format: invalid JSON schema: {exc.message}") from None
    return schema
