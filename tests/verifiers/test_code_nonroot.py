"""The code sandbox without root (issue 21): the hostile suite, the state-between-executions and
host-view tests, run by an unprivileged uid through the sandbox's own user namespace.

The verifier runs as uid 65534 (``setpriv``) under the OS's ``/usr/bin/python3``, since the
virtualenv's interpreter lives under root's private home, with a copy of rlfb's sources in a
directory that uid can read (the code verifier needs only the standard library). Everything
runs in one process of that uid, as a list of jobs; the tests below check their results.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile

import importlib.util
import sys

import pytest


def _sibling(name: str):
    """A test module of this directory, loaded by path (pytest imports in importlib mode)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_nonroot_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hostile = _sibling("test_code_hostile")
host_view = _sibling("test_code_host_view")
state = _sibling("test_code_sandbox_state")

NOBODY = 65534
PYTHON = "/usr/bin/python3"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.access(PYTHON, os.X_OK),
    reason="needs root (to become uid 65534 with setpriv) and the OS's /usr/bin/python3")

# Runs as uid 65534: each job is one verifier (its options) judging a list of samples.
RUNNER = r"""
import json, os, sys
from rlfb.verifiers.code import CodeVerifier
from rlfb.verifiers.code.verifier import default_hide_paths

def uid_of(pid):
    try:
        with open(f'/proc/{pid}/status') as fh:
            for line in fh:
                if line.startswith('Uid:'):
                    return int(line.split()[1])
    except OSError:
        return None

out = []
for job in json.load(sys.stdin):
    options = dict(job['options'])
    if 'extra_hide' in options:
        options['hide_paths'] = default_hide_paths() + options.pop('extra_hide')
    with CodeVerifier(**options) as v:
        results = v.verify_batch(job['completions'], job['references'])
        after = job.get('after') and v.verify(*job['after']).status.value
        out.append({'statuses': [r.status.value for r in results],
                    'infos': [r.info for r in results], 'after': after,
                    'isolation': v.isolation, 'reap_failures': list(v.reap_failures)})
me, uid = os.getpid(), os.getuid()
left = [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != me
        and uid_of(p) == uid]
json.dump({'jobs': out, 'left': left}, sys.stdout, default=str)
"""


