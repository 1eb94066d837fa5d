"""`run.tracker`: a tiny training run logs the same scalars to W&B (offline, no network) as to
metrics.jsonl; `none` writes no tracker files; an unknown name is one config error."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from rlfb.config import load_config
from rlfb.run_log import read_jsonl

DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}


def tiny_run(out: Path, *overrides: str) -> Path:
    """Two steps of the tiny seeded GRPO run of the loop tests (one evaluation at the end)."""
    from rlfb.trainers import make_trainer
    cfg = load_config(None, [
        f"run.output_dir={out}", "run.name=tiny-tracker", "run.steps=2", "run.seed=0",
        "run.save_every=0", "run.samples_every=0", "run.progress=false", "model.path=tiny:0",
        "data.source=reasoning_gym", "data.options={task: basic_arithmetic, size: 50, seed: 0}",
        "data.prompts_per_step=2", "data.eval_prompts=4", "rollout.engine=hf", "rollout.n=2",
        "rollout.max_new_tokens=8", "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "eval.every=2", "eval.verifier=format", f"eval.verifier_options={json.dumps(DIGIT)}",
        *overrides])
    trainer = make_trainer(cfg)
    try:
        return trainer.run()
    finally:
        trainer.close()


def wandb_records(path: Path) -> list:
    """The protobuf records of a W&B run file (`.wandb`: a 7-byte header, then LevelDB-style
    32 KiB blocks of records, each with a 7-byte header: crc32, length, type)."""
    from wandb.proto import wandb_internal_pb2

    raw, block, pos = path.read_bytes(), 32768, 7
    assert raw[:4] == b":W&B", raw[:7]
    payloads, part = [], b""
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # the rest of a block too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        part += raw[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: the record is complete
            payloads.append(part)
            part = b""
    records = []
    for payload in payloads:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def test_wandb_offline_run_holds_the_logged_metrics(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra is not installed (pip install "
                        "'rlfb[wandb]'; the test extra includes it)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_PROJECT", "rlfb-test")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    (tmp_path / "wandb-home").mkdir()
    run_dir = tiny_run(tmp_path / "run", "run.tracker=wandb")

    assert not (run_dir / "tb").exists()  # W&B replaces TensorBoard, it does not add to it
    run_id = (run_dir / "wandb-run-id").read_text().strip()
    files = list((tmp_path / "wandb-home").glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 1, files
    records = wandb_records(files[0])
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.project == "rlfb-test" and run.display_name == "tiny-tracker"
    history = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            # a flat key comes as ``key`` or as a one-part ``nested_key``
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
                     for i in r.history.item}
            history[items.pop("_step")] = items
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert sorted(history) == [m["step"] for m in metrics] == [0, 1, 2]
    for m in metrics:
        logged = history[m["step"]]
        numeric = {k: v for k, v in m.items() if k != "step" and isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        assert numeric and "eval/accuracy" in history[0] and "reward/mean" in history[1]
        assert {k: logged[k] for k in numeric} == pytest.approx(numeric, rel=1e-12)
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["run"]["tracker"] == "wandb" and config["rollout"]["n"] == 2


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)  # default: inside the run directory
    run = tmp_path / "run"
    tiny_run(run, "run.tracker=wandb", "run.steps=1", "run.save_every=1", "eval.every=0")
    run_id = (run / "wandb-run-id").read_text().strip()
    tiny_run(run, "run.tracker=wandb", "run.save_every=1", "eval.every=0", f"run.resume={run}")
    assert (run / "wandb-run-id").read_text().strip() == run_id
    files = sorted(run.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb"))
    steps = []
    for path in files:
        for r in wandb_records(path):
            if r.WhichOneof("record_type") == "history":
                steps += [json.loads(i.value_json) for i in r.history.item
                          if (i.key or "/".join(i.nested_key)) == "_step"]
    assert steps == [1, 2]  # one W&B run id; the resumed part logs only the new step


def test_tracker_none_writes_no_tracker_files(tmp_path):
    run_dir = tiny_run(tmp_path / "run", "run.tracker=none", "eval.every=0")
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [1, 2]
    assert not (run_dir / "tb").exists() and not (run_dir / "wandb").exists()
    assert not (run_dir / "wandb-run-id").exists()


def test_unknown_tracker_is_one_config_error():
    from rlfb.errors import ConfigError

    with pytest.raises(ConfigError, match=r"run.tracker must be one of 'tensorboard', 'wandb', "
                                          r"'none'; got 'mlflow'"):
        load_config(None, ["run.tracker=mlflow"])


def test_a_resumed_wandb_part_never_reuses_the_last_parts_directory(tmp_path):
    """W&B names a part's directory by its start second: a resume within the second of the last
    part (CI once lost the resumed history that way) waits for the next second first."""
    from datetime import datetime

    from rlfb.trackers import wait_for_a_new_part_dir

    second = datetime.now().strftime("%Y%m%d_%H%M%S")
    (tmp_path / f"offline-run-{second}-abc123").mkdir()
    (tmp_path / f"offline-run-{second}-other").mkdir()  # another run's part: no reason to wait
    wait_for_a_new_part_dir(tmp_path, "abc123")
    assert datetime.now().strftime("%Y%m%d_%H%M%S") != second
