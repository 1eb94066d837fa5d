"""The code verifier without Linux namespaces (``namespaces=False``, as on a kernel that forbids
them): weaker isolation, reported as such, but the same process and directory cleanup."""

from __future__ import annotations

import os
import tempfile
import time

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code.diagnostics import leftover_workdirs, sandbox_processes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's process tier "
                                "needs root (see docs/sandbox.md)")

UID_BASE = 1_900_030_000
ADD = {"entry_point": "add", "test": "def check(c):\n    assert c(2, 3) == 5\n"}
NONCE = f"rlfbfallback{os.getpid()}x{time.time_ns()}"


@pytest.fixture(scope="module")
def verifier():
    v = get_verifier("code", namespaces=False, concurrency=2, timeout_s=1.5, uid_base=UID_BASE)
    yield v
    v.close()


def test_isolation_is_reported_as_missing(verifier):
    r = verifier.verify("def add(a, b):\n    return a + b", ADD)
    assert r.status is VerifyStatus.CORRECT
    iso = r.info["sandbox"]
    assert (iso["netns"], iso["pidns"], iso["mntns"]) == (False, False, False)


def test_processes_and_files_are_cleaned_without_namespaces(verifier):
    stray = os.path.join(tempfile.gettempdir(), NONCE)
    programs = [
        "import os\ndef add(a, b):\n    return os.getuid()",
        "import os, time\ndef add(a, b):\n    if os.fork() == 0:\n        os.setsid()\n"
        "        if os.fork() == 0:\n            time.sleep(3600)\n        os._exit(0)\n"
        "    return 0",
        "import os\ndef add(a, b):\n    while True:\n        try:\n            os.fork()\n"
        "        except BaseException:\n            pass",
        f"def add(a, b):\n    open({stray!r}, 'w').write('x')\n"
        "    open('leftover', 'w').write('x')\n    return 0",
        "import os, signal\ndef add(a, b):\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    os.kill(os.getppid(), 9)\n    return 0",
    ]
    runs_as = {"entry_point": "add",
               "test": f"def check(c):\n    assert {UID_BASE} <= c(0, 0) < {UID_BASE + 1024}\n"}
    results = verifier.verify_batch(programs, [runs_as] + [ADD] * (len(programs) - 1))
    assert [r.status for r in results] == [VerifyStatus.CORRECT, VerifyStatus.WRONG,
                                           VerifyStatus.TIMEOUT, VerifyStatus.WRONG,
                                           VerifyStatus.WRONG]
    assert sandbox_processes(UID_BASE) == []
    assert leftover_workdirs(UID_BASE) == []
    assert not os.path.exists(stray)
    assert verifier.verify("def add(a, b):\n    return a + b", ADD).status is VerifyStatus.CORRECT


def test_a_killed_worker_takes_its_sandbox_with_it():
    """Without a PID namespace the kernel does not kill a daemonised candidate when the fork
    server dies; the verifier kills it by uid."""
    import signal
    import threading

    v = get_verifier("code", namespaces=False, concurrency=1, timeout_s=5.0, uid_base=UID_BASE)
    escape = ("import os, time\ndef add(a, b):\n    if os.fork() == 0:\n        os.setsid()\n"
              "        time.sleep(3600)\n    while True:\n        time.sleep(1)")
    try:
        box = {}
        thread = threading.Thread(target=lambda: box.update(r=v.verify(escape, ADD)))
        thread.start()
        time.sleep(1.0)
        assert sandbox_processes(UID_BASE)  # the daemon and the candidate are running
        assert leftover_workdirs(UID_BASE)  # and the execution's host working directory
        for pid in v.worker_pids():
            os.killpg(pid, signal.SIGKILL)
        thread.join()
        assert box["r"].status is VerifyStatus.ERROR
        assert sandbox_processes(UID_BASE) == []
        assert leftover_workdirs(UID_BASE) == []
    finally:
        v.close()
