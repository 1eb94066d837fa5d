"""`rlfb.memory.keep_freed_memory`: freed large blocks are reused instead of page-faulted in
again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each pass writes five 64 MiB tensors one after another. torch asks glibc for aligned blocks
# slightly larger than a freed one, and small live allocations keep freed neighbours from
# merging, so the heap grows by a few blocks before they are reused: the probe measures a pass
# after three warm-up passes (steady state, as from a training run's second step on).
PROBE = """
import resource, sys, torch
from rlfb.memory import keep_freed_memory

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        t = torch.ones(16 * 2**20)  # 64 MiB, every page written
        del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(3):
    faults()
print(faults())
"""
PASS_PAGES = 5 * 16 * 2**20 * 4 // 4096


def probe(mode: str) -> int:
    # in a child process: the setting is process-wide
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_large_blocks_are_reused_after_keep_freed_memory():
    plain, kept = probe("plain"), probe("keep")
    assert plain > 0.9 * PASS_PAGES  # each 64 MiB block faulted in again
    assert kept < PASS_PAGES / 10, (plain, kept)
