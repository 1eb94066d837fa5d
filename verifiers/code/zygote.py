"""The fork server: a warm, clean Python process that forks one sandboxed child per execution.

Run by the judge as ``python -I -B -S -c BOOT`` (`forkserver.BOOT`) with a socket to the judge as
its stdin, on which the judge sends the configuration and the compiled code of this file and
its siblings: neither argv, nor the environment, nor a child's ``/proc/self/cmdline`` holds a
path or a setting of the host. It never sees a test or an expected output, only candidate code
and its input, so a child that reads its own memory finds nothing to cheat with. Start-up, once
per worker (`setup_main`, then `serve_main`):

1. join the worker's memory cgroup, if the judge could make one (`cgroup`); kill any stale
   process of this worker's two uids (left by a crashed earlier run);
2. enter new PID, network, mount, IPC, UTS and cgroup namespaces where the kernel allows (each
   tried on its own when all at once fails; what worked is reported); without root, all of
   them at once inside a new user namespace, or refuse;
3. fork the server proper, which is PID 1 of the new PID namespace: when it dies the kernel
   kills every process in it;
4. in the mount namespace (`namespaces.setup_mounts`): pivot into a minimal root (or keep the
   host's tree), every mount read-only, with a fresh /proc (``hidepid=2``, /proc/sys
   read-only), a minimal /dev, and ``hide_paths`` shown empty; in the IPC namespace, cap
   System V IPC; send the isolation report;
5. exec a fresh interpreter with only what serving needs (namespaces and mounts stay): the
   process whose memory every child shares never held the setup's configuration;
6. import the preload modules, so a child pays a fork, not an interpreter start-up; install
   the seccomp filter (`seccomp.SERVER_DENY`); become non-dumpable;
7. say ``ready``; arm (mount a tmpfs on /tmp and /dev/shm and fork the next child, which
   waits, still root, for its request); serve. Later arms wipe that tmpfs for the next
   execution (`namespaces.wipe_dir`), or mount a fresh one.

Messages are JSON frames. After each arming the server sends ``armed`` (the child's pid) with a
socket to the waiting child: the judge writes the request (and the file descriptors: the child's
channels, then the write end of its setup pipe) straight to it, and the child reports its own
setup on the setup pipe. ``reap`` (a pid) kills that child, its process group and every process
of its uid, waits until no process of that uid is left, removes the System V IPC objects it
owns (or, without a mount namespace, its host directory and what it left in the temp dirs),
arms the next child on the other uid (first, if the killed ones are slow to go), and answers
``reaped`` with the child's exit status and whether all of that worked. When a child exits on
its own before its reap is asked for, the server sends ``exited``.
"""

from __future__ import annotations

import binascii
import gc
import json
import marshal
import os
import select
import signal
import socket
import sys
import time
import types
from typing import Any


def _site(cfg: dict[str, Any]) -> None:
    """What ``site`` does, without its import hooks (the server runs with ``-S``): the venv's
    prefixes, its site-packages on ``sys.path``, and the ``exit``/``quit``/``help`` builtins
    that programs call."""
    import site

    sys.prefix, sys.exec_prefix = cfg["prefix"], cfg["exec_prefix"]
    sys.path.extend(p for p in cfg["paths"] if p not in sys.path)
    site.setquit()
    site.setcopyright()
    site.sethelper()


def _load(name: str, code: str) -> Any:
    """A sibling module, from the compiled code the judge sent (the server imports nothing from
    rlfb, and no file path of the installation reaches it: see `forkserver.BOOT`)."""
    module = types.ModuleType(f"_rlfb_sandbox_{name}")
    sys.modules[module.__name__] = module
    exec(marshal.loads(binascii.a2b_base64(code)), module.__dict__)
    return module


# The sibling modules, bound by `main` from the compiled code in the configuration.
lx: Any = None
wire: Any = None
runtime: Any = None
ns: Any = None
sc: Any = None
sw: Any = None


def _bind(code: dict[str, str]) -> None:
    global lx, wire, runtime, ns, sc, sw
    lx, wire = _load("linux", code["linux"]), _load("wire", code["wire"])
    runtime, sw = _load("runtime", code["runtime"]), _load("sweep", code["sweep"])
    ns, sc = _load("namespaces", code["namespaces"]), _load("seccomp", code["seccomp"])


_REAP_GRACE_S = 5.0
_QUICK_REAP_S = 0.1


