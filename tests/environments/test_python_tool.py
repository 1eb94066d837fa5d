"""The python tool: runs code in the code verifier's sandbox, under its hostile-program suite.

The hostile programs are the code verifier's own (tests/verifiers/test_code_hostile.py), run
through the tool instead of the verifier: a function attack runs as ``<code>; print(f())`` and
has worked when it prints ``pwned``. Every run must end (ok or timeout), nothing may survive or
touch the host, and the tool must still work afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rlfb.environments import get_tool, run_tool
from rlfb.tools.python import describe_run
from rlfb.verifiers.code.diagnostics import leftover_workdirs, sandbox_processes
from rlfb.verifiers.code.extract import extract_code

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's process tier "
                                "needs root (see docs/sandbox.md)")

UID_BASE = 1_900_040_000
# Attacks on the verifier's comparison of a returned value, which the tool does not make: this
# one returns a str subclass equal to 'pwned', so printing it is no escape.
COMPARISON_ONLY = {"subclass inside a list"}
HOSTILE_FILE = Path(__file__).resolve().parents[1] / "verifiers" / "test_code_hostile.py"


def _hostile_module():
    spec = importlib.util.spec_from_file_location("rlfb_hostile_programs", HOSTILE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def python_tool():
    tool = get_tool("python", timeout_s=1.5, memory_mb=512, output_chars=400, concurrency=2,
                    sandbox={"uid_base": UID_BASE})
    yield tool
    tool.close()


def test_prints_come_back(python_tool):
    result = run_tool(python_tool, {"code": "x = 6 * 7\nprint(x)\nprint('done')"})
    assert (result.content, result.status) == ("42\ndone\n", "ok")


def test_a_fenced_program_is_taken_out_of_its_fence(python_tool):
    result = run_tool(python_tool, {"code": "```python\nprint(2 ** 10)\n```"})
    assert result.content == "1024\n"


def test_an_exception_shows_its_traceback_and_exit_status(python_tool):
    result = run_tool(python_tool, {"code": "print('before')\n1 / 0"})
    assert result.status == "ok"  # the tool worked; the program failed, and the model sees how
    assert result.content.startswith("before\nTraceback (most recent call last):\n")
    assert "ZeroDivisionError: division by zero\n(exit status 1)\n" in result.content
    assert "rlfb-sandbox" not in result.content


def test_a_hanging_program_is_a_timeout(python_tool):
    result = run_tool(python_tool, {"code": "while True:\n    pass"})
    assert result.status == "timeout"
    assert result.content == "TIMEOUT: the program ran past its limit of 1.5 s"


def test_output_is_cut_to_the_budget(python_tool):
    result = run_tool(python_tool, {"code": "print('y' * 100000)"})
    assert len(result.content) == 400 and result.content.endswith("...[truncated]")


def test_memory_is_limited(python_tool):
    result = run_tool(python_tool, {"code": "x = bytearray(2 << 30)\nprint('allocated')"})
    assert "MemoryError" in result.content and "allocated" not in result.content


def test_describe_run_reports_signals_and_cut_output():
    text = describe_run({"stdout": "abc", "stderr": "", "exit_status": -9, "overflow": True})
    assert text == "abc...[output cut]\n(killed by signal 9)\n"


@pytest.fixture(scope="module")
def hostile(python_tool):
    """Every hostile program through the tool, two at a time; the host's state afterwards."""
    module = _hostile_module()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    sock_path = os.path.join(tempfile.gettempdir(), f"{module.NONCE}.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(sock_path)
    unix.listen()
    unix.setblocking(False)
    os.environ["RLFB_HOSTILE_SECRET"] = module.SECRET
    cases = module.attacks(listener.getsockname()[1], sock_path)
    programs = {}
    for name, (completion, reference, _) in cases.items():
        code, _ = extract_code(completion)
        calls = "\nprint(f())\n" if reference is module.PWNED else ""
        programs[name] = code + calls
    try:
        with ThreadPoolExecutor(2) as pool:
            results = dict(zip(programs, pool.map(
                lambda code: run_tool(python_tool, {"code": code}), programs.values())))
        time.sleep(0.3)  # anything that escaped would have written its markers by now
        state = {
            "processes": sandbox_processes(UID_BASE),
            "markers": [m for m in module.MARKERS if os.path.exists(m)],
            "workroots": leftover_workdirs(UID_BASE),
            "accepted": [_accepted(s) for s in (listener, unix)],
            "after": run_tool(python_tool, {"code": "print(sum(range(5)))"}),
        }
    finally:
        listener.close()
        unix.close()
        os.unlink(sock_path)
        os.environ.pop("RLFB_HOSTILE_SECRET", None)
    pwned_cases = {n for n, c in cases.items() if c[1] is module.PWNED} - COMPARISON_ONLY
    return {"results": results, "pwned_cases": pwned_cases, "state": state}


def _accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
        return True
    except BlockingIOError:
        return False


def test_no_hostile_program_succeeds_through_the_tool(hostile):
    assert len(hostile["results"]) >= 30
    for name, result in hostile["results"].items():
        assert result.status in ("ok", "timeout"), (name, result)
        if name in hostile["pwned_cases"]:
            lines = result.content.splitlines()
            assert "pwned" not in lines, (name, result.content)


def test_hostile_programs_leave_the_host_untouched(hostile):
    state = hostile["state"]
    assert state["processes"] == []
    assert state["markers"] == []
    assert state["workroots"] == []
    assert state["accepted"] == [False, False]


def test_the_tool_still_works_after_the_hostile_suite(hostile):
    assert (hostile["state"]["after"].content, hostile["state"]["after"].status) == ("10\n", "ok")
