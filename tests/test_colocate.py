"""rollout.colocate on CPU: the engine sleeps during every learner update and wakes before the
weight sync, in the local executor (a fake engine records the calls) and in the Ray executor
(its update with the actor calls replaced)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from rlfb.config import load_config
from rlfb.errors import ConfigError


class Recorder:
    """A fake engine and learner that write what is called, in order, to one list."""

    calls: list[str] = []

    def __init__(self, model_path: str = "", **_: object) -> None:
        self.version = 0

    # engine side
    def sleep(self) -> None:
        self.calls.append("engine.sleep")

    def wake_up(self) -> None:
        self.calls.append("engine.wake_up")

    def update_weights(self, named_tensors, version: int) -> None:
        list(named_tensors)
        self.calls.append("engine.update_weights")

    def close(self) -> None:
        self.calls.append("engine.close")

    # learner side
    def update(self, batch) -> dict[str, float]:
        self.calls.append("learner.update")
        self.version += 1
        return {}

    def named_weights(self):
        yield "w", torch.zeros(2)


@pytest.mark.parametrize("colocate", [True, False])
def test_colocated_engine_sleeps_during_the_update(colocate):
    from rlfb.exec.local import LocalExecutor
    from rlfb.rollout import ENGINES

    if "test_recorder" not in ENGINES:
        ENGINES.register("test_recorder", Recorder)
    Recorder.calls = []
    ex = LocalExecutor(model_path="", engine="test_recorder", engine_options={},
                       reward="verifier", reward_options={"verifier": "math"},
                       learner_factory=Recorder, sleep_engine=colocate)
    ex.update(None)
    ex.sync_weights()
    update = ["learner.update", "engine.update_weights"]
    assert Recorder.calls == (["engine.sleep", "learner.update", "engine.wake_up",
                               "engine.update_weights"] if colocate else update)


def test_ray_executor_sleeps_every_engine_around_the_update():
    from rlfb.exec.ray_executor import RayExecutor

    calls: list[str] = []
    ex = object.__new__(RayExecutor)  # no Ray: the actor calls are replaced below
    ex.sleep_engines, ex._version = True, 0
    ex._engines_call = lambda method: calls.append(f"engines.{method}")
    replies = {"update": {"learner/loss": 0.5}, "version": 1}
    ex._learner_call = lambda method, *args: calls.append(f"learner.{method}") or replies[method]
    assert ex.update(SimpleNamespace(weight_versions=None))["learner/loss"] == 0.5
    assert calls == ["engines.sleep", "learner.update", "engines.wake_up", "learner.version"]


def test_colocate_refuses_async_ray():
    from rlfb.exec.ray_executor import RayExecutor

    cfg = load_config(None, ["run.executor=ray", "ray.mode=async", "buffer.max_staleness=1",
                             "rollout.engine=vllm", "rollout.colocate=true"])
    with pytest.raises(ConfigError, match="use ray.mode=sync"):
        RayExecutor(engine_factory=None, scorer_factory=None, learner_factory=None,
                    ray_cfg=cfg.ray, sleep_engines=True)
