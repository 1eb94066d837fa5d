"""Hostile candidates against the judge side of the ``code`` verifier (issue 23, classes 1-4, 9).

Each test is written from a mechanism by which a candidate reached past the trust boundary:

1. a control-flow exception (StopIteration, SystemExit, ...) re-raised inside the trusted test
   ended its loop or slipped past ``except Exception``, and a wrong answer scored CORRECT;
2. a failure the candidate's value caused in the test (``ast.literal_eval`` of a malformed
   string) was classed as a broken reference: ERROR, masked, instead of WRONG;
3. a reply whose set elements all share one hash made the judge's decode quadratic;
4. a reply of a few MB made the judge allocate fifty times its size, with no limit at all;
9. control characters, bidi overrides and lone surrogates reached ``info`` as they were.

The decoder's own bounds are checked directly on `wire.decode`; everything else runs candidates
through the verifier, as root.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tracemalloc

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.code import wire
from rlfb.verifiers.code.functest import safe_text

C, W, E = VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.ERROR
M61 = (1 << 61) - 1  # hash(k * M61) == 0 for every int k
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's process tier "
                               "needs root (see docs/sandbox.md)")


def fn(body: str) -> str:
    return f"```python\n{body}\n```"


def raw_reply(payload_expr: str) -> str:
    """Candidate code that writes the reply frame ``b"R" + <payload_expr>`` itself, straight
    to the judge's socket (fd 3), as a hostile candidate can: no encoder is involved."""
    return ("import os, struct\n"
            "def _send(body):\n"
            "    frame = struct.pack('>I', len(body) + 1) + b'R' + body\n"
            "    while frame:\n"
            "        frame = frame[os.write(3, frame):]\n"
            f"def f():\n    _send({payload_expr})\n    return 0\n")


@pytest.fixture(scope="module")
def verifier():
    v = get_verifier("code", concurrency=1, timeout_s=3.0, sample_timeout_s=6.0,
                     uid_base=1_900_050_000)
    yield v
    v.close()


# -- 1. control-flow exceptions ---------------------------------------------------------------
ZIP_MAP = {"entry_point": "inc", "test": (
    "def check(candidate):\n"
    "    assert all(r == x + 1 for x, r in zip([1, 2, 3], map(candidate, [1, 2, 3])))\n")}
SWALLOWS = {"entry_point": "inc", "test": (
    "def check(candidate):\n"
    "    try:\n"
    "        r = candidate(1)\n"
    "    except Exception:\n"
    "        r = 2\n"
    "    assert r == 2\n")}


@root_only
@pytest.mark.parametrize("exc", ["StopIteration", "StopAsyncIteration"])
def test_iteration_ending_exceptions_do_not_end_the_tests_loop(verifier, exc):
    r = verifier.verify(fn(f"def inc(x):\n    raise {exc}"), ZIP_MAP)
    assert r.status is W, r.info
    assert exc in r.info["first_failure"]["reason"]


@root_only
@pytest.mark.parametrize("exc", [
    "SystemExit(0)", "KeyboardInterrupt", "GeneratorExit", "BaseException('x')",
    "BaseExceptionGroup('g', [KeyboardInterrupt()])", "StopIteration"])
def test_control_flow_exceptions_fail_even_where_the_test_accepts_errors(verifier, exc):
    r = verifier.verify(fn(f"def inc(x):\n    raise {exc}"), SWALLOWS)
    assert r.status is W, r.info


@root_only
def test_the_test_that_accepts_errors_accepts_an_ordinary_one(verifier):
    assert verifier.verify(fn("def inc(x):\n    return x"), SWALLOWS).status is W
    assert verifier.verify(fn("def inc(x):\n    raise ValueError('an error')"),
                           SWALLOWS).status is C


