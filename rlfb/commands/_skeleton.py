"""The files `rlfb verifiers new NAME` writes: an installable verifier plugin package."""

from __future__ import annotations

from pathlib import Path

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "rlfb-{dash}"
version = "0.1.0"
description = "The {name} verifier for rlfb."
requires-python = ">=3.11"
dependencies = ["rlfb"]

# rlfb finds verifiers through this entry-point group, in every process that looks a name up.
[project.entry-points."rlfb.verifiers"]
{name} = "rlfb_{name}.verifier:{cls}"

[tool.setuptools]
packages = ["rlfb_{name}"]

# The golden cases are a data file beside the verifier: ship it.
[tool.setuptools.package-data]
rlfb_{name} = ["*_cases.jsonl"]
'''

VERIFIER = '''"""The `{name}` verifier: CORRECT when the completion's last line equals the reference,
ignoring case and surrounding whitespace. Replace `judge` with your own check."""

from __future__ import annotations

from typing import Any

from rlfb.golden import case_file, load_cases
from rlfb.verifiers import GoldenCase, Verdict, Verifier, VerifyStatus

C, W = VerifyStatus.CORRECT, VerifyStatus.WRONG


class {cls}(Verifier):
    """Compares the completion's last non-empty line with the reference."""

    version = "1"  # bump whenever a judgement can change
    # One case a line in {name}_cases.jsonl beside this file, run by `rlfb verifiers check`.
    golden_cases = load_cases(case_file(__file__, "{name}"), GoldenCase, VerifyStatus)

    def __init__(self, case_sensitive: bool = False) -> None:
        self.case_sensitive = case_sensitive

    def judge(self, completion: str, reference: Any) -> Verdict:
        lines = [line.strip() for line in completion.splitlines() if line.strip()]
        if not lines:
            return Verdict(VerifyStatus.UNPARSEABLE, info={{"reason": "empty completion"}})
        answer, expected = lines[-1], str(reference).strip()
        if not self.case_sensitive:
            answer, expected = answer.lower(), expected.lower()
        status = C if answer == expected else W
        return Verdict(status, extracted=lines[-1])
'''

TEST = '''from rlfb.verifiers import VerifyStatus, get_verifier, list_verifiers


def test_{name}_is_registered():
    assert "{name}" in list_verifiers()


def test_{name}_golden_cases():
    verifier = get_verifier("{name}")
    for case in type(verifier).golden_cases:
        result = get_verifier("{name}", **case.options).verify(case.completion, case.reference)
        assert result.status == case.expected, (case, result)


def test_{name}_reports_its_name():
    result = get_verifier("{name}").verify("Paris", "paris")
    assert result.status is VerifyStatus.CORRECT
    assert result.verifier == "{name}"
'''

CASES = (
    '{{"completion": "Paris", "reference": "paris", "expected": "correct"}}\n'
    '{{"completion": "Thinking...\\nParis", "reference": "Paris", "expected": "correct", '
    '"note": "last line counts"}}\n'
    '{{"completion": "London", "reference": "Paris", "expected": "wrong", "kind": "negative"}}\n'
    '{{"completion": "", "reference": "Paris", "expected": "unparseable", "kind": "negative", '
    '"note": "empty"}}\n'
    '{{"completion": "Paris\\nor London", "reference": "Paris", "expected": "wrong", '
    '"kind": "adversarial", "note": "a second candidate on the last line"}}\n'
)

README = '''# rlfb-{dash}

The `{name}` verifier for rlfb. Install and check it:

    pip install -e .
    rlfb verifiers check {name}
    rlfb verify {name} --completion "Paris" --reference "paris"
'''


def write_skeleton(name: str, target: Path) -> list[Path]:
    """Write the package for verifier ``name`` under ``target``; returns the files written."""
    cls = "".join(part.capitalize() for part in name.split("_")) + "Verifier"
    fields = {"name": name, "dash": name.replace("_", "-"), "cls": cls}
    files = {
        target / "pyproject.toml": PYPROJECT,
        target / "README.md": README,
        target / f"rlfb_{name}" / "__init__.py": '"""The {name} verifier plugin for rlfb."""\n',
        target / f"rlfb_{name}" / "verifier.py": VERIFIER,
        target / f"rlfb_{name}" / f"{name}_cases.jsonl": CASES,
        target / "tests" / f"test_{name}.py": TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields), encoding="utf-8")
    return list(files)
