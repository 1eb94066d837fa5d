"""The weight-sync interface: move the learner's weights to every rollout engine, by version.

A `WeightSync` runs in the controller and works on actor handles of the role hosts
(`rlfb.exec.ray_roles`): the learner publishes, every engine loads and stamps the version on the
rollouts it generates from then on. Two implementations sit behind it:

- `rlfb.sync.object_store.ObjectStoreSync` (``ray.weight_sync: object_store``): the learner puts
  its weights in Ray's object store once, every engine reads them from there (shared memory on
  the same node, the object manager across nodes). Works for CPU and GPU engines; it does not
  block the engines, so in async mode the load queues behind the generation in flight.
- `rlfb.sync.collective.CollectiveSync` (``ray.weight_sync: collective``): a torch.distributed
  broadcast from the learner, gloo (CPU, tested) or NCCL (GPU, not run in CI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class WeightSync(Protocol):
    """Controller-side weight sync between one learner actor and N engine actors."""

    name: str

    def push(self, learner: Any, engines: Sequence[Any], version: int, *,
             wait: bool) -> dict[str, float]:
        """Send the learner's current weights (``version``) to every engine.

        With ``wait`` it returns once every engine has loaded them; without, once they are
        on their way (each engine loads after the calls it already has queued). Returns
        metrics: ``sync/seconds`` (the controller's wall time), ``sync/bytes``, and what the
        implementation measures besides.
        """
        ...

    def restore(self, learner: Any, engine: Any) -> Any:
        """Bring a restarted engine to the latest pushed version; returns a Ray ObjectRef to wait
        on."""
        ...


def make_weight_sync(kind: str, backend: str = "gloo", timeout_s: float = 300.0) -> WeightSync:
    """The `WeightSync` named by ``ray.weight_sync`` (and ``ray.collective_backend``)."""
    from rlfb.errors import ConfigError

    if kind == "object_store":
        from rlfb.sync.object_store import ObjectStoreSync

        return ObjectStoreSync()
    if kind == "collective":
        from rlfb.sync.collective import CollectiveSync

        return CollectiveSync(backend, timeout_s=timeout_s)
    raise ConfigError(f"ray.weight_sync={kind!r} is unknown; use object_store or collective")