@root_only
def test_ordinary_exceptions_keep_a_catchable_type(verifier):
    ref = {"entry_point": "f", "test": "def check(c):\n    try:\n        c()\n"
           "    except ValueError:\n        return\n    assert False\n"}
    assert verifier.verify(fn("def f():\n    raise ValueError('x')"), ref).status is C
    # needs five constructor arguments: re-raised as its nearest base that takes a message
    assert verifier.verify(fn("def f():\n    b'\\xff'.decode('utf-8')"), ref).status is C
    assert verifier.verify(fn("def f():\n    raise KeyError('x')"), ref).status is W


# -- 2. ERROR only when the reference is broken -----------------------------------------------
LITERAL = {"entry_point": "f", "test": (
    "import ast\n"
    "def check(candidate):\n"
    "    assert ast.literal_eval(candidate()) == [1, 2]\n")}
BROKEN_AFTER_CALL = {"entry_point": "add",
                     "test": "def check(c):\n    assert c(1, 2) == THREE\n",
                     "prompt": "def add(a, b):\n    \"\"\"a + b\"\"\"\n",
                     "canonical_solution": "    return a + b\n"}
BROKEN_ONLY_FOR_WRONG = {"entry_point": "add",
                         "test": "def check(c):\n    r = c(1, 2)\n    if r != 3:\n"
                                 "        report_mismatch(r)\n    assert r == 3\n",
                         "canonical_solution": "def add(a, b):\n    return a + b\n"}


@root_only
def test_a_failure_the_candidates_value_causes_is_wrong_not_error(verifier):
    assert verifier.verify(fn("def f():\n    return '[1, 2]'"), LITERAL).status is C
    r = verifier.verify(fn("def f():\n    return '[1, 2'"), LITERAL)  # SyntaxError in the test
    assert r.status is W, r.info
    assert "SyntaxError" in r.info["first_failure"]["reason"]
    evals = {"entry_point": "f", "test": "def check(c):\n    assert eval(c()) == 3\n"}
    assert verifier.verify(fn("def f():\n    return 'undefined_name'"), evals).status is W
    imports = {"entry_point": "f", "test": "def check(c):\n    __import__(c())\n"}
    assert verifier.verify(fn("def f():\n    return 'no_such_module_rlfb'"), imports).status is W


@root_only
def test_a_candidate_value_that_makes_the_next_argument_non_plain_is_wrong(verifier):
    ref = {"entry_point": "f",
           "test": "def check(c):\n    v = c(0)\n    assert c([v]) == 1\n"}
    deep = "def f(x):\n    v = 0\n    for _ in range(wire_depth):\n        v = [v]\n    return v\n"
    r = verifier.verify(fn(f"wire_depth = {wire.MAX_DEPTH - 1}\n{deep}"), ref)
    assert r.status is W, r.info
    assert "non-plain" in r.info["first_failure"]["reason"]


@root_only
def test_a_broken_reference_is_error_when_the_canonical_solution_fails_the_same_way(verifier):
    r = verifier.verify(fn("def add(a, b):\n    return a - b"), BROKEN_AFTER_CALL)
    assert r.status is E, r.info
    assert "canonical solution fails the same way" in r.info["first_failure"]["reason"]
    assert "THREE" in r.info["first_failure"]["reason"]
    without = {k: v for k, v in BROKEN_AFTER_CALL.items() if k != "canonical_solution"}
    assert verifier.verify(fn("def add(a, b):\n    return a - b"), without).status is W


@root_only
def test_a_broken_branch_only_a_wrong_answer_reaches_is_wrong(verifier):
    assert verifier.verify(fn("def add(a, b):\n    return a + b"),
                           BROKEN_ONLY_FOR_WRONG).status is C
    r = verifier.verify(fn("def add(a, b):\n    return a - b"), BROKEN_ONLY_FOR_WRONG)
    assert r.status is W, r.info
    assert "NameError" in r.info["first_failure"]["reason"]


@root_only
def test_a_test_that_fails_before_calling_is_error(verifier):
    ref = {"entry_point": "f", "test": "def check(c):\n    assert 1 == 2\n    c()\n"}
    r = verifier.verify(fn("def f():\n    return 1"), ref)
    assert r.status is E and "before calling the candidate" in r.info["first_failure"]["reason"]


