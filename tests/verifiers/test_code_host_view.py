"""Nothing of the host's layout reaches a candidate: not through /proc (the fork server's command
line and environment, a child's copy of them, its own memory), and not through the files it can
open (issue 23 class 8, issue 21's default-deny view)."""

from __future__ import annotations

import os
import tempfile
import time

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code.verifier import default_hide_paths

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="run as root here; the non-root "
                                "path runs these through tests/verifiers/test_code_nonroot.py")

NONCE = f"rlfbhidden{os.getpid()}x{time.time_ns()}"

# Everything the candidate can read of itself and of the processes it can see, searched for
# a marker given in two halves (never joined, so the search itself holds no copy of it);
# returns where it was found.
SEARCH = """
import ctypes, os
def _has(data, head, tail):
    i = data.find(head)
    while i >= 0:
        if data[i + len(head):i + len(head) + len(tail)] == tail:
            return True
        i = data.find(head, i + 1)
    return False

def f(head, tail):
    head, tail, found = head.encode(), tail.encode(), []
    for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self']:
        for name in ('cmdline', 'environ'):
            try:
                with open(f'/proc/{pid}/{name}', 'rb') as fh:
                    if _has(fh.read(), head, tail):
                        found.append(f'/proc/{pid}/{name}')
            except OSError:
                pass
    with open('/proc/self/maps') as fh:
        regions = [line.split() for line in fh]
    for r in regions:
        if not r[1].startswith('r') or (len(r) > 5 and r[5].startswith('[v')):
            continue
        lo, hi = (int(x, 16) for x in r[0].split('-'))
        if _has(ctypes.string_at(lo, hi - lo), head, tail):
            found.append('memory ' + (r[5] if len(r) > 5 else 'anonymous'))
    return found
"""


def _reference(head: str, tail: str) -> dict:
    return {"entry_point": "f",
            "test": f"def check(c):\n    r = c({head!r}, {tail!r})\n    assert r == [], r\n"}


@pytest.fixture(scope="module")
def hidden_dir():
    path = os.path.join(tempfile.gettempdir(), NONCE)
    os.mkdir(path)
    yield path
    os.rmdir(path)


def test_the_fork_servers_configuration_is_out_of_reach(hidden_dir):
    """The fork server's argv held its whole configuration (the hidden paths, which name the
    trainer's working directory, and the judge's pid), and every child's /proc/self/cmdline is
    a copy of it."""
    with get_verifier("code", concurrency=1, uid_base=1_900_040_000, timeout_s=10,
                      hide_paths=default_hide_paths() + [hidden_dir]) as v:
        result = v.verify(SEARCH, _reference(NONCE[:8], NONCE[8:]))
        assert result.status is VerifyStatus.CORRECT, result.info
        for judge in v.worker_pids():  # the judge's pid, as the configuration spelled it
            for head in ('"parent_pid": ', '"parent_pid":'):
                result = v.verify(SEARCH, _reference(head, str(judge)))
                assert result.status is VerifyStatus.CORRECT, result.info


CGROUP_REF = {"entry_point": "f", "test": "def check(c):\n    r = c()\n"
              "    assert all(line.endswith(':/') for line in r), r\n"}
CGROUP_CODE = "def f():\n    return open('/proc/self/cgroup').read().splitlines()\n"


def test_the_cgroup_path_is_not_shown():
    """/proc/self/cgroup named the host's cgroup hierarchy (and the worker's memory cgroup)."""
    with get_verifier("code", concurrency=1, uid_base=1_900_045_000, timeout_s=10) as v:
        result = v.verify(CGROUP_CODE, CGROUP_REF)
        assert result.status is VerifyStatus.CORRECT, result.info


PASSWD_CODE = "def f():\n    raise AssertionError(open('/etc/passwd').read())\n"
PASSWD_REF = {"entry_point": "f", "test": "def check(c):\n    c()\n"}
HOST_FILE = os.path.join("/var/tmp", f"{NONCE}-visible")
# What of the host a candidate can reach: a world-readable file outside the interpreter's
# directories, the host's network configuration, the top of the tree.
LOOK_AROUND = """
import os
def f(path):
    seen = []
    for p in (path, '/etc/resolv.conf', '/etc/hostname', '/etc/shadow', '/etc/os-release'):
        try:
            with open(p) as fh:
                fh.read(1)
            seen.append(p)
        except OSError:
            pass
    top = set(os.listdir('/'))
    return seen + sorted(top & {'var', 'opt', 'srv', 'mnt', 'boot', 'sys', 'media', 'run'})
"""


