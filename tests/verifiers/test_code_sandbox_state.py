"""Nothing of one execution reaches another: what a candidate leaves behind (deep trees, odd
files, keys in the kernel's keyrings, ...) neither breaks the cleanup, nor changes another
sample's verdict, nor can be read by a later execution (issue 23, classes 5 and 6)."""

from __future__ import annotations

import os
import time

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code.namespaces import WIPE_MAX_DEPTH, wipe_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="run as root here; the non-root "
                                "path runs these through tests/verifiers/test_code_nonroot.py")

C = VerifyStatus.CORRECT
LEFT = {"entry_point": "f", "test": "def check(c):\n    assert c() == 'left'\n"}
ADD = {"entry_point": "add", "test": "def check(c):\n    assert c(2, 3) == 5\n"}
GOOD_ADD = "def add(a, b):\n    return a + b\n"

DEEP_CHAIN = """
import os
import time
def f():
    os.chdir('/tmp')
    for _ in range(1500):  # deeper than Python's recursion limit
        os.mkdir('d')
        os.chdir('d')
    open('leaf', 'w').close()
    return 'left'
"""

ODD_LEFTOVERS = """
import os, socket
def f():
    os.chdir('/tmp')
    for name in ('new\\nline', 'tab\\tname', ' ', '..x', '-rf', 'x' * 255):
        open(name, 'w').close()
    os.close(os.open(os.fsencode('/tmp/') + b'\\xff\\xfe', os.O_CREAT | os.O_WRONLY, 0))
    os.mkfifo('fifo')
    s = socket.socket(socket.AF_UNIX)
    s.bind('/tmp/sock')
    os.makedirs('a/b/c')
    open('a/b/c/f', 'w').close()
    for path in ('a', 'a/b', 'a/b/c', 'a/b/c/f'):
        try:
            os.setxattr(path, 'user.k', b'v' * 100)
        except OSError:
            pass
    os.link('a/b/c/f', 'hard')
    os.symlink('loop', 'loop')
    os.symlink('/', 'root')
    os.chmod('a/b/c/f', 0)
    os.chmod('a/b/c', 0)
    os.chmod('a/b', 0o100)
    os.chmod('a', 0o500)
    d = '/tmp/deep'
    os.mkdir(d)
    for _ in range(%d):
        d += '/d'
        os.mkdir(d)
    os.mkfifo('/dev/shm/fifo')
    os.chmod('/dev/shm', 0)
    os.chmod('/tmp', 0)
    return 'left'
""" % (WIPE_MAX_DEPTH + 5)

LOOK = """
import os, stat
def f():
    st = os.stat('/tmp')
    return [os.listdir('/tmp'), os.listdir('/dev/shm'), stat.S_IMODE(st.st_mode),
            st.st_uid == os.getuid()]
"""
CLEAN = {"entry_point": "f", "test": "def check(c):\n    assert c() == [[], [], 0o700, True]\n"}


def test_a_deep_tree_does_not_change_the_next_samples_verdict():
    """A directory chain deeper than Python's recursion limit once made the wipe raise, killing
    the fork server; under verify_batch the next, innocent sample got ERROR."""
    with get_verifier("code", concurrency=1, uid_base=1_900_032_000, timeout_s=10) as v:
        results = v.verify_batch([DEEP_CHAIN, GOOD_ADD, DEEP_CHAIN, LOOK, GOOD_ADD],
                                 [LEFT, ADD, LEFT, CLEAN, ADD])
        assert [r.status for r in results] == [C] * 5, [r.info for r in results]
        assert v.reap_failures == []


def test_odd_leftovers_are_all_removed():
    with get_verifier("code", concurrency=1, uid_base=1_900_033_000, timeout_s=10) as v:
        for _ in range(2):  # both uids of the worker, in turn
            left = v.verify(ODD_LEFTOVERS, LEFT)
            assert left.status is C, left.info
            looked = v.verify(LOOK, CLEAN)
            assert looked.status is C, looked.info
        assert v.reap_failures == []


def _chain(root: str, depth: int) -> list[int]:
    """A chain of ``depth`` directories named ``d`` under ``root`` (no path is ever built);
    returns a descriptor of each level, outermost first."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    for _ in range(depth):
        os.mkdir("d", dir_fd=fds[-1])
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    return fds


def test_wipe_dir_gives_up_on_a_deep_tree_without_raising(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    fds = _chain(str(root), 1500)
    try:
        assert wipe_dir(str(root), 12345) is False  # the caller then mounts a fresh tmpfs
    finally:
        for parent in reversed(fds[:-1]):  # remove the chain from its deepest level up
            if "d" in os.listdir(parent):
                os.rmdir("d", dir_fd=parent)
        for fd in fds:
            os.close(fd)


def test_wipe_dir_removes_a_tree_within_the_depth_limit(tmp_path):
    root = tmp_path / "root"
    deep = os.path.join(str(root), *["d"] * (WIPE_MAX_DEPTH - 1))
    os.makedirs(deep)
    os.mkfifo(os.path.join(deep, "fifo"))
    os.chmod(os.path.dirname(deep), 0)
    assert wipe_dir(str(root), 12345) is True
    assert os.listdir(root) == []


KEYRINGS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = {'x86_64': (248, 250), 'aarch64': (217, 219)}[os.uname().machine]
RINGS = (-3, -4, -5)  # the session, user and user-session keyrings
"""
STORE_KEYS = KEYRINGS + """
def f():
    ids = [libc.syscall(ADD_KEY, b'user', b'rlfb-carry', b'remembered', 10, ctypes.c_long(r))
           for r in RINGS]
    return 'left'
"""
READ_KEYS = KEYRINGS + """
def f():
    found = []
    for ring in RINGS:
        kid = libc.syscall(KEYCTL, 10, ctypes.c_long(ring), b'user', b'rlfb-carry', 0)
        if kid > 0:
            buf = ctypes.create_string_buffer(64)
            n = libc.syscall(KEYCTL, 11, ctypes.c_long(kid), buf, 64)
            found.append(buf.raw[:max(n, 0)].decode())
    return found
"""
NOTHING = {"entry_point": "f", "test": "def check(c):\n    assert c() == []\n"}


