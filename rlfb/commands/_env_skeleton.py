"""The files `rlfb envs new NAME` writes: an installable environment plugin package.

The package registers an environment, a tool and a prompt source through the three entry-point
groups (``rlfb.environments``, ``rlfb.tools``, ``rlfb.prompt_sources``), and passes
``rlfb envs check NAME`` and its own tests as written.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "rlfb-env-$dash"
version = "0.1.0"
description = "The $name environment for rlfb."
requires-python = ">=3.11"
dependencies = ["rlfb"]

# rlfb finds environments, tools and prompt sources through these entry-point groups, in every
# process that looks a name up (a Ray worker included).
[project.entry-points."rlfb.environments"]
$name = "rlfb_env_$mod.env:$cls"

[project.entry-points."rlfb.tools"]
${mod}_digit_sum = "rlfb_env_$mod.tools:DigitSum"

[project.entry-points."rlfb.prompt_sources"]
$mod = "rlfb_env_$mod.env:${cls}Source"

[tool.setuptools]
packages = ["rlfb_env_$mod"]
'''

ENV = '''"""The `$name` environment: digit sums of large numbers, with a digit-sum tool.

Replace the problem generator, the tool and the reward with your own. The environment's step is
`ToolEnvironment`'s: the model's tool calls are parsed, run (never raising: an error or a hang
becomes an observation) and answered, until it replies without a call or `max_turns` is spent;
the `math` verifier then scores the final reply against the problem's answer.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from rlfb.environments import get_tool
from rlfb.environments.base import check_budgets
from rlfb.environments.generated import GeneratedSource, Problem
from rlfb.environments.tool_env import ToolEnvironment

SYSTEM_PROMPT = ("Use the ${mod}_digit_sum tool to add up digits, then give the final answer "
                 "as a number.")


def digit_sum_problem(rng: random.Random) -> Problem:
    """One problem; its key (the number) decides whether it is held out."""
    number = rng.randint(10**7, 10**9)
    return Problem(key=(number,), question=f"What is the sum of the digits of {number}?",
                   answer=str(sum(int(d) for d in str(number))), meta={"number": number})


class ${cls}Source(GeneratedSource):
    """The `$mod` prompt source: seeded problems; ``part="holdout"`` never repeats a training
    number."""

    def __init__(self, size: int = 1000, seed: int = 0, part: str = "train",
                 holdout: float | int = 0,
                 instruction: str | None = "Give the final answer as a single number.",
                 system_prompt: str | None = None) -> None:
        super().__init__("$mod", digit_sum_problem, size=size, seed=seed, part=part,
                         holdout=holdout, instruction=instruction, system_prompt=system_prompt)


class $cls(ToolEnvironment):
    """Digit sums with a tool. Options (the config's ``env.options``) are these arguments."""

    name: ClassVar[str] = "$name"
    data_source: ClassVar[str | None] = "$mod"

    def __init__(self, max_turns: int = 3, max_tokens: int = 256,
                 system_prompt: str | None = SYSTEM_PROMPT) -> None:
        self.max_turns, self.max_tokens = check_budgets(self.name, max_turns, max_tokens)
        self.tools = (get_tool("${mod}_digit_sum"),)
        self.system_prompt = system_prompt
        self.reward = "verifier"
        self.reward_options: dict[str, Any] = {"verifier": "math"}
'''

TOOLS = '''"""The `${mod}_digit_sum` tool."""

from __future__ import annotations

from typing import Any

from rlfb.environments import Tool, ToolResult


class DigitSum(Tool):
    """The sum of the decimal digits of a whole number."""

    name = "${mod}_digit_sum"
    description = "Add up the decimal digits of a whole number, e.g. 1234 -> 10."
    parameters = {"type": "object",
                  "properties": {"number": {"type": "string",
                                            "description": "the whole number, in digits"}},
                  "required": ["number"]}
    timeout_s = 1.0

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        text = arguments["number"].strip()
        if not text.isdigit():
            return ToolResult(f"ERROR: {text!r} is not a whole number", "error")
        return ToolResult(str(sum(int(d) for d in text)))
'''

TEST = '''import json

from rlfb.data import split_sources
from rlfb.environments import get_environment, list_environments, list_tools
from rlfb.environments.formats import TagsFormat
from rlfb.rewards import get_reward


def test_${mod}_is_registered():
    assert "$name" in list_environments()
    assert "${mod}_digit_sum" in list_tools()


def test_${mod}_episode_calls_the_tool_and_is_rewarded():
    env = get_environment("$name")
    prompt = env.prompt_source({"size": 3}).get(0)
    state = env.reset(prompt, TagsFormat())
    call = {"name": "${mod}_digit_sum", "arguments": {"number": str(prompt.meta["number"])}}
    step = env.step(state, f"<tool_call>{json.dumps(call)}</tool_call>")
    assert not step.done and prompt.reference in step.observations[0]["content"]
    assert env.step(state, f"The answer is {prompt.reference}.").done
    reward = get_reward(env.reward, **env.reward_options)
    assert reward.score(state.messages[-1]["content"], prompt.reference).value == 1.0


def test_${mod}_holdout_shares_no_problem_with_training():
    train, held = split_sources("$mod", {"size": 200}, eval_prompts=20)
    numbers = {train.get(i).meta["number"] for i in range(len(train))}
    assert not numbers & {held.get(i).meta["number"] for i in range(len(held))}
'''

README = '''# rlfb-env-$dash

The `$name` environment for rlfb: a tool, a prompt source and an environment, each registered
through an entry point. Install and check it:

    pip install -e .
    rlfb envs check $name
    pytest tests

Train on it with `env.name: $name` in a config (its prompt source and reward are used unless the
config names others).
'''


def write_env_skeleton(name: str, target: Path) -> list[Path]:
    """Write the package for environment ``name`` under ``target``; returns the files written."""
    mod = name.replace("-", "_")
    fields = {"name": name, "mod": mod, "dash": mod.replace("_", "-"),
              "cls": "".join(part.capitalize() for part in mod.split("_"))}
    files = {
        target / "pyproject.toml": PYPROJECT,
        target / "README.md": README,
        target / f"rlfb_env_{mod}" / "__init__.py": '"""The $name environment plugin for rlfb."""\n',
        target / f"rlfb_env_{mod}" / "env.py": ENV,
        target / f"rlfb_env_{mod}" / "tools.py": TOOLS,
        target / "tests" / f"test_{mod}.py": TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(fields), encoding="utf-8")
    return list(files)
