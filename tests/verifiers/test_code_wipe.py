"""The per-worker tmpfs is wiped between executions: nothing of one execution reaches the next."""

from __future__ import annotations

import os
import stat

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code.namespaces import wipe_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's process tier "
                                "needs root (see docs/sandbox.md)")

LEAVE = """
import os
def f():
    open('/tmp/a', 'w').write('x' * 1000)
    os.mkdir('/tmp/d')
    open('/tmp/d/e', 'w').close()
    os.chmod('/tmp/d', 0)
    os.symlink('/etc', '/tmp/l')
    os.mkfifo('/tmp/p')
    open('/dev/shm/s', 'w').close()
    try:
        os.setxattr('/tmp', 'user.k', b'v')
    except OSError:
        pass
    os.utime('/tmp', (1, 1))
    os.chmod('/tmp', 0o777)
    return 'left'
"""
LOOK = """
import os
def f():
    st = os.stat('/tmp')
    return [os.listdir('/tmp'), os.listdir('/dev/shm'), os.listxattr('/tmp'),
            stat.S_IMODE(st.st_mode), st.st_uid == os.getuid(), st.st_mtime > 1]
import stat
"""
LEFT = {"entry_point": "f", "test": "def check(c):\n    assert c() == 'left'\n"}
CLEAN = {"entry_point": "f",
         "test": "def check(c):\n    assert c() == [[], [], [], 0o700, True, True]\n"}


def test_next_execution_finds_a_clean_tmp():
    with get_verifier("code", concurrency=1, uid_base=1_900_030_000, timeout_s=10) as v:
        for _ in range(3):  # both uids of the worker, in turn
            left = v.verify(LEAVE, LEFT)
            assert left.status is VerifyStatus.CORRECT, left.info
            looked = v.verify(LOOK, CLEAN)
            assert looked.status is VerifyStatus.CORRECT, looked.info


def test_wipe_dir_empties_and_resets(tmp_path):
    root = tmp_path / "root"
    (root / "d" / "deep").mkdir(parents=True)
    (root / "f").write_text("x")
    (root / "d" / "deep" / "g").write_text("y")
    (root / "l").symlink_to("/etc")
    os.chmod(root / "d", 0)
    os.chmod(root, 0o777)
    assert wipe_dir(str(root), 12345)
    st = os.stat(root)
    assert os.listdir(root) == []
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 12345 and st.st_gid == 12345
    assert os.path.exists("/etc")  # the symlink was removed, not followed


def test_wipe_dir_refuses_a_missing_or_linked_root(tmp_path):
    assert not wipe_dir(str(tmp_path / "missing"), 12345)
    (tmp_path / "link").symlink_to(tmp_path)
    assert not wipe_dir(str(tmp_path / "link"), 12345)


IPC_LEAVE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def f():
    ids = [libc.shmget(0, 4096, 0o1600), libc.msgget(0, 0o1600), libc.semget(0, 1, 0o1600)]
    return 'left' if min(ids) >= 0 else ids
"""
IPC_LOOK = """
def f():
    return [len(open(f'/proc/sysvipc/{k}').read().splitlines()) - 1 for k in ('shm', 'msg', 'sem')]
"""
IPC_LEFT = {"entry_point": "f", "test": "def check(c):\n    assert c() == 'left'\n"}
IPC_CLEAN = {"entry_point": "f", "test": "def check(c):\n    assert c() == [0, 0, 0]\n"}


def test_next_execution_finds_no_system_v_ipc_objects():
    with get_verifier("code", concurrency=1, uid_base=1_900_031_000, timeout_s=10) as v:
        for _ in range(2):  # both uids of the worker, in turn
            left = v.verify(IPC_LEAVE, IPC_LEFT)
            if not v.isolation.get("ipcns"):
                pytest.skip("no IPC namespace here: /proc/sysvipc lists the host's objects")
            assert left.status is VerifyStatus.CORRECT, left.info
            looked = v.verify(IPC_LOOK, IPC_CLEAN)
            assert looked.status is VerifyStatus.CORRECT, looked.info


def test_remove_sysv_ipc_takes_what_the_uid_owns_or_created(tmp_path, monkeypatch):
    from rlfb.verifiers.code import linux

    cols = "key      shmid perms  size  cpid  lpid nattch   uid   gid  cuid  cgid"
    (tmp_path / "shm").write_text(f"{cols}\n"
                                  "0 11 600 4096 1 0 0 500 500 0 0\n"     # owned by 500
                                  "0 12 600 4096 1 0 0 0 0 500 500\n"     # created by 500
                                  "0 13 600 4096 1 0 0 501 501 501 501\n"  # another uid's
                                  "garbage\n")
    (tmp_path / "msg").write_text("key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid\n")
    removed = []
    monkeypatch.setitem(linux._IPC_REMOVE, "shm", lambda i: removed.append(i) or 0)
    assert linux.remove_sysv_ipc(500, proc=str(tmp_path)) == 2
    assert removed == [11, 12]
