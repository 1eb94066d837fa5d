"""Load a policy from a Hugging Face causal-LM folder and render prompts for it.

A trained policy is either a full Hugging Face folder or, under LoRA, a peft adapter folder
(``adapter_config.json`` naming its base model). `model_folder` finds the policy inside a run,
a checkpoint or a checkpoint's ``learner/`` folder; `load_merged` loads either kind as one plain
model (adapters merged: ``merge_and_unload``), which `export_merged` writes as a folder that
transformers and vLLM load like any other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rlfb.checkpoint import latest_checkpoint
from rlfb.errors import ConfigError, RlfbError
from rlfb.types import Prompt


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of the model folder at ``path``, with a pad token guaranteed.

    A tokenizer without a pad token gets its eos token as pad (the usual choice for decoder-only
    models); one without either is an error, since batches cannot be padded.
    """
    from transformers import AutoTokenizer

    _check_folder(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(
                f"tokenizer at {path} has neither a pad nor an eos token; add a pad_token to its "
                "tokenizer_config.json"
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a Hugging Face causal-LM folder.

    Args:
        path: a folder holding ``config.json``, weights and tokenizer files.
        dtype: parameter dtype.

    Returns:
        The model in eval mode on CPU, with ``config.pad_token_id`` set, and its tokenizer (with a
        pad token, see `load_tokenizer`).
    """
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a peft adapter (``adapter_config.json``)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def model_folder(path: str | Path) -> Path:
    """The policy folder (full model or adapter) that ``path`` names.

    ``path`` may be that folder itself, a checkpoint's ``learner/`` folder, a checkpoint
    (``RUN/checkpoints/step-N``) or a run folder (its newest checkpoint). Anything else is a
    `ConfigError` naming what was expected.
    """
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"{path} does not exist; give a model folder, a checkpoint "
                          "(RUN/checkpoints/step-N) or a run folder")
    latest = latest_checkpoint(root)
    for folder in (root, root / "model", root / "learner" / "model",
                   *([latest / "learner" / "model"] if latest else [])):
        if (folder / "config.json").is_file() or is_adapter_folder(folder):
            return folder
    raise ConfigError(f"{path} holds no model: expected config.json (a Hugging Face folder) or "
                      f"{ADAPTER_CONFIG} (a LoRA adapter), itself or in learner/model of a "
                      "checkpoint or of a run's newest checkpoint")


def adapter_base(folder: str | Path, base: str | Path | None = None) -> Path:
    """The base model folder of the adapter in ``folder``: ``base`` when given, else the
    ``base_model_name_or_path`` its ``adapter_config.json`` recorded (checked to exist)."""
    if base is None:
        try:
            config = json.loads((Path(folder) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {Path(folder) / ADAPTER_CONFIG}: {exc}") from None
        base = config.get("base_model_name_or_path") or ""
    if not (Path(base) / "config.json").is_file():
        raise ConfigError(f"the LoRA adapter in {folder} needs its base model, {str(base)!r}, "
                          "which is not a Hugging Face folder (no config.json); pass the base "
                          "model folder explicitly (rlfb export --base DIR)")
    return Path(base)


def load_merged(path: str | Path, dtype: torch.dtype = torch.float32,
                base: str | Path | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the policy ``path`` names (see `model_folder`), as one plain
    transformers model: a LoRA adapter is loaded over its base (`adapter_base`, whose tokenizer
    it keeps: training never changes the tokenizer) and merged into it (``merge_and_unload``);
    a full model is loaded as it is."""
    folder = model_folder(path)
    if not is_adapter_folder(folder):
        return load_policy(folder, dtype=dtype)
    from peft import PeftModel

    model, tokenizer = load_policy(adapter_base(folder, base), dtype=dtype)
    merged = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    return merged.eval(), tokenizer


def export_merged(path: str | Path, out: str | Path, dtype: torch.dtype = torch.float32,
                  base: str | Path | None = None) -> Path:
    """Write the policy ``path`` names (adapters merged, `load_merged`) with its tokenizer as a
    Hugging Face folder ``out`` in ``dtype``; returns ``out``. The merge runs in float32 and
    the result is cast once, so a bfloat16 export rounds each merged weight only once."""
    model, tokenizer = load_merged(path, dtype=torch.float32, base=base)
    model = model.to(dtype)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def adapter_weights(model: Any) -> list[tuple[str, torch.Tensor]]:
    """The LoRA adapter tensors of the peft ``model`` under peft's saved names
    (``base_model.model.<module>.lora_A.weight``, as in ``adapter_model.safetensors``): what
    an engine that takes adapters loads (`rlfb.rollout.lora`)."""
    from peft import get_peft_model_state_dict

    return [(name, t.detach()) for name, t in get_peft_model_state_dict(model).items()]


def _check_folder(path: str | Path) -> None:
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(
            f"{path} is not a Hugging Face model folder (no config.json); pass a folder written "
            "by save_pretrained, make_tiny_model or ensure_smollm2"
        )


def render_prompt(tokenizer: Any, prompt: Prompt) -> list[int]:
    """Token ids of ``prompt.messages`` under the tokenizer's chat template, ending with the
    opening of an assistant turn (``add_generation_prompt=True``).

    The template is rendered to text and then encoded without adding special tokens, exactly as
    `apply_chat_template(tokenize=True)` does, so a template that writes a bos token gets one bos.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise RlfbError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; use a "
            "chat (instruct) model or set tokenizer.chat_template"
        )
    if not prompt.messages:
        raise RlfbError(f"prompt {prompt.prompt_id!r} has no messages; give at least one")
    text = tokenizer.apply_chat_template(
        [dict(m) for m in prompt.messages], add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
