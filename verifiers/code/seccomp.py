"""A seccomp filter that makes chosen system calls fail with EPERM, for the sandbox.

The fork server installs one filter on itself once (`SERVER_DENY`: the kernel keyrings), which
every child inherits at no cost per execution. The keyrings are kernel state keyed by uid (and
a session keyring a child shares with the fork server), so without the filter a key stored by
one execution could be read by a later one, even in a new verifier. Where no memory cgroup
bounds a worker, each child adds a second filter (`MEMFD_DENY`) after its own stdin is set up:
memfd pages are charged to no rlimit.

Other architectures than the native one (``int 0x80`` on x86-64, x32 system call numbers) are
denied outright. Loaded by file path inside the fork server; imports nothing from rlfb.
"""

from __future__ import annotations

import ctypes
import os
import struct

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_X32_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, system call numbers, whether x32 numbers exist)
_ARCHES: dict[str, tuple[int, dict[str, int], bool]] = {
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250,
                            "memfd_create": 319, "memfd_secret": 447}, True),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219,
                             "memfd_create": 279, "memfd_secret": 447}, False),
}

SERVER_DENY = ("add_key", "request_key", "keyctl", "memfd_secret")
MEMFD_DENY = ("memfd_create",)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(names: tuple[str, ...], machine: str | None = None) -> bytes:
    """The BPF program (``struct sock_filter`` array) denying ``names`` with EPERM on this
    machine's architecture. Raises `OSError` (ENOSYS) on an architecture it does not know."""
    machine = machine or os.uname().machine
    if machine not in _ARCHES:
        raise OSError(38, f"no seccomp table for {machine}")
    arch, numbers, x32 = _ARCHES[machine]
    nrs = [numbers[n] for n in names]
    # layout: ld arch; jeq arch; ld nr; [jge x32]; jeq nr...; ret allow; ret deny
    body = [("jge", _X32_BIT)] if x32 else []
    body += [("jeq", nr) for nr in nrs]
    n_total = 3 + len(body) + 2
    deny = n_total - 1
    insns = [_insn(_LD_W_ABS, 0, 0, 4), _insn(_JEQ_K, 0, deny - 2, arch),
             _insn(_LD_W_ABS, 0, 0, 0)]
    for i, (op, k) in enumerate(body):
        here = 3 + i
        insns.append(_insn(_JGE_K if op == "jge" else _JEQ_K, deny - here - 1, 0, k))
    insns += [_insn(_RET_K, 0, 0, _RET_ALLOW), _insn(_RET_K, 0, 0, _RET_ERRNO | 1)]
    return b"".join(insns)


_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                   ctypes.c_ulong]
_prepared: dict[tuple[str, ...], tuple[_SockFprog, bytes]] = {}


def prepare(names: tuple[str, ...]) -> None:
    """Build the program for ``names`` once (in the fork server), so that `deny` in a child
    only makes the system call."""
    if names not in _prepared:
        code = program(names)
        _prepared[names] = (_SockFprog(len(code) // 8, code), code)


def deny(names: tuple[str, ...]) -> None:
    """Install the filter for ``names`` on the calling thread (inherited by its children;
    needs ``no_new_privs`` or CAP_SYS_ADMIN). Raises `OSError` when the kernel refuses."""
    prepare(names)
    fprog, _ = _prepared[names]
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
