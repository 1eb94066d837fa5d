"""The Ray executor: each role as Ray actors, driven by the same controller as `LocalExecutor`.

Roles and actors (`rlfb.exec.ray_roles`):

- ``rollout``: ``ray.rollout.count`` engine actors; a call's prompts are split across them by
  prompt (all copies of one prompt id stay on one engine, so per-request seeds are unchanged);
- ``reward``: ``ray.reward.count`` scorer actors, split the same way (a prompt's group stays
  together, which group-normalising rewards need);
- ``learner``: one actor, or with ``ray.learner.count > 1`` a data-parallel group of rank
  actors called as one (`rlfb.exec.ray_learner_group`, ``learner.strategy``); it publishes its
  weights by version (`rlfb.sync`);
- the experience buffer (`make_buffer`): one threaded actor on the controller's node, shared by
  the producers (async rollouts) and the learner's side of the loop.

Faults: rollout and scorer actors are created with ``max_restarts``; a job whose actor died is
retried on the restarted actor, which first gets the current weights back (`ActorPool`). The
learner and the buffer hold state that a restart would lose, so their death stops the run with an
error naming the latest checkpoint to resume from.

With one rollout actor, one scorer actor and ``ray.mode: sync`` the executor computes exactly
what `LocalExecutor` computes, so a seeded run gives the same metrics either way (tested).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, TYPE_CHECKING

from rlfb.errors import ConfigError, RlfbError
from rlfb.exec.ray_learner_group import LearnerGroup
from rlfb.exec.ray_metrics import RoleMetrics, staleness_metrics
from rlfb.exec.ray_placement import Placement, demand, driver_node_options, ensure_ray, slots
from rlfb.exec.ray_pool import ActorPool
from rlfb.types import ExperienceBatch, Prompt, Rollout, SamplingParams, ScoredSample

if TYPE_CHECKING:
    from rlfb.config.schema import RayConfig, TrainConfig


def split_by_prompt(prompts: Sequence[Prompt], parts: int) -> list[list[int]]:
    """Indices of ``prompts`` in at most ``parts`` contiguous, near-equal chunks; every copy of a
    prompt id joins the chunk of its first occurrence.

    >>> from rlfb.types import Prompt
    >>> split_by_prompt([Prompt(i, ()) for i in "abcab"], 2)
    [[0, 1, 3, 4], [2]]
    """
    first: dict[str, int] = {}
    unique = [i for i, p in enumerate(prompts) if first.setdefault(p.prompt_id, i) == i]
    size = -(-len(unique) // max(1, parts)) if unique else 1
    chunk_of = {prompts[i].prompt_id: k // size for k, i in enumerate(unique)}
    chunks: list[list[int]] = [[] for _ in range(max(chunk_of.values(), default=-1) + 1)]
    for i, p in enumerate(prompts):
        chunks[chunk_of[p.prompt_id]].append(i)
    return chunks


class RayExecutor:
    """Runs the roles as Ray actors (module docstring).

    Each role is built inside its actors by a picklable zero-argument factory, so the actors
    resolve registry names themselves (`ray_executor` makes the factories from a config).

    Args:
        engine_factory: builds a `RolloutEngine` (its model folder must be readable on every
            node).
        scorer_factory: builds a `Scorer`.
        learner_factory: builds the learner.
        ray_cfg: the ``ray:`` config section.
        run_dir: the run directory (named in errors that ask for a resume).
        learner_strategy: ``learner.strategy`` of a group (``ray.learner.count > 1``).
        sleep_engines: the engines share the learner's GPUs (``rollout.colocate``): every
            engine sleeps during each update and wakes right after it (sync mode only).
    """

    def __init__(self, *, engine_factory: Callable[[], Any], scorer_factory: Callable[[], Any],
                 learner_factory: Callable[[], Any], ray_cfg: RayConfig,
                 run_dir: str | Path | None = None, sleep_engines: bool = False,
                 learner_strategy: str = "ddp") -> None:
        if sleep_engines and ray_cfg.mode == "async":
            raise ConfigError("rollout.colocate puts the engines to sleep during each update, "
                              "which ray.mode=async overlaps with generation; use ray.mode=sync")
        self.sleep_engines = sleep_engines
        self.learner_strategy = learner_strategy
        self.cfg = ray_cfg
        self.run_dir = Path(run_dir) if run_dir else None
        self.async_mode = ray_cfg.mode == "async"
        self._started = False
        self.placement: Placement | None = None
        self.learner: Any = None
        self.engines: ActorPool | None = None
        self.scorers: ActorPool | None = None
        self._buffers: list[Any] = []
        self._threads: ThreadPoolExecutor | None = None
        self._version = 0
        self.metrics = RoleMetrics()
        try:
            self._build(engine_factory, scorer_factory, learner_factory)
        except BaseException:
            self.close()
            raise

    def _build(self, engine_factory: Callable[[], Any], scorer_factory: Callable[[], Any],
               learner_factory: Callable[[], Any]) -> None:
        import ray

        from rlfb.exec.ray_learner_group import LearnerRankHost
        from rlfb.exec.ray_roles import (
            ONE_ARENA_RUNTIME_ENV,
            EngineHost,
            LearnerHost,
            ScorerHost,
        )
        from rlfb.sync.base import make_weight_sync

        ray_cfg = self.cfg
        all_slots = slots(ray_cfg)
        self._started = ensure_ray(ray_cfg, demand(all_slots))
        self.placement = Placement(all_slots, ray_cfg.placement, ray_cfg.startup_timeout_s)
        ranks = ray_cfg.learner.count
        factories = {
            "learner": (LearnerRankHost if ranks > 1 else LearnerHost, learner_factory, 0),
            "rollout": (EngineHost, engine_factory, ray_cfg.max_restarts),
            "reward": (ScorerHost, scorer_factory, ray_cfg.max_restarts),
        }
        actors: dict[str, list[Any]] = {r: [] for r in factories}
        for s in all_slots:
            host, factory, restarts = factories[s.role]
            opts = {**self.placement.options(s), "max_restarts": restarts, "max_task_retries": 0}
            if host.KEEP_FREED_MEMORY:
                opts["runtime_env"] = ONE_ARENA_RUNTIME_ENV
            threads = max(1, int(s.num_cpus))
            cls = ray.remote(concurrency_groups={"control": 1})(host)
            rank = (s.index, ranks, self.learner_strategy) if host is LearnerRankHost else ()
            actors[s.role].append(cls.options(**opts).remote(s.role, factory, threads, *rank))
        self.learner = actors["learner"][0] if ranks == 1 else \
            LearnerGroup(actors["learner"], ray_cfg.startup_timeout_s)
        self.sync = make_weight_sync(ray_cfg.weight_sync, ray_cfg.collective_backend,
                                     ray_cfg.startup_timeout_s)
        self.engines = ActorPool("rollout", actors["rollout"], ray_cfg.max_restarts,
                                 recover=lambda a: self.sync.restore(self.learner, a),
                                 timeout_s=ray_cfg.startup_timeout_s)
        self.scorers = ActorPool("reward", actors["reward"], ray_cfg.max_restarts,
                                 timeout_s=ray_cfg.startup_timeout_s)
        self._wait_started([*actors["learner"], *actors["rollout"], *actors["reward"]])
        if ranks > 1:
            try:
                self.learner.start()
            except ray.exceptions.RayError as exc:
                raise RlfbError(f"a learner rank failed to start: {_cause(exc)}") from None

    def _wait_started(self, handles: list[Any]) -> None:
        import ray

        try:
            ray.get([h.ping.remote() for h in handles], timeout=self.cfg.startup_timeout_s)
        except ray.exceptions.RayActorError as exc:
            raise RlfbError(f"a role actor failed to start: {_cause(exc)}") from None
        except ray.exceptions.GetTimeoutError:
            raise RlfbError(f"the role actors did not start within "
                            f"{self.cfg.startup_timeout_s:g} s (ray.startup_timeout_s)") from None

    # -- the executor interface (see rlfb.exec.local) ---------------------------------------
    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """Sample ``sampling.n`` completions per prompt, split across the rollout actors."""
        return self._finish_generate(prompts, sampling, self._submit_generate(prompts, sampling))

    def _submit_generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> Any:
        chunks = split_by_prompt(prompts, len(self.engines.actors))
        jobs = [([prompts[i] for i in idx], sampling) for idx in chunks]
        return chunks, self.engines.submit("generate", jobs)

    def _finish_generate(self, prompts: Sequence[Prompt], sampling: SamplingParams,
                         submitted: Any) -> list[Rollout]:
        chunks, sub = submitted
        start = time.perf_counter()
        results = self.engines.wait(sub)
        self.metrics.add_wait("rollout", time.perf_counter() - start)
        out: list[Rollout | None] = [None] * (len(prompts) * sampling.n)
        for idx, rollouts in zip(chunks, results):
            if len(rollouts) != len(idx) * sampling.n:
                raise RlfbError(f"a rollout actor returned {len(rollouts)} rollouts for "
                                f"{len(idx)} prompts x n={sampling.n}")
            for k, r in enumerate(rollouts):
                p = idx[k // sampling.n]
                if r.prompt_id != prompts[p].prompt_id:
                    raise RlfbError(f"a rollout actor answered prompt {r.prompt_id!r} in the "
                                    f"place of {prompts[p].prompt_id!r}")
                out[p * sampling.n + k % sampling.n] = r
        return out  # type: ignore[return-value]

    def score(self, prompts: Sequence[Prompt], rollouts: Sequence[Rollout]) -> list[ScoredSample]:
        """Score rollouts across the scorer actors (a prompt's group stays on one actor)."""
        chunks = split_by_prompt(prompts, len(self.scorers.actors))
        positions: dict[str, list[int]] = {}
        for k, r in enumerate(rollouts):
            positions.setdefault(r.prompt_id, []).append(k)
        jobs, where = [], []
        for idx in chunks:
            ids = list(dict.fromkeys(prompts[i].prompt_id for i in idx))
            pos = [k for pid in ids for k in positions.get(pid, [])]
            jobs.append(([prompts[i] for i in idx], [rollouts[k] for k in pos]))
            where.append(pos)
        start = time.perf_counter()
        results = self.scorers.run("score", jobs)
        self.metrics.add_wait("reward", time.perf_counter() - start)
        out: list[ScoredSample | None] = [None] * len(rollouts)
        for pos, scored in zip(where, results):
            for k, s in zip(pos, scored, strict=True):
                out[k] = s
        if any(s is None for s in out):
            raise RlfbError("a rollout was given to no scorer: its prompt id is not among the "
                            "prompts passed to score")
        return out  # type: ignore[return-value]

    def update(self, batch: ExperienceBatch) -> dict[str, float]:
        """One learner update; adds the staleness histogram of the batch's samples."""
        stats = staleness_metrics(getattr(batch, "weight_versions", None), self._version)
        if self.sleep_engines:
            self._engines_call("sleep")
        out = self._learner_call("update", batch)
        if self.sleep_engines:
            self._engines_call("wake_up")
        self._version = self._learner_call("version")
        return {**out, **stats}

    def sync_weights(self) -> dict[str, float]:
        """Send the learner's weights to every engine (waiting in sync mode, queued behind the
        generation in flight in async mode); returns sync timing and size and the per-role
        metrics since the last call."""
        import ray

        try:
            out = self.sync.push(self.learner, self.engines.actors, self._version,
                                 wait=not self.async_mode)
        except ray.exceptions.RayActorError as exc:
            raise self._fatal("learner", exc) from None
        out.update(self.metrics.collect({"rollout": self.engines, "reward": self.scorers},
                                        self.learner))
        return out

    @property
    def policy_version(self) -> int:
        """The learner's weight version."""
        return self._version

    def save_learner(self, path: Path) -> None:
        """Write the learner's checkpoint part (``path`` must be on storage the learner's node
        shares with the controller)."""
        self._learner_call("save", str(Path(path).resolve()))

    def load_learner(self, path: Path) -> None:
        """Restore the learner and push its weights to every engine."""
        self._learner_call("load", str(Path(path).resolve()))
        self._version = self._learner_call("version")
        self.sync.push(self.learner, self.engines.actors, self._version, wait=True)

    # -- buffer and async rollouts -----------------------------------------------------------
    def make_buffer(self, **options: Any) -> Any:
        """An `ExperienceBuffer` in an actor on this node; returns a same-API proxy."""
        import ray

        from rlfb.buffer import ExperienceBuffer
        from rlfb.exec.ray_buffer import RemoteBuffer
        from rlfb.exec.ray_roles import BufferHost

        cls = ray.remote(concurrency_groups={"control": 1})(BufferHost)
        actor = cls.options(max_concurrency=4, max_restarts=0, **driver_node_options()).remote(
            "buffer", _partial(ExperienceBuffer, **options), 1)
        self._wait_started([actor])
        buffer = RemoteBuffer(actor, on_death=lambda exc: self._fatal("buffer", exc))
        self._buffers.append(buffer)
        return buffer

    def submit_rollouts(self, prompts: Sequence[Prompt], sampling: SamplingParams,
                        buffer: Any) -> Future:
        """Start generating now (the engines take calls in order, so this generation runs on
        the weights they hold before any later sync) and, in the producer thread, score and add
        each prompt's group to ``buffer``; the future gives the scored samples. One producer
        thread finishes submissions in order, so groups reach the buffer in step order."""
        submitted = self._submit_generate(prompts, sampling)
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlfb-producer")

        def finish() -> list[ScoredSample]:
            rollouts = self._finish_generate(prompts, sampling, submitted)
            scored = self.score(prompts, rollouts)
            for p in prompts:
                buffer.add_group(p.prompt_id, [s for s in scored
                                               if s.rollout.prompt_id == p.prompt_id])
            return scored

        return self._threads.submit(finish)

    # -- errors and shutdown ----------------------------------------------------------------
    def _engines_call(self, method: str) -> None:
        """Call ``method`` on every engine actor and wait for all."""
        import ray

        try:
            ray.get([getattr(a, method).remote() for a in self.engines.actors])
        except ray.exceptions.RayActorError as exc:
            raise self._fatal("rollout", exc) from None

    def _learner_call(self, method: str, *args: Any) -> Any:
        import ray

        try:
            if isinstance(self.learner, LearnerGroup):
                return self.learner.call(method, *args)
            return ray.get(getattr(self.learner, method).remote(*args))
        except ray.exceptions.RayActorError as exc:
            raise self._fatal("learner", exc) from None

    def _fatal(self, role: str, exc: Exception) -> RlfbError:
        from rlfb.checkpoint import latest_checkpoint

        ckpt = latest_checkpoint(self.run_dir) if self.run_dir else None
        where = (f"resume from {ckpt} with `rlfb train CONFIG --resume {self.run_dir}`" if ckpt
                 else "no checkpoint was written yet (run.save_every); start the run again")
        return RlfbError(f"the {role} actor died ({type(exc).__name__}: its process crashed or "
                         f"its node was lost); the run stopped: {where}")

    def close(self) -> None:
        """Stop the actors and the placement group; stop Ray if this executor started it."""
        import ray

        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
        engines = self.engines.actors if self.engines else []
        for actor in engines:
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - the actor is being torn down either way
                pass
        scorers = self.scorers.actors if self.scorers else []
        learner = getattr(self.learner, "actors", [self.learner] if self.learner else [])
        for actor in [*engines, *scorers, *learner, *(b.actor for b in self._buffers)]:
            ray.kill(actor)
        self.engines = self.scorers = self.learner = None
        self._buffers = []
        if self.placement is not None:
            self.placement.remove()
            self.placement = None
        if self._started:
            ray.shutdown()
            self._started = False


def ray_executor(cfg: TrainConfig, model_path: str) -> RayExecutor:
    """The `RayExecutor` of a `TrainConfig` (``run.executor: ray``)."""
    from rlfb.algorithms import make_algorithm
    from rlfb.environments.episodes import build_engine, env_settings
    from rlfb.rollout.settings import engine_options
    from rlfb.scoring import Scorer

    model_path = str(Path(model_path).resolve())
    return RayExecutor(
        engine_factory=_partial(build_engine, cfg.rollout.engine, model_path,
                                engine_options(cfg), env_settings(cfg.env)),
        scorer_factory=_partial(Scorer, cfg.reward.name, dict(cfg.reward.options)),
        learner_factory=make_algorithm(cfg.algo).learner_factory(cfg, model_path),
        ray_cfg=cfg.ray,
        run_dir=cfg.run.output_dir,
        learner_strategy=cfg.learner.strategy,
        sleep_engines=cfg.rollout.colocate)


def _partial(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    from functools import partial

    return partial(fn, *args, **kwargs)


def _cause(exc: Exception) -> str:
    """The first line of a Ray actor error worth showing."""
    text = str(getattr(exc, "error_msg", "") or exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln and not ln.startswith("File ")]
    return (errors[-1] if errors else lines[0] if lines else type(exc).__name__)[:500]
