"""Pure pieces of the Ray executor: splitting, placement arithmetic, payloads, staleness, checks."""

from __future__ import annotations

import pytest
import torch

from rlfb.config import load_config
from rlfb.errors import ConfigError, RlfbError
from rlfb.exec.ray_executor import split_by_prompt
from rlfb.exec.ray_metrics import RoleMetrics, staleness_metrics
from rlfb.exec.ray_placement import Slot, check_fits, demand, slots
from rlfb.sync.payload import layout, pack, unpack
from rlfb.types import Prompt


def ids(*names: str) -> list[Prompt]:
    return [Prompt(n, ()) for n in names]


def test_split_by_prompt_keeps_copies_together_and_covers_every_index():
    assert split_by_prompt(ids("a", "b", "c", "d", "e"), 2) == [[0, 1, 2], [3, 4]]
    assert split_by_prompt(ids("a", "b", "a", "c"), 3) == [[0, 2], [1], [3]]
    assert split_by_prompt(ids("a", "b"), 4) == [[0], [1]]  # fewer prompts than actors
    assert split_by_prompt(ids("a", "a", "a"), 2) == [[0, 1, 2]]
    assert split_by_prompt([], 2) == []


def test_slots_demand_and_fit():
    cfg = load_config(None, ["ray.rollout.count=2", "ray.rollout.num_cpus=0.5",
                             "ray.reward.num_cpus=0", "ray.learner.num_gpus=1"]).ray
    all_slots = slots(cfg)
    assert [(s.role, s.index) for s in all_slots] == [("learner", 0), ("rollout", 0),
                                                      ("rollout", 1), ("reward", 0)]
    assert demand(all_slots) == {"CPU": 2.0, "GPU": 1.0}
    assert all_slots[3].bundle is None  # asks for nothing: runs outside the placement group
    assert all_slots[0].bundle == {"CPU": 1.0, "GPU": 1.0}
    check_fits({"CPU": 2.0, "GPU": 1.0}, {"CPU": 2.0, "GPU": 1.0})
    with pytest.raises(RlfbError, match="ask for 1 GPU but the Ray cluster has 0"):
        check_fits({"CPU": 1.0, "GPU": 1.0}, {"CPU": 8.0})
    assert Slot("reward", 0, 0.0, 0.5).bundle == {"GPU": 0.5}


def test_payload_round_trip_is_bit_exact_and_unpacks_views():
    torch.manual_seed(0)
    weights = [("a", torch.randn(3, 5)), ("b", torch.randn(7).to(torch.bfloat16)),
               ("c", torch.arange(6, dtype=torch.int64).reshape(2, 3)),
               ("d", torch.randn(4, 4).t()),  # not contiguous
               ("e", torch.zeros(0, 3))]
    payload = pack(weights, version=5)
    assert payload.version == 5 and payload.nbytes == 15 * 4 + 7 * 2 + 6 * 8 + 16 * 4
    assert [e.offset for e in payload.entries] == [0, 64, 128, 192, 256]  # 64-byte aligned
    out = unpack(payload)
    assert [n for n, _ in out] == ["a", "b", "c", "d", "e"]
    for (_, want), (_, got) in zip(weights, out):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert torch.equal(got, want)
    assert out[1][1].data_ptr() == payload.buffer.ctypes.data + 64  # a view, not a copy
    again = pack([(n, t + 1) for n, t in weights], version=6, out=payload.buffer)
    assert again.buffer is payload.buffer  # the buffer is reused when it fits
    assert torch.equal(unpack(again)[0][1], weights[0][1] + 1)
    with pytest.raises(RlfbError, match="twice"):
        pack([("a", torch.ones(1)), ("a", torch.ones(1))], 0)
    payload.buffer = payload.buffer[:200]
    with pytest.raises(RlfbError, match="'d' lies outside the buffer"):
        unpack(payload)


def test_broadcast_layout_matches_the_payload_layout():
    entries, size = layout([("a", torch.zeros(3, dtype=torch.bfloat16)),
                            ("b", torch.zeros(2, 2)), ("c", torch.zeros(1, dtype=torch.int64))])
    assert [e.offset for e in entries] == [0, 64, 128] and size == 136
    assert [e.nbytes for e in entries] == [6, 16, 8]


def test_staleness_histogram():
    assert staleness_metrics(torch.tensor([4, 4, 3, 2]), 4) == {
        "staleness/0": 2.0, "staleness/1": 1.0, "staleness/2": 1.0,
        "staleness/mean": 0.75, "staleness/max": 2.0}
    assert staleness_metrics(None, 3) == {}


def test_role_metrics_busy_deltas_survive_a_restart():
    m = RoleMetrics()
    assert m._busy("rollout", [{"busy_s": 2.0}, {"busy_s": 1.0}]) == 3.0
    assert m._busy("rollout", [{"busy_s": 2.5}, {"busy_s": 1.0}]) == 0.5
    # actor 1 restarted: its counter began again at 0 and now reads 0.25
    assert m._busy("rollout", [{"busy_s": 2.5}, {"busy_s": 0.25}]) == 0.25


def test_async_config_checks():
    """Checked once, when the config loads."""
    load_config(None, ["run.executor=ray", "ray.mode=async", "buffer.max_staleness=1",
                       "algo.tis_cap=2"])
    with pytest.warns(UserWarning, match="without importance correction"):
        load_config(None, ["run.executor=ray", "ray.mode=async", "buffer.max_staleness=null"])
    with pytest.raises(ConfigError, match="buffer.max_staleness >= 2"):
        load_config(None, ["run.executor=ray", "ray.mode=async", "ray.async_depth=2",
                           "buffer.max_staleness=1"])
    with pytest.raises(ConfigError, match="needs run.executor=ray"):
        load_config(None, ["ray.mode=async", "buffer.max_staleness=1"])
    with pytest.raises(ConfigError, match="set run.executor=ray"):
        load_config(None, ["ray.learner.count=2"])
    cfg = load_config(None, ["run.executor=ray", "ray.learner.count=2", "learner.strategy=fsdp"])
    assert (cfg.ray.learner.count, cfg.learner.strategy) == (2, "fsdp")
    with pytest.raises(ConfigError, match="data-parallel groups run the policy learner"):
        load_config(None, ["run.executor=ray", "ray.learner.count=2", "algo.name=ppo",
                           "algo.advantage=null"])
    with pytest.raises(ConfigError, match="does not shard LoRA"):
        load_config(None, ["run.executor=ray", "ray.learner.count=2", "learner.strategy=fsdp",
                           "model.lora.enabled=true"])
    with pytest.raises(ConfigError, match="learner.strategy"):
        load_config(None, ["learner.strategy=zero3"])


def test_executor_modules_import_without_ray():
    import subprocess
    import sys

    code = ("import sys, rlfb.exec.ray_executor, rlfb.trainers.async_online, rlfb.sync.base, "
            "rlfb.sync.collective, rlfb.sync.object_store; "
            "print(sorted(m for m in ('ray', 'vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
