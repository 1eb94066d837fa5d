"""ExperienceBuffer rules (masking, zero variance, staleness, FIFO, threads) and collate layout."""

from __future__ import annotations

import threading

import pytest
import torch

from rlfb.buffer import ExperienceBuffer, Group, collate, rewards_and_groups
from rlfb.errors import RlfbError
from rlfb.types import Rollout, ScoredSample


def sample(prompt_id: str, index: int, reward: float | None, *, version: int = 0,
           prompt=(1, 2), completion=(3, 4), logprobs=None) -> ScoredSample:
    completion = list(completion)
    lps = [-0.5 * (k + 1) for k in range(len(completion))] if logprobs is None else logprobs
    rollout = Rollout(prompt_id, index, list(prompt), completion, "text", lps, "stop", version)
    return ScoredSample(rollout, reference="ref", reward=reward)


def group(prompt_id: str, rewards, version: int = 0) -> list[ScoredSample]:
    return [sample(prompt_id, i, r, version=version) for i, r in enumerate(rewards)]


def test_groups_come_out_fifo_and_counts_add_up():
    buf = ExperienceBuffer()
    for k in range(3):
        assert buf.add_group(f"p{k}", group(f"p{k}", [0.0, 1.0, None]))
    assert len(buf) == 3 and buf.num_ready(0) == 3
    taken = buf.take(2, current_version=0)
    assert [g.prompt_id for g in taken] == ["p0", "p1"]
    assert [g.prompt_id for g in buf.take(5, current_version=0)] == ["p2"]
    assert buf.stats().to_dict() == {
        "groups_added": 3, "samples_added": 9, "masked_samples": 3,
        "dropped_zero_variance_groups": 0, "dropped_stale_groups": 0,
        "dropped_stale_samples": 0, "groups_taken": 3, "queue_depth": 0}


def test_zero_variance_groups_dropped_and_counted_only_when_asked():
    cases = {"equal": [1.0, 1.0, None], "one_valid": [0.5, None, None],
             "all_masked": [None, None], "signal": [0.0, 0.0, 1.0]}
    keep, drop = ExperienceBuffer(), ExperienceBuffer(drop_zero_variance=True)
    for name, rewards in cases.items():
        assert keep.add_group(name, group(name, rewards))
        assert drop.add_group(name, group(name, rewards)) == (name == "signal")
    assert keep.stats().dropped_zero_variance_groups == 0 and len(keep) == 4
    assert drop.stats().dropped_zero_variance_groups == 3 and len(drop) == 1
    assert drop.stats().masked_samples == 1 + 2 + 2  # masked samples are counted even if dropped
    assert [Group(n, group(n, r)).zero_variance() for n, r in cases.items()] == [
        True, True, True, False]


def test_stale_groups_are_dropped_at_take_and_counted():
    buf = ExperienceBuffer(max_staleness=1)
    buf.add_group("old", group("old", [0.0, 1.0], version=3))
    buf.add_group("mixed", [sample("mixed", 0, 1.0, version=4), sample("mixed", 1, 0.0,
                                                                       version=5)])
    buf.add_group("new", group("new", [0.0, 1.0], version=5))
    with pytest.raises(RlfbError, match="group 'mixed' was sampled by weight version 5"):
        buf.num_ready(4)  # a version the learner has not reached yet is a caller bug
    taken = buf.take(3, current_version=5)  # old is 2 behind; mixed counts its oldest (4)
    assert [g.prompt_id for g in taken] == ["mixed", "new"]
    st = buf.stats()
    assert (st.dropped_stale_groups, st.dropped_stale_samples, st.groups_taken) == (1, 2, 2)


def test_no_staleness_limit_and_strict_on_policy():
    unlimited = ExperienceBuffer(max_staleness=None)
    unlimited.add_group("a", group("a", [0.0, 1.0], version=0))
    assert len(unlimited.take(1, current_version=1000)) == 1
    strict = ExperienceBuffer(max_staleness=0)
    strict.add_group("a", group("a", [0.0, 1.0], version=0))
    assert strict.take(1, current_version=1) == []
    assert strict.stats().dropped_stale_groups == 1


def test_bad_input_raises():
    buf = ExperienceBuffer()
    with pytest.raises(RlfbError, match="no samples"):
        buf.add_group("a", [])
    with pytest.raises(RlfbError, match="got a sample of prompt 'b'"):
        buf.add_group("a", group("b", [1.0]))
    with pytest.raises(RlfbError, match="must give None"):
        buf.add_group("a", group("a", [float("nan")]))
    buf.add_group("a", group("a", [0.0, 1.0], version=2))
    with pytest.raises(RlfbError, match="newer than the learner's 1"):
        buf.take(1, current_version=1)
    with pytest.raises(RlfbError, match="max_staleness"):
        ExperienceBuffer(max_staleness=-1)


