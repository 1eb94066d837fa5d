"""The GPU check: one command for anyone with an NVIDIA GPU.

    .venv/bin/python experiments/bench/gpu_check.py                  # SmolLM2-135M-Instruct
    .venv/bin/python experiments/bench/gpu_check.py --model tiny      # a tiny model, minutes less

Without CUDA it prints one line and exits with status 2. With CUDA it runs, in order:

1. **sync**: in this process, a learner on ``cuda`` with ``learner.dtype=bfloat16`` takes one
   large step (lr 1e-3, every sample's advantage +1, so that stale weights would be visibly off)
   on the samples a bfloat16 vLLM engine on the same GPU drew; its weights go to the engine
   (``update_weights``); the engine samples again. Asserts that the engine's logprobs agree
   with the learner's weights run in bfloat16 by transformers (mean and max |Δ| within the
   bfloat16 tolerances below), and that they are further from the weights before the step
   (the check can fail). Prints the sync time against a device-to-device copy of the same
   bytes.
2. **quickstart**: ``rlfb train experiments/quickstart.yaml`` for ``--steps`` steps on Ray, with
   the CUDA bfloat16 learner and the GPU vLLM engine. With two GPUs or more the learner and the
   engine get one each and the weights go over NCCL (``ray.weight_sync=collective``,
   ``ray.collective_backend=nccl``); on one GPU they share it (fractions 0.6 / 0.4) and the
   sync goes through the object store, since NCCL cannot join two ranks on one device. Prints
   the median step and sync times, and a device-to-device copy of ``sync/bytes``.
3. **colocated**: the same, one GPU for both, ``rollout.colocate=true`` (vLLM sleep mode: the
   engine sleeps during each update).
4. **fsdp** (two GPUs or more): ``ray.learner.count=2 learner.strategy=fsdp``, one rank per GPU,
   the engine beside rank 0.

Every part prints one line ``PASS``/``FAIL``/``SKIP``; the exit status is 1 when any failed.
Runs write under ``--out`` (default ``runs/gpu-check``). Record the figures with the card's name
in docs/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "experiments" / "quickstart.yaml"

#: vLLM bfloat16 against transformers bfloat16 on the same weights: different kernels round
#: differently (bf16 keeps 8 mantissa bits, ~0.4% per operation), so single tokens can differ by
#: a few tenths of a nat while the mean stays small.
BF16_MEAN_ATOL = 0.05
BF16_MAX_ATOL = 1.0
#: float32 on both sides (the CPU run of the same check, tests/test_gpu_check.py).
FP32_MEAN_ATOL = 1e-5
FP32_MAX_ATOL = 1e-4

QUESTIONS = [f"What is {a} + {b}? Give only the final number inside <answer></answer> tags."
             for a, b in [(2, 3), (17, 25), (40, 2), (9, 9), (12, 77), (6, 15), (31, 11), (58, 4)]]


@dataclass
class SyncResult:
    """What the sync check measured: logprob gaps (mean, max |Δ| over completion tokens) of
    the engine against the updated and the initial weights, bytes and seconds."""

    mean_gap: float
    max_gap: float
    stale_mean_gap: float
    nbytes: int
    sync_s: float
    copy_s: float | None
    tokens: int

    def problems(self, mean_atol: float, max_atol: float) -> list[str]:
        """What is wrong with these figures (empty: the check passed)."""
        out = []
        if not self.mean_gap < mean_atol:
            out.append(f"mean |engine - learner| logprob {self.mean_gap:.3g} >= {mean_atol}")
        if not self.max_gap < max_atol:
            out.append(f"max |engine - learner| logprob {self.max_gap:.3g} >= {max_atol}")
        if not self.stale_mean_gap > 2 * self.mean_gap:
            out.append(f"the engine is as close to the old weights ({self.stale_mean_gap:.3g}) "
                       f"as to the new ({self.mean_gap:.3g}): the sync did not take")
        return out


def cuda_problem() -> str | None:
    """Why this machine cannot run the check (None when it can)."""
    import torch

    if not torch.cuda.is_available():
        return ("no CUDA device (torch.cuda.is_available() is False); run this on a machine "
                "with an NVIDIA GPU and a CUDA build of torch and vllm")
    return None


def copy_seconds(nbytes: int, device: str, repeats: int = 5) -> float:
    """Median seconds of one device-to-device copy of ``nbytes`` bytes on ``device``."""
    import torch

    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        dst.copy_(src)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def learner_overrides(device: str, dtype: str) -> list[str]:
    """The config overrides that put the learner on ``device`` in ``dtype``."""
    return [f"learner.device={device}", f"learner.dtype={dtype}"]


def sync_check(model: str, out: Path, *, device: str, dtype: str, learner: list[str],
               engine_options: dict[str, Any] | None = None) -> SyncResult:
    """Part 1 (module docstring): update, sync, compare the engine with the learner.

    ``device`` and ``dtype`` are where and how the comparison model and the engine run;
    ``learner`` the config overrides that place the learner (`learner_overrides`; none: the
    config's defaults, float32 on the CPU without a GPU)."""
    import torch

    from rlfb.buffer import Group, collate
    from rlfb.config import load_config
    from rlfb.models.load import load_policy
    from rlfb.rollout import get_engine
    from rlfb.rollout.settings import engine_options as options_of
    from rlfb.run import learner_factory, resolve_model
    from rlfb.types import Prompt, SamplingParams, ScoredSample

    cfg = load_config(QUICKSTART, [
        f"model.path={model}", "run.executor=local", f"run.output_dir={out}", "learner.lr=1e-3",
        *learner])
    model_path = resolve_model(cfg.model.path, out)
    learner = learner_factory(cfg, model_path)()
    engine = get_engine("vllm", model_path, **{**options_of(cfg), "dtype": dtype,
                                               **(engine_options or {})})
    try:
        prompts = [Prompt(f"q{i}", ({"role": "user", "content": q},))
                   for i, q in enumerate(QUESTIONS)]
        sampling = SamplingParams(n=4, max_new_tokens=32, temperature=1.0, seed=0)
        first = engine.generate(prompts, sampling)
        # Every sample counts with advantage +1 (no judge: a sync check needs a step, not a
        # reward): the step raises the likelihood of what was sampled.
        scored = [ScoredSample(r, None, 1.0) for r in first]
        groups = [Group(p.prompt_id, [s for s in scored if s.rollout.prompt_id == p.prompt_id])
                  for p in prompts]
        pad = int(engine.tokenizer.pad_token_id)
        learner.update(collate(groups, torch.ones(len(scored)), pad_token_id=pad))
        weights = list(learner.named_weights())
        nbytes = sum(t.numel() * t.element_size() for _, t in weights)
        _synchronize(device)
        start = time.perf_counter()
        engine.update_weights(weights, learner.version)
        _synchronize(device)
        sync_s = time.perf_counter() - start
        second = engine.generate(prompts, sampling)
    finally:
        engine.close()
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    old = load_policy(model_path, dtype=torch_dtype)[0].to(device)
    new = load_policy(model_path, dtype=torch_dtype)[0]
    new.load_state_dict(dict(weights), strict=False)
    new = new.to(device)
    gaps, stale = _gaps(new, second), _gaps(old, second)
    return SyncResult(mean_gap=statistics.fmean(gaps), max_gap=max(gaps),
                      stale_mean_gap=statistics.fmean(stale), nbytes=nbytes, sync_s=sync_s,
                      copy_s=copy_seconds(nbytes, device) if device.startswith("cuda") else None,
                      tokens=len(gaps))


def _gaps(model: Any, rollouts: list[Any]) -> list[float]:
    """|engine logprob - model logprob| of every completion token of ``rollouts``."""
    import torch

    from rlfb.learner.logprobs import rollout_logprobs

    out: list[float] = []
    for r, learner in zip(rollouts, rollout_logprobs(model, rollouts)):
        out += (torch.tensor(r.logprobs) - learner).abs().tolist()
    return out


def run_overrides(gpus: int, part: str) -> list[str]:
    """The ``rlfb train`` overrides of a Ray run (parts 2-4) on ``gpus`` GPUs."""
    common = ["rollout.engine_options.dtype=bfloat16", "rollout.gpu_memory_utilization=0.3",
              *learner_overrides("cuda", "bfloat16"), "eval.every=0", "run.save_every=0"]
    if part == "quickstart" and gpus >= 2:
        return [*common, "ray.learner.num_gpus=1", "ray.rollout.num_gpus=1",
                "ray.weight_sync=collective", "ray.collective_backend=nccl"]
    if part == "quickstart":
        return [*common, "ray.learner.num_gpus=0.6", "ray.rollout.num_gpus=0.4"]
    if part == "colocated":
        return [*common, "ray.learner.num_gpus=0.6", "ray.rollout.num_gpus=0.4",
                "rollout.colocate=true"]
    if part == "fsdp":
        # 0.6 + 0.6 > 1: the two ranks land on different GPUs; the engine joins rank 0's.
        return [*common, "ray.learner.count=2", "learner.strategy=fsdp",
                "ray.learner.num_gpus=0.6", "ray.rollout.num_gpus=0.4"]
    raise ValueError(f"unknown part {part!r}")


def train_run(model: str, steps: int, out: Path, overrides: list[str]) -> dict[str, float]:
    """``rlfb train`` the quickstart; returns median step and sync seconds and sync bytes."""
    cmd = [sys.executable, "-m", "rlfb.cli", "train", str(QUICKSTART), f"model.path={model}",
           f"run.steps={steps}", f"run.output_dir={out}", "run.progress=false", *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"rlfb train exited {done.returncode}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
               if line.strip()]

    def median(key: str) -> float:
        values = [r[key] for r in records if key in r]
        return statistics.median(values) if values else float("nan")

    return {"step_s": median("time/step"), "sync_s": median("time/sync"),
            "sync_bytes": median("sync/bytes"), "update_s": median("time/update")}


def sync_part(model: str, out: Path) -> bool:
    """Part 1 on CUDA in bfloat16; prints its line and returns whether it passed."""
    try:
        r = sync_check(model, out, device="cuda", dtype="bfloat16",
                       learner=learner_overrides("cuda", "bfloat16"),
                       engine_options={"gpu_memory_utilization": 0.3})
    except Exception as exc:  # noqa: BLE001 - one line, and the other parts still run
        _line("sync", "FAIL", f"{type(exc).__name__}: {exc}")
        return False
    problems = r.problems(BF16_MEAN_ATOL, BF16_MAX_ATOL)
    _line("sync", "FAIL" if problems else "PASS",
          f"{r.tokens} tokens: |Δlogprob| mean {r.mean_gap:.4f} max {r.max_gap:.3f} "
          f"(old weights: mean {r.stale_mean_gap:.4f}) · {r.nbytes / 2**20:.0f} MiB in "
          f"{r.sync_s * 1e3:.1f} ms, device copy {(r.copy_s or 0.0) * 1e3:.2f} ms"
          + (f" · {'; '.join(problems)}" if problems else ""))
    return not problems


def _line(part: str, status: str, text: str) -> None:
    print(f"{part:<11} {status:<4} {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="smollm2-135m-instruct (default), tiny, or a model folder")
    parser.add_argument("--steps", type=int, default=4, help="training steps per run")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--part", choices=["sync"], help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    problem = cuda_problem()
    if problem:
        print(f"gpu_check: {problem}", file=sys.stderr)
        return 2
    if args.part == "sync":
        return 0 if sync_part(args.model, args.out / "sync") else 1
    import torch
    import vllm

    gpus = torch.cuda.device_count()
    print(f"gpu_check: {gpus} x {torch.cuda.get_device_name(0)} · torch {torch.__version__} · "
          f"vllm {vllm.__version__} · model {args.model}", flush=True)
    # The sync part runs in its own process, so that the GPU memory of its in-process engine
    # and learner is free again for the Ray runs.
    done = subprocess.run([sys.executable, __file__, "--part", "sync", "--model", args.model,
                           "--out", str(args.out)])
    failed = done.returncode != 0
    if done.returncode not in (0, 1):
        _line("sync", "FAIL", f"the sync process exited with status {done.returncode}")
    parts = ["quickstart", "colocated"] + (["fsdp"] if gpus >= 2 else [])
    for part in parts:
        try:
            m = train_run(args.model, args.steps, args.out / part, run_overrides(gpus, part))
            copy = copy_seconds(int(m["sync_bytes"]), "cuda") if m["sync_bytes"] > 0 else 0.0
            torch.cuda.empty_cache()
            _line(part, "PASS", f"step {m['step_s']:.2f} s (update {m['update_s']:.2f} s) · "
                  f"sync {m['sync_s'] * 1e3:.1f} ms for {m['sync_bytes'] / 2**20:.0f} MiB, "
                  f"device copy {copy * 1e3:.2f} ms")
        except Exception as exc:  # noqa: BLE001
            failed = True
            _line(part, "FAIL", f"{type(exc).__name__}: {exc}")
    if gpus < 2:
        _line("fsdp", "SKIP", "2-rank FSDP2 needs 2 GPUs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