class Server:
    """The serving loop of the fork server (PID 1 of the sandbox PID namespace when it has one).

    Executions alternate between the worker's two uids, so the next child can be armed while the
    previous execution's processes are still dying: killing by uid never touches the other one.
    """

    def __init__(self, sock: socket.socket, cfg: dict[str, Any], iso: dict[str, Any]) -> None:
        self.sock, self.cfg, self.iso = sock, cfg, iso
        self.runs: dict[int, dict[str, Any]] = {}  # pid -> uid, exit status
        # In its own user namespace (no root) every execution runs as the same uid: the next
        # child is armed only once the last execution's processes are gone.
        self.single = cfg["uids"][0] == cfg["uids"][1]
        self.turn = 0
        self.closing = False
        self.mounted: list[str] = []
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w)

    def send(self, obj: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        if self.closing:
            return
        try:
            socket.send_fds(self.sock, [wire.frame_json(obj)], list(fds))
        except OSError:  # the judge is gone: serve() sees the hang-up and cleans up
            self.closing = True

    def serve(self) -> None:
        """Answer requests until the judge hangs up, then kill everything and exit."""
        while True:
            ready, _, _ = select.select([self.sock, self.wake_r], [], [])
            if self.wake_r in ready:
                self._drain_wake()
                self._collect()
            if self.sock in ready:
                try:
                    msg = wire.recv_json(self.sock)
                except (EOFError, ConnectionError, ValueError):
                    self.closing = True
                if self.closing:
                    self._kill_everything()
                    return
                if msg.get("op") == "reap":
                    try:
                        self._reap(int(msg["pid"]))
                    except Exception as exc:  # never seen: this server can no longer be trusted
                        self.send({"op": "broken", "reason": f"{type(exc).__name__}: {exc}"})
                        self._kill_everything()
                        return

    def _drain_wake(self) -> None:
        try:  # a short read emptied the pipe: no second read to fail (an exception per reap)
            while len(os.read(self.wake_r, 512)) == 512:
                pass
        except BlockingIOError:
            pass

    def _collect(self) -> None:
        """Reap whatever exited; report our children's exits."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.runs.get(pid)
            if run is not None and run["status"] is None:
                run["status"] = os.waitstatus_to_exitcode(status)
                if not run.get("reaping"):  # a reaped child's status goes in ``reaped``
                    self.send({"op": "exited", "pid": pid, "status": run["status"]})

    # -- arm --------------------------------------------------------------------------------
    def arm(self, reuse: bool = False) -> None:
        """Give the next child (on the other uid) an empty /tmp, fork it and hand the judge a
        socket to it: the judge sends the request straight to the waiting child. With
        ``reuse`` (every process of the last execution is gone) the last tmpfs is wiped
        rather than replaced: unmounting waits for an RCU grace period, milliseconds."""
        uid = self.cfg["uids"][self.turn]
        self.turn ^= 1
        workdir = self._fresh_workdir(uid, reuse)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            runtime.armed_main(theirs, self.cfg, uid, workdir, os.getppid(), lx, wire, sc)
        theirs.close()
        self.runs[pid] = {"uid": uid, "status": None}
        try:
            self.send({"op": "armed", "pid": pid, "uid": uid}, (ours.fileno(),))
        finally:
            ours.close()

    def _fresh_workdir(self, uid: int, reuse: bool) -> str | None:
        """An empty tmpfs on /tmp and /dev/shm, owned by ``uid``: the last one wiped (with
        ``reuse``) or a new one; without a mount namespace None (the child makes a host
        directory once it has its request)."""
        if not self.iso["mntns"]:
            return None
        if reuse and self.mounted and all(ns.wipe_dir(t, uid) for t in self.mounted):
            return "/tmp"
        while self.mounted:  # the previous execution's: it has been killed already
            lx.umount_lazy(self.mounted.pop())
        owner = f"mode=0700,uid={uid},gid={uid}"
        flags = lx.MS_NOSUID | lx.MS_NODEV
        for target, size in (("/tmp", self.cfg["file_mb"]), ("/dev/shm", 8)):
            if os.path.isdir(target):
                lx.mount("tmpfs", target, "tmpfs", flags, f"size={size}m,nr_inodes=16k,{owner}")
                self.mounted.append(target)
        return "/tmp"

    # -- reap -------------------------------------------------------------------------------
    def _reap(self, pid: int) -> None:
        """Kill one execution (every process of its uid), wait until the killed ones are gone,
        remove what they left, and arm the next child on the other uid.

        The fork comes last: whatever the server writes while a child shares its pages is
        copied, page by page, so the bookkeeping is done before forking. If the killed
        processes take longer than `_QUICK_REAP_S` to go, the next child is armed first and the
        waiting goes on (up to `_REAP_GRACE_S`): the judge never waits long for its next child.
        """
        run = self.runs.get(pid, {"uid": None, "status": None})
        run["reaping"] = True
        uid = run["uid"]
        for kill in (os.killpg, os.kill):  # its group once it runs; itself while armed
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        start = time.monotonic()
        late = self._await_gone(uid, run, start + _QUICK_REAP_S)
        alive = late
        if late:
            if not self.single:
                self.arm()
            alive = self._await_gone(uid, run, start + _REAP_GRACE_S)
        self._collect()
        clean = uid is None or (not alive and run["status"] is not None)
        if uid is not None and self.iso["ipcns"]:
            lx.remove_sysv_ipc(uid)
        if uid is not None and not self.iso["mntns"]:
            clean = sw.remove_host_leftovers(self.cfg, uid, pid) and clean
        self.runs.pop(pid, None)
        if not late or self.single:
            self.arm(reuse=not late)
        self.send({"op": "reaped", "pid": pid, "status": run["status"], "clean": clean})

    def _await_gone(self, uid: int | None, run: dict[str, Any], deadline: float) -> bool:
        """Wait (woken by SIGCHLD, killing every process of ``uid`` as it goes) until the
        execution's own child is collected and no process of ``uid`` is left (checked in /proc
        only then), or until ``deadline``; True when some are still there. While the killed
        child still maps the server's pages every page written here is copied, so the first
        thing done is wait."""
        if uid is None:
            return False
        found: bool | None = None  # what the last sweep found (None: no sweep yet)
        while True:
            if run["status"] is not None:
                if found is None:
                    found = sw.sweep_uid(uid)
                if not found or not sw.uid_processes(uid):
                    return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            select.select([self.wake_r], [], [], min(0.05, left))
            self._drain_wake()
            self._collect()
            found = sw.sweep_uid(uid)

    def _kill_everything(self) -> None:
        for pid in list(self.runs):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for uid in self.cfg["uids"]:
            sw.sweep_uid(uid)


def _preload(names: list[str]) -> list[str]:
    missing = []
    for name in names:
        try:
            __import__(name)
        except Exception:
            missing.append(name)
    return missing


def _warm_up() -> None:
    """Run the pure parts of a child's path here, often enough that Python 3.11 quickens and
    specialises their bytecode: a child that runs a cold function writes its warm-up counters,
    and each write to a page it shares with the server is a copied page."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for i in range(80):
            reply = wire.frame(b"R" + wire.encode([i, "x", (1.5, None), {"k": [True]}]))
            socket.send_fds(a, [reply[:4]], [b.fileno()])
            header, fds, _, _ = socket.recv_fds(b, 4, 8)
            for fd in fds:
                os.close(fd)
            a.sendall(reply[4:])
            wire.header_length(header)
            wire.recv_exact(b, len(reply) - 4)
    finally:
        a.close()
        b.close()