def _copy_sources(root: str) -> str:
    """rlfb's sources as the package layout (`verifiers/` is `rlfb.verifiers`), readable by
    all; returns the directory to put on PYTHONPATH."""
    src = os.path.join(root, "src")
    shutil.copytree(os.path.join(REPO, "rlfb"), os.path.join(src, "rlfb"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(REPO, "verifiers"), os.path.join(src, "rlfb", "verifiers"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for base, dirs, files in os.walk(root):
        os.chmod(base, 0o755)
        for name in files:
            os.chmod(os.path.join(base, name), 0o644)
    return src


def _job(options: dict, samples: list[tuple[str, dict]], after: tuple | None = None) -> dict:
    return {"options": options, "completions": [c for c, _ in samples],
            "references": [r for _, r in samples], "after": after}


@pytest.fixture(scope="module")
def run():
    """Every job below, run by uid 65534; the host's state afterwards."""
    root = tempfile.mkdtemp(prefix="rlfb-nonroot-")
    os.chmod(root, 0o755)
    hidden = os.path.join(tempfile.gettempdir(), host_view.NONCE)
    os.mkdir(hidden)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    sock_path = os.path.join(root, f"{hostile.NONCE}.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(sock_path)
    os.chmod(sock_path, 0o777)
    unix.listen()
    unix.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0{hostile.NONCE}")
    abstract.listen()
    abstract.setblocking(False)
    cases = hostile.attacks(listener.getsockname()[1], sock_path)
    one = {"concurrency": 1, "timeout_s": 10}
    jobs = {
        "hostile": _job({"concurrency": 2, "timeout_s": 1.5, "sample_timeout_s": 4.0,
                         "memory_mb": 512, "max_output_bytes": 1 << 20},
                        [(c[0], c[1]) for c in cases.values()],
                        after=(hostile.fn("def add(a, b):\n    return a + b"), hostile.ADD)),
        "deep tree": _job(one, [(state.DEEP_CHAIN, state.LEFT), (state.GOOD_ADD, state.ADD),
                                (state.DEEP_CHAIN, state.LEFT), (state.LOOK, state.CLEAN),
                                (state.GOOD_ADD, state.ADD)]),
        "odd leftovers": _job(one, [(state.ODD_LEFTOVERS, state.LEFT), (state.LOOK, state.CLEAN)]
                              * 2),
        "keys": _job(one, [(state.STORE_KEYS, state.LEFT), (state.READ_KEYS, state.NOTHING),
                           (state.READ_KEYS, state.NOTHING)]),
        "keys, new verifier": _job(one, [(state.READ_KEYS, state.NOTHING)] * 2),
        "other objects": _job(one, [(state.LEAVE_OBJECTS, state.LEFT),
                                    (state.LOOK_OBJECTS, state.NOTHING),
                                    (state.LOOK_OBJECTS, state.NOTHING)] * 2),
        "configuration": _job({**one, "extra_hide": [hidden]},
                              [(host_view.SEARCH, host_view._reference(host_view.NONCE[:8],
                                                                       host_view.NONCE[8:]))] * 2),
        "cgroup path": _job(one, [(host_view.CGROUP_CODE, host_view.CGROUP_REF)] * 2),
        "host files": _job(one, [(host_view.LOOK_AROUND,
                                  host_view.look_around_ref(host_view.HOST_FILE))] * 2),
        "etc passwd": _job(one, [(host_view.PASSWD_CODE, host_view.PASSWD_REF)]),
        "proc view": _job(one, [(host_view.PROC_VIEW_CODE, host_view.PROC_VIEW_REF)] * 2),
    }
    with open(host_view.HOST_FILE, "w") as fh:
        fh.write("host data\n")
    os.chmod(host_view.HOST_FILE, 0o644)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": _copy_sources(root), "LANG": "C.UTF-8",
           "HOME": root, "RLFB_HOSTILE_SECRET": hostile.SECRET}
    cwd = REPO if os.access(REPO, os.X_OK) else root  # hidden by default, as under root
    try:
        done = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", PYTHON, "-P",
             "-c", RUNNER], input=json.dumps(list(jobs.values())), capture_output=True,
            text=True, env=env, cwd=cwd, timeout=600)
        host = {"markers": [m for m in hostile.MARKERS if os.path.exists(m)],
                "accepted": [hostile._accepted(s) for s in (listener, unix, abstract)]}
    finally:
        for s in (listener, unix, abstract):
            s.close()
        shutil.rmtree(root)
        os.rmdir(hidden)
        os.unlink(host_view.HOST_FILE)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    return {"jobs": dict(zip(jobs, report["jobs"])), "left": report["left"], "host": host,
            "names": list(cases), "allowed": {k: c[2] for k, c in cases.items()}}


def test_the_sandbox_is_its_own_user_namespace(run):
    iso = run["jobs"]["hostile"]["isolation"]
    assert iso["userns"] and iso["uids"] == [0, 0]
    for key in ("pidns", "netns", "mntns", "ipcns", "utsns", "cgroupns", "readonly_root",
                "fresh_proc", "readonly_proc_sys", "seccomp", "memfd_denied"):
        assert iso[key] is True, key


@pytest.mark.parametrize("name", hostile.NAMES)
def test_attack_is_wrong_or_timeout_without_root(run, name):
    job = run["jobs"]["hostile"]
    i = run["names"].index(name)
    assert job["statuses"][i] in {s.value for s in run["allowed"][name]}, (name, job["infos"][i])


def test_no_process_or_trace_survives_without_root(run):
    assert run["left"] == []
    assert run["host"]["markers"] == []
    assert run["host"]["accepted"] == [False, False, False]
    assert run["jobs"]["hostile"]["reap_failures"] == []
    assert run["jobs"]["hostile"]["after"] == "correct"


@pytest.mark.parametrize("name", ["deep tree", "odd leftovers", "keys", "keys, new verifier",
                                  "other objects", "configuration", "cgroup path",
                                  "host files", "proc view"])
def test_nothing_carries_over_or_leaks_without_root(run, name):
    job = run["jobs"][name]
    assert set(job["statuses"]) == {"correct"}, job["infos"]
    assert job["reap_failures"] == []


REFUSE = r"""
from rlfb.errors import ConfigError
from rlfb.verifiers.code import CodeVerifier
try:
    CodeVerifier(concurrency=1)
    print('constructed')
except ConfigError as exc:
    print(exc)
"""


def test_without_user_namespaces_it_refuses_in_one_line():
    """A user namespace whose limit allows no further one: the verifier says what it could not
    get, and refuses rather than running candidates unisolated."""
    root = tempfile.mkdtemp(prefix="rlfb-nonroot-")  # readable by uid 65534, unlike tmp_path
    try:
        os.chmod(root, 0o755)
        src = _copy_sources(root)
        inner = f"env PYTHONPATH={src} {PYTHON} -P -c \"$REFUSE\""
        done = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "unshare",
             "-U", "-r", "sh", "-c",
             f"echo 1 > /proc/sys/user/max_user_namespaces && unshare -U {inner}"],
            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "REFUSE": REFUSE},
            cwd=root, timeout=120)
    finally:
        shutil.rmtree(root)
    if "max_user_namespaces" in done.stderr and done.returncode != 0:
        pytest.skip(f"cannot set up the test's user namespaces: {done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)
    assert lines[0].startswith("code: not root, and no unprivileged user namespace here ("), lines


def test_etc_passwd_shows_no_host_entry_without_root(run):
    job = run["jobs"]["etc passwd"]
    assert job["statuses"] == ["wrong"], job["infos"]
    reason = job["infos"][0]["first_failure"]["reason"]
    assert [line for line in host_view.host_passwd_lines() if line in reason] == []
    assert job["isolation"]["minimal_root"] is True
