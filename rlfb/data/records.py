"""Offline records from local HF datasets files, tokenized: SFT examples and preference pairs.

Files are read with `rlfb.data.files` (jsonl, json, parquet, csv, arrow, ``save_to_disk``
folders; nothing is downloaded). Column names come from a `rlfb.config.RecordFields`.

- **SFT** rows use (prompt, completion) columns when both exist, else a messages column (the
  last message, which must be the assistant's, is the target; every earlier one is prompt), else
  a text column (every token is a target). The kind is decided per file.
- **Preference** rows have prompt, chosen and rejected columns: tokenised for DPO
  (`load_pairs`), or kept as text for reward models (`load_text_pairs`), which render them
  themselves.

A prompt is a string (one user message) or a list of chat messages, rendered with the
tokenizer's chat template and the assistant-turn opening (exactly as the rollout engines render
prompts); a completion is a string, or a one-message list holding the assistant's reply, and is
followed by the eos token, the token that ends a sampled turn. Without the chat template the
prompt text is encoded as is.

An example longer than ``max_length`` tokens has its completion cut at the end (``truncated``
is set and the driver counts it); a prompt that alone reaches ``max_length`` is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rlfb.data.base import build_messages
from rlfb.data.files import expand_files, file_format, load_table
from rlfb.errors import ConfigError
from rlfb.types import PreferenceBatch, Prompt, TokenBatch


@dataclass(frozen=True)
class Example:
    """One tokenized SFT example: ``prompt_ids`` (context, no loss) then ``target_ids``."""

    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]
    truncated: bool = False


@dataclass(frozen=True)
class PreferencePair:
    """One comparison as text, for reward models: ``chosen`` is preferred to ``rejected`` for
    ``prompt`` by ``margin``. Prompt and completions are strings or lists of chat messages."""

    prompt: Any
    chosen: Any
    rejected: Any
    margin: float = 0.0


@dataclass(frozen=True)
class Pair:
    """One tokenized preference pair sharing ``prompt_ids``."""

    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]
    rejected_ids: tuple[int, ...]
    truncated: bool = False


def read_rows(files: str | Sequence[str], fmt: str | None = None) -> list[tuple[str, dict]]:
    """Every row of ``files`` in order, as ``(where, row)`` with ``where`` = "<file> row <i>"."""
    out: list[tuple[str, dict]] = []
    for path in expand_files(files):
        table = load_table(path, file_format(path, fmt), None)
        out.extend((f"{path} row {i}", dict(row)) for i, row in enumerate(table))
    if not out:
        raise ConfigError(f"no rows in {files!r}; check the offline files")
    return out


class Encoder:
    """Turns rows into token ids for one tokenizer (module docstring for the rules).

    Args:
        tokenizer: the policy's tokenizer (with a pad token; `rlfb.models.load.load_tokenizer`).
        fields: column names (a `rlfb.config.RecordFields`).
        system_prompt: a system message put before every chat prompt.
        chat_template: render prompts with the chat template (False: the text as is).
        max_length: longest example in tokens.
    """

    def __init__(self, tokenizer: Any, fields: Any, *, system_prompt: str | None = None,
                 chat_template: bool = True, max_length: int = 1024) -> None:
        if tokenizer.eos_token_id is None:
            raise ConfigError("the tokenizer has no eos token, so a completion cannot be ended; "
                              "set eos_token in its tokenizer_config.json")
        self.tokenizer = tokenizer
        self.fields = fields
        self.system_prompt = system_prompt
        self.chat_template = chat_template
        self.max_length = max_length

    def encode_prompt(self, value: Any, where: str) -> list[int]:
        """Token ids of a prompt value (string or chat messages)."""
        if not self.chat_template:
            if not isinstance(value, str):
                raise ConfigError(f"{where}: offline.chat_template=false needs string prompts, "
                                  f"got {type(value).__name__}")
            return self._ids(value)
        from rlfb.models.load import render_prompt

        messages = build_messages(value, self.system_prompt, where)
        return render_prompt(self.tokenizer, Prompt(where, messages))

    def encode_completion(self, value: Any, where: str, column: str) -> list[int]:
        """Token ids of a completion value (string or one assistant message), then eos."""
        if isinstance(value, Sequence) and not isinstance(value, str):
            if len(value) != 1 or not isinstance(value[0], Mapping) \
                    or value[0].get("role") != "assistant":
                raise ConfigError(f"{where}: column {column!r} must be a string or a list with "
                                  "one assistant message; put earlier turns in the prompt")
            value = value[0].get("content")
        if not isinstance(value, str):
            raise ConfigError(f"{where}: column {column!r} must hold text, got "
                              f"{type(value).__name__}")
        return self._ids(value) + [int(self.tokenizer.eos_token_id)]

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _fit(self, prompt: list[int], target: list[int], where: str) -> tuple[list[int], bool]:
        room = self.max_length - len(prompt)
        if room < 1:
            raise ConfigError(f"{where}: the prompt has {len(prompt)} tokens, leaving no room "
                              f"within offline.max_length={self.max_length}; raise max_length")
        return target[:room], len(target) > room

    def sft(self, row: Mapping[str, Any], where: str, kind: str) -> Example:
        """One SFT example of kind "prompt_completion", "messages" or "text"."""
        f = self.fields
        if kind == "prompt_completion":
            prompt = self.encode_prompt(row[f.prompt], where)
            target = self.encode_completion(row[f.completion], where, f.completion)
        elif kind == "messages":
            messages = row[f.messages]
            if not isinstance(messages, Sequence) or len(messages) < 2 \
                    or not isinstance(messages[-1], Mapping) \
                    or messages[-1].get("role") != "assistant":
                raise ConfigError(f"{where}: column {f.messages!r} must be a list of >= 2 chat "
                                  "messages ending with the assistant's reply")
            prompt = self.encode_prompt(list(messages[:-1]), where)
            target = self.encode_completion([messages[-1]], where, f.messages)
        else:
            text = row[f.text]
            if not isinstance(text, str) or not text:
                raise ConfigError(f"{where}: column {f.text!r} must hold non-empty text")
            bos = self.tokenizer.bos_token_id
            prompt = [] if bos is None else [int(bos)]
            target = self._ids(text) + [int(self.tokenizer.eos_token_id)]
        target, cut = self._fit(prompt, target, where)
        return Example(tuple(prompt), tuple(target), cut)

    def pair(self, row: Mapping[str, Any], where: str) -> Pair:
        """One preference pair."""
        f = self.fields
        prompt = self.encode_prompt(row[f.prompt], where)
        chosen, cut_c = self._fit(prompt, self.encode_completion(row[f.chosen], where, f.chosen),
                                  where)
        rejected, cut_r = self._fit(prompt, self.encode_completion(row[f.rejected], where,
                                                                   f.rejected), where)
        return Pair(tuple(prompt), tuple(chosen), tuple(rejected), cut_c or cut_r)


def sft_kind(columns: Sequence[str], fields: Any, where: str) -> str:
    """Which SFT layout a file's columns hold (see the module docstring)."""
    if fields.prompt in columns and fields.completion in columns:
        return "prompt_completion"
    if fields.messages in columns:
        return "messages"
    if fields.text in columns:
        return "text"
    raise ConfigError(f"{where} has none of the SFT layouts: columns ({fields.prompt!r}, "
                      f"{fields.completion!r}), {fields.messages!r} or {fields.text!r}; it has "
                      f"{', '.join(columns)} (rename them with offline.fields)")


