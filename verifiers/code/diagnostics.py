"""Checks that nothing of the sandbox is left: used by the tests and the benchmark.

>>> sandbox_processes(2**31 - 2048)   # a range nothing runs as
[]
"""

from __future__ import annotations

import os
import tempfile

from rlfb.verifiers.code.forkserver import UID_SPAN


def sandbox_processes(uid_base: int, span: int = UID_SPAN) -> list[int]:
    """Pids of live processes whose real uid is in ``[uid_base, uid_base + span)``; zombies
    (dead, waiting for their parent to collect them) are not counted."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        uid = int(fields.get("Uid", "-1 ").split()[0])
        if uid_base <= uid < uid_base + span and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(entry))
    return found


def leftover_workdirs(uid_base: int, span: int = UID_SPAN) -> list[str]:
    """Host working directories (``rlfb-sandbox-UID-N`` in the temp dir) of that uid range;
    only a worker without a mount namespace makes them, and it removes each after its run."""
    prefix = "rlfb-sandbox-"
    found = []
    for name in os.listdir(tempfile.gettempdir()):
        uid = name[len(prefix):].split("-")[0]
        if name.startswith(prefix) and uid.isdigit() and uid_base <= int(uid) < uid_base + span:
            found.append(name)
    return found
