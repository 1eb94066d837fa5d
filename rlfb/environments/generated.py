"""Seeded prompt sources of generated problems, with a held-out part disjoint by problem key.

A generator draws one problem from a `random.Random`: its *key* (what makes two problems the same
problem, e.g. the unordered operand pair of a product), the question, and the reference answer.
Every key belongs to one side of a fixed split of the key space, by a stable hash of (seed,
key): `HOLDOUT_SHARE` of the keys are held out, the rest train. ``part="train"`` draws only
training keys and ``part="holdout"`` only held-out ones, so the two parts never share a problem,
at any sizes. Entry ``i`` of a part depends only on (generator options, seed, part, i), so every
process rebuilds the same prompts from the same options, as `rlfb.data.base` requires.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlfb.data.base import build_messages, check_index, check_part, parse_holdout
from rlfb.errors import ConfigError
from rlfb.types import Prompt

HOLDOUT_SHARE = 0.1
"""Fraction of the key space reserved for the held-out part."""
MAX_DRAWS = 1000
"""Draws per entry before a generator is called too small for its part."""


@dataclass(frozen=True)
class Problem:
    """One generated problem: its ``key`` (equal keys = the same problem), the ``question``
    text, the ``answer`` (the reference string) and ``meta`` for the prompt."""

    key: tuple[Any, ...]
    question: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


def held_out(key: tuple[Any, ...], seed: int) -> bool:
    """Whether ``key`` belongs to the held-out side of the split for ``seed`` (a stable hash,
    the same in every process and Python version)."""
    digest = hashlib.blake2b(repr((seed, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64 < HOLDOUT_SHARE


class GeneratedSource:
    """A prompt source over a problem generator (see the module docstring).

    Args:
        name: the source's name, for prompt ids and messages.
        generate: draws one `Problem` from a ``random.Random``.
        size: number of training prompts.
        seed: generator seed.
        part: "train" or "holdout".
        holdout: held-out prompts: a count, or a fraction of ``size``.
        instruction: text appended to every question.
        system_prompt: a system message put before every prompt.
    """

    def __init__(self, name: str, generate: Callable[[random.Random], Problem], *,
                 size: int, seed: int, part: str, holdout: float | int,
                 instruction: str | None, system_prompt: str | None) -> None:
        check_part(part, holdout)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"{name} size must be an integer >= 1, got {size!r}")
        self.name, self.generate = name, generate
        self.seed, self.part = int(seed), part
        self.instruction, self.system_prompt = instruction, system_prompt
        self._len = size if part == "train" else parse_holdout(holdout, size)

    def __len__(self) -> int:
        return self._len

    def problem(self, index: int) -> Problem:
        """The problem of entry ``index`` of this part."""
        rng = random.Random(f"{self.name}:{self.seed}:{self.part}:{index}")
        want_held_out = self.part == "holdout"
        for _ in range(MAX_DRAWS):
            problem = self.generate(rng)
            if held_out(problem.key, self.seed) == want_held_out:
                return problem
        raise ConfigError(f"{self.name}: no {self.part} problem in {MAX_DRAWS} draws; the "
                          "generator's options leave too few distinct problems, widen them")

    def get(self, index: int) -> Prompt:
        """The prompt of entry ``index``."""
        index = check_index(self, index)
        problem = self.problem(index)
        question = problem.question
        if self.instruction:
            question = f"{question}\n\n{self.instruction}"
        messages = build_messages(question, self.system_prompt, f"{self.name} entry {index}")
        meta = {"source": self.name, "part": self.part, "index": index, **problem.meta}
        return Prompt(f"{self.name}:{self.seed}:{self.part}:{index}", messages, problem.answer,
                      meta)
