"""Thin ctypes wrappers for the Linux calls the sandbox needs: unshare, mount, prctl.

Python 3.11 has no ``os.unshare``; all three go through libc with errno preserved, and raise
`OSError` on failure. Loaded by file path inside the fork server, so it imports nothing from rlfb.
"""

from __future__ import annotations

import ctypes
import os
from typing import NamedTuple

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# noroot, no_setuid_fixup, keep_caps (off) and no_cap_ambient_raise, each set and locked: no
# later exec or uid change can give a capability back.
SECURE_ALL = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80

_OPTION_FLAGS = {
    "ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``CLONE_NEW*`` flags)."""
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    """mount(2); ``None`` arguments become NULL."""
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


# A second handle on prctl for the sandboxed child's hot path: no errno bookkeeping, arguments
# pre-built once (in the fork server) and shared by every child, so a call touches few pages
# that the fork made copy-on-write.
_prctl_lean = ctypes.CDLL(None, use_errno=False).prctl
_prctl_lean.restype = ctypes.c_int
_lean_args: dict[tuple[int, int], tuple[ctypes._SimpleCData, ...]] = {}


def prctl_args(option: int, arg: int) -> tuple[ctypes._SimpleCData, ...]:
    """The C arguments of ``prctl(option, arg, 0, 0, 0)``, built once and kept."""
    args = _lean_args.get((option, arg))
    if args is None:
        zero = ctypes.c_ulong(0)
        args = (ctypes.c_int(option), ctypes.c_ulong(arg), zero, zero, zero)
        _lean_args[(option, arg)] = args
    return args


def prctl(option: int, arg: int = 0) -> None:
    """prctl(2) with one argument; `OSError` with the errno on failure."""
    if _prctl_lean(*prctl_args(option, arg)) != 0:  # again, through the errno-keeping handle
        _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def release_free_memory() -> None:
    """malloc_trim(0): hand the allocator's free pages back to the kernel, so that a fork has
    fewer page-table entries to copy and a child fewer to tear down."""
    _libc.malloc_trim(0)


class MountPoint(NamedTuple):
    """One line of /proc/self/mountinfo: where, which flags, and the filesystem type."""

    path: str
    flags: int
    fstype: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[MountPoint]:
    """Every mount of this mount namespace, in the order the kernel lists them."""
    points = []
    with open(mountinfo) as fh:
        for line in fh:
            fields = line.split()
            sep = fields.index("-")
            flags = 0
            for opt in fields[5].split(","):
                flags |= _OPTION_FLAGS.get(opt, 0)
            points.append(MountPoint(_unescape(fields[4]), flags, fields[sep + 1]))
    return points


def remount_all_readonly(skip: tuple[str, ...] = ()) -> list[str]:
    """Bind-remount every mount read-only (keeping its other flags, adding nosuid).

    Only meaningful inside a private mount namespace. Returns the mount points that could not
    be made read-only; paths under any of ``skip`` are left alone.
    """
    failed = []
    for mp in mount_points():
        if mp.flags & MS_RDONLY or any(mp.path == s or mp.path.startswith(s + "/") for s in skip):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | (mp.flags & ~MS_RDONLY)
        try:
            mount(None, mp.path, None, flags)
        except OSError:
            failed.append(mp.path)
    return failed


MNT_DETACH = 2
IPC_RMID = 0
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def umount_lazy(target: str) -> None:
    """umount2(target, MNT_DETACH): detach now, free when the last user is gone."""
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


_IPC_REMOVE = {
    "shm": lambda i: _libc.shmctl(i, IPC_RMID, None),
    "sem": lambda i: _libc.semctl(i, 0, IPC_RMID, 0),
    "msg": lambda i: _libc.msgctl(i, IPC_RMID, None),
}


def _read_small(path: str) -> bytes:
    """A /proc file's bytes, read with plain system calls (the fork server runs this after
    every execution: no file objects, no buffers to allocate)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def remove_sysv_ipc(uid: int, proc: str = "/proc/sysvipc") -> int:
    """Remove every System V shared-memory segment, semaphore set and message queue of this
    IPC namespace that ``uid`` owns or created; returns how many were removed."""
    removed, owner = 0, str(uid).encode()
    for kind, remove in _IPC_REMOVE.items():
        try:
            header, *rows = _read_small(f"{proc}/{kind}").splitlines()
        except (OSError, ValueError):
            continue
        if not rows:
            continue
        names = header.split()
        owner_cols = [names.index(c) for c in (b"uid", b"cuid") if c in names]
        for row in rows:
            fields = row.split()
            if len(fields) < len(names) or not fields[1].isdigit():
                continue
            if any(fields[c] == owner for c in owner_cols) and remove(int(fields[1])) == 0:
                removed += 1
    return removed


def limit_sysv_ipc(shm_bytes: int, proc_sys: str = "/proc/sys/kernel") -> dict[str, str]:
    """Cap System V IPC in this IPC namespace (the limits are per namespace); returns what
    could not be set, by sysctl name."""
    page = os.sysconf("SC_PAGE_SIZE")
    wanted = {"shmmax": str(shm_bytes), "shmall": str(max(1, shm_bytes // page)),
              "shmmni": "16", "msgmni": "16", "msgmnb": "65536", "sem": "32 256 32 16"}
    failed = {}
    for name, value in wanted.items():
        try:
            with open(f"{proc_sys}/{name}", "w") as fh:
                fh.write(value)
        except OSError as exc:
            failed[name] = str(exc)
    return failed


def map_user_namespace(uid: int, gid: int) -> None:
    """In a user namespace this process just created, map its uid and gid (outside) to 0, and
    deny setgroups (required before an unprivileged gid map)."""
    for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"0 {uid} 1"),
                       ("/proc/self/gid_map", f"0 {gid} 1")):
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    try:
        return int(_read_small("/proc/sys/kernel/cap_last_cap"))
    except (OSError, ValueError):
        return 40


def drop_capabilities(last_cap: int) -> None:
    """Give up every capability for good (the calling process's uid 0 of a user namespace
    becomes an ordinary user): lock the securebits, empty the bounding and ambient sets, and
    clear the effective, permitted and inheritable sets. Raises `OSError` on failure."""
    prctl(PR_SET_SECUREBITS, SECURE_ALL)
    for cap in range(last_cap + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            _check(-1, f"drop capability {cap}")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient")
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(_CAP_V3, 0)), data), "capset")


_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make ``new_root`` this mount namespace's root, the old one ``put_old``."""
    nr = _PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise OSError(38, f"pivot_root: no system call number for {os.uname().machine}")
    _check(_libc.syscall(nr, new_root.encode(), put_old.encode()), "pivot_root")
