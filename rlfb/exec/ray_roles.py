"""The role hosts: plain classes that the Ray executor runs as actors (``ray.remote(EngineHost)``).

A host builds its role object (rollout engine, scorer, learner, experience buffer) from a
picklable zero-argument factory *inside* the actor, so every worker resolves registry names
itself, and times every call (busy seconds, call count) for the per-role metrics. The roles
themselves know nothing of Ray; only the weight-sync methods touch it (the learner puts its
weights in the object store, or joins a torch.distributed group).

Nothing here imports Ray at module import; the executor wraps these classes with ``ray.remote``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from rlfb.device import role_memory
from rlfb.errors import RlfbError
from rlfb.memory import ONE_ARENA_ENV, keep_freed_memory
from rlfb.types import ExperienceBatch, Prompt, Rollout, SamplingParams, ScoredSample


class WorkerNeedsWeights(RlfbError):
    """A restarted rollout actor was asked to generate before it got the current weights."""


def _reconstructed() -> bool:
    import warnings

    import ray

    with warnings.catch_warnings():  # Ray's own property trips its own deprecation warning
        warnings.simplefilter("ignore")
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


#: The process environment of an actor that holds a model (`RoleHost.KEEP_FREED_MEMORY`): one
#: glibc malloc arena (`rlfb.memory`). Its role runs on a thread other than the main one (Ray's
#: method thread, or the role thread of `RoleHost.ONE_THREAD`), and such a thread's arena maps
#: every block over 64 MiB fresh, so without it every step page-faults the model's
#: activations, and every vLLM weight reload its packed weights, in again (docs/performance.md).
ONE_ARENA_RUNTIME_ENV = {"env_vars": ONE_ARENA_ENV}


class RoleHost:
    """Builds one role object in this process and times the calls made on it.

    Args:
        role: the role's name in metrics ("rollout", "reward", "learner", "buffer").
        factory: a picklable zero-argument callable returning the role object.
        threads: torch intra-op threads (None: leave Ray's choice, ``max(1, int(num_cpus))``).
    """

    #: Build the role object and run every timed call on one thread of its own. OpenMP
    #: thread settings are per calling thread, and Ray runs an actor's methods on other threads
    #: than its constructor; vLLM's CPU attention checks that a step runs with the thread count
    #: its metadata was built with, so the engine must keep to one thread.
    ONE_THREAD = False
    #: The role holds a model: the actor runs with `ONE_ARENA_RUNTIME_ENV` and calls
    #: `rlfb.memory.keep_freed_memory`, so the blocks a step frees are reused by the next one.
    KEEP_FREED_MEMORY = False

    def __init__(self, role: str, factory: Callable[[], Any], threads: int | None = None) -> None:
        self._role_thread: Any = None
        if self.ONE_THREAD:
            from concurrent.futures import ThreadPoolExecutor

            self._role_thread = ThreadPoolExecutor(1, thread_name_prefix=f"rlfb-{role}")
        self.role = role
        if self.KEEP_FREED_MEMORY:
            keep_freed_memory()
        self.obj = self._on_role_thread(_build, factory, threads)
        self.busy_s = 0.0
        self.calls = 0
        self.running: str | None = None
        self.restarted = _reconstructed()

    def _timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        self.running = getattr(fn, "__name__", "call")
        try:
            return self._on_role_thread(fn, *args, **kwargs)
        finally:
            self.running = None
            self.busy_s += time.perf_counter() - start
            self.calls += 1

    def _on_role_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, on the role's own thread when it has one (`ONE_THREAD`)."""
        if self._role_thread is None:
            return fn(*args, **kwargs)
        return self._role_thread.submit(fn, *args, **kwargs).result()

    def stats(self) -> dict[str, Any]:
        """Cumulative busy seconds and calls of this actor incarnation, the role method running
        now (None when idle), the Ray node id it runs on and its peak memory
        (`rlfb.device.role_memory`: peak RSS, and torch's peak CUDA allocation where it used
        CUDA).

        Actors are created with a ``control`` concurrency group, so this answers while a long
        call is running (call it with ``.options(concurrency_group="control")``)."""
        import ray

        return {"busy_s": self.busy_s, "calls": self.calls, "running": self.running,
                "restarted": self.restarted, "node": ray.get_runtime_context().get_node_id(),
                "memory": role_memory()}

    def ping(self) -> bool:
        """True once the actor is up (used to wait for a restart)."""
        return True


def _build(factory: Callable[[], Any], threads: int | None) -> Any:
    """Set torch's intra-op threads (when given) and build the role object."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return factory()


class EngineHost(RoleHost):
    """A rollout engine in an actor, refreshed by weight version.

    After Ray restarts this actor (its process died) the engine holds the *initial* weights, so
    it refuses to generate (`WorkerNeedsWeights`) until the controller has restored the current
    version with `load_weights`; this keeps a restart from silently producing samples of the
    wrong policy.
    """

    ONE_THREAD = True
    KEEP_FREED_MEMORY = True

    def __init__(self, role: str, factory: Callable[[], Any], threads: int | None = None) -> None:
        super().__init__(role, factory, threads)
        self.needs_weights = self.restarted
        self.group: Any = None
        self.load_s = 0.0

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """The engine's `generate`."""
        if self.needs_weights:
            raise WorkerNeedsWeights("rollout actor restarted and has not received the current "
                                     "weights yet")
        return self._timed(self.obj.generate, prompts, sampling)

    def load_weights(self, payload: Any, version: int) -> float:
        """Load a `WeightPayload` (None: keep the initial weights, version 0); returns seconds."""
        from rlfb.sync.payload import unpack

        start = time.perf_counter()
        if payload is not None:
            self._timed(self.obj.update_weights, unpack(payload), version)
        elif version != 0:
            raise RlfbError(f"no weights given for version {version}")
        self.needs_weights = False
        self.load_s = time.perf_counter() - start
        return self.load_s

    def weight_version(self) -> int:
        """The engine's current weight version."""
        return self.obj.weight_version

    def sleep(self) -> None:
        """Free the engine's GPU memory for a learner update on the same GPU (`wake_up`
        restores it)."""
        self._on_role_thread(self.obj.sleep)

    def wake_up(self) -> None:
        """Restore the engine's GPU memory after `sleep`."""
        self._on_role_thread(self.obj.wake_up)

    def join_group(self, spec: Any) -> None:
        """Join the learner's weight-broadcast group (`rlfb.sync.collective`)."""
        from rlfb.sync.collective import join

        self.group = join(spec)

    def receive_weights(self, version: int) -> float:
        """Receive a broadcast from the learner and load it; returns seconds."""
        from rlfb.sync.collective import receive

        if self.group is None:
            raise RlfbError("receive_weights before join_group")
        start = time.perf_counter()
        self._timed(self.obj.update_weights, receive(self.group), version)
        self.needs_weights = False
        self.load_s = time.perf_counter() - start
        return self.load_s

    def close(self) -> None:
        """Free the engine."""
        self._on_role_thread(self.obj.close)


class ScorerHost(RoleHost):
    """A `Scorer` in an actor (stateless: safe to restart and retry)."""

    def score(self, prompts: Sequence[Prompt], rollouts: Sequence[Rollout]) -> list[ScoredSample]:
        """The scorer's `score`."""
        return self._timed(self.obj.score, prompts, rollouts)


class LearnerHost(RoleHost):
    """The learner in an actor: updates, weights for sync, checkpoints."""

    KEEP_FREED_MEMORY = True

    def __init__(self, role: str, factory: Callable[[], Any], threads: int | None = None) -> None:
        super().__init__(role, factory, threads)
        self.group: Any = None
        self._pack_buffer: Any = None

    def update(self, batch: ExperienceBatch) -> dict[str, float]:
        """One learner update."""
        return self._timed(self.obj.update, batch)

    def version(self) -> int:
        """The learner's weight version."""
        return self.obj.version

    def publish_weights(self) -> tuple[list[Any], int, float]:
        """Put the current weights in the object store once for every engine.

        Returns ``([ref], bytes, seconds)``; the reference is wrapped in a list so Ray hands it
        on unresolved.
        """
        import ray

        from rlfb.sync.payload import pack, skip_aliases

        start = time.perf_counter()
        payload = pack(skip_aliases(self.obj.named_weights()), self.obj.version,
                       out=self._pack_buffer)
        self._pack_buffer = payload.buffer  # reused next time: ray.put copies it
        ref = ray.put(payload)
        return [ref], payload.nbytes, time.perf_counter() - start

    def weight_entries(self) -> list[Any]:
        """Name, dtype and shape of every weight (what a broadcast receiver must allocate)."""
        from rlfb.sync.payload import layout, skip_aliases

        return layout(skip_aliases(self.obj.named_weights()))[0]

    def rendezvous(self) -> tuple[str, int]:
        """A host address and a free TCP port on this node for the broadcast group."""
        from rlfb.sync.collective import free_address

        return free_address()

    def join_group(self, spec: Any) -> None:
        """Create (rank 0) the weight-broadcast group."""
        from rlfb.sync.collective import join

        self.group = join(spec)

    def broadcast_weights(self) -> tuple[int, float]:
        """Broadcast the current weights to the group; returns (bytes, seconds)."""
        from rlfb.sync.collective import broadcast
        from rlfb.sync.payload import skip_aliases

        if self.group is None:
            raise RlfbError("broadcast_weights before join_group")
        start = time.perf_counter()
        nbytes = broadcast(self.group, skip_aliases(self.obj.named_weights()))
        return nbytes, time.perf_counter() - start

    def save(self, path: str) -> None:
        """Write the learner's checkpoint part (``path`` must be reachable from this node)."""
        self._timed(self.obj.save, Path(path))

    def load(self, path: str) -> None:
        """Restore the learner's checkpoint part."""
        self._timed(self.obj.load, Path(path))


BUFFER_METHODS = frozenset({"add_group", "num_ready", "take", "stats", "state_dict",
                            "load_state_dict", "__len__"})


class BufferHost(RoleHost):
    """The experience buffer in a (threaded) actor, shared by producers and the learner."""

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call an `ExperienceBuffer` method by name."""
        if method not in BUFFER_METHODS:
            raise RlfbError(f"buffer method {method!r} is not callable remotely; use one of "
                            f"{sorted(BUFFER_METHODS)}")
        return self._timed(getattr(self.obj, method), *args, **kwargs)

    def attribute(self, name: str) -> Any:
        """A public attribute of the buffer (``max_staleness``, ``drop_zero_variance``)."""
        return getattr(self.obj, name)
