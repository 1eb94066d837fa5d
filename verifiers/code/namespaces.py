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
    """The sandbox's view of the file system: by default (``view`` "minimal") a new root that
    holds only what Python needs (`build_minimal_root`); with ``view`` "host", or when that
    fails, the host's tree read-only with ``hide_paths`` shown empty. Fresh /proc and a minimal
    /dev either way."""
    lx.mount(None, "/", None, lx.MS_REC | lx.MS_PRIVATE)
    iso["minimal_root"] = False
    if cfg.get("view", "minimal") == "minimal" and iso["pidns"]:
        try:
            build_minimal_root(lx, cfg, iso)
            iso["minimal_root"] = True
        except OSError as exc:
            iso["minimal_root_error"] = str(exc)
    if not iso["minimal_root"]:
        _host_view(lx, iso)
    needed = _python_paths()
    moved = iso.get("moved") or {}
    hidden, exposed = [], []
    for path in cfg["hide_paths"]:
        real = os.path.realpath(path)
        if iso["minimal_root"] and not any(_under(real, e) and real != e
                                           for e in iso["exposed_dirs"]):
            hidden.append(path)  # not shown at all, or only on the way to a shown directory
            continue
        if not os.path.isdir(shown_at(real, moved)):
            continue
        exposed += hide_dir(lx, shown_at(real, moved),
                            [shown_at(n, moved) for n in needed if _under(n, real)])
        hidden.append(path)
    iso["hidden_paths"], iso["exposed_python_paths"] = hidden, exposed
    # /proc is this namespace's; a fresh /sys and the minimal /dev are read-only already, and
    # the host mounts below them are no longer reachable.
    replaced = ("/proc",) + (("/sys",) if iso.get("fresh_sys") else ()) + (
        ("/dev",) if iso.get("minimal_dev") else ())
    iso["writable_mounts"] = lx.remount_all_readonly(skip=replaced)
    iso["readonly_root"] = not iso["writable_mounts"]


def _host_view(lx: Any, iso: dict[str, Any]) -> None:
    """The host's tree (made read-only later) with a fresh /proc, /sys and a minimal /dev."""
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


# Shared-library directories: extension modules a candidate imports load their libraries
# from here (the interpreter's own are already mapped). Top-level links (merged /usr) are
# recreated as links.
_LIBRARY_DIRS = ("/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32",
                 "/usr/local/lib")
_ROOT_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


def exposed_dirs() -> list[str]:
    """What the minimal root shows of the host, read-only: the interpreter's prefixes and
    import path (stdlib, site-packages, the virtualenv) and the shared-library directories,
    minimised (none inside another)."""
    found = set(_python_paths())
    for directory in _LIBRARY_DIRS:
        if os.path.isdir(directory):
            found.add(os.path.realpath(directory))
    try:
        with open("/proc/self/maps") as fh:  # libraries mapped from anywhere else
            for line in fh:
                path = line.split(maxsplit=5)[-1].strip()
                if path.startswith("/") and ".so" in os.path.basename(path):
                    found.add(os.path.dirname(os.path.realpath(path)))
    except OSError:
        pass
    found = {p for p in found if os.path.isdir(p) and p != "/"}
    return sorted(p for p in found if not any(q != p and _under(p, q) for q in found))


def generated_etc(uids: list[int]) -> dict[str, str]:
    """The minimal /etc: the sandbox's own users and groups, localhost, files-only lookups;
    nothing of the host's."""
    users = ["root:x:0:0:sandbox root:/:/usr/sbin/nologin"]
    groups = ["root:x:0:"]
    for i, uid in enumerate(dict.fromkeys(u for u in uids if u != 0)):
        users.append(f"sandbox{i}:x:{uid}:{uid}:sandbox:/tmp:/usr/sbin/nologin")
        groups.append(f"sandbox{i}:x:{uid}:")
    users.append("nobody:x:65534:65534:sandbox nobody:/:/usr/sbin/nologin")
    groups.append("nogroup:x:65534:")
    return {"passwd": "\n".join(users) + "\n", "group": "\n".join(groups) + "\n",
            "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n"}


