"""End-to-end behaviour of the ``code`` verifier: statuses, tests, options, batches, cleanup."""

from __future__ import annotations

import math
import os
import signal
import sys
import time

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code import CodeVerifier
from rlfb.verifiers.code.diagnostics import leftover_workdirs, sandbox_processes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's process tier "
                                "needs root (see docs/sandbox.md)")

# Tests use their own sandbox uid range, away from the default one, so that a benchmark or
# another rlfb process on the machine cannot make them see foreign processes.
TEST_UID_BASE = 1_900_010_000
ADD_REF = {"entry_point": "add",
           "test": "def check(candidate):\n"
                   "    assert candidate(2, 3) == 5\n"
                   "    assert candidate(-4, 4) == 0\n"}


def fenced(body: str) -> str:
    """A completion holding ``body`` in a python fence."""
    return f"Here you go:\n```python\n{body}\n```\n"


def sandbox_pids() -> list[int]:
    return sandbox_processes(TEST_UID_BASE)

C, W, T, E = (VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.TIMEOUT,
              VerifyStatus.ERROR)
ADD = fenced("def add(a, b):\n    return a + b")
SUM_REF = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 6\n", "output": "11\n"},
                     {"input": "-1 1\n", "output": "0\n"}]}
SUM = fenced("a, b = map(int, input().split())\nprint(a + b)")


@pytest.fixture(scope="module")
def verifier():
    v = get_verifier("code", concurrency=2, timeout_s=10.0, uid_base=TEST_UID_BASE)
    yield v
    v.close()


@pytest.fixture(scope="module")
def quick():
    """Short timeouts, for programs that are meant to hang."""
    v = get_verifier("code", concurrency=2, timeout_s=1.0, sample_timeout_s=3.0,
                     uid_base=TEST_UID_BASE)
    yield v
    v.close()


def test_registered_and_typed(verifier):
    assert isinstance(verifier, CodeVerifier)
    assert verifier.name == "code" and verifier.version


def test_function_tests_correct_and_wrong(verifier):
    ok = verifier.verify(ADD, ADD_REF)
    assert (ok.status, ok.score, ok.extracted) == (C, 1.0, "def add(a, b):\n    return a + b\n")
    assert ok.info["passed"] == 1 and ok.info["calls"] == 2
    assert 0 < ok.info["judge_s"] <= ok.latency_s
    bad = verifier.verify(fenced("def add(a, b):\n    return a * b"), ADD_REF)
    assert (bad.status, bad.score) == (W, 0.0)
    failure = bad.info["first_failure"]
    assert failure["where"] == "line 2: assert candidate(2, 3) == 5"


def test_humaneval_style_prompt_and_body_completion(verifier):
    ref = {**ADD_REF, "prompt": 'def add(a, b):\n    """Add."""\n'}
    assert verifier.verify("    return a + b\n", ref).status is C
    assert verifier.verify(ADD, ref).status is C  # a whole function redefines the stub
    assert verifier.verify("    return a - b\n", ref).status is W


def test_prompt_helpers_and_entry_point_name_are_usable_by_the_test(verifier):
    ref = {"entry_point": "decode",
           "prompt": "def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    '''undo'''\n",
           "test": "def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n"
                   "    assert decode('xy') == 'yx'\n"}
    assert verifier.verify("    return encode(s)\n", ref).status is C


def test_candidate_exceptions_are_wrong_and_catchable_by_type(verifier):
    raising = fenced("def add(a, b):\n    raise KeyError('nope')")
    r = verifier.verify(raising, ADD_REF)
    assert r.status is W and "KeyError" in r.info["first_failure"]["reason"]
    ref = {"entry_point": "f", "test": "def check(c):\n    try:\n        c()\n"
           "    except ValueError:\n        return\n    assert False\n"}
    assert verifier.verify(fenced("def f():\n    raise ValueError('x')"), ref).status is C
    assert verifier.verify(fenced("def f():\n    raise TypeError('x')"), ref).status is W


