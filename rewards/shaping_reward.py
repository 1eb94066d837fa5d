"""A shaping function (`rlfb.rewards.shaping`) as a `Reward`, for composite components.

A composite component ``{"name": "overlong", "kind": "shaping", "fn": "soft_overlong",
"options": {"max_length": 512, "cache_length": 128, "tokenizer": "path/to/model"}}`` builds
``ShapingReward("soft_overlong", max_length=512, cache_length=128, tokenizer=...)``.

Functions (``fn``) and their options:

- ``length_penalty``: ``max_length``, ``free_length``, ``coef``;
- ``soft_overlong``: ``max_length``, ``cache_length`` (DAPO);
- ``repetition``: ``ngram``, ``coef`` (over tokens, or words when ``unit`` is not "tokens").

Length is measured in ``unit``: "tokens" (the default; needs ``tokenizer``, a model folder or
tokenizer name loadable offline by ``AutoTokenizer``, and counts the completion re-tokenised
without special tokens), "words" (whitespace-separated) or "chars". The reference is unused.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from rlfb.errors import ConfigError
from rlfb.rewards.base import Reward, RewardResult
from rlfb.rewards.shaping import length_penalty, repetition_penalty, soft_overlong_penalty

SHAPING_FUNCTIONS: dict[str, Callable[..., float]] = {
    "length_penalty": length_penalty,
    "soft_overlong": soft_overlong_penalty,
    "repetition": repetition_penalty,
}
UNITS = ("tokens", "words", "chars")


def _check_options(fn: str, options: dict[str, Any]) -> None:
    func = SHAPING_FUNCTIONS[fn]
    params = [p for p in inspect.signature(func).parameters if p not in ("length", "sequence")]
    for key in options:
        if key not in params:
            raise ConfigError(f"shaping fn {fn!r} has no option {key!r}; options: "
                              f"{', '.join(params + ['unit', 'tokenizer'])}")


class ShapingReward(Reward):
    """Reward = ``SHAPING_FUNCTIONS[fn](length or sequence of the completion, **options)``.

    Args:
        fn: "length_penalty", "soft_overlong" or "repetition".
        unit: "tokens", "words" or "chars" (repetition uses tokens or words).
        tokenizer: model folder for ``unit="tokens"``.
        **options: the function's keyword options.
    """

    version = "1"

    def __init__(self, fn: str, unit: str = "tokens", tokenizer: str | None = None,
                 **options: Any) -> None:
        if fn not in SHAPING_FUNCTIONS:
            raise ConfigError(f"unknown shaping fn {fn!r}; use one of {sorted(SHAPING_FUNCTIONS)}")
        if unit not in UNITS:
            raise ConfigError(f"unknown shaping unit {unit!r}; use one of {list(UNITS)}")
        if unit == "tokens" and tokenizer is None:
            raise ConfigError(f"shaping {fn!r} counts tokens: give options.tokenizer (a model "
                              "folder), or set unit to 'words' or 'chars'")
        _check_options(fn, options)
        self.fn, self.unit, self.options = fn, unit, options
        self._tokenizer = _load_tokenizer(tokenizer) if unit == "tokens" else None
        try:  # fail at construction, not at the first sample, on bad option values
            self._apply("")
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"shaping {fn!r}: bad options {options!r}: {exc}") from None

    def _units(self, completion: str) -> list[Any]:
        if self._tokenizer is not None:
            return list(self._tokenizer(completion, add_special_tokens=False)["input_ids"])
        if self.unit == "words":
            return completion.split()
        return list(completion)

    def _apply(self, completion: str) -> float:
        units = self._units(completion)
        if self.fn == "repetition":
            return repetition_penalty(units if self.unit != "chars" else completion.split(),
                                      **self.options)
        return SHAPING_FUNCTIONS[self.fn](len(units), **self.options)

    def score(self, completion: str, reference: Any) -> RewardResult:
        """The shaping value of one completion; ``info`` records the measured length."""
        value = self._apply(completion)
        return RewardResult(value, {self.fn: value},
                            info={"length": len(self._units(completion)), "unit": self.unit})


def _load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"shaping tokenizer {path!r} could not be loaded: {exc}") from None