def _deny_syscalls(iso: dict[str, Any]) -> None:
    """Install the server's seccomp filter (the keyrings: kernel state keyed by uid that would
    carry from one execution to the next), inherited by every child; report whether it held."""
    try:
        sc.deny(sc.SERVER_DENY)
        iso["seccomp"] = True
        iso["seccomp_denied"] = list(sc.SERVER_DENY)
    except OSError as exc:
        iso["seccomp"] = False
        iso["seccomp_error"] = str(exc)


def _read_config() -> dict[str, Any]:
    """The configuration `BOOT` read from fd 0 (it is never in argv or the environment)."""
    cfg = globals().pop("BOOT_CONFIG")
    return cfg


def main() -> None:
    """Entry point (run by `BOOT`): set up the sandbox, or serve from a set-up one."""
    os.environ.pop("LD_BIND_NOW", None)  # read by the dynamic linker already (forkserver.py)
    cfg = _read_config()
    _bind(cfg["code"])
    _site(cfg["site"])
    if cfg["phase"] == "setup":
        setup_main(cfg)
    else:
        serve_main(cfg)


def _join_cgroup(procs: str | None) -> dict[str, Any]:
    """Move this process (and so everything it forks) into the worker's memory cgroup; report
    whether it worked. (Its OOM killer takes a child: see `runtime.armed_main`.)"""
    if procs is None:
        return {"memory_cgroup": False}
    try:
        with open(procs, "w") as fh:
            fh.write(str(os.getpid()))
        return {"memory_cgroup": True}
    except OSError as exc:
        return {"memory_cgroup": False, "memory_cgroup_error": str(exc)}


