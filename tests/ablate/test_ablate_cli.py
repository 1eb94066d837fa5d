"""`rlfb ablate` end to end on a tiny random model: 2 arms × 2 seeds, report from the runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from rlfb.ablate.runner import DONE_FILE
from rlfb.cli import main
from rlfb.run_log import read_jsonl

REPO = Path(__file__).resolve().parents[2]
DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}


def base_config() -> dict:
    """A tiny hf-engine GRPO run on the shipped hedging questions, 2 steps."""
    return {
        "run": {"steps": 2, "save_every": 1, "samples_every": 0, "progress": False,
                "tracker": "none"},
        "model": {"path": "tiny:0"},
        "data": {"source": "hf_files",
                 "options": {"files": str(REPO / "experiments/data/hedge-arith-train.jsonl"),
                             "id_field": "id", "reference_field": "answer", "limit": 40},
                 "prompts_per_step": 2, "eval_prompts": 4},
        "rollout": {"engine": "hf", "n": 2, "max_new_tokens": 6, "temperature": 1.0},
        "reward": {"name": "hedging", "options": {"verifier": "math"}},
        "algo": {"name": "grpo"},
        "learner": {"lr": 1e-3, "micro_batch_size": 4},
        "eval": {"every": 1, "verifier": "format", "verifier_options": DIGIT,
                 "hedge_detector": "phrases"},
    }


def write_sweep(tmp_path: Path, **extra) -> Path:
    sweep = {
        "name": "tiny", "base": base_config(), "output_dir": str(tmp_path / "out"),
        "seeds": [0, 1],
        "axes": {"payoff": {
            "hedging": {"reward.name": "hedging", "reward.options": {"verifier": "math"}},
            "binary": {"reward.name": "verifier",
                       "reward.options": {"verifier": "format", "options": DIGIT}}}},
        **extra,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


ARMS = ["payoff=hedging/seed=0", "payoff=hedging/seed=1",
        "payoff=binary/seed=0", "payoff=binary/seed=1"]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """The tiny sweep, run once sequentially through the CLI."""
    tmp = tmp_path_factory.mktemp("ablate")
    path = write_sweep(tmp)
    assert main(["ablate", str(path), "--mode", "sequential"]) == 0
    return path, tmp / "out"


def test_every_arm_is_a_finished_run_directory(finished_sweep):
    _, out = finished_sweep
    for arm in ARMS:
        run = out / arm
        assert (run / DONE_FILE).is_file(), arm
        records = read_jsonl(run / "metrics.jsonl")
        assert [r["step"] for r in records] == [0, 1, 2]
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["run"]["seed"] == int(arm[-1])
        assert cfg["reward"]["name"] == ("hedging" if "hedging" in arm else "verifier")
    assert (out / "report.md").is_file()
    for png in ("reward.png", "eval_accuracy.png", "hedge_rate.png", "wrong_unhedged_rate.png"):
        assert (out / png).stat().st_size > 1000, png


def _t975(df: int) -> float:
    return {1: 12.706204736174705}[df]


def test_report_cell_rederived_from_metrics(finished_sweep):
    _, out = finished_sweep
    finals = []
    for seed in (0, 1):
        records = read_jsonl(out / f"payoff=hedging/seed={seed}" / "metrics.jsonl")
        finals.append([r["eval/wrong_unhedged_rate"] for r in records
                       if r.get("eval/wrong_unhedged_rate") is not None][-1])
    mean = sum(finals) / 2
    half = _t975(1) * math.sqrt(sum((v - mean) ** 2 for v in finals) / 1) / math.sqrt(2)
    lines = (out / "report.md").read_text().splitlines()
    start = lines.index("Final values:")
    header = next(line for line in lines[start:] if line.startswith("| arm | n |"))
    row = next(line for line in lines[start:] if line.startswith("| `payoff=hedging` |"))
    col = [c.strip() for c in header.split("|")].index("held-out wrong-unhedged rate")
    assert [c.strip() for c in row.split("|")][col] == f"{mean:.3f} ± {half:.3f}"
    assert [c.strip() for c in row.split("|")][2] == "2"


def test_resume_skips_finished_arms(finished_sweep, capsys):
    path, out = finished_sweep
    marks = {arm: (out / arm / DONE_FILE).stat().st_mtime_ns for arm in ARMS}
    metrics = {arm: (out / arm / "metrics.jsonl").read_text() for arm in ARMS}
    assert main(["ablate", str(path), "--mode", "sequential", "--resume"]) == 0
    text = capsys.readouterr().out
    assert text.count("already finished, skipped") == 4
    assert "start " not in text
    for arm in ARMS:
        assert (out / arm / DONE_FILE).stat().st_mtime_ns == marks[arm]
        assert (out / arm / "metrics.jsonl").read_text() == metrics[arm]


def test_without_resume_an_existing_sweep_is_refused(finished_sweep, capsys):
    path, _ = finished_sweep
    assert main(["ablate", str(path), "--mode", "sequential"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_interrupted_arm_resumes_from_its_checkpoint(finished_sweep, tmp_path, capsys):
    path, out = finished_sweep
    # make seed=1 of the binary arm look interrupted after step 1: no marker, metrics cut
    # back to step 1, only the step-1 checkpoint left
    arm = out / "payoff=binary/seed=1"
    full = read_jsonl(arm / "metrics.jsonl")
    (arm / DONE_FILE).unlink()
    import shutil

    ckpts = sorted((arm / "checkpoints").iterdir())
    for c in ckpts[1:]:
        shutil.rmtree(c)
    assert main(["ablate", str(path), "--mode", "sequential", "--resume"]) == 0
    text = capsys.readouterr().out
    assert "payoff=binary/seed=1: done in" in text and "(resumed)" in text
    assert text.count("already finished, skipped") == 3
    assert json.loads((arm / DONE_FILE).read_text())["resumed"] is True
    again = read_jsonl(arm / "metrics.jsonl")
    assert [r["step"] for r in again] == [0, 1, 2]
    skip = ("time/", "perf/", "learner/update_s")
    def det(records):
        return [{k: v for k, v in r.items() if not k.startswith(skip)} for r in records]

    assert det(again) == det(full)


def test_resume_refuses_an_arm_whose_config_changed(finished_sweep, capsys):
    path, _ = finished_sweep
    changed = yaml.safe_load(path.read_text())
    changed["base"]["learner"]["lr"] = 5e-4
    other = path.with_name("changed.yaml")
    other.write_text(yaml.safe_dump(changed, sort_keys=False))
    assert main(["ablate", str(other), "--mode", "sequential", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "ran with another config (learner.lr differs)" in err and err.count("\n") == 1


def test_report_only_rewrites_the_same_report(finished_sweep):
    path, out = finished_sweep
    before = (out / "report.md").read_text()
    (out / "report.md").unlink()
    assert main(["ablate", str(path), "--report-only"]) == 0
    assert (out / "report.md").read_text() == before
