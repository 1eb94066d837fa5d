"""Test tiers: every test without a `ray`, `vllm` or `slow` marker is a `unit` test.

`make test` runs everything but `slow`. Shared fixtures for the heavier tiers live here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("ray", "vllm", "slow")
REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(t) for t in TIERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance shared by the whole test session (ray.init costs ~2.5 s).

    ``address="local"`` always starts a fresh instance, even when another Ray cluster runs on
    the machine (a plain ``ray.init(num_cpus=...)`` would try to join it and fail).
    """
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
