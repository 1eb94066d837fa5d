"""The multi-turn episode runner: an environment's episodes as one `RolloutEngine`.

`EpisodeEngine` wraps a token-level engine (one with ``generate_tokens``: the ``hf`` and
``vllm`` engines) and an `Environment`. ``generate(prompts, sampling)`` runs the
``len(prompts) * sampling.n`` episodes of a batch turn by turn: each round sends the prefix of
every unfinished episode to the engine in **one** ``generate_tokens`` call, whatever turn the
episode is at (so episodes at turn 1 and turn 3 share a batch), then hands each new assistant
message to `Environment.step`, which parses the tool calls with the episode's `ToolFormat`,
runs the tools and answers with observation messages (or says done).

The trajectory is one token sequence: the rendered prompt (system prompt, tools) as
``prompt_token_ids``, then the model's tokens and the environment's tokens in order as
``completion_token_ids``. The model's tokens are the engine's own, never decoded and encoded
again; the environment's tokens are the chat-template *delta*: the conversation rendered with
the observations and a new generation prompt, minus what was already there (the rendering up to
this turn plus the text the model sampled). So the next prefix is exactly what the template
would give for the whole conversation, and what the learner sees is what the model sampled.
``completion_mask`` is 1 at the model's tokens and 0 at the environment's, ``logprobs`` is the
behaviour logprob at the model's tokens and 0.0 at the environment's, so those tokens get no
policy loss, KL or entropy (`rlfb.buffer.collate`).

Budgets. A turn samples at most ``sampling.max_new_tokens`` tokens; the whole trajectory after
the prompt at most the environment's ``max_tokens``. A trajectory that reaches the budget is cut
there and flagged: ``finish_reason == "length"`` and ``episode["truncated"] = True``, never cut
silently. A turn that ends without a stop token (the per-turn cap) also ends the episode with
``finish_reason == "length"``: the message is unfinished, so its tool calls are not run.

Where tools run: here, in the process that holds the engine (the rollout actor under the Ray
executor). The python tool already runs untrusted code in the code verifier's sandbox, which is
the trust boundary, so a separate tool actor would add no isolation; between two rounds of
generation the engine is idle, so the tools overlap with nothing else of the rollout role and
cost only their own time (``episode["tool_seconds"]``), with no round trip to another actor per
call. Scorer actors stay verdict-only: they judge the final answer and never step an episode.

Determinism: turn ``t`` of sample ``j`` of a prompt samples with `turn_seed` of the prompt's
request seed plus ``j`` (`rlfb.rollout.base.request_seeds`) and ``t``; turn 0 uses exactly the
seed a single-turn `generate` would, so a one-turn episode equals the engine's own sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from rlfb.environments.base import Environment, EpisodeState, ToolFormat
from rlfb.errors import RlfbError
from rlfb.rollout.base import FINISH_LENGTH, FINISH_STOP, request_seeds, validate_sampling
from rlfb.types import Prompt, Rollout, SamplingParams

_SEED_LIMIT = 2**31 - 2**16


def turn_seed(sample_seed: int | None, turn: int) -> int | None:
    """The sampling seed of turn ``turn`` of an episode whose sample seed is ``sample_seed``
    (None stays None; turn 0 keeps the sample seed itself).

    >>> turn_seed(7, 0), turn_seed(None, 3)
    (7, None)
    >>> turn_seed(7, 1) == turn_seed(7, 1) != turn_seed(7, 2)
    True
    """
    if sample_seed is None or turn == 0:
        return sample_seed
    digest = hashlib.blake2b(f"{sample_seed}\x00turn\x00{turn}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") % _SEED_LIMIT


@dataclass
class _Episode:
    """One episode in flight: its state and its token trajectory so far."""

    prompt_index: int
    sample_index: int
    seed: int | None
    state: EpisodeState
    prompt_ids: list[int]
    rendered: str
    tokens: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    text: str = ""
    finish_reason: str = FINISH_STOP
    truncated: bool = False
    done: bool = False

    def add(self, tokens: Sequence[int], logprobs: Sequence[float] | None) -> None:
        """Append model tokens (with their logprobs) or environment tokens (``None``)."""
        self.tokens.extend(tokens)
        self.mask.extend([1 if logprobs is not None else 0] * len(tokens))
        self.logprobs.extend(logprobs if logprobs is not None else [0.0] * len(tokens))


class EpisodeEngine:
    """`RolloutEngine` that runs an environment's multi-turn episodes (module docstring).

    Args:
        engine: a rollout engine with ``generate_tokens`` and a ``tokenizer``.
        environment: the environment (its ``max_turns`` and ``max_tokens`` apply).
        tool_format: how tools are rendered and calls parsed, bound to the engine's tokenizer
            (`rlfb.environments.formats.get_tool_format`).
    """

    def __init__(self, engine: Any, environment: Environment, tool_format: ToolFormat) -> None:
        if not hasattr(engine, "generate_tokens"):
            raise RlfbError(f"{type(engine).__name__} has no generate_tokens, so it cannot run "
                            "multi-turn episodes; use the hf or vllm engine")
        self.engine = engine
        self.environment = environment
        self.tool_format = tool_format
        self.tokenizer = engine.tokenizer

    # -- the RolloutEngine protocol ----------------------------------------------------------
    @property
    def weight_version(self) -> int:
        """The wrapped engine's weight version."""
        return self.engine.weight_version

    def update_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]],
                       version: int) -> None:
        """The wrapped engine's `update_weights`."""
        self.engine.update_weights(named_tensors, version)

    def close(self) -> None:
        """Close the wrapped engine."""
        self.engine.close()

    def sleep(self) -> None:
        """The wrapped engine's ``sleep`` (free its GPU memory during an update), if it has one."""
        if hasattr(self.engine, "sleep"):
            self.engine.sleep()

    def wake_up(self) -> None:
        """The wrapped engine's ``wake_up``, if it has one."""
        if hasattr(self.engine, "wake_up"):
            self.engine.wake_up()

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """``sampling.n`` episodes per prompt, prompt-major, each a `Rollout` with its
        ``completion_mask``, ``messages`` and ``episode`` counters."""
        validate_sampling(sampling)
        version = self.engine.weight_version
        episodes = self._reset(prompts, sampling)
        turn = 0
        while active := [e for e in episodes if not e.done]:
            self._round(active, sampling, turn)
            turn += 1
        return [self._rollout(prompts[e.prompt_index], e, version) for e in episodes]

    # -- the episode loop --------------------------------------------------------------------
    def _render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool) -> str:
        return self.tool_format.render_tools(messages, self.environment.tools,
                                             add_generation_prompt=add_generation_prompt)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _reset(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[_Episode]:
        seeds = request_seeds(prompts, sampling.seed)
        episodes = []
        for p, prompt in enumerate(prompts):
            rendered = ""
            ids: list[int] = []
            for j in range(sampling.n):
                state = self.environment.reset(prompt, self.tool_format)
                if j == 0:
                    rendered = self._render(state.messages, True)
                    ids = self._encode(rendered)
                seed = None if seeds[p] is None else seeds[p] + j
                episodes.append(_Episode(p, j, seed, state, ids, rendered))
        return episodes

    def _round(self, active: list[_Episode], sampling: SamplingParams, turn: int) -> None:
        """One generation round over every unfinished episode, then one environment step each."""
        budget = self.environment.max_tokens
        room = [budget - len(e.tokens) for e in active]
        cap = min(sampling.max_new_tokens, max(room))
        outs = self.engine.generate_tokens(
            [e.prompt_ids + e.tokens for e in active],
            replace(sampling, n=1, max_new_tokens=cap),
            [turn_seed(e.seed, e.state.turns) for e in active])
        for episode, left, (tokens, logprobs, reason) in zip(active, room, outs):
            self._advance(episode, left, list(tokens), list(logprobs), reason)

    def _advance(self, e: _Episode, left: int, tokens: list[int], logprobs: list[float],
                 reason: str) -> None:
        """Add one turn's tokens to ``e``; step the environment when the message is complete."""
        over = len(tokens) > left or (reason == FINISH_LENGTH and len(tokens) == left)
        tokens, logprobs = tokens[:left], logprobs[:left]
        e.add(tokens, logprobs)
        e.text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if over or reason != FINISH_STOP:  # unfinished message: the episode ends here
            e.state.messages.append({"role": "assistant", "content": e.text})
            e.state.turns += 1
            self._finish(e, FINISH_LENGTH, truncated=over)
            return
        before = e.rendered
        result = self.environment.step(e.state, e.text)
        if result.done:
            self._finish(e, FINISH_STOP)
            return
        e.rendered = self._render(e.state.messages, True)
        env_ids = self._encode(self._delta(before, tokens, e))
        room = left - len(tokens)
        e.add(env_ids[:room], None)
        if len(env_ids) >= room:  # no room left for another assistant turn
            self._finish(e, FINISH_LENGTH, truncated=True)

    def _delta(self, before: str, tokens: list[int], e: _Episode) -> str:
        """The text the environment adds after the model's tokens: the template's end of the
        assistant turn not sampled by the model, the observations, the next generation prompt."""
        sampled = before + self.tokenizer.decode(tokens, skip_special_tokens=False)
        if e.rendered.startswith(sampled):
            return e.rendered[len(sampled):]
        # The template rewrote the message (e.g. stripped whitespace): take the rendering from
        # the end of the assistant's content, less the stop token the model already wrote.
        upto = self._render(_through_last_assistant(e.state.messages), False)
        content = e.state.messages[_last_assistant(e.state.messages)]["content"]
        end = upto.rfind(content) + len(content) if content and content in upto else len(upto)
        if not e.rendered.startswith(upto):
            raise RlfbError("the chat template renders earlier turns differently once more "
                            "messages follow, so a trajectory cannot grow by appending tokens; "
                            "use a template that keeps the conversation's prefix")
        tail = upto[end:] + e.rendered[len(upto):]
        stop = self.tokenizer.decode(tokens[-1:], skip_special_tokens=False) if tokens else ""
        return tail[len(stop):] if stop and tail.startswith(stop) else tail

    def _finish(self, e: _Episode, reason: str, truncated: bool = False) -> None:
        e.done, e.finish_reason, e.truncated = True, reason, truncated
        e.state.done = True

    def _rollout(self, prompt: Prompt, e: _Episode, version: int) -> Rollout:
        episode = {**e.state.counters(), "truncated": e.truncated}
        return Rollout(prompt_id=prompt.prompt_id, sample_index=e.sample_index,
                       prompt_token_ids=list(e.prompt_ids), completion_token_ids=e.tokens,
                       text=e.text, logprobs=e.logprobs, finish_reason=e.finish_reason,
                       weight_version=version, completion_mask=e.mask,
                       messages=[dict(m) for m in e.state.messages], episode=episode)


def _last_assistant(messages: Sequence[Mapping[str, Any]]) -> int:
    return max(i for i, m in enumerate(messages) if m.get("role") == "assistant")


def _through_last_assistant(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return list(messages[: _last_assistant(messages) + 1])


@dataclass(frozen=True)
class EnvSettings:
    """The config's ``env`` section as the roles need it (picklable: a Ray rollout actor builds
    the environment from these names itself)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    max_turns: int | None = None
    max_tokens: int | None = None
    tool_format: str = "auto"

    def environment(self) -> Environment:
        """The environment, with the config's turn and token budgets applied."""
        from rlfb.environments import get_environment

        env = get_environment(self.name, **dict(self.options))
        if self.max_turns is not None:
            env.max_turns = self.max_turns
        if self.max_tokens is not None:
            env.max_tokens = self.max_tokens
        return env


def env_settings(env_config: Any) -> EnvSettings | None:
    """`EnvSettings` of a config's ``env`` section (`rlfb.config.schema.EnvConfig`), or None
    when it names no environment (single-turn: no runner in the path at all)."""
    if env_config is None or env_config.name is None:
        return None
    return EnvSettings(env_config.name, dict(env_config.options), env_config.max_turns,
                       env_config.max_tokens, env_config.tool_format)


def wrap_engine(engine: Any, settings: EnvSettings) -> EpisodeEngine:
    """``engine`` running the episodes of the environment ``settings`` names."""
    from rlfb.environments.formats import get_tool_format

    return EpisodeEngine(engine, settings.environment(),
                         get_tool_format(settings.tool_format, engine.tokenizer))


def build_engine(engine: str, model_path: str, engine_options: Mapping[str, Any],
                 settings: EnvSettings | None) -> Any:
    """The engine registered as ``engine``, wrapped in an `EpisodeEngine` when ``settings``
    names an environment (with ``functools.partial``, the engine factory of the Ray rollout
    actors, which then build the environment and run its tools themselves)."""
    from rlfb.rollout import get_engine

    plain = get_engine(engine, model_path, **dict(engine_options))
    return plain if settings is None else wrap_engine(plain, settings)


def resolve_env_defaults(cfg: Any) -> None:
    """Fill a config's ``data``, ``reward`` and ``env`` budgets from its environment
    (`rlfb.config.resolve`).

    An environment that brings its own prompts (``data_source``) or reward (``reward``) supplies
    them where the config leaves that section at its defaults; a section the config sets wins.
    ``env.max_turns`` and ``env.max_tokens`` left null become the environment's own (the
    learner's Dr.GRPO normaliser reads the token budget). The resolved config (saved in the run
    folder) then names what the run really used.
    """
    from rlfb.config.schema import DataConfig, RewardConfig

    settings = env_settings(cfg.env)
    if settings is None:
        return
    env = settings.environment()
    cfg.env.max_turns = int(env.max_turns) if cfg.env.max_turns is None else cfg.env.max_turns
    cfg.env.max_tokens = int(env.max_tokens) if cfg.env.max_tokens is None else cfg.env.max_tokens
    data, reward = DataConfig(), RewardConfig()
    if env.data_source is not None and (cfg.data.source, cfg.data.options) == (data.source,
                                                                               data.options):
        cfg.data.source, cfg.data.options = env.data_source, {}
    if env.reward is not None and (cfg.reward.name, cfg.reward.options) == (reward.name,
                                                                            reward.options):
        cfg.reward.name, cfg.reward.options = env.reward, dict(env.reward_options)


def episode_summary(episodes: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Means over episodes' counters (`Rollout.episode` dicts; empty input, empty result):
    ``turns`` and ``tool_calls`` per episode, ``tool_call_rate`` (episodes with at least one
    call), ``tool_errors``, ``tool_timeouts`` and ``malformed_calls`` per episode,
    ``tool_seconds`` (total) and ``truncated_frac`` (episodes cut at the token budget)."""
    if not episodes:
        return {}
    n = len(episodes)

    def mean(key: str) -> float:
        return sum(float(e[key]) for e in episodes) / n

    return {"turns": mean("turns"), "tool_calls": mean("tool_calls"),
            "tool_call_rate": sum(e["tool_calls"] > 0 for e in episodes) / n,
            "tool_errors": mean("tool_errors"), "tool_timeouts": mean("tool_timeouts"),
            "malformed_calls": mean("malformed_calls"),
            "tool_seconds": sum(float(e["tool_seconds"]) for e in episodes),
            "truncated_frac": sum(bool(e["truncated"]) for e in episodes) / n}


def episode_metrics(rollouts: Sequence[Rollout], prefix: str = "rollout/") -> dict[str, float]:
    """`episode_summary` of a batch of multi-turn rollouts (empty for single-turn ones), plus
    ``masked_token_frac``: the fraction of completion tokens the environment wrote, which the
    loss skips; keys start with ``prefix``."""
    episodes = [r for r in rollouts if r.episode is not None]
    if not episodes:
        return {}
    tokens = sum(len(r.completion_token_ids) for r in episodes)
    env_tokens = sum(len(r.completion_mask or []) - sum(r.completion_mask or []) for r in episodes)
    out = {**episode_summary([r.episode for r in episodes]),
           "masked_token_frac": env_tokens / tokens if tokens else 0.0}
    return {prefix + k: v for k, v in out.items()}
