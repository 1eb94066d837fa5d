"""Shared helpers for the code verifier's tests (not a test module)."""

from __future__ import annotations

import os

# Tests use their own sandbox uid range, away from the default one, so that a benchmark or
# another rlfb process on the machine cannot make these tests see foreign processes.
TEST_UID_BASE = 1_900_010_000
UID_SPAN = 1024

ADD_REF = {"entry_point": "add",
           "test": "def check(candidate):\n"
                   "    assert candidate(2, 3) == 5\n"
                   "    assert candidate(-4, 4) == 0\n"}


def fenced(body: str) -> str:
    """A completion holding ``body`` in a python fence."""
    return f"Here you go:\n```python\n{body}\n```\n"


def sandbox_pids(base: int = TEST_UID_BASE, span: int = UID_SPAN) -> list[int]:
    """Live processes whose real uid is in the sandbox uid range."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                uid = next(line for line in fh if line.startswith("Uid:")).split()[1]
        except (OSError, StopIteration):
            continue
        if base <= int(uid) < base + span:
            found.append(int(entry))
    return found


def leftover_workroots(base: int = TEST_UID_BASE, span: int = UID_SPAN) -> list[str]:
    """Host directories a sandbox of this uid range could have left in the temp dir."""
    import tempfile

    tmp = tempfile.gettempdir()
    return [name for name in os.listdir(tmp) if name.startswith("rlfb-sandbox-")
            and name[len("rlfb-sandbox-"):].isdigit()
            and base <= int(name[len("rlfb-sandbox-"):]) < base + span]
