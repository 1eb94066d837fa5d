"""Training and held-out evaluation sources from one data config.

`split_sources` gives the training source and the evaluation source of a run:

- with an explicit ``eval_source``: that source (with ``eval_options``), as is; keeping it apart
  from the training data is then the user's choice;
- otherwise the held-out part of the training source itself: the same options with
  ``part="train"`` / ``part="holdout"``, so no prompt is in both (hf_files: a seeded choice of
  rows; reasoning_gym: entries past the training range whose questions differ from every
  training question). ``holdout`` defaults to ``eval_prompts``; set it in the options (e.g. a
  fraction, 0.1) to hold out more.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from rlfb.data.base import PromptSource
from rlfb.errors import ConfigError
from rlfb.types import Prompt


def split_sources(source: str, options: Mapping[str, Any] | None = None, *,
                  eval_prompts: int = 0, eval_source: str | None = None,
                  eval_options: Mapping[str, Any] | None = None
                  ) -> tuple[PromptSource, PromptSource | None]:
    """``(train, eval)`` sources by registry name; eval is None when ``eval_prompts`` is 0."""
    from rlfb.data import PROMPT_SOURCES, get_prompt_source

    options = dict(options or {})
    if eval_prompts < 0:
        raise ConfigError(f"eval_prompts must be >= 0, got {eval_prompts}")
    if eval_source is not None:
        train = get_prompt_source(source, **options)
        evaluation = get_prompt_source(eval_source, **dict(eval_options or {}))
        return train, (evaluation if eval_prompts else None)
    if eval_options:
        raise ConfigError("eval_options are set but eval_source is not; set data.eval_source, "
                          "or move the options into data.options")
    if not eval_prompts:
        return get_prompt_source(source, **options), None
    if "part" in options:
        raise ConfigError(f"data options set part={options['part']!r}, but the held-out split "
                          "sets it itself; remove it (set holdout to choose the held-out size)")
    params = inspect.signature(PROMPT_SOURCES.get(source)).parameters
    if "part" not in params or "holdout" not in params:
        raise ConfigError(f"prompt source {source!r} cannot hold out prompts (it has no 'part' "
                          "and 'holdout' options); set data.eval_source to a separate eval set")
    options.setdefault("holdout", eval_prompts)
    train = get_prompt_source(source, **options, part="train")
    evaluation = get_prompt_source(source, **options, part="holdout")
    return train, evaluation


def first_prompts(source: PromptSource, count: int) -> list[Prompt]:
    """The first ``count`` prompts of ``source`` (all of them when it has fewer): a fixed
    evaluation set."""
    return [source.get(i) for i in range(min(count, len(source)))]
