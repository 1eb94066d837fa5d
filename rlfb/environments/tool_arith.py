"""`"tool-arith"`: products beyond a small model's mental range, with a calculator at hand.

The questions multiply two ``digits``-digit numbers (3 × 3 digits by default: a six-digit product
that a 135M model almost never gets right unaided). The environment offers the ``calculator``
tool; the final assistant message is scored by the ``math`` verifier against the exact product.
Its prompt source, ``tool_arith``, is seeded, and its held-out part is disjoint from training by
*unordered operand pair* (``a × b`` and ``b × a`` are the same problem), see
`rlfb.environments.generated`.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from rlfb.environments import get_tool
from rlfb.environments.base import check_budgets
from rlfb.environments.generated import GeneratedSource, Problem
from rlfb.environments.tool_env import ToolEnvironment
from rlfb.errors import ConfigError

SYSTEM_PROMPT = ("You are a careful assistant. For arithmetic, call the calculator tool instead "
                 "of computing in your head, then give the final answer as a number.")
INSTRUCTION = "Give the final answer as a single number."


def product_problem(digits: int) -> Any:
    """A generator of ``digits``-digit × ``digits``-digit products."""
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 9:
        raise ConfigError(f"tool_arith digits must be an integer in 1..9, got {digits!r}")
    low, high = 10 ** (digits - 1), 10 ** digits - 1

    def generate(rng: random.Random) -> Problem:
        a, b = rng.randint(low, high), rng.randint(low, high)
        return Problem(key=(min(a, b), max(a, b)), question=f"What is {a} * {b}?",
                       answer=str(a * b), meta={"operands": [a, b]})

    return generate


class ProductSource(GeneratedSource):
    """``tool_arith``: seeded product questions (see the module docstring).

    Args:
        size: training prompts; seed: generator seed; digits: digits of each operand;
        part / holdout: which part, and how many held-out prompts (a count or a fraction);
        instruction: appended to each question; system_prompt: put before it.
    """

    def __init__(self, size: int = 1000, seed: int = 0, digits: int = 3, part: str = "train",
                 holdout: float | int = 0, instruction: str | None = INSTRUCTION,
                 system_prompt: str | None = None) -> None:
        super().__init__("tool_arith", product_problem(digits), size=size, seed=seed,
                         part=part, holdout=holdout, instruction=instruction,
                         system_prompt=system_prompt)


class ToolArith(ToolEnvironment):
    """Products with a calculator (see the module docstring).

    Args:
        max_turns: assistant turns (a call, then the answer, plus one spare).
        max_tokens: token budget of the trajectory after the prompt.
        calculator_timeout_s: the calculator's per-call limit.
        system_prompt: the system message (None: none; the tags format still adds the tools).
    """

    name: ClassVar[str] = "tool-arith"
    data_source: ClassVar[str | None] = "tool_arith"

    def __init__(self, max_turns: int = 3, max_tokens: int = 256,
                 calculator_timeout_s: float = 2.0,
                 system_prompt: str | None = SYSTEM_PROMPT) -> None:
        self.max_turns, self.max_tokens = check_budgets(self.name, max_turns, max_tokens)
        self.tools = (get_tool("calculator", timeout_s=calculator_timeout_s),)
        self.system_prompt = system_prompt
        self.reward = "verifier"
        self.reward_options = {"verifier": "math"}
