"""Shared fixtures for the rollout-engine tests: a tiny model, prompts, and two helpers served as
fixtures (``eos_weights``, ``logprob_gap``) since tests run with ``--import-mode=importlib``."""

from __future__ import annotations

import pytest
import torch

from rlfb.learner.logprobs import rollout_logprobs
from rlfb.models.tiny import make_tiny_model
from rlfb.types import Prompt, Rollout


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """A tiny random Qwen2 model folder (shared by every engine test)."""
    return make_tiny_model(tmp_path_factory.mktemp("engines") / "tiny", seed=0)


@pytest.fixture
def prompts() -> list[Prompt]:
    return [
        Prompt("p0", ({"role": "user", "content": "What is 2+3?"},)),
        Prompt("p1", ({"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "How many apples do you have left?"})),
        Prompt("p2", ({"role": "user", "content": "hi"},)),
    ]



def eos_biased_weights(model, eos_id: int, strength: float) -> list[tuple[str, torch.Tensor]]:
    """`rlfb.models.tiny.eos_biased_state` as the (name, tensor) list engines take."""
    from rlfb.models.tiny import eos_biased_state

    return list(eos_biased_state(model, eos_id, strength).items())


def max_logprob_gap(model, rollouts: list[Rollout], temperature: float) -> float:
    """Largest |behaviour - learner| logprob over all completion tokens of ``rollouts``."""
    learner = rollout_logprobs(model, rollouts, temperature)
    return max(float((torch.tensor(r.logprobs) - lp).abs().max()) for r, lp in zip(rollouts, learner))


@pytest.fixture(scope="session")
def eos_weights():
    """`eos_biased_weights`."""
    return eos_biased_weights


@pytest.fixture(scope="session")
def logprob_gap():
    """`max_logprob_gap`."""
    return max_logprob_gap