def build_minimal_root(lx: Any, cfg: dict[str, Any], iso: dict[str, Any]) -> None:
    """Default-deny: a new root (a small tmpfs, made read-only later) holding `exposed_dirs`
    bound read-only at their own paths, a generated /etc (`generated_etc`, plus the dynamic
    linker's cache), a minimal /dev, a fresh /proc and an empty /tmp; then pivot into it and
    detach the host's tree. Nothing else of the host is reachable. Before the pivot a failure
    undoes the new root (`OSError`: the caller falls back to the host view)."""
    new = "/tmp"  # covered by the new root in this mount namespace only
    expose = exposed_dirs()
    moved = {p: MOVED_TO + p for p in expose if _under(p, "/tmp")}
    links = {n: os.readlink(f"/{n}") for n in _ROOT_LINKS if os.path.islink(f"/{n}")}
    handles = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in expose]
    cache = (os.open("/etc/ld.so.cache", os.O_PATH)
             if os.path.isfile("/etc/ld.so.cache") else None)
    quiet = lx.MS_NOSUID | lx.MS_NODEV
    lx.mount("tmpfs", new, "tmpfs", quiet, "size=1m,nr_inodes=4k,mode=0755")
    try:
        for path, fd in handles:
            os.makedirs(new + moved.get(path, path), mode=0o755, exist_ok=True)
            lx.mount(f"/proc/self/fd/{fd}", new + moved.get(path, path), None,
                     lx.MS_BIND | lx.MS_REC)
        for name, target in links.items():
            if not os.path.lexists(f"{new}/{name}"):
                os.symlink(target, f"{new}/{name}")
        os.mkdir(f"{new}/etc", 0o755)
        for name, text in generated_etc(cfg["uids"]).items():
            with open(f"{new}/etc/{name}", "w") as fh:
                fh.write(text)
        if cache is not None:
            open(f"{new}/etc/ld.so.cache", "w").close()
            lx.mount(f"/proc/self/fd/{cache}", f"{new}/etc/ld.so.cache", None, lx.MS_BIND)
        os.mkdir(f"{new}/dev", 0o755)
        minimal_dev(lx, new)
        os.mkdir(f"{new}/proc", 0o555)
        lx.mount("proc", f"{new}/proc", "proc", quiet | lx.MS_NOEXEC, "hidepid=2")
        os.mkdir(f"{new}/tmp", 0o755)  # each execution's tmpfs goes here
        os.mkdir(f"{new}/.old", 0o700)
        lx.pivot_root(new, f"{new}/.old")
    except OSError:
        lx.umount_lazy(new)
        raise
    finally:
        for _, fd in handles:
            os.close(fd)
        if cache is not None:
            os.close(cache)
    os.chdir("/")
    lx.umount_lazy("/.old")
    os.rmdir("/.old")
    iso.update(fresh_proc=True, minimal_dev=True, exposed_dirs=expose, moved=moved)


#: Where the minimal root shows an exposed directory that lies under /tmp (a checkout or a
#: virtualenv in /tmp): every execution gets a fresh tmpfs on /tmp, which would cover it.
MOVED_TO = "/.host"


def shown_at(path: str, moved: dict[str, str]) -> str:
    """Where ``path`` of the host is seen inside the minimal root (`MOVED_TO` for what was
    under /tmp; elsewhere the same path)."""
    for source, target in moved.items():
        if _under(path, source):
            return target + path[len(source):]
    return path


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


def minimal_dev(lx: Any, root: str = "") -> None:
    """Replace ``root``/dev by a read-only tmpfs holding only the harmless devices (bound from
    the real ones), the usual /dev/fd links and an empty /dev/shm for each execution's tmpfs."""
    handles = {name: os.open(f"/dev/{name}", os.O_PATH) for name in _DEVICES}
    quiet = lx.MS_NOSUID | lx.MS_NOEXEC
    dev = f"{root}/dev"
    lx.mount("tmpfs", dev, "tmpfs", quiet, "size=64k,mode=0755")
    try:
        for name, fd in handles.items():
            open(f"{dev}/{name}", "w").close()
            lx.mount(f"/proc/self/fd/{fd}", f"{dev}/{name}", None, lx.MS_BIND)
    finally:
        for fd in handles.values():
            os.close(fd)
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{link}")
    os.mkdir(f"{dev}/shm", 0o1777)
    lx.mount(None, dev, None, lx.MS_REMOUNT | lx.MS_RDONLY | quiet)


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
