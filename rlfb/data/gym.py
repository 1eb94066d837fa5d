"""``reasoning_gym``: prompts from reasoning-gym's procedural generators, offline and seeded.

reasoning-gym builds entry ``i`` of a task from ``Random(seed + i)``, so an entry depends only on
(task, config, seed, i). Entry ``i`` becomes a `Prompt` with:

- ``messages``: the question (plus ``"\\n\\n" + instruction`` when ``instruction`` is set) as one
  user message, after the optional ``system_prompt``;
- ``reference``: the task's answer string (what the ``math`` verifier compares against);
- ``prompt_id``: ``"<task>:<seed>:<i>"``;
- ``meta``: ``{"source": "reasoning_gym", "task", "index", "metadata"}`` (reasoning-gym's own
  metadata: expression, difficulty ...).

``part="train"`` is entries ``0 .. size-1``. ``part="holdout"`` is ``holdout`` entries taken from
``size`` onward, skipping any whose question text also occurs among the training entries (small
arithmetic tasks repeat questions), so the two parts share no question.
"""

from __future__ import annotations

import difflib
from typing import Any

from rlfb.data.base import build_messages, check_index, check_part, parse_holdout
from rlfb.errors import ConfigError
from rlfb.types import Prompt

SCAN_FACTOR = 20  # held-out candidates examined per held-out prompt before giving up


def create_task(task: str, size: int, seed: int, config: dict[str, Any]) -> Any:
    """``reasoning_gym.create_dataset`` with its errors turned into `ConfigError`s."""
    import reasoning_gym
    from reasoning_gym.factory import DATASETS

    if task not in DATASETS:
        close = difflib.get_close_matches(task, list(DATASETS), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ConfigError(f"unknown reasoning_gym task {task!r}; {hint}"
                          f"(e.g. basic_arithmetic, chain_sum; {len(DATASETS)} tasks in all)")
    try:
        return reasoning_gym.create_dataset(task, size=size, seed=seed, **config)
    except (TypeError, ValueError, AssertionError) as exc:
        raise ConfigError(f"reasoning_gym task {task!r} rejects config {config!r}: {exc}") from exc


class ReasoningGymSource:
    """A reasoning-gym task as a prompt source; see the module docstring.

    Args:
        task: reasoning-gym dataset name, e.g. "basic_arithmetic", "chain_sum".
        size: number of training prompts.
        seed: generator seed.
        config: task-specific options passed to ``reasoning_gym.create_dataset``
            (e.g. ``{"min_terms": 2, "max_terms": 3}`` for chain_sum).
        instruction: text appended to every question (e.g. the answer format to use).
        system_prompt: a system message put before every prompt.
        part: "train" or "holdout".
        holdout: held-out prompts: a count, or a fraction of ``size``; 0 = none.
    """

    def __init__(self, task: str, *, size: int = 1000, seed: int = 0,
                 config: dict[str, Any] | None = None, instruction: str | None = None,
                 system_prompt: str | None = None, part: str = "train",
                 holdout: float | int = 0) -> None:
        check_part(part, holdout)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"reasoning_gym size must be an integer >= 1, got {size!r}")
        self.task = task
        self.seed = int(seed)
        self.config = dict(config or {})
        self.instruction = instruction
        self.system_prompt = system_prompt
        self.part = part
        train = create_task(task, size, self.seed, self.config)
        if part == "train":
            self._data, self._indices = train, list(range(size))
        else:
            self._data, self._indices = self._holdout(train, size, parse_holdout(holdout, size))

    def _holdout(self, train: Any, size: int, count: int) -> tuple[Any, list[int]]:
        scan = SCAN_FACTOR * count + 100
        data = create_task(self.task, size + scan, self.seed, self.config)
        seen = {train[i]["question"] for i in range(size)}
        picked: list[int] = []
        for index in range(size, size + scan):
            question = data[index]["question"]
            if question not in seen:
                seen.add(question)
                picked.append(index)
                if len(picked) == count:
                    return data, picked
        raise ConfigError(
            f"reasoning_gym task {self.task!r} gave only {len(picked)} held-out questions that "
            f"differ from its {size} training questions (wanted {count}); hold out fewer "
            "prompts or widen the task's config")

    def __len__(self) -> int:
        return len(self._indices)

    def get(self, index: int) -> Prompt:
        """The prompt for entry ``index`` of this part."""
        gen_index = self._indices[check_index(self, index)]
        entry = self._data[gen_index]
        question = str(entry["question"])
        if self.instruction:
            question = f"{question}\n\n{self.instruction}"
        where = f"reasoning_gym {self.task} entry {gen_index}"
        messages = build_messages(question, self.system_prompt, where)
        meta = {"source": "reasoning_gym", "task": self.task, "index": gen_index,
                "metadata": entry.get("metadata", {})}
        return Prompt(f"{self.task}:{self.seed}:{gen_index}", messages, entry["answer"], meta)
