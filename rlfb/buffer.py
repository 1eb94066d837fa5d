"""The experience buffer: scored groups queued between scoring and the learner, and `collate`.

A *group* is every sample drawn for one prompt (the GRPO group). Groups wait in FIFO order
until the learner takes them. The buffer applies three rules and counts each one:

- **masked samples**: a sample whose judge failed (``reward is None``) stays in its group but
  gets advantage 0 and loss mask 0 in `collate` (counted in ``masked_samples``);
- **zero-variance groups**: fewer than 2 valid rewards, or all valid rewards equal, carry no
  group-relative signal. With ``drop_zero_variance`` they are refused at `add_group` (counted in
  ``dropped_zero_variance_groups``): DAPO's dynamic sampling, where the controller draws more
  prompts until `num_ready` reaches the batch size. Without it they are kept (advantage 0);
- **staleness**: a group sampled by weight version v is ``current_version - v`` versions stale
  (v is the oldest version among its samples). Groups staler than ``max_staleness`` are dropped
  when the learner asks for groups (counted in ``dropped_stale_groups``); None means no limit.

All methods take one lock, so rollout threads may add while the learner takes. `collate` is a
pure function from groups and per-sample advantages to an `ExperienceBatch`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from rlfb.errors import RlfbError
from rlfb.types import ExperienceBatch, Rollout, ScoredSample


@dataclass
class Group:
    """The scored samples of one prompt, in sample order."""

    prompt_id: str
    samples: list[ScoredSample]

    @property
    def weight_version(self) -> int:
        """The oldest policy version that sampled any of the group."""
        return min(s.rollout.weight_version for s in self.samples)

    @property
    def num_masked(self) -> int:
        """Samples whose judge failed."""
        return sum(s.masked for s in self.samples)

    def zero_variance(self) -> bool:
        """True when the group carries no group-relative signal: fewer than 2 valid rewards,
        or all valid rewards exactly equal."""
        valid = [s.reward for s in self.samples if s.reward is not None]
        return len(valid) < 2 or max(valid) == min(valid)


@dataclass
class BufferStats:
    """Cumulative counts since the buffer was made (or restored), plus the current depth.

    Attributes:
        groups_added: groups offered to `add_group`.
        samples_added: samples in those groups.
        masked_samples: samples with a failed judge (kept, masked).
        dropped_zero_variance_groups: groups refused for lacking signal.
        dropped_stale_groups: groups dropped for exceeding ``max_staleness``.
        dropped_stale_samples: samples in those groups.
        groups_taken: groups handed to the learner.
        queue_depth: groups waiting now.
    """

    groups_added: int = 0
    samples_added: int = 0
    masked_samples: int = 0
    dropped_zero_variance_groups: int = 0
    dropped_stale_groups: int = 0
    dropped_stale_samples: int = 0
    groups_taken: int = 0
    queue_depth: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for metrics)."""
        return asdict(self)


def _check_group(prompt_id: str, samples: Sequence[ScoredSample]) -> None:
    if not samples:
        raise RlfbError(f"add_group({prompt_id!r}) got no samples; add a group of >= 1 sample")
    for s in samples:
        if not isinstance(s, ScoredSample):
            raise RlfbError(f"add_group({prompt_id!r}) expects ScoredSamples, got "
                            f"{type(s).__name__}")
        if s.rollout.prompt_id != prompt_id:
            raise RlfbError(f"add_group({prompt_id!r}) got a sample of prompt "
                            f"{s.rollout.prompt_id!r}; group samples by prompt before adding")
        if s.reward is not None and not math.isfinite(s.reward):
            raise RlfbError(f"sample {s.rollout.sample_index} of prompt {prompt_id!r} has reward "
                            f"{s.reward}; a failed judge must give None (masked), not NaN/inf")