# -- 3. the decoder is bounded in time ---------------------------------------------------------
def colliding(n: int, tag: str = "s") -> bytes:
    items = [str(k * M61) for k in range(n)]
    body = ",".join(f"[{x},0]" for x in items) if tag == "d" else ",".join(items)
    return f'{{"{tag}":[{body}]}}'.encode()


@pytest.mark.parametrize("tag", ["s", "f", "d"])
def test_decode_refuses_sets_and_dicts_of_colliding_hashes(tag):
    # 2000 elements with one hash: 2 million comparisons unchecked, n*n/2 in general
    with pytest.raises(wire.BadWire, match="share a hash value"):
        wire.decode(colliding(2000, tag))
    nested = b'{"t":[' + colliding(2000, tag) + b"]}"
    with pytest.raises(wire.BadWire, match="share a hash value"):
        wire.decode(nested)


def test_decode_keeps_sets_whose_elements_collide_by_chance():
    few = {-1, -2, M61, 2 * M61, (1, 2)}  # hash(-1) == hash(-2), M61 and 2*M61 hash to 0
    assert wire.decode(wire.encode(few)) == few
    eight = {k * M61: k for k in range(8)}  # the most that may share a hash
    assert wire.decode(wire.encode(eight)) == eight


# 300,000 colliding elements, 6 MB: about 4.5e10 comparisons to build as a set
COLLIDING = fn(raw_reply(f"b'{{\"s\":[' + b','.join(b'%d' % (k * {M61}) "
                         "for k in range(300000)) + b']}'"))
WANTS_A_SET = {"entry_point": "f", "test": "def check(c):\n    assert c() == {1}\n"}
# 8 MiB (the default reply cap) of empty sets: 0.5 GB to rebuild before the fix
REPLY_CAP = 8 << 20
EMPTY_SETS = fn(raw_reply(f"b'[' + b','.join([b'{{\"s\":[]}}'] * {(REPLY_CAP - 16) // 9})"
                          " + b']'"))
CALLS = {"entry_point": "f", "test": "def check(c):\n    c()\n"}


@root_only
def test_a_colliding_reply_is_wrong_not_a_hung_judge(verifier):
    r = verifier.verify(COLLIDING, WANTS_A_SET)
    assert r.status is W, r.info
    assert "hash" in r.info["first_failure"]["reason"]
    assert verifier.verify(fn("def add(a, b):\n    return a + b"),
                           {"entry_point": "add", "test": "def check(c):\n"
                            "    assert c(1, 2) == 3\n"}).status is C


# -- 4. the judge's memory is bounded ---------------------------------------------------------
PEAK_FACTOR = 20  # what decoding may take per byte of reply, on top of FLOOR
FLOOR = 4 << 20  # wire.MEMORY_FLOOR


