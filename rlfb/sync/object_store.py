"""Weight sync through Ray's object store (see `rlfb.sync.base`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


class ObjectStoreSync:
    """The learner puts its weights (`rlfb.sync.payload.WeightPayload`) in the object store once;
    every engine loads them from there.

    The latest payload stays referenced until the next push, so an engine that Ray restarts can
    be restored to the current version (`restore`). Loads issued without waiting are checked at
    the next push, so an engine that failed to load surfaces as an error there.
    """

    name = "object_store"

    def __init__(self) -> None:
        self._latest: tuple[Any, int] | None = None
        self._pending: list[Any] = []

    def push(self, learner: Any, engines: Sequence[Any], version: int, *,
             wait: bool) -> dict[str, float]:
        """Publish and load (`WeightSync.push`); adds ``sync/publish_s`` (learner side: pack and
        put) and, when waiting, ``sync/load_s`` (the slowest engine's load)."""
        import ray

        start = time.perf_counter()
        self._settle()
        (ref,), nbytes, publish_s = ray.get(learner.publish_weights.remote())
        self._latest = (ref, version)
        self._pending = [engine.load_weights.remote(ref, version) for engine in engines]
        out = {"sync/bytes": float(nbytes), "sync/publish_s": publish_s}
        if wait:
            out["sync/load_s"] = max(self._settle(), default=0.0)
        out["sync/seconds"] = time.perf_counter() - start
        return out

    def _settle(self) -> list[float]:
        """Wait for the loads of the last push; returns their seconds. An engine that died
        meanwhile is left to the executor's restart handling (a restarted engine refuses work
        until it is restored); any other failure is raised."""
        import ray
        from ray.exceptions import RayActorError

        seconds = []
        for ref in self._pending:
            try:
                seconds.append(ray.get(ref))
            except RayActorError:
                pass
        self._pending = []
        return seconds

    def restore(self, learner: Any, engine: Any) -> Any:
        """Load the latest pushed weights (the initial ones before any push) into ``engine``."""
        ref, version = self._latest if self._latest is not None else (None, 0)
        return engine.load_weights.remote(ref, version)
