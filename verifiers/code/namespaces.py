"""Namespaces and the sandbox's view of the file system, set up once by the fork server.

Loaded by file path inside the fork server (see `zygote`); imports nothing from rlfb.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _flags(lx: Any) -> dict[str, int]:
    return {"pidns": lx.CLONE_NEWPID, "netns": lx.CLONE_NEWNET, "mntns": lx.CLONE_NEWNS,
            "ipcns": lx.CLONE_NEWIPC, "utsns": lx.CLONE_NEWUTS, "cgroupns": lx.CLONE_NEWCGROUP}


def enter_namespaces(lx: Any, wanted: bool, user: tuple[int, int] | None = None
                     ) -> dict[str, Any]:
    """unshare() into the namespaces that work here (``lx``: the `linux` module); report which
    did. With ``user`` (this process's uid and gid, when it is not root), all of them at once
    inside a new user namespace in which that uid is 0, or none (``userns`` False: the caller
    refuses to run)."""
    flags = _flags(lx)
    iso: dict[str, Any] = {k: False for k in flags}
    iso["userns"] = False
    if user is not None:
        try:
            lx.unshare(lx.CLONE_NEWUSER | sum(flags.values()))
            lx.map_user_namespace(*user)
        except OSError as exc:
            iso["userns_error"] = str(exc)
            return iso
        return {**{k: True for k in flags}, "userns": True}
    if not wanted:
        return iso
    try:
        lx.unshare(sum(flags.values()))
        return {**{k: True for k in flags}, "userns": False}
    except OSError:
        pass
    for key, flag in flags.items():
        try:
            lx.unshare(flag)
            iso[key] = True
        except OSError as exc:
            iso[f"{key}_error"] = str(exc)
    return iso


def setup_mounts(lx: Any, cfg: dict[str, Any], iso: dict[str, Any]) -> None:
    """Private, read-only view of the host; fresh /proc; hidden paths."""
    lx.mount(None, "/", None, lx.MS_REC | lx.MS_PRIVATE)
    quiet = lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC
    iso["fresh_proc"] = False
    if iso["pidns"]:
        try:
            lx.mount("proc", "/proc", "proc", quiet, "hidepid=2")
            iso["fresh_proc"] = True
        except OSError as exc:
            iso["fresh_proc_error"] = str(exc)
    if iso["netns"]:  # sysfs shows the network namespace of whoever mounts it
        _try(iso, "fresh_sys", lambda: lx.mount("sysfs", "/sys", "sysfs", lx.MS_RDONLY | quiet))
    _try(iso, "minimal_dev", lambda: minimal_dev(lx))
    needed = _python_paths()
    hidden, exposed = [], []
    for path in cfg["hide_paths"]:
        real = os.path.realpath(path)
        if os.path.isdir(real):
            exposed += hide_dir(lx, real, [n for n in needed if _under(n, real)])
            hidden.append(path)
    iso["hidden_paths"], iso["exposed_python_paths"] = hidden, exposed
    # /proc is this namespace's; a fresh /sys and the minimal /dev are read-only already, and
    # the host mounts below them are no longer reachable.
    replaced = ("/proc",) + (("/sys",) if iso.get("fresh_sys") else ()) + (
        ("/dev",) if iso.get("minimal_dev") else ())
    iso["writable_mounts"] = lx.remount_all_readonly(skip=replaced)
    iso["readonly_root"] = not iso["writable_mounts"]


def lock_proc_sys(lx: Any, iso: dict[str, Any]) -> None:
    """Make this namespace's /proc/sys read-only (once the server has set its System V limits):
    in its own user namespace a candidate is uid 0 there, the owner of the IPC and network
    sysctls, and could raise them."""
    def lock() -> None:
        lx.mount("/proc/sys", "/proc/sys", None, lx.MS_BIND | lx.MS_REC)
        lx.mount(None, "/proc/sys", None, lx.MS_REMOUNT | lx.MS_BIND | lx.MS_RDONLY
                 | lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC)

    if iso.get("fresh_proc"):
        _try(iso, "readonly_proc_sys", lock)


def _try(iso: dict[str, Any], key: str, step: Any) -> None:
    """Run one optional hardening step; record in ``iso`` whether it worked."""
    try:
        step()
        iso[key] = True
    except OSError as exc:
        iso[key] = False
        iso[f"{key}_error"] = str(exc)


_DEVICES = ("null", "zero", "full", "random", "urandom")


def minimal_dev(lx: Any) -> None:
    """Replace /dev by a read-only tmpfs holding only the harmless devices (bound from the
    real ones), the usual /dev/fd links and an empty /dev/shm for each execution's tmpfs."""
    handles = {name: os.open(f"/dev/{name}", os.O_PATH) for name in _DEVICES}
    quiet = lx.MS_NOSUID | lx.MS_NOEXEC
    lx.mount("tmpfs", "/dev", "tmpfs", quiet, "size=64k,mode=0755")
    try:
        for name, fd in handles.items():
            open(f"/dev/{name}", "w").close()
            lx.mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, lx.MS_BIND)
    finally:
        for fd in handles.values():
            os.close(fd)
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{link}")
    os.mkdir("/dev/shm", 0o1777)
    lx.mount(None, "/dev", None, lx.MS_REMOUNT | lx.MS_RDONLY | quiet)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _python_paths() -> list[str]:
    """Directories Python needs to import from (stdlib, site-packages, the venv), minimised."""
    found = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, *sys.path)
             if p and os.path.isdir(p)}
    return sorted(p for p in found if not any(q != p and _under(p, q) for q in found))