def test_load_failures_are_wrong(verifier):
    for code in ("def add(a, b)\n    return a + b", "def plus(a, b):\n    return a + b",
                 "raise RuntimeError('at import')"):
        r = verifier.verify(fenced(code), ADD_REF)
        assert r.status is W and "did not load" in r.info["first_failure"]["reason"]


def test_a_test_that_never_calls_still_needs_the_code_to_load(verifier):
    ref = {"entry_point": "f", "test": "def check(candidate):\n    pass\n"}
    assert verifier.verify(fenced("def f():\n    return 1"), ref).status is C
    assert verifier.verify(fenced("def f(:\n"), ref).status is W


def test_stdio_tests(verifier):
    r = verifier.verify(SUM, SUM_REF)
    assert (r.status, r.info["passed"]) == (C, 3)
    wrong = verifier.verify(fenced("print(3)"), SUM_REF)
    assert wrong.status is W and "wrong output" in wrong.info["first_failure"]["reason"]
    crash = verifier.verify(fenced("import sys\nprint(3)\nsys.exit(2)"), SUM_REF)
    assert crash.status is W and "status 2" in crash.info["first_failure"]["reason"]
    trace = verifier.verify(fenced("int('x')"), SUM_REF)
    assert "ValueError" in trace.info["first_failure"]["stderr"]


def test_stdio_reads_stdin_in_every_way_and_threads_finish(verifier):
    ref = {"tests": [{"input": "4\n" + "x" * 200_000 + "\n", "output": "4 200000\n"}]}
    prog = ("import sys, threading\n"
            "def main():\n"
            "    n = sys.stdin.buffer.readline()\n"
            "    rest = sys.stdin.read().strip()\n"
            "    print(int(n), len(rest))\n"
            "threading.stack_size(1 << 24)\nthreading.Thread(target=main).start()\n")
    assert verifier.verify(fenced(prog), ref).status is C


def test_comparison_policies(verifier):
    ref = {"tests": [{"input": "", "output": "0.3333333\n"}], "compare": "float",
           "float_tol": 1e-4}
    assert verifier.verify(fenced("print(1/3)"), ref).status is C
    exact = {"tests": [{"input": "", "output": "a b\n", "compare": "exact"}]}
    assert verifier.verify(fenced("print('a  b')"), exact).status is W
    assert verifier.verify(fenced("print('a b')"), exact).status is C


def test_partial_credit(verifier):
    partial = get_verifier("code", partial_credit=True, concurrency=1, timeout_s=10.0,
                           uid_base=TEST_UID_BASE)
    try:
        prog = fenced("a, b = map(int, input().split())\nprint(a + b if a > 0 else 7)")
        r = partial.verify(prog, SUM_REF)
        assert r.status is W and r.score == pytest.approx(2 / 3, rel=1e-9)
        assert r.info["run"] == 3
        tests = [f"def check(c):\n    assert c({i}) == {i * 2}\n" for i in range(4)]
        ref = {"entry_point": "f", "test": tests}
        half = partial.verify(fenced("def f(x):\n    return x * 2 if x < 2 else 0"), ref)
        assert (half.status, half.score) == (W, 0.5)
    finally:
        partial.close()
    # without partial credit the tests stop at the first failure
    strict = verifier.verify(prog, SUM_REF)
    assert (strict.status, strict.score, strict.info["run"]) == (W, 0.0, 3)
    first = verifier.verify(fenced("print(0)"), SUM_REF)
    assert first.info["run"] == 1


def test_timeouts_are_masked_not_scored(quick):
    r = quick.verify(fenced("def add(a, b):\n    while True:\n        pass"), ADD_REF)
    assert r.status is T and math.isnan(r.score) and not r.judged
    s = quick.verify(fenced("while True:\n    pass"), SUM_REF)
    assert s.status is T and s.info["first_failure"]["status"] == "timeout"


