"""A memory cgroup per worker: one limit on everything an execution holds, in every process.

RLIMIT_AS bounds each process's address space, but not what is charged to no address space:
memfd and tmpfs pages written with ``write``, System V and POSIX shared memory, pipe and socket
buffers. A memory cgroup charges all of them. The judge creates ``rlfb-sandbox-UID`` (UID: the
worker's first sandbox uid, so two workers never share one) below its own cgroup, in the
cgroup v2 hierarchy when the memory controller is available there, else in the v1 memory
hierarchy; the fork server moves itself in before it forks anything, so every child is in it.
When the limit is reached the kernel's OOM killer kills a process of the cgroup: a sandboxed
one, whose ``oom_score_adj`` is 1000 (the fork server keeps its own, lower one).

Without a writable memory hierarchy (no root, no delegation) `prepare` says why, and the fork
server bounds memfd by seccomp instead (see docs/sandbox.md, "Memory in total").
"""

from __future__ import annotations

import errno
import os
import time

_PREFIX = "rlfb-sandbox-"


def _mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, str, str]]:
    """(mount point, root within its hierarchy, fs type, super options) of each mount."""
    found = []
    with open(mountinfo) as fh:
        for line in fh:
            fields = line.split()
            sep = fields.index("-")
            found.append((fields[4], fields[3], fields[sep + 1], fields[-1]))
    return found


def _own_paths(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """This process's cgroup path per hierarchy: ``"memory"`` (v1) and ``""`` (v2)."""
    paths = {}
    with open(proc_cgroup) as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(","):
                paths[name] = path
    return paths


def _under_mount(mount: str, root: str, path: str) -> str | None:
    if root == "/":
        return mount + path if path != "/" else mount
    if path == root or path.startswith(root.rstrip("/") + "/"):
        return mount + path[len(root):]
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _v2_parent(mounts: list[tuple[str, str, str, str]], own: dict[str, str]) -> str | None:
    """This process's v2 cgroup directory, if memory can be enabled for its children."""
    if "" not in own:
        return None
    for mount, root, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        parent = _under_mount(mount, root, own[""])
        if parent is None or not os.path.isdir(parent):
            continue
        try:
            with open(os.path.join(parent, "cgroup.controllers")) as fh:
                if "memory" not in fh.read().split():
                    continue
            with open(os.path.join(parent, "cgroup.subtree_control")) as fh:
                if "memory" not in fh.read().split():
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
            return parent
        except OSError:
            continue
    return None


def _v1_parent(mounts: list[tuple[str, str, str, str]], own: dict[str, str]) -> str | None:
    """This process's directory in the v1 memory hierarchy."""
    if "memory" not in own:
        return None
    for mount, root, fstype, options in mounts:
        if fstype == "cgroup" and "memory" in options.split(","):
            parent = _under_mount(mount, root, own["memory"])
            if parent is not None and os.path.isdir(parent):
                return parent
    return None


def prepare(uid: int, limit_mb: int) -> tuple[str | None, str]:
    """Create (or reuse) the worker's memory cgroup with ``limit_mb`` as its limit. Returns
    (the path of its ``cgroup.procs``, a description), or (None, why there is none)."""
    try:
        mounts, own = _mounts(), _own_paths()
    except (OSError, ValueError) as exc:
        return None, f"cannot read this process's cgroups: {exc}"
    limit = str(limit_mb << 20)
    v2 = _v2_parent(mounts, own)
    attempts = []
    if v2 is not None:
        attempts.append((v2, "v2", [("memory.max", limit), ("memory.swap.max", "0")]))
    v1 = _v1_parent(mounts, own)
    if v1 is not None:
        attempts.append((v1, "v1", [("memory.limit_in_bytes", limit),
                                    ("memory.memsw.limit_in_bytes", limit)]))
    if not attempts:
        return None, "no memory cgroup controller is reachable here"
    errors = []
    for parent, version, settings in attempts:
        group = os.path.join(parent, f"{_PREFIX}{uid}")
        try:
            os.makedirs(group, exist_ok=True)
            _write(os.path.join(group, settings[0][0]), settings[0][1])
            for name, value in settings[1:]:  # swap: optional (absent without swap accounting)
                try:
                    _write(os.path.join(group, name), value)
                except OSError:
                    pass
            return os.path.join(group, "cgroup.procs"), f"cgroup {version} {group}"
        except OSError as exc:
            errors.append(f"{version}: {exc.strerror or exc}")
    return None, "cannot create a memory cgroup: " + "; ".join(errors)


def remove(procs: str, wait_s: float = 2.0) -> bool:
    """Remove the cgroup of ``procs`` once its processes are gone; True when it is gone."""
    group = os.path.dirname(procs)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.rmdir(group)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
