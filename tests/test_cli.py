"""The `rlfb` CLI as a user types it: JSON results, one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RLFB = str(Path(sys.executable).parent / "rlfb")


def rlfb(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([RLFB, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_verify_prints_a_verify_result():
    proc = rlfb("verify", "format", "--completion", "<think>a</think><answer>7</answer>")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "correct" and out["extracted"] == "7" and out["verifier"] == "format"
    assert set(out) == {"status", "score", "extracted", "info", "verifier", "version", "latency_s"}


def test_verify_with_options_and_files(tmp_path):
    (tmp_path / "c.txt").write_text('{"a": 1}')
    (tmp_path / "s.json").write_text('{"type": "object", "required": ["b"]}')
    proc = rlfb("verify", "format", "--completion-file", str(tmp_path / "c.txt"),
                "-o", "mode=json", "-o", f"schema={tmp_path / 's.json'}")
    out = json.loads(proc.stdout)
    assert out["status"] == "wrong" and "'b' is a required property" in out["info"]["reason"]


def test_unknown_verifier_exits_2_with_did_you_mean():
    assert_one_line_error(rlfb("verify", "nosuch", "--completion", "x"),
                          "unknown verifier 'nosuch'", "did you mean", "format")
    assert_one_line_error(rlfb("verify", "fromat", "--completion", "x"), "did you mean 'format'")


@pytest.mark.parametrize(
    "args, needle",
    [
        (("verify", "format", "--completion", "x", "-o", "bogus=1"), "has no option 'bogus'"),
        (("verify", "format", "--completion", "x", "-o", "novalue"), "write it as key=value"),
        (("verify", "format", "--completion-file", "/no/such/file"), "cannot read completion"),
        (("verify", "format", "--completion", "x", "--reference-json", "{bad"), "not valid JSON"),
        (("verify", "format"), "--completion"),
        (("verifiers", "check", "nosuch"), "unknown verifier"),
        (("nosuchcommand",), "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle):
    assert_one_line_error(rlfb(*args), needle)


def test_verifiers_list_shows_format_with_golden_cases():
    proc = rlfb("verifiers", "list")
    assert proc.returncode == 0
    row = next(line for line in proc.stdout.splitlines() if line.startswith("format "))
    assert "rlfb" in row and "NONE" not in row


def test_verifiers_check_format_passes():
    from rlfb.verifiers import get_verifier

    cases = get_verifier("format").golden_cases
    kinds = {k: sum(c.kind == k for c in cases) for k in ("positive", "negative", "adversarial")}
    proc = rlfb("verifiers", "check", "format")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == (
        f"format: {len(cases)}/{len(cases)} golden cases pass ({kinds['positive']} positive, "
        f"{kinds['negative']} negative, {kinds['adversarial']} adversarial)")
    assert "FAIL" not in proc.stdout


_PLUGIN = """
from rlfb.verifiers import GoldenCase, Verdict, Verifier, VerifyStatus

C, W = VerifyStatus.CORRECT, VerifyStatus.WRONG


class EvenVerifier(Verifier):
    \"\"\"CORRECT when the completion is an even integer.\"\"\"

    version = "1"
    golden_cases = [
        GoldenCase("4", None, C),
        GoldenCase("7", None, W, kind="negative"),
        GoldenCase("8", None, W, kind="negative", note="mislabelled: 8 is even"),
        GoldenCase("10", None, W, kind="adversarial", note="mislabelled too"),
        GoldenCase("9", None, W, kind="adversarial"),
    ]

    def judge(self, completion, reference):
        return Verdict(C if int(completion) % 2 == 0 else W, extracted=completion)
"""


def _install_plugin(site: Path) -> dict[str, str]:
    """A plugin verifier ``even`` visible to a subprocess through its entry point (a dist-info
    folder on PYTHONPATH is an installed distribution to importlib.metadata)."""
    site.mkdir()
    (site / "rlfb_even_plugin.py").write_text(_PLUGIN)
    info = site / "rlfb_even_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlfb-even-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rlfb.verifiers]\neven = rlfb_even_plugin:EvenVerifier\n")
    return {"PYTHONPATH": str(site)}


def test_verifiers_check_exits_1_and_counts_a_failing_golden_case(tmp_path):
    import os

    env = {**os.environ, **_install_plugin(tmp_path / "site")}
    proc = subprocess.run([RLFB, "verifiers", "check", "even"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "even: 3/5 golden cases pass (1 positive, 2 negative, 2 adversarial)"
    failed = [line for line in lines if line.startswith("FAIL")]
    assert [line.split(" [")[0] for line in failed] == ["FAIL #2", "FAIL #3"]
    assert "expected wrong, got correct" in failed[0]
    verbose = subprocess.run([RLFB, "verifiers", "check", "even", "-v"], capture_output=True,
                             text=True, timeout=120, env=env)
    assert verbose.returncode == 1
    assert sum(line.startswith("PASS") for line in verbose.stdout.splitlines()) == 3


@pytest.mark.parametrize("args", [(), ("verify",), ("verifiers",), ("verifiers", "list"),
                                  ("verifiers", "check"), ("verifiers", "new")])
def test_help_on_every_command(args):
    proc = rlfb(*args, "--help")
    assert proc.returncode == 0 and "usage: rlfb" in proc.stdout