def test_sample_budget_spans_all_tests(quick):
    slow = fenced("import time\ntime.sleep(0.8)\nprint(int(input().split()[0]) + 2)")
    ref = {"tests": [{"input": "1 2\n", "output": "3\n"}] * 6}
    r = quick.verify(slow, ref)
    assert r.status is T
    assert any("budget" in o for o in [r.info["first_failure"]["reason"]]) or r.info["run"] == 6


def test_timeout_is_wrong_option():
    v = get_verifier("code", timeout_s=1.0, timeout_is_wrong=True, concurrency=1,
                     uid_base=TEST_UID_BASE)
    try:
        r = v.verify(fenced("def add(a, b):\n    while True:\n        pass"), ADD_REF)
        assert (r.status, r.score) == (W, 0.0)
        assert r.info["first_failure"]["reason"].startswith("timed out")
    finally:
        v.close()


def test_non_plain_argument_from_the_test_is_an_error(verifier):
    ref = {"entry_point": "f", "test": "def check(c):\n    assert c(lambda x: x) == 1\n"}
    r = verifier.verify(fenced("def f(g):\n    return 1"), ref)
    assert r.status is E and "non-plain argument" in r.info["first_failure"]["reason"]


def test_bad_reference_is_an_error_with_the_reason(verifier):
    r = verifier.verify(ADD, {"entry_point": "add"})
    assert r.status is E and "test must be Python source" in r.info["exception"]
    broken = verifier.verify(ADD, {"entry_point": "add",  # fails before calling the candidate
                                   "test": "def check(c):\n    assert THREE == c(1, 2)\n"})
    assert broken.status is E and "NameError" in broken.info["first_failure"]["reason"]


def test_code_size_limit():
    v = get_verifier("code", max_code_bytes=100, concurrency=1, uid_base=TEST_UID_BASE)
    try:
        r = v.verify(fenced("x = 1\n" * 50), ADD_REF)
        assert r.status is W and "longer than" in r.info["reason"]
    finally:
        v.close()


def test_batch_order_concurrency_and_cleanup(verifier):
    good, bad = ADD, fenced("def add(a, b):\n    return 0")
    completions = [good, bad, SUM, fenced("print(1)")] * 6
    refs = [ADD_REF, ADD_REF, SUM_REF, SUM_REF] * 6
    results = verifier.verify_batch(completions, refs)
    assert [r.status for r in results] == [C, W, C, W] * 6
    assert verifier._pool.workers() == 2
    assert sandbox_pids() == []
    assert leftover_workdirs(TEST_UID_BASE) == []
    assert verifier.reap_failures == []


def test_batch_length_mismatch(verifier):
    with pytest.raises(ValueError, match="2 completions and 1 references"):
        verifier.verify_batch([ADD, ADD], [ADD_REF])


def test_isolation_report(verifier):
    r = verifier.verify(ADD, ADD_REF)
    iso = r.info["sandbox"]
    assert all(TEST_UID_BASE <= uid < TEST_UID_BASE + 1024 for uid in iso["uids"])
    assert len(set(iso["uids"])) == 2
    assert set(iso) == {"uids", "pidns", "netns", "mntns", "readonly_root"}
    full = verifier.isolation
    if full["mntns"]:  # then every mount the candidate can reach is read-only
        assert iso["readonly_root"] and full["writable_mounts"] == []
        assert "/root" in full["hidden_paths"] and os.getcwd() in full["hidden_paths"]
    assert min(verifier.isolation["uids"]) >= TEST_UID_BASE


def test_sandbox_environment_is_exactly_the_documented_one(verifier):
    from rlfb.verifiers.code import forkserver, runtime

    assert forkserver._ZYGOTE_ENV == runtime.sandbox_env("/tmp")
    ref = {"entry_point": "f", "test": "def check(c):\n    assert c() == {'PATH': "
           "'/usr/local/bin:/usr/bin:/bin', 'HOME': '/tmp', 'TMPDIR': '/tmp', 'LANG': 'C.UTF-8', "
           "'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}\n"}
    r = verifier.verify(fenced("import os\ndef f():\n    return dict(os.environ)"), ref)
    assert r.status is C, r.info


