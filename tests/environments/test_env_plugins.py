"""Environment plugins: the example package installed with ``pip install -e``, resolved by name
in a fresh process and in a Ray worker; ``rlfb envs list | check | new``; broken plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "experiments" / "plugins" / "rlfb-env-guess"
BIN = Path(sys.executable).parent


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True,
                   timeout=300)


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, cwd=cwd)


def rlfb(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return run(str(BIN / "rlfb"), *args, cwd=cwd)


@pytest.fixture(scope="module")
def guess_installed():
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN))
    yield
    pip("uninstall", "-y", "rlfb-env-guess")


EPISODE = """
from rlfb.environments import get_environment
from rlfb.environments.formats import TagsFormat
from rlfb.rewards import get_reward
env = get_environment("guess-number", max_turns=5)
prompt = env.prompt_source({"size": 4, "seed": 1}).get(0)
secret = int(prompt.reference)
state = env.reset(prompt, TagsFormat())
replies = []
for guess in (secret - 1, secret + 1, "no idea", secret):
    step = env.step(state, f"My guess: {guess}")
    replies.append([m["content"] for m in step.observations])
reward = get_reward(env.reward, **env.reward_options).score(state.messages[-1]["content"],
                                                            prompt.reference)
print(replies, step.done, state.turns, reward.value)
"""


def test_the_plugin_resolves_by_name_in_a_fresh_process(guess_installed, tmp_path):
    out = run(sys.executable, "-c", EPISODE, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("] ")[-1].split() == ["True", "4", "1.0"], out.stdout
    assert out.stdout.startswith("[['Higher.'], ['Lower.'], ['Reply with one whole number.'], "
                                 "[]]"), out.stdout


def test_the_plugin_shows_in_list_and_passes_check(guess_installed):
    listing = rlfb("envs", "list")
    assert listing.returncode == 0, listing.stderr
    assert any(line.startswith("guess-number ") and "rlfb-env-guess" in line
               for line in listing.stdout.splitlines()), listing.stdout
    check = rlfb("envs", "check", "guess-number", "-o", "max_turns=3")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "PASS budgets: max_turns=3, max_tokens=256" in check.stdout
    assert check.stdout.rstrip().endswith("guess-number: 7/7 checks pass")
    bad = rlfb("envs", "check", "guess-number", "-o", "max_turns=0")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "max_turns must be an integer >= 1, got 0" in bad.stderr


@pytest.mark.ray
def test_the_plugin_resolves_inside_a_ray_worker(guess_installed, ray_local):
    ray = ray_local

    # A worker started now, after the install: an idle worker Ray started earlier would not
    # have the editable install's path hook; a runtime_env of its own forces a new process.
    @ray.remote(max_calls=1, runtime_env={"env_vars": {"RLFB_TEST_FRESH_WORKER": "1"}})
    def play(guess: int) -> tuple[str, list[str]]:
        from rlfb.environments import get_environment
        from rlfb.types import Prompt

        env = get_environment("guess-number")
        state = env.reset(Prompt("p", ({"role": "user", "content": "guess"},), "42"))
        step = env.step(state, str(guess))
        return type(env).__module__, [m["content"] for m in step.observations]

    assert ray.get(play.remote(10)) == ("rlfb_env_guess", ["Higher."])
    assert ray.get(play.remote(42)) == ("rlfb_env_guess", [])


def _broken_plugin(root: Path, body: str) -> Path:
    (root / "rlfb_env_broken").mkdir(parents=True)
    (root / "rlfb_env_broken" / "__init__.py").write_text(body)
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "rlfb-env-broken"
        version = "0.1.0"
        [project.entry-points."rlfb.environments"]
        broken = "rlfb_env_broken:Broken"
        missing = "rlfb_env_nowhere:Env"
        [tool.setuptools]
        packages = ["rlfb_env_broken"]
    """))
    return root


def test_a_plugin_that_fails_to_import_is_one_line_and_exit_2(tmp_path):
    target = _broken_plugin(tmp_path / "broken", 'raise RuntimeError("boom at import")\n')
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(target))
    try:
        broken = rlfb("envs", "check", "broken")
        assert broken.returncode == 2
        assert broken.stderr.count("\n") == 1 and "Traceback" not in broken.stderr
        assert broken.stderr.startswith("rlfb: error: environment 'broken' could not be "
                                        "imported from entry point broken = ")
        assert broken.stderr.rstrip().endswith("RuntimeError: boom at import")
        missing = rlfb("envs", "check", "missing")
        assert missing.returncode == 2 and missing.stderr.count("\n") == 1
        assert "ModuleNotFoundError: No module named 'rlfb_env_nowhere'" in missing.stderr
        listing = rlfb("envs", "list")  # the others are still listed
        assert listing.returncode == 0, listing.stderr
        rows = {line.split()[0]: line for line in listing.stdout.splitlines() if line.strip()}
        assert "ERROR" in rows["broken"] and "RuntimeError: boom at import" in rows["broken"]
        assert "calculator" in rows["tool-arith"]
    finally:
        pip("uninstall", "-y", "rlfb-env-broken")


def test_envs_new_writes_a_package_that_installs_and_passes(tmp_path):
    target = tmp_path / "rlfb-env-digits"
    made = rlfb("envs", "new", "digit-sums", "--dir", str(target))
    assert made.returncode == 0, made.stderr
    again = rlfb("envs", "new", "digit-sums", "--dir", str(target))
    assert again.returncode == 2 and "not empty" in again.stderr
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(target))
    try:
        check = rlfb("envs", "check", "digit-sums")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "PASS tool 'digit_sums_digit_sum' schema" in check.stdout
        assert "PASS step: a scripted call of 1 tool(s)" in check.stdout
        tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(target / "tests"), cwd=target)
        assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout
    finally:
        pip("uninstall", "-y", "rlfb-env-digit-sums")


def test_envs_new_rejects_bad_names(tmp_path):
    out = rlfb("envs", "new", "Bad Name", "--dir", str(tmp_path / "x"))
    assert out.returncode == 2 and "bad environment name 'Bad Name'" in out.stderr
