"""The fork server: a warm, clean Python process that forks one sandboxed child per execution.

Run by the judge as ``python -I -B zygote.py CONFIG_JSON`` with a socket to the judge. It never
sees a test or an expected output, only candidate code and its input, so a child that reads its
own memory finds nothing to cheat with. Start-up, once per worker:

1. kill any stale process of this worker's uid (left by a crashed earlier run);
2. enter new PID, network, mount, IPC and UTS namespaces where the kernel allows (each tried
   on its own when all at once fails; what worked is reported);
3. fork the server proper, which is PID 1 of the new PID namespace: when it dies the kernel
   kills every process in it;
4. in the mount namespace: make every mount private and read-only, mount a fresh /proc that
   shows only this namespace (``hidepid=2``), hide ``hide_paths`` under empty read-only tmpfs
   (re-exposing, read-only, the directories Python itself needs); in the IPC namespace, cap
   System V IPC;
5. import the preload modules, so a child pays a fork, not an interpreter start-up;
6. say ``ready`` with the isolation report; arm (mount a fresh tmpfs on /tmp and /dev/shm and
   fork the next child, which waits, still root, for its request); serve.

Messages are JSON frames. After each arming the server sends ``armed`` (the child's pid) with a
socket to the waiting child: the judge writes the request (and the file descriptors: the child's
channels, then the write end of its setup pipe) straight to it, and the child reports its own
setup on the setup pipe. ``reap`` kills the child's process group, the child itself, and every
other process of the sandbox (``kill(-1)`` as PID 1 of the namespace, or as the sandbox uid
without one), waits for all of them, unmounts the execution's tmpfs (or, without a mount
namespace, removes its host directory and what the sandbox uid left in the temp dirs), removes
System V IPC objects, answers ``reaped`` with the child's exit status and whether all of that
worked, and arms the next child. When the child exits on its own the server sends ``exited``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import signal
import socket
import sys
import time
from typing import Any


def _load(name: str) -> Any:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_rlfb_sandbox_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lx = _load("linux")
wire = _load("wire")
runtime = _load("runtime")

_NS_FLAGS = {"pidns": lx.CLONE_NEWPID, "netns": lx.CLONE_NEWNET, "mntns": lx.CLONE_NEWNS,
             "ipcns": lx.CLONE_NEWIPC, "utsns": lx.CLONE_NEWUTS}
_REAP_GRACE_S = 5.0


def enter_namespaces(wanted: bool) -> dict[str, Any]:
    """unshare() into the namespaces that work here; report which did."""
    iso: dict[str, Any] = {k: False for k in _NS_FLAGS}
    if not wanted:
        return iso
    try:
        lx.unshare(sum(_NS_FLAGS.values()))
        return {k: True for k in _NS_FLAGS}
    except OSError:
        pass
    for key, flag in _NS_FLAGS.items():
        try:
            lx.unshare(flag)
            iso[key] = True
        except OSError as exc:
            iso[f"{key}_error"] = str(exc)
    return iso


def setup_mounts(cfg: dict[str, Any], iso: dict[str, Any]) -> None:
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
    _try(iso, "minimal_dev", minimal_dev)
    needed = _python_paths()
    hidden, exposed = [], []
    for path in cfg["hide_paths"]:
        real = os.path.realpath(path)
        if os.path.isdir(real):
            exposed += hide_dir(real, [n for n in needed if _under(n, real)])
            hidden.append(path)
    iso["hidden_paths"], iso["exposed_python_paths"] = hidden, exposed
    # /proc is this namespace's; a fresh /sys and the minimal /dev are read-only already, and
    # the host mounts below them are no longer reachable.
    replaced = ("/proc",) + (("/sys",) if iso.get("fresh_sys") else ()) + (
        ("/dev",) if iso.get("minimal_dev") else ())
    iso["writable_mounts"] = lx.remount_all_readonly(skip=replaced)
    iso["readonly_root"] = not iso["writable_mounts"]


def _try(iso: dict[str, Any], key: str, step: Any) -> None:
    """Run one optional hardening step; record in ``iso`` whether it worked."""
    try:
        step()
        iso[key] = True
    except OSError as exc:
        iso[key] = False
        iso[f"{key}_error"] = str(exc)


_DEVICES = ("null", "zero", "full", "random", "urandom")


def minimal_dev() -> None:
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


def hide_dir(root: str, keep: list[str]) -> list[str]:
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


class Server:
    """The serving loop of the fork server (PID 1 of the sandbox PID namespace when it has one)."""

    def __init__(self, sock: socket.socket, cfg: dict[str, Any], iso: dict[str, Any]) -> None:
        self.sock, self.cfg, self.iso = sock, cfg, iso
        self.child: int | None = None
        self.status: int | None = None
        self.closing = False
        self.mounted: list[str] = []
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w)

    def send(self, obj: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        if not self.closing:
            socket.send_fds(self.sock, [wire.frame_json(obj)], list(fds))

    def serve(self) -> None:
        """Answer requests until the judge hangs up, then kill everything and exit."""
        while True:
            ready, _, _ = select.select([self.sock, self.wake_r], [], [])
            if self.wake_r in ready:
                self._drain_wake()
                self._collect(block=False)
            if self.sock in ready:
                try:
                    msg = wire.recv_json(self.sock)
                except (EOFError, ConnectionError, ValueError):
                    self.closing = True
                    self._reap()
                    return
                if msg.get("op") == "reap":
                    self.send(self._reap())
                    self.arm()

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _collect(self, block: bool) -> bool:
        """Reap exited children; True once no child is left."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                return False
            if pid == self.child and self.status is None:
                self.status = os.waitstatus_to_exitcode(status)
                self.send({"op": "exited", "pid": pid, "status": self.status})

    def arm(self) -> None:
        """Mount a fresh /tmp, fork the next child and hand the judge a socket to it: the judge
        sends the request straight to the waiting child, so an execution costs one message."""
        workdir = self._fresh_workdir()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            runtime.armed_main(theirs, self.cfg, workdir, os.getppid(), lx, wire)
        theirs.close()
        self.child, self.status = pid, None
        try:
            self.send({"op": "armed", "pid": pid}, (ours.fileno(),))
        finally:
            ours.close()

    def _fresh_workdir(self) -> str | None:
        """A new empty tmpfs on /tmp and /dev/shm; without a mount namespace None (the child
        makes a host directory once it has its request)."""
        if not self.iso["mntns"]:
            return None
        self._unmount()
        owner = f"mode=0700,uid={self.cfg['uid']},gid={self.cfg['gid']}"
        flags = lx.MS_NOSUID | lx.MS_NODEV
        for target, size in (("/tmp", self.cfg["file_mb"]), ("/dev/shm", 8)):
            if os.path.isdir(target):
                lx.mount("tmpfs", target, "tmpfs", flags, f"size={size}m,nr_inodes=16k,{owner}")
                self.mounted.append(target)
        return "/tmp"

    def _unmount(self) -> None:
        while self.mounted:
            lx.umount_lazy(self.mounted.pop())

    # -- reap -------------------------------------------------------------------------------
    def _kill_sandbox(self) -> None:
        if self.child is not None:
            for kill in (os.killpg, os.kill):  # its group once it runs; itself while armed
                try:
                    kill(self.child, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self.iso["pidns"]:
            try:
                os.kill(-1, signal.SIGKILL)  # PID 1 of the namespace: every other process in it
            except ProcessLookupError:
                pass
        else:
            sweep_uid(self.cfg["uid"])

    def _reap(self) -> dict[str, Any]:
        """Kill and wait for every sandbox process, then remove what the execution left."""
        deadline = time.monotonic() + _REAP_GRACE_S
        done = False
        while not done and time.monotonic() < deadline:
            self._kill_sandbox()
            done = self._collect(block=False)
            if not done:
                select.select([self.wake_r], [], [], 0.05)
                self._drain_wake()
        if done:
            self._unmount()
            if self.iso["ipcns"]:
                lx.remove_sysv_ipc()
        if not self.iso["mntns"]:
            done = remove_host_leftovers(self.cfg) and done
        status, self.child = self.status, None
        return {"op": "reaped", "status": status, "clean": done}


def remove_host_leftovers(cfg: dict[str, Any]) -> bool:
    """Without a mount namespace: remove this worker's working directories, and whatever the
    sandbox uid created at the top of the world-writable temp dirs. True when all is gone."""
    clean = True
    for directory in cfg["temp_dirs"]:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                mine = entry.path.startswith(cfg["workprefix"])
                if not mine and entry.stat(follow_symlinks=False).st_uid != cfg["uid"]:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except OSError:
                clean = False
    return clean


def sweep_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is ``uid`` (never root's): kill(-1) sent with the
    real and effective uid switched to ``uid``, the saved uid kept at 0 to switch back."""
    os.setresuid(uid, uid, 0)
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.setresuid(0, 0, 0)


def _preload(names: list[str]) -> list[str]:
    missing = []
    for name in names:
        try:
            __import__(name)
        except Exception:
            missing.append(name)
    return missing


def main() -> None:
    """Entry point: set up the namespaces, fork the server, serve."""
    cfg = json.loads(sys.argv[1])
    sock = socket.socket(fileno=cfg["fd"])
    lx.prctl(lx.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != cfg["parent_pid"]:
        os._exit(3)
    sweep_uid(cfg["uid"])
    remove_host_leftovers(cfg)  # stale, from a crashed earlier run of this uid
    iso = enter_namespaces(cfg["namespaces"])
    outer = os.getpid()
    pid = os.fork()
    if pid:
        sock.close()
        _, status = os.waitpid(pid, 0)
        os._exit(max(0, os.waitstatus_to_exitcode(status)))
    lx.prctl(lx.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != outer and not iso["pidns"]:
        os._exit(3)
    if not iso["pidns"]:
        lx.prctl(lx.PR_SET_CHILD_SUBREAPER, 1)
    if iso["mntns"]:
        setup_mounts(cfg, iso)
    if iso["ipcns"]:
        iso["ipc_limit_errors"] = lx.limit_sysv_ipc(cfg["ipc_shm_mb"] << 20)
    iso["preload_missing"] = _preload(cfg["preload"])
    server = Server(sock, cfg, iso)
    server.send({"op": "ready", "isolation": iso})
    server.arm()
    server.serve()


if __name__ == "__main__":
    main()
