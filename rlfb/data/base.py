"""The prompt-source contract and the seeded, resumable sampler that walks a source.

A *prompt source* is a finite, index-addressable collection of `Prompt`s:

    len(source) -> int              # number of prompts
    source.get(index) -> Prompt     # the same Prompt for the same index, in every process

Sources hold no iteration state, so any process (a Ray worker included) can rebuild one from its
registry name and options and read the same prompts. Order, shuffling and the position in the
data live in `PromptSampler`, whose `state_dict` is saved with a checkpoint so that a resumed
run draws exactly the prompts the uninterrupted run would have drawn.

Held-out parts: the built-in sources take ``part="train" | "holdout"`` and ``holdout`` (how much
to hold out); the two parts of one source with the same options never share a prompt. See
`rlfb.data.split.split_sources`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlfb.errors import ConfigError
from rlfb.types import Prompt

PARTS = ("train", "holdout")


@runtime_checkable
class PromptSource(Protocol):
    """A finite, deterministic collection of prompts (see the module docstring)."""

    def __len__(self) -> int:
        """Number of prompts."""
        ...

    def get(self, index: int) -> Prompt:
        """The prompt at ``index`` (0 <= index < len)."""
        ...


def check_index(source: PromptSource, index: int) -> int:
    """``index`` as an int, or `IndexError` when it is outside ``[0, len(source))``."""
    n = len(source)
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < n:
        raise IndexError(f"prompt index {index!r} out of range for a source of {n} prompts")
    return int(index)


def check_part(part: str, holdout: float | int) -> None:
    """Validate the ``part`` / ``holdout`` options shared by the built-in sources."""
    if part not in PARTS:
        raise ConfigError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or holdout < 0:
        raise ConfigError(f"holdout must be a number >= 0 (a count, or a fraction < 1), "
                          f"got {holdout!r}")
    if part == "holdout" and holdout == 0:
        raise ConfigError("part='holdout' needs holdout > 0 (how many prompts to hold out)")


def build_messages(content: Any, system_prompt: str | None, where: str
                   ) -> tuple[dict[str, str], ...]:
    """Chat messages from a prompt value: a string becomes one user message; a list of
    ``{"role", "content"}`` dicts is used as is. ``system_prompt`` is put first.

    ``where`` names the row for error messages.
    """
    if isinstance(content, str):
        messages: list[dict[str, str]] = [{"role": "user", "content": content}]
    elif isinstance(content, Sequence) and content and all(isinstance(m, Mapping) for m in content):
        messages = [_message(m, where) for m in content]
    else:
        raise ConfigError(f"{where}: the prompt must be a string or a non-empty list of chat "
                          f"messages ({{'role': ..., 'content': ...}}), got {type(content).__name__}")
    if system_prompt is not None:
        if messages[0]["role"] == "system":
            raise ConfigError(f"{where} already starts with a system message; "
                              "drop the system_prompt option or the message")
        messages.insert(0, {"role": "system", "content": system_prompt})
    return tuple(messages)


def _message(message: Mapping[str, Any], where: str) -> dict[str, str]:
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str) or not isinstance(content, str):
        raise ConfigError(f"{where}: every chat message needs string 'role' and 'content' "
                          f"fields, got {dict(message)!r}")
    return {"role": role, "content": content}


def parse_holdout(holdout: float | int, n: int) -> int:
    """How many items ``holdout`` asks for out of ``n``: a count (a whole number) or a fraction
    of ``n`` (0 < f < 1, at least one)."""
    if isinstance(holdout, float) and 0 < holdout < 1:
        return max(1, round(holdout * n))
    if not float(holdout).is_integer():
        raise ConfigError(f"holdout must be a fraction in (0, 1) or a whole count, got {holdout!r}")
    return int(holdout)


def holdout_count(holdout: float | int, n: int, what: str) -> int:
    """Number of held-out items among the ``n`` of ``what`` (`parse_holdout`), leaving at least
    one to train on."""
    count = parse_holdout(holdout, n)
    if count >= n:
        raise ConfigError(f"holdout={holdout!r} holds out {count} of the {n} prompts of {what}, "
                          "leaving none to train on; hold out fewer")
    return count


def split_holdout(items: Sequence[Any], holdout: float | int, seed: int, what: str
                  ) -> tuple[list[Any], list[Any]]:
    """``(train, held_out)``: a seeded choice of ``holdout`` items (a fraction or a count) held
    out, both in their original order; ``holdout`` 0 holds out nothing. The one splitter of data
    files and offline rows, so a seed picks the same held-out rows wherever they are split."""
    if holdout == 0:
        return list(items), []
    count = holdout_count(holdout, len(items), what)
    held = set(np.random.default_rng(seed).permutation(len(items))[:count].tolist())
    return ([x for i, x in enumerate(items) if i not in held],
            [x for i, x in enumerate(items) if i in held])


class PromptSampler:
    """Draws prompts from a source in seeded epochs, resumably.

    Each epoch visits every prompt once, in the order ``permutation(seed, epoch)`` (or index
    order with ``shuffle=False``); a batch that crosses an epoch end continues into the next
    epoch. ``state_dict()`` is ``{"epoch", "position", "seed", "size"}``; `load_state_dict`
    restores it, so the next `next_batch` returns what it would have returned without the stop.

    >>> from rlfb.types import Prompt
    >>> class Letters:
    ...     def __len__(self): return 3
    ...     def get(self, i): return Prompt("abc"[i], ({"role": "user", "content": "abc"[i]},))
    >>> s = PromptSampler(Letters(), seed=0, shuffle=False)
    >>> [p.prompt_id for p in s.next_batch(4)], s.state_dict()["epoch"]
    (['a', 'b', 'c', 'a'], 1)
    """

    def __init__(self, source: PromptSource, *, seed: int = 0, shuffle: bool = True) -> None:
        size = len(source)
        if size < 1:
            raise ConfigError("the prompt source is empty; check its files or options")
        self.source = source
        self.seed = int(seed)
        self.shuffle = shuffle
        self.size = size
        self.epoch = 0
        self.position = 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def next_indices(self, count: int) -> list[int]:
        """The source indices of the next ``count`` prompts (advances the position)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        out: list[int] = []
        while len(out) < count:
            take = min(count - len(out), self.size - self.position)
            out.extend(int(i) for i in self._order[self.position : self.position + take])
            self.position += take
            if self.position == self.size:
                self.epoch += 1
                self.position = 0
                self._order = self._epoch_order(self.epoch)
        return out

    def next_batch(self, count: int) -> list[Prompt]:
        """The next ``count`` prompts (advances the position)."""
        return [self.source.get(i) for i in self.next_indices(count)]

    def state_dict(self) -> dict[str, int]:
        """The data position, for checkpoints."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "size": self.size}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Continue from a saved position; the source and seed must be the ones saved."""
        if int(state["size"]) != self.size or int(state["seed"]) != self.seed:
            raise ConfigError(
                f"cannot resume the prompt sampler: it was saved for a source of {state['size']} "
                f"prompts with seed {state['seed']}, but this one has {self.size} prompts and "
                f"seed {self.seed}; resume with the same data options and run.seed")
        position = int(state["position"])
        if not 0 <= position < self.size:
            raise ConfigError(f"saved sampler position {position} is outside 0..{self.size - 1}")
        self.epoch = int(state["epoch"])
        self.position = position
        self._order = self._epoch_order(self.epoch)