def hide_dir(lx: Any, root: str, keep: list[str]) -> list[str]:
    """Show ``root`` as an empty read-only directory, except for the ``keep`` paths under it,
    which are bind-mounted back (read-only) at their own paths. Returns the kept paths."""
    handles = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keep]
    quiet = lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC
    lx.mount("tmpfs", root, "tmpfs", quiet, "size=64k,mode=0755")
    try:
        for path, fd in zip(keep, handles):
            os.makedirs(path, mode=0o755, exist_ok=True)
            lx.mount(f"/proc/self/fd/{fd}", path, None, lx.MS_BIND | lx.MS_REC)
    finally:
        for fd in handles:
            os.close(fd)
    lx.mount(None, root, None, lx.MS_REMOUNT | lx.MS_RDONLY | quiet)
    return keep




# Deeper than this, a directory tree is not walked: the tmpfs is replaced instead (a candidate
# can leave a chain as deep as its inode limit; unmounting frees any tree at once).
WIPE_MAX_DEPTH = 64


def wipe_dir(path: str, uid: int) -> bool:
    """Make the root of a tmpfs that an execution used (all of whose processes are gone) as good
    as new for the next one, owned by ``uid``: every entry removed, extended attributes
    dropped, mode 0700, timestamps now. False when any of it failed or the tree is deeper than
    `WIPE_MAX_DEPTH` (then mount a fresh one); it never raises, whatever the candidate left
    (odd names, fifos, sockets, modes without any bit, xattrs, deep chains)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not _remove_entries(fd, 0):
            return False
        for name in os.listxattr(fd):
            os.removexattr(fd, name)
        os.fchown(fd, uid, uid)
        os.fchmod(fd, 0o700)
        os.utime(fd)
        return not os.listdir(fd)
    except Exception:  # OSError, MemoryError, RecursionError: the caller mounts a fresh tmpfs
        return False
    finally:
        os.close(fd)


def _remove_entries(fd: int, depth: int) -> bool:
    """Remove everything in the directory ``fd``, walking at most `WIPE_MAX_DEPTH` levels with
    one descriptor per level (no path grows, no symlink is followed). False: too deep."""
    with os.scandir(fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        if not is_dir:
            os.unlink(name, dir_fd=fd)
            continue
        if depth >= WIPE_MAX_DEPTH:
            return False
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            done = _remove_entries(sub, depth + 1)
        finally:
            os.close(sub)
        if not done:
            return False
        os.rmdir(name, dir_fd=fd)
    return True