def load_examples(files: str | Sequence[str], encoder: Encoder, fmt: str | None = None
                  ) -> list[Example]:
    """Tokenized SFT examples of every row of ``files``."""
    out = []
    for path in expand_files(files):
        table = load_table(path, file_format(path, fmt), None)
        kind = sft_kind(list(table.column_names), encoder.fields, path)
        out.extend(encoder.sft(row, f"{path} row {i}", kind) for i, row in enumerate(table))
    if not out:
        raise ConfigError(f"no rows in {files!r}; check the data files")
    return out


def load_pairs(files: str | Sequence[str], encoder: Encoder, fmt: str | None = None
               ) -> list[Pair]:
    """Tokenized preference pairs of every row of ``files``."""
    f = encoder.fields
    rows = read_rows(files, fmt)
    _check_columns(rows, (f.prompt, f.chosen, f.rejected))
    return [encoder.pair(row, where) for where, row in rows]


def _check_columns(rows: list[tuple[str, dict]], columns: Sequence[str]) -> None:
    """`ConfigError` naming the preference columns the first row lacks."""
    for where, row in rows[:1]:
        missing = [c for c in columns if c not in row]
        if missing:
            raise ConfigError(f"{where} lacks the preference column(s) {', '.join(missing)}; it "
                              f"has {', '.join(row)} (rename them with offline.fields)")