def setup_main(cfg: dict[str, Any]) -> None:
    """Phase one: enter the namespaces, fork the server proper (PID 1 of the new PID
    namespace), set up its mounts and limits, report them, and exec a fresh interpreter to
    serve (`serve_main`): the serving process, whose memory every child shares, never held
    the setup's configuration (hidden paths, the judge's pid, mount points)."""
    sock = socket.socket(fileno=os.dup(0))  # the judge's control socket came as stdin
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    lx.prctl(lx.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != cfg["parent_pid"]:
        os._exit(3)
    cgroup = _join_cgroup(cfg["cgroup_procs"])
    if cfg["userns"]:  # not root: the sandbox's own user namespace, or nothing
        iso = ns.enter_namespaces(lx, True, (os.getuid(), os.getgid()))
        if not iso["userns"]:
            socket.send_fds(sock, [wire.frame_json(
                {"op": "failed", "reason": "no unprivileged user namespace here ("
                 f"{iso['userns_error']}); run as root or allow user namespaces"})], [])
            os._exit(4)
    else:
        for uid in cfg["uids"]:  # stale, from a crashed earlier run of these uids
            sw.sweep_uid(uid)
            sw.remove_host_leftovers(cfg, uid, None)
        iso = ns.enter_namespaces(lx, cfg["namespaces"])
    outer = os.getpid()
    pid = os.fork()
    if pid:
        sock.close()
        _, status = os.waitpid(pid, 0)
        os._exit(max(0, os.waitstatus_to_exitcode(status)))
    lx.prctl(lx.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != outer and not iso["pidns"]:
        os._exit(3)
    if iso["mntns"]:
        ns.setup_mounts(lx, cfg, iso)
    if iso["ipcns"]:
        iso["ipc_limit_errors"] = lx.limit_sysv_ipc(cfg["ipc_shm_mb"] << 20)
    if iso["mntns"]:
        ns.lock_proc_sys(lx, iso)
    iso.update(cgroup)
    socket.send_fds(sock, [wire.frame_json({"op": "isolation", "isolation": iso})], [])
    moved = iso.get("moved") or {}  # the minimal root shows what was under /tmp elsewhere
    site = {**cfg["site"], "prefix": ns.shown_at(cfg["site"]["prefix"], moved),
            "exec_prefix": ns.shown_at(cfg["site"]["exec_prefix"], moved),
            "paths": [ns.shown_at(p, moved) for p in cfg["site"]["paths"]]}
    executable = ns.shown_at(sys.executable, moved)
    serve = {"phase": "serve", "code": cfg["code"], "boot": cfg["boot"],
             "fd": sock.fileno(), "site": site, "preload": cfg["preload"],
             "uids": cfg["uids"], "file_mb": cfg["file_mb"], "workprefix": cfg["workprefix"],
             "temp_dirs": cfg["temp_dirs"], "memory_cgroup": iso["memory_cgroup"],
             "userns": iso["userns"], "last_cap": lx.last_capability(),
             "iso": {k: iso[k] for k in ("pidns", "netns", "mntns", "ipcns", "utsns")}}
    os.set_inheritable(sock.fileno(), True)
    carrier = os.memfd_create("config", 0)
    body = wire.frame_json(serve)
    view = memoryview(body)
    while view:
        view = view[os.write(carrier, view):]
    os.lseek(carrier, 0, os.SEEK_SET)
    os.dup2(carrier, 0)
    os.execve(executable, [executable, "-I", "-B", "-S", "-c", cfg["boot"]],
              {**os.environ, "LD_BIND_NOW": "1"})


def serve_main(cfg: dict[str, Any]) -> None:
    """Phase two, in a fresh interpreter that is PID 1 of the sandbox (namespaces and mounts
    are kept across exec): preload, lock down, serve."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # fd 0 held the configuration
    os.close(null)
    sock = socket.socket(fileno=cfg["fd"])
    iso = dict(cfg["iso"])
    if not iso["pidns"]:
        lx.prctl(lx.PR_SET_CHILD_SUBREAPER, 1)
    lx.prctl(lx.PR_SET_DUMPABLE, 0)  # nothing can ptrace the server or read its /proc entries
    iso["preload_missing"] = _preload(cfg["preload"])
    _warm_up()
    _deny_syscalls(iso)
    for option, arg in ((lx.PR_SET_PDEATHSIG, int(signal.SIGKILL)), (lx.PR_SET_NO_NEW_PRIVS, 1)):
        lx.prctl_args(option, arg)  # built here once, shared by every child
    served = {k: cfg[k] for k in ("uids", "file_mb", "workprefix", "temp_dirs",
                                  "memory_cgroup", "userns", "last_cap")}
    if not cfg["memory_cgroup"]:  # no limit charges memfd pages: each child denies memfd
        sc.prepare(sc.MEMFD_DENY)
        iso["memfd_denied"] = True
    del cfg
    gc.collect()
    gc.freeze()  # the collector never walks (so never writes) what every child shares
    lx.release_free_memory()
    server = Server(sock, served, iso)
    server.send({"op": "ready", "isolation": iso})
    server.arm()
    server.serve()


if __name__ == "__main__":
    main()
