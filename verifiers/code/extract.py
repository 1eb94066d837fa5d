"""Which code a completion holds.

Rules, first match wins:

1. the last closed fenced block tagged as Python (```python, ```py, ```python3, ```py3, any case);
2. the last closed fenced block with no language tag;
3. an opening Python or untagged fence that is never closed (a generation cut off mid-block):
   everything after it;
4. otherwise the raw completion.

Blocks tagged with another language are never taken. A fence may be indented (inside a list);
that indentation is removed from the block's lines.

>>> extract_code("Here:\\n```python\\nprint(1)\\n```\\nand\\n```python\\nprint(2)\\n```")
('print(2)\\n', 'fenced')
>>> extract_code("def f():\\n    return 1\\n")
('def f():\\n    return 1\\n', 'raw')
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"^([ \t]*)(`{3,})[ \t]*([A-Za-z0-9_+.#-]*)[^\n`]*$")
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


def _blocks(text: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """Closed blocks as (tag, body), and the unclosed one at the end, if any."""
    lines = text.splitlines(keepends=True)
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i].rstrip("\r\n"))
        if not m:
            i += 1
            continue
        indent, fence, tag = m.group(1), m.group(2), m.group(3).lower()
        close = re.compile(rf"^[ \t]*{fence}`*[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j].rstrip("\r\n")):
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip(" \t"))
            j += 1
        if j >= len(lines):
            return blocks, (tag, "".join(body))
        blocks.append((tag, "".join(body)))
        i = j + 1
    return blocks, None


def extract_code(completion: str) -> tuple[str, str]:
    """(code, how it was found): ``"fenced"``, ``"fenced-unclosed"`` or ``"raw"``."""
    blocks, unclosed = _blocks(completion)
    for wanted in (lambda t: t in _PYTHON_TAGS, lambda t: t == ""):
        chosen = [body for tag, body in blocks if wanted(tag)]
        if chosen:
            return chosen[-1], "fenced"
    if unclosed is not None and (unclosed[0] in _PYTHON_TAGS or unclosed[0] == "") \
            and unclosed[1].strip():
        return unclosed[1], "fenced-unclosed"
    return completion, "raw"
