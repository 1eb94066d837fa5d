"""`"single-turn"`: the trivial environment, one assistant turn and done.

A run without an ``env`` section never builds it (the rollout path is the plain engine, as
before); it exists so that a config can name the single-turn case explicitly and so that the
multi-turn runner treats it like any other environment.
"""

from __future__ import annotations

from typing import ClassVar

from rlfb.environments.base import Environment, EpisodeState, StepResult, check_budgets


class SingleTurn(Environment):
    """One assistant turn, no tools; the config's data and reward apply.

    >>> from rlfb.types import Prompt
    >>> env = SingleTurn()
    >>> state = env.reset(Prompt("p0", ({"role": "user", "content": "2+2?"},)))
    >>> env.step(state, "4").done, state.turns, state.messages[-1]["content"]
    (True, 1, '4')
    """

    name: ClassVar[str] = "single-turn"

    def __init__(self, system_prompt: str | None = None, max_tokens: int = 1024) -> None:
        self.max_turns, self.max_tokens = check_budgets(self.name, 1, max_tokens)
        self.system_prompt = system_prompt
        self.tools = ()

    def respond(self, state: EpisodeState, assistant_message: str) -> StepResult:
        """Done after the first answer."""
        return StepResult([], True)
