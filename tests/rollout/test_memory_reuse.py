"""`keep_freed_memory`: freed large blocks are reused instead of page-faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import resource, torch
from rlfb.rollout.vllm_engine import keep_freed_memory

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        t = torch.ones(16 * 2**20)  # 64 MiB, every page written
        del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

plain = faults()
assert keep_freed_memory()
faults()  # the first pass grows the heap once
print(plain, faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_large_blocks_are_reused_after_keep_freed_memory():
    # in a child process: the setting is process-wide
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    plain, kept = map(int, out.stdout.split())
    assert plain > 5 * 16 * 2**20 // 4096 * 0.9  # each 64 MiB block faulted in again
    assert kept < plain / 10, (plain, kept)