def host_passwd_lines() -> list[str]:
    with open("/etc/passwd") as fh:
        return [line for line in fh.read().splitlines() if line.strip()]


def look_around_ref(path: str) -> dict:
    return {"entry_point": "f",
            "test": f"def check(c):\n    r = c({path!r})\n    assert r == [], r\n"}


def test_etc_passwd_shows_no_host_entry():
    """The sandbox showed the host's /etc: a candidate raising its passwd file carried the
    host's lines into info (and from there into logs and samples)."""
    with get_verifier("code", concurrency=1, uid_base=1_900_047_000, timeout_s=10) as v:
        result = v.verify(PASSWD_CODE, PASSWD_REF)
    assert result.status is VerifyStatus.WRONG, result.info
    reason = result.info["first_failure"]["reason"]
    assert [line for line in host_passwd_lines() if line in reason] == []


@pytest.fixture()
def host_file():
    with open(HOST_FILE, "w") as fh:
        fh.write("host data\n")
    os.chmod(HOST_FILE, 0o644)
    yield HOST_FILE
    os.unlink(HOST_FILE)


def test_only_the_interpreter_and_a_generated_etc_are_visible(host_file):
    with get_verifier("code", concurrency=1, uid_base=1_900_048_000, timeout_s=10) as v:
        result = v.verify(LOOK_AROUND, look_around_ref(host_file))
        assert result.status is VerifyStatus.CORRECT, result.info
        assert v.isolation["minimal_root"] is True


def test_the_host_view_is_still_available_on_request(host_file):
    """view="host": the host's tree read-only (world-readable files visible), for candidates
    that need the host's tools; the default is the minimal view."""
    with get_verifier("code", concurrency=1, uid_base=1_900_049_000, timeout_s=10,
                      view="host") as v:
        result = v.verify(LOOK_AROUND, look_around_ref(host_file))
        assert result.status is VerifyStatus.WRONG, result.info
        assert v.isolation["minimal_root"] is False and v.isolation["readonly_root"]


def test_an_unknown_view_is_refused():
    from rlfb.errors import ConfigError

    with pytest.raises(ConfigError, match="view must be one of minimal, host"):
        get_verifier("code", view="none")


# Which processes' /proc entries a candidate can open, other than its own: in either mode none
# (the fork server is root, or non-dumpable, under hidepid=2; without root, relays too).
PROC_VIEW_CODE = """
import os
def f():
    me = os.readlink('/proc/self')
    seen = []
    for p in os.listdir('/proc'):
        if p.isdigit() and p != me:
            try:
                with open(f'/proc/{p}/cmdline', 'rb') as fh:
                    seen.append((p, fh.read()[:80].decode('latin-1')))
            except OSError:
                pass
    return seen
"""
PROC_VIEW_REF = {"entry_point": "f", "test": "def check(c):\n    r = c()\n    assert r == [], r\n"}


def test_no_other_process_of_the_sandbox_is_visible():
    with get_verifier("code", concurrency=1, uid_base=1_900_053_000, timeout_s=10) as v:
        result = v.verify(PROC_VIEW_CODE, PROC_VIEW_REF)
        assert result.status is VerifyStatus.CORRECT, result.info


def test_a_directory_under_tmp_is_shown_elsewhere():
    """Each execution's tmpfs on /tmp would cover an exposed directory under /tmp (a checkout
    or a virtualenv in /tmp): the minimal root shows it under /.host instead (a clean clone in
    /tmp once fell back to the host view, host passwd included)."""
    from rlfb.verifiers.code.namespaces import MOVED_TO, shown_at

    moved = {"/tmp/clean/.venv": MOVED_TO + "/tmp/clean/.venv"}
    assert shown_at("/tmp/clean/.venv/lib/x", moved) == "/.host/tmp/clean/.venv/lib/x"
    assert shown_at("/tmp/clean/.venv", moved) == "/.host/tmp/clean/.venv"
    assert shown_at("/tmp/cleaner", moved) == "/tmp/cleaner"
    assert shown_at("/usr/lib", moved) == "/usr/lib"
