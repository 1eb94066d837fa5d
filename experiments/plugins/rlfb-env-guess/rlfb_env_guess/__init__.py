"""`guess-number`: guess a secret whole number, told "Higher." or "Lower." after each guess.

An environment without tools: `respond` reads the last whole number of each assistant message
and answers with a user message. The episode ends on the right guess or after ``max_turns``;
the ``math`` verifier scores the final message against the secret.
"""

from __future__ import annotations

import random
import re
from typing import Any, ClassVar

from rlfb.environments import Environment, EpisodeState, StepResult
from rlfb.environments.base import check_budgets
from rlfb.environments.generated import GeneratedSource, Problem
from rlfb.errors import ConfigError

_NUMBER = re.compile(r"-?\d+")


def _check_high(high: Any) -> int:
    if isinstance(high, bool) or not isinstance(high, int) or high < 10:
        raise ConfigError(f"guess-number: high must be an integer >= 10, got {high!r}")
    return high


class SecretSource(GeneratedSource):
    """``guess_number``: seeded secrets in ``1..high``, held out by value."""

    def __init__(self, size: int = 1000, seed: int = 0, high: int = 100, part: str = "train",
                 holdout: float | int = 0, system_prompt: str | None = None) -> None:
        high = _check_high(high)

        def secret(rng: random.Random) -> Problem:
            value = rng.randint(1, high)
            return Problem(key=(value,), answer=str(value), meta={"high": high},
                           question=f"I am thinking of a whole number from 1 to {high}. Guess "
                                    "it: reply with one number, and I will say higher or lower.")

        super().__init__("guess_number", secret, size=size, seed=seed, part=part,
                         holdout=holdout, instruction=None, system_prompt=system_prompt)


class GuessNumber(Environment):
    """Guess the secret (see the module docstring). Options: ``max_turns``, ``max_tokens``."""

    name: ClassVar[str] = "guess-number"
    data_source: ClassVar[str | None] = "guess_number"

    def __init__(self, max_turns: int = 7, max_tokens: int = 256) -> None:
        self.max_turns, self.max_tokens = check_budgets(self.name, max_turns, max_tokens)
        self.tools = ()
        self.system_prompt = None
        self.reward = "verifier"
        self.reward_options = {"verifier": "math"}

    def respond(self, state: EpisodeState, assistant_message: str) -> StepResult:
        """Done on the secret; otherwise "Higher.", "Lower." or a request for a number."""
        numbers = _NUMBER.findall(assistant_message)
        if not numbers:
            state.info["no_guess"] = state.info.get("no_guess", 0) + 1
            return StepResult([{"role": "user", "content": "Reply with one whole number."}],
                              False, {"guess": None})
        guess, secret = int(numbers[-1]), int(state.prompt.reference)
        if guess == secret:
            return StepResult([], True, {"guess": guess})
        hint = "Higher." if guess < secret else "Lower."
        return StepResult([{"role": "user", "content": hint}], False, {"guess": guess})