def test_take_waits_for_concurrent_adders():
    buf = ExperienceBuffer()
    start = threading.Barrier(3)

    def adder(prefix: str) -> None:
        start.wait()
        for k in range(50):
            buf.add_group(f"{prefix}{k}", group(f"{prefix}{k}", [0.0, 1.0]))

    threads = [threading.Thread(target=adder, args=(p,)) for p in "xy"]
    for t in threads:
        t.start()
    start.wait()
    got = []
    while len(got) < 100:
        got += buf.take(100 - len(got), current_version=0, timeout_s=10.0)
    for t in threads:
        t.join()
    ids = [g.prompt_id for g in got]
    assert sorted(ids) == sorted([f"x{k}" for k in range(50)] + [f"y{k}" for k in range(50)])
    assert [i for i in ids if i[0] == "x"] == [f"x{k}" for k in range(50)]  # per-thread FIFO
    assert buf.stats().groups_added == 100 and len(buf) == 0


def test_state_dict_round_trip():
    buf = ExperienceBuffer(drop_zero_variance=True)
    buf.add_group("a", group("a", [0.0, 1.0]))
    buf.add_group("z", group("z", [1.0, 1.0]))
    restored = ExperienceBuffer(drop_zero_variance=True)
    restored.load_state_dict(buf.state_dict())
    assert restored.stats() == buf.stats()
    assert [g.prompt_id for g in restored.take(2, 0)] == ["a"]


def test_collate_layout_written_out():
    g0 = Group("p", [
        sample("p", 0, 1.0, prompt=[5, 6, 7], completion=[8, 9], logprobs=[-0.1, -0.2],
               version=3),
        sample("p", 1, None, prompt=[5, 6, 7], completion=[10], logprobs=[-0.3], version=3),
    ])
    g1 = Group("q", [sample("q", 0, 0.0, prompt=[11], completion=[12, 13, 14],
                            logprobs=[-1.0, -2.0, -3.0], version=2)])
    batch = collate([g0, g1], advantages=[0.5, 99.0, -1.5], pad_token_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 6, 7, 10, 0], [11, 12, 13, 14, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0]]
    assert batch.loss_mask.tolist() == [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 0]]
    torch.testing.assert_close(batch.old_logprobs, torch.tensor(
        [[0, 0, 0, -0.1, -0.2], [0, 0, 0, 0, 0], [0, -1.0, -2.0, -3.0, 0]]), rtol=0, atol=1e-7)
    assert batch.advantages.tolist() == [[0, 0, 0, 0.5, 0.5], [0, 0, 0, 0, 0],
                                         [0, -1.5, -1.5, -1.5, 0]]
    assert batch.weight_versions.tolist() == [3, 3, 2]
    assert batch.ref_logprobs is None
    assert (batch.input_ids.dtype, batch.loss_mask.dtype) == (torch.long, torch.float32)


def test_collate_accepts_group_shaped_advantages_and_checks_them():
    groups = [Group("a", group("a", [0.0, 1.0])), Group("b", group("b", [1.0, 0.0]))]
    batch = collate(groups, torch.tensor([[1.0, 2.0], [3.0, 4.0]]), pad_token_id=0)
    assert batch.advantages[:, 2].tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(RlfbError, match="3 advantages for 4 samples"):
        collate(groups, [1.0, 2.0, 3.0], pad_token_id=0)
    with pytest.raises(RlfbError, match="advantage of unmasked sample 'a'#1 is nan"):
        collate(groups, [1.0, float("nan"), 0.0, 0.0], pad_token_id=0)
    bad = Group("c", [sample("c", 0, 1.0, completion=[1, 2], logprobs=[-1.0])])
    with pytest.raises(RlfbError, match="2 completion tokens but 1 logprobs"):
        collate([bad], [0.0], pad_token_id=0)


def test_rewards_and_groups_feed_the_advantage_math():
    from rlfb.algo.advantages import from_groups, grpo_advantages, to_groups

    groups = [Group("a", group("a", [1.0, 0.0, None])), Group("b", group("b", [2.0, 4.0]))]
    rewards, index = rewards_and_groups(groups)
    assert index == [0, 0, 0, 1, 1]
    assert torch.isnan(rewards[2]) and rewards[[0, 1, 3, 4]].tolist() == [1.0, 0.0, 2.0, 4.0]
    grouped = to_groups(rewards, index)
    adv = from_groups(grpo_advantages(grouped.values, mask=grouped.mask), grouped)
    # by hand: group a mean 0.5, std (Bessel) sqrt(0.5); group b mean 3, std sqrt(2)
    s_a, s_b = 0.5**0.5 + 1e-6, 2**0.5 + 1e-6
    assert adv.tolist() == pytest.approx([0.5 / s_a, -0.5 / s_a, 0.0, -1 / s_b, 1 / s_b],
                                         rel=1e-5)
    batch = collate(groups, adv, pad_token_id=0)
    assert batch.loss_mask[2].sum() == 0 and batch.advantages[4, 2] == pytest.approx(1 / s_b)
