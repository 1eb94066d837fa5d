"""Learner device and precision: ``learner.device`` is honoured, ``auto`` is the CPU when no GPU
is given, and a bfloat16 autocast update keeps float32 master weights and optimiser states and
moves the weights as the float32 update does."""

from __future__ import annotations

import pytest
import torch

from rlfb.config import load_config
from rlfb.device import autocast, compute_dtype, peak_memory, resolve_device
from rlfb.errors import ConfigError
from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner
from rlfb.models.tiny import make_tiny_model
from rlfb.types import ExperienceBatch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=3)


def make_batch(rows: int = 6, seed: int = 0) -> ExperienceBatch:
    """Right-padded rows of 6..13 tokens, a 4-token prompt, one advantage per row."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(6, 14, (rows,), generator=g)
    width = int(lengths.max())
    attn = (torch.arange(width)[None, :] < lengths[:, None]).long()
    ids = torch.randint(10, 200, (rows, width), generator=g) * attn
    loss_mask = attn.clone()
    loss_mask[:, :4] = 0
    adv = torch.randn(rows, 1, generator=g).expand(rows, width) * loss_mask
    return ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=loss_mask.float(),
                           old_logprobs=-torch.rand(rows, width, generator=g) * loss_mask,
                           advantages=adv.contiguous())


@pytest.fixture
def one_gpu_visible(monkeypatch):
    """This process sees one CUDA device (as an actor Ray gave a GPU does); nothing is moved."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.fixture
def no_gpu(monkeypatch):
    """This process sees no CUDA device (as an actor Ray gave no GPU: CUDA_VISIBLE_DEVICES="")."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_auto_is_the_cpu_without_a_gpu(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_is_the_visible_gpu(one_gpu_visible):
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("spec, message", [
    ("cuda:1", "learner.device=cuda:1 but this process sees 1 CUDA device(s)"),
    ("gpu", "learner.device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
])
def test_bad_devices_are_one_line_errors(one_gpu_visible, spec, message):
    with pytest.raises(ConfigError) as err:
        resolve_device(spec)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_config_checks_device_and_dtype():
    cfg = load_config(None, ["learner.device=cuda:2", "learner.dtype=bfloat16"])
    assert (cfg.learner.device, cfg.learner.dtype) == ("cuda:2", "bfloat16")
    with pytest.raises(ConfigError, match="learner.device must be auto, cpu, cuda or cuda:N"):
        load_config(None, ["learner.device=tpu"])
    with pytest.raises(ConfigError, match="learner.dtype"):
        load_config(None, ["learner.dtype=float16"])
    with pytest.raises(ConfigError, match="learner.logits_chunk must be >= 0"):
        load_config(None, ["learner.logits_chunk=-1"])


def _on_cpu(learner: PolicyLearner) -> bool:
    tensors = [*learner.model.parameters()]
    tensors += [v for s in learner.optimizer.state.values() for v in s.values()
                if isinstance(v, torch.Tensor) and v.dim() > 0]
    return bool(tensors) and all(t.device.type == "cpu" for t in tensors)


def test_cpu_is_honoured_when_a_gpu_is_visible(tiny, one_gpu_visible):
    learner = PolicyLearner(str(tiny), LossSettings(), lr=1e-2, device="cpu")
    stats = learner.update(make_batch())
    assert learner.device == torch.device("cpu") and _on_cpu(learner)
    assert stats["perf/learner/peak_rss_gb"] > 0.05
    assert "perf/learner/cuda_max_allocated_gb" not in stats


def test_auto_trains_on_the_cpu_without_a_gpu(tiny, no_gpu):
    learner = PolicyLearner(str(tiny), LossSettings(), lr=1e-2, device="auto")
    learner.update(make_batch())
    assert learner.device == torch.device("cpu") and _on_cpu(learner)


def _update(path, dtype: str):
    learner = PolicyLearner(str(path), LossSettings(), lr=1e-3, device="cpu",
                            compute_dtype=dtype)
    before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    learner.update(make_batch())
    delta = torch.cat([(p.detach() - before[n]).flatten()
                       for n, p in learner.model.named_parameters()])
    return learner, delta


def test_bf16_autocast_keeps_fp32_masters_and_updates_like_fp32(tiny):
    ref, d32 = _update(tiny, "float32")
    bf, d16 = _update(tiny, "bfloat16")
    assert all(p.dtype == torch.float32 for p in bf.model.parameters())
    states = [v for s in bf.optimizer.state.values() for k, v in s.items()
              if k in ("exp_avg", "exp_avg_sq")]
    assert states and all(v.dtype == torch.float32 for v in states)
    # The forward really ran in bfloat16: the update is not the float32 one ...
    assert not torch.equal(d16, d32)
    # ... but close to it. AdamW's first step moves each weight by about lr * sign(grad), so the
    # two updates agree wherever the gradient's sign does.
    cosine = torch.nn.functional.cosine_similarity(d16, d32, dim=0)
    assert float(cosine) > 0.95
    assert float((d16 - d32).norm() / d32.norm()) < 0.3


def test_autocast_is_a_no_op_for_float32():
    assert compute_dtype("float32") is None and compute_dtype("bfloat16") == torch.bfloat16
    x = torch.ones(2, 2)
    with autocast(torch.device("cpu"), None):
        assert (x @ x).dtype == torch.float32
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert (x @ x).dtype == torch.bfloat16


def test_peak_memory_reads_this_process():
    before = peak_memory()["peak_rss_gb"]
    block = torch.ones(64 * 2**20 // 4 * 4)  # 256 MiB, touched
    after = peak_memory()["peak_rss_gb"]
    assert float(block[-1]) == 1.0 and after >= before and after > 0.25
