"""`"reward_model"`: a learned reward model (one-label sequence classifier) as a reward.

`RewardModelScorer` is a plain class (no Ray): it loads the model once and scores batches of
``(prompt, completion)``. The distributed executor wraps it in a Ray actor; nothing here knows.

Where the prompt comes from. A reward model must see the prompt. In training the scorer passes
each completion's prompt messages as ``prompts=`` (`rlfb.rewards.base.score_batch_with_prompts`,
also through a composite), and they win. A caller of the plain ``(completion, reference)``
contract carries the prompt in the reference instead:

- a dict reference: ``reference[prompt_field]`` (default ``"prompt"``), a string or a list of
  chat messages — e.g. a prompt source that stores ``{"prompt": ..., "answer": ...}``;
- a string reference: the prompt text itself;
- a list of chat messages: the prompt as messages.

Text is rendered as in training: the template and max_length saved by reward-model training in
``rlfb_reward_model.json`` (a model without that file uses ``template="auto"``, max_length 1024;
options override both). The value is the raw score; ``scale`` and ``shift`` map it as
``scale · (score − shift)``, e.g. to centre it on a reference completion's score.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Hashable, Sequence

from rlfb.errors import ConfigError, RlfbError
from rlfb.rewards.base import Reward, RewardResult



def _meta(path: str) -> dict[str, Any]:
    from rlfb.models.reward_model import META_FILE

    meta_path = Path(path) / META_FILE
    if not meta_path.is_file():
        return {}
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{meta_path} is not valid JSON: {exc}") from None


class RewardModelScorer:
    """Scores ``(prompt, completion)`` pairs with a reward model; usable from a Ray actor.

    Args:
        path: HF folder of a one-label sequence classifier (e.g. ``RUN_DIR/reward_model`` of a run with ``algo.name: reward_model``).
        batch_size: sequences per forward pass.
        max_length: tokens per sequence (None: from training metadata, else 1024).
        template: "auto", "chat" or "concat" (None: from training metadata, else "auto").
        device: "cpu", "cuda" or "auto".
        dtype: "float32", "bfloat16" or "float16".
    """

    def __init__(self, path: str, batch_size: int = 16, max_length: int | None = None,
                 template: str | None = None, device: str = "auto",
                 dtype: str = "float32") -> None:
        import torch

        from rlfb.device import resolve_device
        from rlfb.models.reward_model import DTYPES, load_reward_model, resolve_template

        if not (Path(path) / "config.json").is_file():
            raise ConfigError(f"reward model {path!r} is not a HF model folder (no config.json); "
                              "train one with `rlfb train CONFIG` and algo.name: reward_model")
        if dtype not in DTYPES:
            raise ConfigError(f"dtype {dtype!r} must be one of {sorted(DTYPES)}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        meta = _meta(path)
        self.path = path
        self.batch_size = batch_size
        self.max_length = int(max_length or meta.get("max_length", 1024))
        self.model, self.tokenizer = load_reward_model(path, DTYPES[dtype])
        if self.model.config.num_labels != 1:
            raise ConfigError(f"reward model {path!r} has {self.model.config.num_labels} labels; "
                              "a reward model has one")
        self.model.to(resolve_device(device, "reward.options.device")).eval()
        self.template = resolve_template(template or meta.get("template", "auto"), self.tokenizer)
        self._torch = torch

    def score_texts(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        """One score per ``(prompts[i], completions[i])``."""
        from rlfb.models.reward_model import encode, render

        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        texts = [render(self.tokenizer, p, c, self.template) for p, c in zip(prompts, completions)]
        scores: list[float] = []
        device = next(self.model.parameters()).device
        with self._torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                batch = encode(self.tokenizer, texts[i:i + self.batch_size], self.template,
                               self.max_length).to(device)
                scores.extend(self.model(**batch).logits.squeeze(-1).float().tolist())
        return scores


def prompt_of(reference: Any, prompt_field: str = "prompt") -> Any:
    """The prompt carried by a reference (see the module docstring)."""
    if isinstance(reference, dict):
        if prompt_field not in reference:
            raise RlfbError(f"reward_model needs the prompt: the reference has no "
                            f"{prompt_field!r} key (keys: {sorted(reference)}); set prompt_field "
                            "or pass prompts= to score_batch")
        return reference[prompt_field]
    if isinstance(reference, str) or (isinstance(reference, list)
                                      and all(isinstance(m, dict) for m in reference)):
        return reference
    raise RlfbError(f"reward_model cannot read a prompt from a reference of type "
                    f"{type(reference).__name__}; use a prompt string, chat messages, or a dict "
                    f"with a {prompt_field!r} key")


class RewardModelReward(Reward):
    """Reward = ``scale · (reward-model score − shift)``.

    Args:
        path: the reward model folder.
        batch_size, max_length, template, device, dtype: see `RewardModelScorer`.
        prompt_field: key of the prompt in dict references.
        scale, shift: affine map of the raw score.
    """

    version = "1"

    def __init__(self, path: str, batch_size: int = 16, max_length: int | None = None,
                 template: str | None = None, device: str = "auto", dtype: str = "float32",
                 prompt_field: str = "prompt", scale: float = 1.0, shift: float = 0.0) -> None:
        self.scorer = RewardModelScorer(path, batch_size=batch_size, max_length=max_length,
                                        template=template, device=device, dtype=dtype)
        self.prompt_field = prompt_field
        self.scale, self.shift = float(scale), float(shift)

    def score(self, completion: str, reference: Any) -> RewardResult:
        """Score one completion; its prompt comes from ``reference``."""
        return self.score_batch([completion], [reference])[0]

    def score_batch(self, completions: Sequence[str], references: Sequence[Any],
                    group_ids: Sequence[Hashable] | None = None,
                    prompts: Sequence[Any] | None = None) -> list[RewardResult]:
        """Score many completions in batches; ``prompts`` (optional) override the references."""
        if len(completions) != len(references):
            raise ValueError(f"score_batch got {len(completions)} completions and "
                             f"{len(references)} references")
        if prompts is None:
            prompts = [prompt_of(r, self.prompt_field) for r in references]
        raw = self.scorer.score_texts(prompts, completions)
        results = []
        for score in raw:
            if not math.isfinite(score):  # a broken model output is a judge failure: masked
                results.append(RewardResult(None, {"reward_model": None},
                                            info={"raw_score": score, "error": "non-finite"}))
                continue
            value = self.scale * (score - self.shift)
            results.append(RewardResult(value, {"reward_model": value}, info={"raw_score": score}))
        return results
