"""Resources and placement of the role actors: starting or joining Ray, the placement group.

Every actor that asks for resources gets one bundle (``{"CPU": num_cpus, "GPU": num_gpus}``) of
one placement group, strategy ``PACK`` for ``ray.placement: colocate`` and ``SPREAD`` for
``spread``. Both are soft, so a one-node machine runs either; on a cluster, ``spread`` puts the
rollout and scorer actors on different nodes where it can. Actors that ask for nothing (a scorer
with ``num_cpus: 0``) run outside the group. The experience buffer is a light actor pinned to the
controller's node.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from rlfb.errors import ConfigError, RlfbError
from rlfb.exec.ray_join import join_cluster

if TYPE_CHECKING:
    from rlfb.config.schema import RayConfig

ROLES = ("learner", "rollout", "reward")
STRATEGY = {"colocate": "PACK", "spread": "SPREAD"}


@dataclass(frozen=True)
class Slot:
    """One actor to place: its role, index within the role, and resources."""

    role: str
    index: int
    num_cpus: float
    num_gpus: float

    @property
    def bundle(self) -> dict[str, float] | None:
        """Its placement-group bundle, or None when it asks for no resources."""
        b = {k: v for k, v in (("CPU", self.num_cpus), ("GPU", self.num_gpus)) if v > 0}
        return b or None


def slots(ray_cfg: RayConfig) -> list[Slot]:
    """Every actor the config asks for, learner first.

    >>> from rlfb.config.schema import RayConfig
    >>> [(s.role, s.index) for s in slots(RayConfig())]
    [('learner', 0), ('rollout', 0), ('reward', 0)]
    """
    out = []
    for role in ROLES:
        res = getattr(ray_cfg, role)
        out += [Slot(role, i, float(res.num_cpus), float(res.num_gpus)) for i in range(res.count)]
    return out


def demand(all_slots: list[Slot]) -> dict[str, float]:
    """Total CPUs and GPUs the actors ask for."""
    return {"CPU": sum(s.num_cpus for s in all_slots), "GPU": sum(s.num_gpus for s in all_slots)}


def ensure_ray(ray_cfg: RayConfig, need: dict[str, float]) -> bool:
    """Join ``ray.address``, or start a local Ray sized for ``need``; True when this call started
    or joined it (so the executor disconnects at close), False when Ray was already up."""
    import ray

    if ray.is_initialized():
        return False
    if ray_cfg.address:
        join_cluster(ray_cfg.address, log_to_driver=True)  # token authentication as Ray's docs
        return True
    cpus = ray_cfg.num_cpus or max(os.cpu_count() or 1, math.ceil(need["CPU"]))
    gpus = None if need["GPU"] == 0 else math.ceil(need["GPU"])
    # The run is the whole job of this Ray: its actors get normal priority (Ray's default
    # worker niceness of 15 starves them on a busy machine).
    os.environ.setdefault("RAY_worker_niceness", "0")
    # address="local": a new instance even when another Ray runs on this machine
    ray.init(address="local", num_cpus=cpus, num_gpus=gpus, include_dashboard=False)
    return True


def check_fits(need: dict[str, float], available: dict[str, float]) -> None:
    """`RlfbError` when the cluster lacks the CPUs or GPUs the actors ask for.

    >>> check_fits({"CPU": 3, "GPU": 0}, {"CPU": 2.0})
    Traceback (most recent call last):
    ...
    rlfb.errors.RlfbError: the roles ask for 3 CPU but the Ray cluster has 2; lower ray.<role>.num_cpus / count or add nodes
    """
    for kind in ("CPU", "GPU"):
        if need.get(kind, 0) > available.get(kind, 0) + 1e-9:
            raise RlfbError(f"the roles ask for {need[kind]:g} {kind} but the Ray cluster has "
                            f"{available.get(kind, 0):g}; lower ray.<role>.num_{kind.lower()}s "
                            "/ count or add nodes")


class Placement:
    """The placement group of the role actors and each actor's scheduling options."""

    def __init__(self, all_slots: list[Slot], placement: str, timeout_s: float) -> None:
        import ray
        from ray.util.placement_group import placement_group

        if placement not in STRATEGY:
            raise ConfigError(f"ray.placement={placement!r}; use colocate or spread")
        check_fits(demand(all_slots), ray.cluster_resources())
        self.index: dict[tuple[str, int], int] = {}
        bundles = []
        for s in all_slots:
            if s.bundle is not None:
                self.index[(s.role, s.index)] = len(bundles)
                bundles.append(s.bundle)
        self.group = placement_group(bundles, strategy=STRATEGY[placement]) if bundles else None
        if self.group is not None and not self.group.wait(timeout_seconds=timeout_s):
            ray.util.remove_placement_group(self.group)
            raise RlfbError(f"the placement group {bundles} was not ready after {timeout_s:g} s; "
                            "the cluster lacks room for the roles (see `ray status`)")

    def options(self, slot: Slot) -> dict[str, Any]:
        """``actor.options(...)`` keywords for ``slot``: resources and its bundle."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        opts: dict[str, Any] = {"num_cpus": slot.num_cpus, "num_gpus": slot.num_gpus}
        key = (slot.role, slot.index)
        if self.group is not None and key in self.index:
            opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                placement_group=self.group, placement_group_bundle_index=self.index[key])
        return opts

    def remove(self) -> None:
        """Release the placement group."""
        import ray

        if self.group is not None:
            ray.util.remove_placement_group(self.group)
            self.group = None


def driver_node_options() -> dict[str, Any]:
    """Options that pin a resource-free actor to this (the controller's) node, strictly: it
    must not share the fate of another node (it dies with the controller's node only)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return {"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node,
                                                                                 soft=False)}
