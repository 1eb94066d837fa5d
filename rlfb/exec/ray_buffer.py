"""A proxy with the `ExperienceBuffer` API for a buffer living in a Ray actor (`BufferHost`).

The controller's loop calls it exactly like a local buffer; producers (the async rollout threads)
and the learner's side of the loop share the one actor. The actor is threaded, so a `take` that
waits (``timeout_s``) does not block producers' `add_group` calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from rlfb.types import ScoredSample


class RemoteBuffer:
    """Forwards every `ExperienceBuffer` method to the actor and waits for the answer.

    Args:
        actor: the `BufferHost` actor handle.
        on_death: turns the actor's death (``RayActorError``) into the exception to raise.
    """

    def __init__(self, actor: Any, on_death: Callable[[Exception], Exception]) -> None:
        self.actor = actor
        self._on_death = on_death
        self.max_staleness = self._call("attribute", "max_staleness")
        self.drop_zero_variance = self._call("attribute", "drop_zero_variance")

    def _call(self, how: str, *args: Any, **kwargs: Any) -> Any:
        import ray

        try:
            return ray.get(getattr(self.actor, how).remote(*args, **kwargs))
        except ray.exceptions.RayActorError as exc:
            raise self._on_death(exc) from None

    def add_group(self, prompt_id: str, samples: Sequence[ScoredSample]) -> bool:
        """`ExperienceBuffer.add_group`."""
        return self._call("call", "add_group", prompt_id, list(samples))

    def num_ready(self, current_version: int) -> int:
        """`ExperienceBuffer.num_ready`."""
        return self._call("call", "num_ready", current_version)

    def take(self, num_groups: int, current_version: int, *, timeout_s: float = 0.0) -> list[Any]:
        """`ExperienceBuffer.take`."""
        return self._call("call", "take", num_groups, current_version, timeout_s=timeout_s)

    def stats(self) -> Any:
        """`ExperienceBuffer.stats`."""
        return self._call("call", "stats")

    def __len__(self) -> int:
        return self._call("call", "__len__")

    def state_dict(self) -> dict[str, Any]:
        """`ExperienceBuffer.state_dict`."""
        return self._call("call", "state_dict")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """`ExperienceBuffer.load_state_dict`."""
        self._call("call", "load_state_dict", state)
