"""`"python-math"`: arithmetic word problems, with a Python interpreter at hand.

Each question is one of a few word-problem templates filled with seeded numbers large enough
that working them out in the head is error-prone; the environment offers the ``python`` tool (the
code verifier's sandbox) and the final assistant message is scored by the ``math`` verifier
against the exact integer answer. Its prompt source, ``python_math``, holds problems out by
(template, numbers), see `rlfb.environments.generated`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, ClassVar

from rlfb.environments import get_tool
from rlfb.environments.base import check_budgets
from rlfb.environments.generated import GeneratedSource, Problem
from rlfb.environments.tool_env import ToolEnvironment

SYSTEM_PROMPT = ("You are a careful assistant. Work out word problems by writing a short Python "
                 "program and running it with the python tool (print the result), then give "
                 "the final answer as a number.")
INSTRUCTION = "Give the final answer as a single number."
NAMES = ("Ada", "Ben", "Chen", "Dana", "Eli", "Fatima", "Goro", "Hana")


def _warehouse(rng: random.Random) -> tuple[tuple[int, ...], str, int]:
    a, b = rng.randint(12, 99), rng.randint(24, 480)
    c = rng.randint(1, a * b // 3)
    return (a, b, c), (f"A warehouse holds {a} crates with {b} bottles in each. {c} bottles "
                       "break. How many bottles are left?"), a * b - c


def _savings(rng: random.Random) -> tuple[tuple[int, ...], str, int]:
    name, a, b = rng.choice(NAMES), rng.randint(13, 250), rng.randint(7, 52)
    c = rng.randint(1, a * b - 1)
    return (NAMES.index(name), a, b, c), (f"{name} saves {a} dollars every week for {b} weeks "
                                          f"and then spends {c} dollars. How many dollars does "
                                          f"{name} have left?"), a * b - c


def _train(rng: random.Random) -> tuple[tuple[int, ...], str, int]:
    a, b, c = rng.randint(45, 320), rng.randint(3, 19), rng.randint(11, 999)
    return (a, b, c), (f"A train covers {a} km every hour for {b} hours, then {c} km more. How "
                       "many km does it cover in all?"), a * b + c


def _groups(rng: random.Random) -> tuple[tuple[int, ...], str, int]:
    a, b = rng.randint(1000, 99999), rng.randint(7, 97)
    return (a, b), (f"{a} visitors are split into groups of {b}. How many full groups can be "
                    "made?"), a // b


def _series(rng: random.Random) -> tuple[tuple[int, ...], str, int]:
    n = rng.randint(150, 9999)
    return (n,), f"What is the sum of all whole numbers from 1 to {n}?", n * (n + 1) // 2


TEMPLATES: tuple[Callable[[random.Random], tuple[tuple[int, ...], str, int]], ...] = (
    _warehouse, _savings, _train, _groups, _series)


def word_problem(rng: random.Random) -> Problem:
    """One word problem: a template, its numbers, and the exact answer."""
    index = rng.randrange(len(TEMPLATES))
    numbers, question, answer = TEMPLATES[index](rng)
    return Problem(key=(index, *numbers), question=question, answer=str(answer),
                   meta={"template": TEMPLATES[index].__name__.lstrip("_")})


class WordProblemSource(GeneratedSource):
    """``python_math``: seeded word problems (see the module docstring).

    Args:
        size: training prompts; seed: generator seed; part / holdout: which part, and how many
        held-out prompts (a count or a fraction); instruction: appended to each question;
        system_prompt: put before it.
    """

    def __init__(self, size: int = 1000, seed: int = 0, part: str = "train",
                 holdout: float | int = 0, instruction: str | None = INSTRUCTION,
                 system_prompt: str | None = None) -> None:
        super().__init__("python_math", word_problem, size=size, seed=seed, part=part,
                         holdout=holdout, instruction=instruction, system_prompt=system_prompt)


class PythonMath(ToolEnvironment):
    """Word problems with the python tool (see the module docstring).

    Args:
        max_turns: assistant turns.
        max_tokens: token budget of the trajectory after the prompt.
        python_timeout_s, python_memory_mb: the python tool's per-run limits.
        system_prompt: the system message (None: none; the tags format still adds the tools).
    """

    name: ClassVar[str] = "python-math"
    data_source: ClassVar[str | None] = "python_math"

    def __init__(self, max_turns: int = 4, max_tokens: int = 768, python_timeout_s: float = 5.0,
                 python_memory_mb: int = 512, system_prompt: str | None = SYSTEM_PROMPT) -> None:
        self.max_turns, self.max_tokens = check_budgets(self.name, max_turns, max_tokens)
        self.tools = (get_tool("python", timeout_s=python_timeout_s,
                               memory_mb=python_memory_mb),)
        self.system_prompt = system_prompt
        self.reward = "verifier"
        self.reward_options: dict[str, Any] = {"verifier": "math"}
