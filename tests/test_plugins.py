"""Third-party verifier plugins: the example package and `rlfb verifiers new`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "experiments" / "plugins" / "rlfb-palindrome"
BIN = Path(sys.executable).parent


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True,
                   timeout=300)


@pytest.fixture(scope="module")
def palindrome_installed():
    pip("install", "--no-deps", "--no-build-isolation", str(PLUGIN))
    yield
    pip("uninstall", "-y", "rlfb-palindrome")


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, cwd=cwd)


def test_plugin_resolves_in_a_fresh_process(palindrome_installed, tmp_path):
    code = ("from rlfb.verifiers import get_verifier;"
            "r = get_verifier('palindrome').verify('<answer>Never odd or even</answer>', 4);"
            "print(r.status.value, r.verifier)")
    out = run(sys.executable, "-c", code, cwd=tmp_path)
    assert out.stdout.split() == ["correct", "palindrome"], out.stderr


def test_plugin_shows_in_list_and_passes_check(palindrome_installed):
    listing = run(str(BIN / "rlfb"), "verifiers", "list").stdout
    assert any(line.startswith("palindrome ") and "rlfb-palindrome" in line
               for line in listing.splitlines()), listing
    check = run(str(BIN / "rlfb"), "verifiers", "check", "palindrome")
    assert check.returncode == 0 and "7/7 golden cases pass" in check.stdout
    verify = run(str(BIN / "rlfb"), "verify", "palindrome", "--completion", "abc")
    assert json.loads(verify.stdout)["status"] == "wrong"


@pytest.mark.ray
def test_plugin_resolves_inside_a_ray_worker(palindrome_installed, ray_local):
    ray = ray_local

    @ray.remote
    def judge(text: str) -> tuple[str, str]:
        from rlfb.verifiers import get_verifier

        r = get_verifier("palindrome").verify(text, None)
        return r.status.value, r.verifier

    assert ray.get(judge.remote("racecar")) == ("correct", "palindrome")
    assert ray.get(judge.remote("raceboat")) == ("wrong", "palindrome")


def test_verifiers_new_writes_a_package_that_installs_and_passes(tmp_path):
    target = tmp_path / "rlfb-echo-check"
    made = run(str(BIN / "rlfb"), "verifiers", "new", "echo_check", "--dir", str(target))
    assert made.returncode == 0, made.stderr
    again = run(str(BIN / "rlfb"), "verifiers", "new", "echo_check", "--dir", str(target))
    assert again.returncode == 2 and "not empty" in again.stderr
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(target))
    try:
        check = run(str(BIN / "rlfb"), "verifiers", "check", "echo_check")
        assert check.returncode == 0, check.stdout + check.stderr
        tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(target / "tests"), cwd=target)
        assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout
    finally:
        pip("uninstall", "-y", "rlfb-echo-check")


def test_verifiers_new_rejects_bad_names(tmp_path):
    out = run(str(BIN / "rlfb"), "verifiers", "new", "Bad-Name", "--dir", str(tmp_path / "x"))
    assert out.returncode == 2 and "bad verifier name" in out.stderr