def test_no_key_carries_between_executions_or_verifiers():
    """A key stored in the uid's keyrings by one execution was read by a later execution on
    the same uid, even in a new verifier."""
    for _ in range(2):  # the second verifier reuses the first one's uids
        with get_verifier("code", concurrency=1, uid_base=1_900_034_000, timeout_s=10) as v:
            results = v.verify_batch([STORE_KEYS, READ_KEYS, STORE_KEYS, READ_KEYS, READ_KEYS],
                                     [LEFT, NOTHING, LEFT, NOTHING, NOTHING])
            assert [r.status for r in results] == [C] * 5, [r.info for r in results]


# Other kernel objects keyed by uid or by the worker's shared namespaces (docs/sandbox.md,
# "State between executions"): a POSIX message queue, an abstract Unix socket held by a
# daemon, inotify instances (a per-uid count), a System V shared memory segment.
LEAVE_OBJECTS = """
import ctypes, os, socket, time
rt = ctypes.CDLL('librt.so.1', use_errno=True)
libc = ctypes.CDLL(None, use_errno=True)
def f():
    rt.mq_open(b'/rlfb-carry', os.O_CREAT | os.O_RDWR, 0o666, None)
    libc.shmget(0x7266620a, 4096, 0o1666)
    if os.fork() == 0:
        os.setsid()
        s = socket.socket(socket.AF_UNIX)
        s.bind('\\0rlfb-carry')
        s.listen()
        for _ in range(3):  # four processes: more inotify instances than a uid may hold
            if os.fork() == 0:
                break
        fds = []
        while True:
            fd = libc.inotify_init()
            if fd < 0:
                break
            fds.append(fd)
        time.sleep(60)
    time.sleep(0.3)
    return 'left'
"""
LOOK_OBJECTS = """
import ctypes, os, socket
rt = ctypes.CDLL('librt.so.1', use_errno=True)
libc = ctypes.CDLL(None, use_errno=True)
def f():
    found = []
    if rt.mq_open(b'/rlfb-carry', os.O_RDONLY) >= 0:
        found.append('mqueue')
    if libc.shmget(0x7266620a, 0, 0) >= 0:
        found.append('shm')
    try:
        socket.socket(socket.AF_UNIX).connect('\\0rlfb-carry')
        found.append('abstract socket')
    except OSError:
        pass
    if libc.inotify_init() < 0:
        found.append('inotify exhausted')
    return found
"""


def test_no_other_kernel_object_carries_between_executions():
    with get_verifier("code", concurrency=1, uid_base=1_900_035_000, timeout_s=10) as v:
        results = v.verify_batch([LEAVE_OBJECTS, LOOK_OBJECTS, LOOK_OBJECTS] * 2,
                                 [LEFT, NOTHING, NOTHING] * 2)
        assert [r.status for r in results] == [C] * 6, [r.info for r in results]


MANY_PROCESSES = """
import os, select, time
def f():
    r, w = os.pipe()
    child = False
    for _ in range(3):
        if os.fork() == 0:
            child = True
            break
    block = bytearray(300 << 20)  # each process under RLIMIT_AS, together past the total
    for i in range(0, len(block), 4096):
        block[i] = 1
    if child:
        os.write(w, b'1')
        time.sleep(60)
    got, deadline = b'', time.monotonic() + 5
    while len(got) < 3 and select.select([r], [], [], max(0, deadline - time.monotonic()))[0]:
        got += os.read(r, 3)
    return 'pwned' if len(got) == 3 else 'held'
"""
PWNED = {"entry_point": "f", "test": "def check(c):\n    assert c() == 'pwned'\n"}


def test_memory_in_total_is_bounded_by_the_workers_cgroup():
    """RLIMIT_AS is per process: four processes held 4 x 300 MB under a 512 MB limit."""
    with get_verifier("code", concurrency=1, uid_base=1_900_043_000, timeout_s=5,
                      memory_mb=512) as v:
        result = v.verify(MANY_PROCESSES, PWNED)
        if not v.isolation.get("memory_cgroup"):
            pytest.skip(f"no memory cgroup here: {v.isolation.get('memory_cgroup_note')}")
        # the OOM killer takes some of its processes (a survivor may keep the call open)
        assert result.status in (VerifyStatus.WRONG, VerifyStatus.TIMEOUT), result.info
        assert v.verify(GOOD_ADD, ADD).status is C  # the worker is fine


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            found += [int(c) for c in fh.read().split()]
    return found


def test_a_fork_server_lost_between_samples_is_replaced_quietly():
    """Whatever ends a fork server between two executions (a cleanup that failed, a crash), the
    next sample gets its own verdict on a fresh server; the replacement is reported."""
    with get_verifier("code", concurrency=1, uid_base=1_900_051_000, timeout_s=10) as v:
        assert v.verify(GOOD_ADD, ADD).status is C
        for judge in v.worker_pids():
            for outer in _children(judge):
                for server in _children(outer):  # PID 1 of the sandbox: all of it dies
                    os.kill(server, 9)
        time.sleep(0.2)
        results = v.verify_batch([GOOD_ADD, GOOD_ADD], [ADD, ADD])
        assert [r.status for r in results] == [C, C], [r.info for r in results]
        assert any("fork server replaced" in f for f in v.reap_failures), v.reap_failures
