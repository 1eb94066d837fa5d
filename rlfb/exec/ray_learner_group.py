"""The data-parallel learner group as Ray actors: ``ray.learner.count`` ranks, called as one.

Each rank is a `LearnerRankHost` actor holding one `rlfb.learner.distributed.DataParallelLearner`.
The actors start empty; `LearnerGroup.start` asks rank 0 for a free address on its node, then
every rank joins the torch.distributed group there (gloo on CPU, NCCL on GPU) and builds its
learner. From then on the controller talks to the group through `LearnerGroup`, which has the
shape of one learner actor (``group.update.remote(batch)``, ``group.version.remote()``), so the
executor, the weight syncs (`rlfb.sync`) and the metrics treat one learner and N alike:

- ``update``, ``save``, ``load``, ``publish_weights``, ``broadcast_weights`` run on every rank
  (they are collective); the call's reference is rank 0's, and the other ranks' are checked at
  the next call (`LearnerGroup.call` waits for all and fails as soon as one fails);
- everything else (``version``, ``weight_entries``, ``rendezvous``, ``join_group``, ``stats``)
  is rank 0's alone.

In a weight sync every rank gathers each full tensor in turn (FSDP); rank 0 alone copies it into
the payload or broadcast buffer, and the others drop it.

Nothing here imports Ray at module import.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rlfb.errors import RlfbError
from rlfb.exec.ray_roles import LearnerHost

#: Methods every rank must run together.
ALL_RANKS = frozenset({"update", "save", "load", "publish_weights", "broadcast_weights"})
#: Methods answered by rank 0 alone.
RANK_ZERO = frozenset({"version", "weight_entries", "rendezvous", "join_group", "stats", "ping"})


def _unbuilt() -> None:
    """The role object of a rank before `LearnerRankHost.start` builds it."""
    return None


class LearnerRankHost(LearnerHost):
    """One rank of the learner group in an actor (module docstring).

    Args:
        role, threads: as `RoleHost`.
        factory: builds the rank's `PolicyLearner` (the same on every rank).
        rank, world_size: this rank and the group's size.
        strategy: ``learner.strategy`` (``ddp`` or ``fsdp``).
    """

    def __init__(self, role: str, factory: Callable[[], Any], threads: int | None = None,
                 rank: int = 0, world_size: int = 1, strategy: str = "ddp") -> None:
        super().__init__(role, _unbuilt, threads)
        self.factory = factory
        self.rank = rank
        self.world_size = world_size
        self.strategy = strategy

    def start(self, host: str, port: int, timeout_s: float) -> bool:
        """Join the group at ``host:port`` (rank 0's node) and build the learner. The group's
        collectives wait at least 30 minutes for a slow rank (a checkpoint written by rank 0
        alone, say) before they fail."""
        from rlfb.learner.distributed import DataParallelLearner

        self.obj = self._on_role_thread(
            DataParallelLearner.build, self.factory, rank=self.rank, world_size=self.world_size,
            init_method=f"tcp://{host}:{port}", strategy=self.strategy,
            timeout_s=max(timeout_s, 1800.0))
        return True

    def publish_weights(self) -> tuple[list[Any], int, float] | None:
        """Rank 0: the weights into the object store, gathered and copied one tensor at a time
        (see `LearnerHost.publish_weights`); other ranks take part in the gathers only."""
        import ray

        from rlfb.sync.payload import pack

        start = time.perf_counter()
        if self.rank != 0:
            self.obj.drain_weights()
            return None
        payload = pack(self.obj.named_weights(), self.obj.version, out=self._pack_buffer,
                       entries=self.obj.weight_entries())
        self._pack_buffer = payload.buffer
        ref = ray.put(payload)
        return [ref], payload.nbytes, time.perf_counter() - start

    def weight_entries(self) -> list[Any]:
        """Name, dtype and shape of every weight, without gathering them."""
        return self.obj.weight_entries()

    def broadcast_weights(self) -> tuple[int, float]:
        """Rank 0: broadcast the weights to the engines as they are gathered; other ranks take
        part in the gathers only."""
        from rlfb.sync.collective import broadcast

        start = time.perf_counter()
        if self.rank != 0:
            self.obj.drain_weights()
            return 0, time.perf_counter() - start
        if self.group is None:
            raise RlfbError("broadcast_weights before join_group")
        nbytes = broadcast(self.group, self.obj.named_weights())
        return nbytes, time.perf_counter() - start

    def close(self) -> None:
        """Leave the process group."""
        if self.obj is not None:
            self.obj.close()


class _GroupMethod:
    """``group.<method>``: ``.remote(*args)`` and ``.options(...)`` as on one actor."""

    def __init__(self, group: LearnerGroup, method: str, options: dict[str, Any] | None = None
                 ) -> None:
        self.group, self.method, self._options = group, method, options or {}

    def options(self, **options: Any) -> _GroupMethod:
        return _GroupMethod(self.group, self.method, options)

    def remote(self, *args: Any) -> Any:
        return self.group.submit(self.method, args, self._options)


class LearnerGroup:
    """The ranks' actors, called as one learner actor (module docstring).

    Args:
        actors: the `LearnerRankHost` actor handles, rank 0 first.
        timeout_s: how long `start` waits for every rank to join.
    """

    def __init__(self, actors: list[Any], timeout_s: float) -> None:
        self.actors = actors
        self.timeout_s = timeout_s
        self._pending: list[Any] = []

    def start(self) -> None:
        """Form the torch.distributed group and build every rank's learner."""
        import ray

        host, port = ray.get(self.actors[0].rendezvous.remote(), timeout=self.timeout_s)
        self.wait_all([a.start.remote(host, port, self.timeout_s) for a in self.actors])

    def __getattr__(self, method: str) -> _GroupMethod:
        if method in ALL_RANKS or method in RANK_ZERO:
            return _GroupMethod(self, method)
        raise AttributeError(f"the learner group has no method {method!r}")

    def submit(self, method: str, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """Start ``method`` (on every rank, or on rank 0); returns rank 0's reference."""
        self.settle()
        if method in RANK_ZERO:
            return getattr(self.actors[0], method).options(**options).remote(*args)
        refs = [getattr(a, method).options(**options).remote(*args) for a in self.actors]
        self._pending = refs[1:]
        return refs[0]

    def call(self, method: str, *args: Any) -> Any:
        """Run ``method`` on its ranks and return rank 0's result, failing as soon as any rank
        fails (a rank that raised leaves the others waiting in a collective)."""
        ref = self.submit(method, args, {})
        pending, self._pending = self._pending, []
        return self.wait_all([ref, *pending])[0]

    def settle(self) -> None:
        """Wait for the other ranks' part of the last call (raises what a rank raised)."""
        pending, self._pending = self._pending, []
        if pending:
            self.wait_all(pending)

    def wait_all(self, refs: list[Any]) -> list[Any]:
        """Results of ``refs`` in order; the first failure is raised at once."""
        import ray

        left = list(refs)
        while left:
            done, left = ray.wait(left, num_returns=1)
            ray.get(done)  # raises the rank's error now, not after the others time out
        return ray.get(refs)