def shapes(size: int) -> dict[str, bytes]:
    """Replies of about ``size`` bytes that are cheap to send and dear to rebuild."""
    def repeat(item: bytes) -> bytes:
        return b"[" + b",".join([item] * (size // (len(item) + 1))) + b"]"
    return {"empty sets": repeat(b'{"s":[]}'), "empty frozensets": repeat(b'{"f":[]}'),
            "empty lists": repeat(b"[]"), "one-int lists": repeat(b"[0]"),
            "pairs": repeat(b"[1,2]"), "1-tuples": repeat(b'{"t":[0]}'),
            "empty dicts": repeat(b'{"d":[]}'), "two-char strings": repeat(b'"ab"'),
            "floats": repeat(b"0.5"),
            "set of ints": b'{"s":[' + b",".join(b"%d" % (10**6 + i)
                                                 for i in range(size // 8)) + b"]}"}


@pytest.mark.parametrize("name", list(shapes(16)))
def test_decode_peak_memory_is_a_small_multiple_of_the_reply(name):
    data = shapes(512 << 10)[name]
    gc.collect()
    tracemalloc.start()
    try:
        try:
            value = wire.decode(data)
        except wire.BadWire:
            value = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del value
    assert peak <= PEAK_FACTOR * len(data) + FLOOR, (name, peak / len(data))


def _kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@root_only
def test_judge_runs_under_a_memory_limit_its_sandbox_does_not_inherit():
    # a sandbox limit above the judge's own: the child must get it all the same
    with get_verifier("code", concurrency=1, timeout_s=3.0, memory_mb=6144,
                      uid_base=1_900_052_000) as v:
        probe = {"entry_point": "f", "test": "def check(c):\n    assert c() == 0\n"}
        code = ("import resource\ndef f():\n"
                "    return resource.getrlimit(resource.RLIMIT_AS)[0] - (6144 << 20)\n")
        assert v.verify(fn(code), probe).status is C
        (judge,) = v.worker_pids()
        with open(f"/proc/{judge}/limits") as f:
            line = next(x for x in f if x.startswith("Max address space"))
        soft = line.split()[3]
        assert soft != "unlimited" and int(soft) < 6144 << 20


@root_only
def test_a_huge_cheap_reply_is_wrong_and_the_judge_stays_small():
    with get_verifier("code", concurrency=1, timeout_s=5.0, uid_base=1_900_052_000) as v:
        add = {"entry_point": "add", "test": "def check(c):\n    assert c(1, 2) == 3\n"}
        assert v.verify(fn("def add(a, b):\n    return a + b"), add).status is C
        (judge,) = v.worker_pids()
        before = _kib(judge, "VmHWM") << 10
        r = v.verify(EMPTY_SETS, CALLS)
        assert r.status is W, r.info
        grown = (_kib(judge, "VmHWM") << 10) - before
        # the reply's bytes are held a few times over while it is read and decoded
        assert grown <= (PEAK_FACTOR + 4) * REPLY_CAP + FLOOR, grown >> 20
        assert v.verify(fn("def add(a, b):\n    return a + b"), add).status is C
        assert v.worker_pids() == [judge]


@root_only
def test_running_out_of_judge_memory_on_a_candidates_value_is_wrong(verifier):
    ref = {"entry_point": "f", "test": "def check(c):\n    assert len(bytearray(c())) == 0\n"}
    r = verifier.verify(fn("def f():\n    return 1 << 45"), ref)  # 32 TiB
    assert r.status is W and "MemoryError" in r.info["first_failure"]["reason"], r.info
    assert verifier.verify(fn("def f():\n    return 0"), ref).status is C


# -- 9. text crossing the boundary is sanitised ------------------------------------------------
NASTY = "\x1b[2J\x1b]0;owned\x07\u202eevil\u2066\udc80\x00\r\n"
NAME = "E\x1b[31m\u202e"  # a class name may hold any of it but NUL and surrogates


def assert_clean(text: str, limit: int = 1000) -> None:
    assert all(c.isprintable() for c in text), ascii(text)
    assert len(text) <= limit


def test_safe_text_escapes_what_is_not_printable_and_bounds_the_length():
    assert safe_text("ok: 3 != 4 (é, 中)") == "ok: 3 != 4 (é, 中)"
    assert safe_text("a\x1b[2Jb\u202ec\udc80d\x00\r\n\U000e0041") == (
        "a\\x1b[2Jb\\u202ec\\udc80d\\x00\\x0d\\x0a\\U000e0041")
    assert safe_text("line 1\nline 2\x07", keep="\n") == "line 1\nline 2\\x07"
    assert len(safe_text("\x1b" * 5000)) == 1000 and len(safe_text("x" * 5000, 50)) == 50


@root_only
def test_failure_reasons_are_escaped_and_bounded(verifier):
    add = {"entry_point": "add", "test": "def check(c):\n    assert c(1, 2) == 3, c(0, 0)\n"}
    cases = [
        fn(f"def add(a, b):\n    raise ValueError({NASTY!r} * 5000)"),
        fn(f"E = type({NAME!r}, (Exception,), {{}})\ndef add(a, b):\n    raise E('x')"),
        fn(f"raise RuntimeError({NASTY!r})"),  # the code does not load
        fn(f"def add(a, b):\n    return {NASTY!r} * 5000"),  # in the assertion's message
    ]
    for completion in cases:
        r = verifier.verify(completion, add)
        assert r.status is W, r.info
        failure = r.info["first_failure"]
        assert_clean(failure["reason"])
        assert_clean(failure.get("where", ""))
        assert "\\x1b" in failure["reason"] or "\\u202e" in failure["reason"], failure


@root_only
def test_stderr_tails_are_escaped_but_keep_their_lines(verifier):
    prog = fn(f"import sys\nsys.stderr.write({NASTY!r} * 3)\nsys.exit(3)")
    r = verifier.verify(prog, {"tests": [{"input": "", "output": "x\n"}]})
    assert r.status is W
    tail = r.info["first_failure"]["stderr"]
    assert "\x1b" not in tail and "\u202e" not in tail and "\udc80" not in tail
    assert "\\x1b" in tail and "\n" in tail
    assert all(c.isprintable() or c == "\n" for c in tail), ascii(tail)


# -- the same attacks without root (the sandbox in its own user namespace) ---------------------
def _nonroot():
    """tests/verifiers/test_code_nonroot.py, loaded by path: its runner and source copy."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_code_nonroot.py")
    spec = importlib.util.spec_from_file_location("_judge_hostile_nonroot", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ADD = {"entry_point": "add", "test": "def check(c):\n    assert c(1, 2) == 3\n"}
WITHOUT_ROOT = {  # name: (completion, reference, status)
    "StopIteration ends the test's zip": (fn("def inc(x):\n    raise StopIteration"), ZIP_MAP,
                                          "wrong"),
    "SystemExit where errors are accepted": (fn("def inc(x):\n    raise SystemExit(0)"),
                                             SWALLOWS, "wrong"),
    "SyntaxError on the candidate's string": (fn("def f():\n    return '[1, 2'"), LITERAL,
                                              "wrong"),
    "broken branch only a wrong answer reaches": (fn("def add(a, b):\n    return a - b"),
                                                  BROKEN_ONLY_FOR_WRONG, "wrong"),
    "broken reference, canonical fails the same way": (
        fn("def add(a, b):\n    return a - b"), BROKEN_AFTER_CALL, "error"),
    "colliding set": (COLLIDING, WANTS_A_SET, "wrong"),
    "8 MiB of empty sets": (EMPTY_SETS, CALLS, "wrong"),
    "control characters": (fn(f"def add(a, b):\n    raise ValueError({NASTY!r} * 500)"), ADD,
                           "wrong"),
}


@pytest.fixture(scope="module")
def without_root():
    """Every attack above judged by a verifier that runs as uid 65534."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not os.access(
            "/usr/bin/python3", os.X_OK):
        pytest.skip("needs root (to become uid 65534 with setpriv) and the OS's /usr/bin/python3")
    nonroot = _nonroot()
    root = tempfile.mkdtemp(prefix="rlfb-nonroot-")
    try:
        os.chmod(root, 0o755)
        job = nonroot._job({"concurrency": 1, "timeout_s": 3.0, "sample_timeout_s": 6.0},
                           [(c, r) for c, r, _ in WITHOUT_ROOT.values()])
        done = subprocess.run(
            ["setpriv", f"--reuid={nonroot.NOBODY}", f"--regid={nonroot.NOBODY}",
             "--clear-groups", nonroot.PYTHON, "-P", "-c", nonroot.RUNNER],
            input=json.dumps([job]), capture_output=True, text=True, cwd=root, timeout=300,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": nonroot._copy_sources(root),
                 "LANG": "C.UTF-8", "HOME": root})
    finally:
        shutil.rmtree(root)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["left"] == []
    (result,) = report["jobs"]
    assert result["isolation"]["userns"], result["isolation"]
    return dict(zip(WITHOUT_ROOT, zip(result["statuses"], result["infos"])))


@pytest.mark.parametrize("name", list(WITHOUT_ROOT))
def test_judge_side_attacks_fail_without_root_too(without_root, name):
    status, info = without_root[name]
    assert status == WITHOUT_ROOT[name][2], info
    assert_clean(info["first_failure"]["reason"])