def test_asserts_run_even_under_python_optimize(monkeypatch):
    monkeypatch.setenv("PYTHONOPTIMIZE", "2")
    v = get_verifier("code", concurrency=1, timeout_s=10.0, uid_base=TEST_UID_BASE)
    try:
        assert v.verify(fenced("def add(a, b):\n    return 0"), ADD_REF).status is W
        assert v.verify(ADD, ADD_REF).status is C
    finally:
        v.close()


def test_dead_workers_are_replaced(verifier):
    assert verifier.verify(ADD, ADD_REF).status is C
    for pid in verifier.worker_pids():
        os.killpg(pid, signal.SIGKILL)  # the judge, its fork server and any sandbox
    time.sleep(0.2)
    assert verifier.verify(ADD, ADD_REF).status is C
    assert sandbox_pids() == []


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in os.listdir(f"/proc/{p}/task"):
            with open(f"/proc/{p}/task/{task}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
    return out


def _worker_cpus(v: CodeVerifier) -> list[set[frozenset[int]]]:
    """The CPU sets of each worker's judge, fork server and waiting sandbox child."""
    return [{frozenset(os.sched_getaffinity(p)) for p in _process_tree(pid)}
            for pid in sorted(v.worker_pids())]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
def test_workers_are_spread_one_per_cpu_and_replacements_take_the_free_one():
    cpus = sorted(os.sched_getaffinity(0))
    with get_verifier("code", concurrency=2, uid_base=TEST_UID_BASE) as v:
        assert [r.status for r in v.verify_batch([ADD] * 4, [ADD_REF] * 4)] == [C] * 4
        sets = _worker_cpus(v)
        assert all(len(s) == 1 and len(next(iter(s))) == 1 for s in sets), sets
        bound = sorted(next(iter(next(iter(s)))) for s in sets)
        assert bound == sorted(cpus[:2] if len(cpus) >= 2 else cpus * 2)
        victim = sorted(v.worker_pids())[0]
        lost = next(iter(next(iter(_worker_cpus(v)[0]))))
        os.killpg(victim, signal.SIGKILL)
        time.sleep(0.2)
        assert [r.status for r in v.verify_batch([ADD] * 4, [ADD_REF] * 4)] == [C] * 4
        bound = sorted(next(iter(next(iter(s)))) for s in _worker_cpus(v))
        assert bound == sorted(cpus[:2] if len(cpus) >= 2 else cpus * 2), (bound, lost)


@pytest.mark.parametrize("concurrency,pin", [(2, False), (1, None)])
def test_unpinned_workers_keep_every_cpu(concurrency, pin):
    """Off, or by default when the workers do not cover every CPU (one of several scorer
    actors with one worker each must not put its worker on the same CPU as the others')."""
    if pin is None and len(os.sched_getaffinity(0)) <= concurrency:
        pytest.skip("needs more CPUs than workers")
    with get_verifier("code", concurrency=concurrency, uid_base=TEST_UID_BASE,
                      pin_workers=pin) as v:
        assert v.verify(ADD, ADD_REF).status is C
        assert _worker_cpus(v) == [{frozenset(os.sched_getaffinity(0))}] * len(v.worker_pids())


def test_a_worker_killed_mid_sample_gives_error_then_recovers(quick):
    import threading

    hang = fenced("def add(a, b):\n    while True:\n        pass")
    box = {}
    thread = threading.Thread(target=lambda: box.update(r=quick.verify(hang, ADD_REF)))
    thread.start()
    deadline = time.monotonic() + 30.0
    while not quick.worker_pids() and time.monotonic() < deadline:  # a worker may be starting
        time.sleep(0.01)
    time.sleep(0.3)  # its judge is on the hang now (which lasts timeout_s, 1 s)
    for pid in quick.worker_pids():
        os.killpg(pid, signal.SIGKILL)
    thread.join()
    assert box["r"].status is E and "sandbox failure" in box["r"].info["reason"]
    assert quick.verify(ADD, ADD_REF).status is C
    assert sandbox_pids() == []


def test_a_worker_killed_mid_batch_fails_only_its_sample():
    """Each worker holds its next request while judging one: when it dies, the sample it was
    judging is ERROR and the one queued behind it is judged by another worker."""
    import threading

    hang = fenced("def add(a, b):\n    while True:\n        pass")
    box = {}
    batch = [hang] + [ADD] * 20
    # the hang lasts until its worker is killed, however long the other one takes to start
    slow = get_verifier("code", concurrency=2, timeout_s=30.0, sample_timeout_s=40.0,
                        uid_base=TEST_UID_BASE)
    thread = threading.Thread(
        target=lambda: box.update(r=slow.verify_batch(batch, [ADD_REF] * len(batch))))
    thread.start()
    pool, deadline = slow._pool, time.monotonic() + 25.0
    while time.monotonic() < deadline:  # until only the worker judging the hang is busy
        with pool._cond:
            busy = [w for w in pool._all if w not in pool._idle]
            if len(busy) == 1 and len(pool._idle) == 1:
                break
        time.sleep(0.01)
    os.killpg(busy[0].proc.pid, signal.SIGKILL)
    thread.join()
    slow.close()
    statuses = [r.status for r in box["r"]]
    assert statuses == [E] + [C] * 20, [r.info.get("reason") for r in box["r"]]
    assert "sandbox failure" in box["r"][0].info["reason"]
    assert sandbox_pids() == []


def test_golden_cases_pass():
    from rlfb.verifiers import VERIFIERS

    cls = VERIFIERS.get("code")
    assert {c.kind for c in cls.golden_cases} == {"positive", "negative", "adversarial"}
    by_options: dict[str, list] = {}
    for case in cls.golden_cases:
        by_options.setdefault(repr(sorted(case.options.items())), []).append(case)
    for cases in by_options.values():
        options = {"timeout_s": 10.0, **cases[0].options}
        v = get_verifier("code", concurrency=2, uid_base=TEST_UID_BASE, **options)
        try:
            results = v.verify_batch([c.completion for c in cases], [c.reference for c in cases])
        finally:
            v.close()
        for case, result in zip(cases, results):
            assert result.status is case.expected, (case.note, result.info)


def test_fork_server_site_without_pth_imports(tmp_path, monkeypatch):
    import site

    from rlfb.verifiers.code.forkserver import site_config

    (tmp_path / "extra").mkdir()
    (tmp_path / "hooks.pth").write_text("import os; os.environ['RLFB_PTH_RAN'] = '1'\n"
                                        "# a comment\nextra\nmissing-dir\n")
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(tmp_path)])
    cfg = site_config()
    assert cfg["paths"] == [str(tmp_path), str(tmp_path / "extra")]
    assert "RLFB_PTH_RAN" not in os.environ
    assert cfg["prefix"] == sys.prefix


def test_sandbox_python_is_the_venv_with_site_packages_and_exit_builtins(verifier):
    # An environment under /tmp would be covered by the execution's own tmpfs: the minimal view
    # shows it under /.host instead (docs/sandbox.md), and its packages stay importable.
    under_tmp = os.path.realpath(sys.prefix).startswith("/tmp/")
    want = [("/.host" if under_tmp else "") + sys.prefix, True, True]
    ref = {"entry_point": "f", "test": f"def check(c):\n    assert c() == {want!r}\n"}
    code = ("import sys, importlib.util\ndef f():\n    return [sys.prefix, callable(exit) and "
            "callable(quit), importlib.util.find_spec('pytest') is not None]")
    r = verifier.verify(fenced(code), ref)
    assert r.status is C, r.info
    stdio = {"tests": [{"input": "", "output": "3"}]}
    r = verifier.verify(fenced("print(3)\nexit()\nprint(4)"), stdio)
    assert r.status is C, r.info