def load_text_pairs(files: str | Sequence[str], fields: Any, fmt: str | None = None
                    ) -> list[PreferencePair]:
    """Preference pairs of every row of ``files`` as text (`PreferencePair`), for reward-model
    training: columns ``fields.prompt``, ``fields.chosen``, ``fields.rejected`` and, when set,
    ``fields.margin``."""
    rows = read_rows(files, fmt)
    if not rows:
        raise ConfigError(f"no rows in {files!r}; check the data files")
    _check_columns(rows, [c for c in (fields.prompt, fields.chosen, fields.rejected,
                                      fields.margin) if c])
    return [PreferencePair(row[fields.prompt], row[fields.chosen], row[fields.rejected],
                           float(row[fields.margin]) if fields.margin else 0.0)
            for _, row in rows]


class ListSource:
    """A list as a `rlfb.data.base.PromptSampler` source, so offline rows are visited in the
    same seeded, resumable epochs as prompts."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, index: int) -> Any:
        """Row ``index``."""
        return self.rows[index]


def _pad(rows: Sequence[tuple[Sequence[int], Sequence[int]]], pad_token_id: int
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``(input_ids, attention_mask, loss_mask)`` of (context, target) rows; the
    loss mask covers the targets except a row's first token (nothing predicts it)."""
    width = max(len(p) + len(t) for p, t in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.float32)
    for b, (p, t) in enumerate(rows):
        ids[b, : len(p) + len(t)] = torch.tensor([*p, *t], dtype=torch.long)
        attn[b, : len(p) + len(t)] = 1
        mask[b, max(len(p), 1) : len(p) + len(t)] = 1.0
    return ids, attn, mask


def token_batch(examples: Sequence[Example], pad_token_id: int) -> TokenBatch:
    """A right-padded `TokenBatch` of SFT examples, loss on the target tokens only."""
    ids, attn, mask = _pad([(e.prompt_ids, e.target_ids) for e in examples], pad_token_id)
    return TokenBatch(input_ids=ids, attention_mask=attn, loss_mask=mask)


def preference_batch(pairs: Sequence[Pair], pad_token_id: int,
                     ref_logps: torch.Tensor | None = None) -> PreferenceBatch:
    """A right-padded `PreferenceBatch` (chosen rows, then rejected rows) of ``pairs``, with the
    reference logprobs ``[2P]`` (same row order) when known."""
    rows = [(p.prompt_ids, p.chosen_ids) for p in pairs] + \
        [(p.prompt_ids, p.rejected_ids) for p in pairs]
    ids, attn, mask = _pad(rows, pad_token_id)
    return PreferenceBatch(input_ids=ids, attention_mask=attn, loss_mask=mask,
                           ref_logps=ref_logps)
