"""The `ray` section of the `rlfb train` config: where each role runs on a Ray cluster and how
weights move between them (docs/ray.md). A docstring under every field is its help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rlfb.config.checks import check_range as _check_range


@dataclass
class RoleResources:
    """Ray resources of one role."""

    count: int = 1
    """Actors of this role (learner: count > 1 is a data-parallel learner group)."""
    num_cpus: float = 1.0
    """CPUs per actor (fractions share a CPU; torch in the actor uses max(1, int(num_cpus))
    threads)."""
    num_gpus: float = 0.0
    """GPUs per actor (fractions share a GPU)."""


@dataclass
class RayConfig:
    """The Ray executor (run.executor = "ray"); docs/ray.md shows how roles map to a cluster."""

    address: str | None = None
    """Ray cluster to join: "auto" (the cluster this machine belongs to), "ray://host:10001",
    or null = start a local Ray for the run and stop it afterwards."""
    num_cpus: float | None = None
    """Logical CPUs of the local Ray that rlfb starts (address null); default: the larger of
    this machine's CPUs and what the roles ask for."""
    placement: Literal["colocate", "spread"] = "colocate"
    """Placement group of all role actors: pack them onto as few nodes as possible (colocate)
    or spread them across nodes (spread); both are soft, so a single node always works."""
    rollout: RoleResources = field(default_factory=RoleResources)
    """Rollout-engine actors; prompts are split across them by prompt."""
    learner: RoleResources = field(default_factory=RoleResources)
    """The learner actors: count > 1 starts that many ranks of one data-parallel learner
    (torch.distributed: gloo on CPU, NCCL on GPU; learner.strategy), num_cpus/num_gpus each."""
    reward: RoleResources = field(default_factory=RoleResources)
    """Scoring actors (verifier execution, reward models); samples are split across them by
    prompt."""
    mode: Literal["sync", "async"] = "sync"
    """sync: roll out, score, update, sync in turn (the same trajectory as executor=local).
    async: the rollouts of the next async_depth steps run while the learner updates, so their
    samples are up to async_depth weight versions old (needs buffer.max_staleness >=
    async_depth; algo.tis_cap bounds the importance ratio against the behaviour logprobs)."""
    async_depth: int = 1
    """async: steps of rollouts in flight ahead of the learner (their staleness in versions)."""
    weight_sync: Literal["object_store", "collective"] = "object_store"
    """How new weights reach the engines: through Ray's object store (one copy in, one copy
    out; overlaps with generation in async mode), or a torch.distributed broadcast from the
    learner (collective_backend)."""
    collective_backend: Literal["gloo", "nccl"] = "gloo"
    """weight_sync=collective: gloo (CPU tensors; tested) or nccl (GPU to GPU; not run in CI)."""
    max_restarts: int = 3
    """Times Ray restarts a crashed rollout or scorer actor; its in-flight work is retried. The
    learner and buffer are not restarted: the run stops with a resumable checkpoint."""
    startup_timeout_s: float = 600.0
    """Seconds to wait for the placement group and every actor to start."""

    def __post_init__(self) -> None:
        for role in ("rollout", "learner", "reward"):
            res = getattr(self, role)
            _check_range(res.count >= 1 and res.num_cpus >= 0 and res.num_gpus >= 0,
                         f"ray.{role}: count must be >= 1 and num_cpus, num_gpus >= 0, got {res}")
        _check_range(self.async_depth >= 1, f"ray.async_depth must be >= 1, got {self.async_depth}")
        _check_range(self.max_restarts >= 0, f"ray.max_restarts must be >= 0, "
                                             f"got {self.max_restarts}")
        _check_range(self.startup_timeout_s > 0, f"ray.startup_timeout_s must be > 0, "
                                                 f"got {self.startup_timeout_s}")
        _check_range(self.num_cpus is None or self.num_cpus > 0,
                     f"ray.num_cpus must be > 0 or null, got {self.num_cpus}")
