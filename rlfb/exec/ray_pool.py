"""Actors of one role running jobs in parallel, with restart-and-retry of lost work.

A job is one call (method and arguments) whose result is stored under the job's index, so a
retried job replaces its own slot and nothing else: work is never lost and never counted twice.
When an actor's process dies (``RayActorError``) or a restarted rollout actor asks for weights
(`WorkerNeedsWeights`), the pool waits for Ray to restart it (the actors are created with
``max_restarts``), runs the role's ``recover`` step (a rollout actor gets the current weights
back) and submits the job again, up to ``max_retries`` times per job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlfb.errors import RlfbError


@dataclass
class Submitted:
    """Jobs in flight: ObjectRef → (job index, actor index), plus their arguments."""

    method: str
    jobs: list[tuple[Any, ...]]
    refs: dict[Any, tuple[int, int]] = field(default_factory=dict)


class ActorPool:
    """The actors of one role.

    Args:
        role: role name (metrics and errors).
        actors: the actor handles.
        max_retries: attempts after the first, per job.
        recover: ``recover(actor)`` returns an ObjectRef that is ready when a restarted actor can
            work again (default: a ``ping``).
        timeout_s: how long to wait for a restarted actor.
    """

    def __init__(self, role: str, actors: Sequence[Any], max_retries: int,
                 recover: Callable[[Any], Any] | None = None, timeout_s: float = 600.0) -> None:
        self.role = role
        self.actors = list(actors)
        self.max_retries = max_retries
        self._recover = recover or (lambda actor: actor.ping.remote())
        self.timeout_s = timeout_s
        self.retries = 0
        self.recoveries = 0
        self.in_flight = 0
        self._lock = threading.Lock()  # async mode submits and waits from different threads

    def _count(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta

    def submit(self, method: str, jobs: Sequence[tuple[Any, ...]]) -> Submitted:
        """Send job ``j`` to actor ``j % len(actors)`` now (calls on one actor run in order)."""
        sub = Submitted(method, list(jobs))
        for j, args in enumerate(sub.jobs):
            a = j % len(self.actors)
            sub.refs[getattr(self.actors[a], method).remote(*args)] = (j, a)
        self._count(len(sub.jobs))
        return sub

    def wait(self, sub: Submitted) -> list[Any]:
        """Every job's result, in job order, retrying jobs whose actor failed."""
        import ray

        from rlfb.exec.ray_roles import WorkerNeedsWeights

        results: list[Any] = [None] * len(sub.jobs)
        attempts = [0] * len(sub.jobs)
        pending = dict(sub.refs)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            j, a = pending.pop(ready[0])
            try:
                results[j] = ray.get(ready[0])
                self._count(-1)
            except (ray.exceptions.RayActorError, WorkerNeedsWeights) as exc:
                attempts[j] += 1
                self.retries += 1
                if attempts[j] > self.max_retries:
                    self._count(-1)
                    raise RlfbError(f"{self.role} actor {a} failed {attempts[j]} times on one job "
                                    f"({type(exc).__name__}); raise ray.max_restarts or check "
                                    "the actor's logs") from exc
                self.recover(a)
                ref = getattr(self.actors[a], sub.method).remote(*sub.jobs[j])
                pending[ref] = (j, a)
        return results

    def run(self, method: str, jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        """`submit` then `wait`."""
        return self.wait(self.submit(method, jobs))

    def recover(self, a: int) -> None:
        """Wait until actor ``a`` is back (restarted by Ray) and ready to work."""
        import ray

        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                ray.get(self._recover(self.actors[a]), timeout=max(1.0, deadline - time.monotonic()))
                self.recoveries += 1
                return
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise RlfbError(f"{self.role} actor {a} did not come back within "
                                    f"{self.timeout_s:g} s") from None
                time.sleep(0.2)
            except ray.exceptions.ActorDiedError as exc:
                raise RlfbError(f"{self.role} actor {a} is dead and Ray will not restart it "
                                f"(ray.max_restarts exhausted, or its node is gone with no room "
                                f"elsewhere): {exc.__class__.__name__}") from exc
            except ray.exceptions.GetTimeoutError as exc:
                raise RlfbError(f"{self.role} actor {a} did not come back within "
                                f"{self.timeout_s:g} s") from exc

    def stats(self) -> list[dict[str, Any]]:
        """Each live actor's `RoleHost.stats` (a dead actor reports nothing)."""
        import ray

        from rlfb.exec.ray_metrics import STATS_OPTIONS

        out = []
        for actor in self.actors:
            try:
                out.append(ray.get(actor.stats.options(**STATS_OPTIONS).remote(), timeout=30))
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                out.append({"busy_s": 0.0, "calls": 0, "restarted": True})
        return out