class ExperienceBuffer:
    """FIFO queue of scored groups with staleness and zero-variance rules (module docstring).

    Args:
        max_staleness: oldest usable group, in weight versions behind the learner
            (0 = strictly on-policy; None = no limit).
        drop_zero_variance: refuse groups without group-relative signal (DAPO dynamic sampling).
    """

    def __init__(self, *, max_staleness: int | None = 0, drop_zero_variance: bool = False) -> None:
        if max_staleness is not None and max_staleness < 0:
            raise RlfbError(f"max_staleness must be >= 0 or None, got {max_staleness}")
        self.max_staleness = max_staleness
        self.drop_zero_variance = drop_zero_variance
        self._queue: deque[Group] = deque()
        self._stats = BufferStats()
        self._ready = threading.Condition(threading.Lock())

    def add_group(self, prompt_id: str, samples: Sequence[ScoredSample]) -> bool:
        """Queue one prompt's samples; False when refused as zero-variance (and counted)."""
        _check_group(prompt_id, samples)
        group = Group(prompt_id, list(samples))
        with self._ready:
            st = self._stats
            st.groups_added += 1
            st.samples_added += len(group.samples)
            st.masked_samples += group.num_masked
            if self.drop_zero_variance and group.zero_variance():
                st.dropped_zero_variance_groups += 1
                return False
            self._queue.append(group)
            self._ready.notify_all()
            return True

    def _drop_stale(self, current_version: int) -> None:
        """Remove groups older than allowed; the caller holds the lock."""
        keep: deque[Group] = deque()
        for group in self._queue:
            newest = max(s.rollout.weight_version for s in group.samples)
            if newest > current_version:
                raise RlfbError(f"group {group.prompt_id!r} was sampled by weight version "
                                f"{newest}, newer than the learner's {current_version}; pass "
                                "the learner's current version")
            version = group.weight_version
            if self.max_staleness is not None and current_version - version > self.max_staleness:
                self._stats.dropped_stale_groups += 1
                self._stats.dropped_stale_samples += len(group.samples)
            else:
                keep.append(group)
        self._queue = keep

    def num_ready(self, current_version: int) -> int:
        """Groups usable at ``current_version`` (stale ones are dropped and counted first)."""
        with self._ready:
            self._drop_stale(current_version)
            return len(self._queue)

    def take(self, num_groups: int, current_version: int, *, timeout_s: float = 0.0
             ) -> list[Group]:
        """Up to ``num_groups`` oldest usable groups, removed from the buffer.

        Stale groups are dropped and counted first. With ``timeout_s > 0`` it waits that long
        for ``num_groups`` to be ready; it returns fewer when they are not (check the length).
        """
        if num_groups < 1:
            raise RlfbError(f"take needs num_groups >= 1, got {num_groups}")
        deadline = time.monotonic() + timeout_s
        with self._ready:
            self._drop_stale(current_version)
            while len(self._queue) < num_groups and (left := deadline - time.monotonic()) > 0:
                self._ready.wait(left)
                self._drop_stale(current_version)
            out = [self._queue.popleft() for _ in range(min(num_groups, len(self._queue)))]
            self._stats.groups_taken += len(out)
            return out

    def stats(self) -> BufferStats:
        """A copy of the counts, with the current queue depth."""
        with self._ready:
            return BufferStats(**{**asdict(self._stats), "queue_depth": len(self._queue)})

    def __len__(self) -> int:
        with self._ready:
            return len(self._queue)

    def state_dict(self) -> dict[str, Any]:
        """Queued groups and counts, for checkpoints (plain Python objects, picklable)."""
        with self._ready:
            return {"groups": list(self._queue), "stats": asdict(self._stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved."""
        with self._ready:
            self._queue = deque(state["groups"])
            self._stats = BufferStats(**state["stats"])
            self._ready.notify_all()


def rewards_and_groups(groups: Sequence[Group]) -> tuple[torch.Tensor, list[int]]:
    """Flat rewards ``[N]`` (NaN = masked) and each sample's group index, in `collate` order:
    the inputs of `rlfb.algo.advantages.to_groups`."""
    rewards = [math.nan if s.reward is None else float(s.reward)
               for g in groups for s in g.samples]
    index = [i for i, g in enumerate(groups) for _ in g.samples]
    return torch.tensor(rewards, dtype=torch.float32), index


def _policy_tokens(rollout: Rollout, length: int) -> torch.Tensor:
    """``[C]`` float: 1 at the completion tokens the policy sampled, 0 at the ones an
    environment or tool wrote (`Rollout.completion_mask`; None = all the policy's)."""
    mask = rollout.completion_mask
    if mask is None:
        return torch.ones(length, dtype=torch.float32)
    if len(mask) != length or any(m not in (0, 1) for m in mask):
        raise RlfbError(f"rollout {rollout.prompt_id!r}#{rollout.sample_index} has {length} "
                        f"completion tokens but a completion_mask of {len(mask)} entries (or "
                        "entries other than 0/1); the episode runner must give one 0/1 per token")
    return torch.tensor(mask, dtype=torch.float32)


def collate(groups: Sequence[Group], advantages: Sequence[float] | torch.Tensor,
            pad_token_id: int) -> ExperienceBatch:
    """One right-padded batch from groups (rows in group order, then sample order).

    Args:
        groups: the groups to train on.
        advantages: one per sample, flat ``[B]`` in row order (a ``[G, n]`` tensor is
            flattened); masked samples get 0 whatever is given.
        pad_token_id: filler for ``input_ids`` beyond each row's end.

    Returns:
        `ExperienceBatch` with ``input_ids`` = prompt + completion; ``loss_mask`` 1 on the
        completion tokens of unmasked samples that the policy sampled (a multi-turn rollout's
        ``completion_mask``: the tokens its environment and tools wrote stay 0, so they get no
        policy loss, KL or entropy); ``old_logprobs[b, t]`` the behaviour logprob of token t
        on the loss mask (0 elsewhere: prompt, padding, masked samples); ``advantages`` the
        sample's advantage on its loss-mask tokens; ``weight_versions`` ``[B]``.
    """
    samples = [s for g in groups for s in g.samples]
    if not samples:
        raise RlfbError("collate needs at least one sample")
    adv = torch.as_tensor(advantages, dtype=torch.float32).reshape(-1)
    if adv.numel() != len(samples):
        raise RlfbError(f"collate got {adv.numel()} advantages for {len(samples)} samples")
    width = max(len(s.rollout.prompt_token_ids) + len(s.rollout.completion_token_ids)
                for s in samples)
    shape = (len(samples), width)
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    loss_mask = torch.zeros(shape, dtype=torch.float32)
    old_logprobs = torch.zeros(shape, dtype=torch.float32)
    token_adv = torch.zeros(shape, dtype=torch.float32)
    for b, s in enumerate(samples):
        r = s.rollout
        p, c = len(r.prompt_token_ids), len(r.completion_token_ids)
        if len(r.logprobs) != c:
            raise RlfbError(f"rollout {r.prompt_id!r}#{r.sample_index} has {c} completion tokens "
                            f"but {len(r.logprobs)} logprobs")
        input_ids[b, : p + c] = torch.tensor(r.prompt_token_ids + r.completion_token_ids)
        attention_mask[b, : p + c] = 1
        if s.masked or c == 0:
            continue
        if not math.isfinite(float(adv[b])):
            raise RlfbError(f"advantage of unmasked sample {r.prompt_id!r}#{r.sample_index} "
                            f"is {float(adv[b])}")
        own = _policy_tokens(r, c)
        loss_mask[b, p : p + c] = own
        old_logprobs[b, p : p + c] = torch.tensor(r.logprobs, dtype=torch.float32) * own
        token_adv[b, p : p + c] = adv[b] * own
    versions = torch.tensor([s.rollout.weight_version for s in samples], dtype=torch.long)
    return ExperienceBatch(input_ids=input_ids, attention_mask=attention_mask,
                           loss_mask=loss_mask, old_logprobs=old_logprobs, advantages=token_adv,
                           weight_versions=versions)
