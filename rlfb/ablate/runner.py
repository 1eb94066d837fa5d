"""Running a sweep's arms: one arm = one normal training run, skipped when finished, resumed
from its checkpoint when interrupted; arms run in this process one after another, or as Ray
tasks (one fresh worker process per arm) with at most ``max_parallel`` at a time.

An arm is finished when its run directory holds `DONE_FILE`, written after its last step and its
run report. Progress: a line when an arm starts and when it finishes (step, reward, held-out
accuracy, wall time, ETA of the sweep); under Ray, a status line per running arm every
``poll_s`` seconds read from its ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rlfb.errors import RlfbError
from rlfb.exec.ray_join import join_cluster

DONE_FILE = "ablate_done.json"
LOG_FILE = "ablate.log"


def is_done(run_dir: str | Path) -> bool:
    """True when the arm in ``run_dir`` finished (its `DONE_FILE` exists)."""
    return (Path(run_dir) / DONE_FILE).is_file()


def last_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The arm's latest step, training reward and held-out accuracy so far (from
    ``metrics.jsonl``; empty when it has none yet)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return {}
    out: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line being written right now
            continue
        out["step"] = rec.get("step", out.get("step"))
        for key in ("reward/mean", "eval/accuracy"):
            if rec.get(key) is not None:
                out[key] = rec[key]
    return out


def run_arm(cfg_data: dict[str, Any], log_to_file: bool = False) -> dict[str, Any]:
    """Train one arm from its plain config data (resuming from its latest checkpoint if it has
    one), write its run report and `DONE_FILE`; returns the done record. A finished arm is not
    run again: its record is returned with ``skipped: True``."""
    run_dir = Path(cfg_data["run"]["output_dir"])
    if is_done(run_dir):
        return {**json.loads((run_dir / DONE_FILE).read_text()), "skipped": True}
    run_dir.mkdir(parents=True, exist_ok=True)
    if log_to_file:  # a Ray worker of its own: the run's output (vLLM included) goes to a file
        fd = os.open(run_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    return _train(cfg_data, run_dir)


def _train(cfg_data: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from rlfb.checkpoint import latest_checkpoint
    from rlfb.config import config_from_dict
    from rlfb.trainers import train

    resumed = latest_checkpoint(run_dir) is not None
    data = {**cfg_data, "run": {**cfg_data["run"], "resume": str(run_dir) if resumed else None}}
    cfg = config_from_dict(data)
    start = time.time()
    train(cfg)
    record = {"arm": cfg.run.name, "run_dir": str(run_dir), "resumed": resumed,
              "pid": os.getpid(),
              "wall_s": round(time.time() - start, 1),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              **last_metrics(run_dir)}
    (run_dir / DONE_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return {**record, "skipped": False}


@dataclass
class Progress:
    """Prints a line per arm event and estimates the time left."""

    total: int
    parallel: int
    out: Any = field(default_factory=lambda: sys.stdout)
    done: int = 0
    walls: list[float] = field(default_factory=list)

    def say(self, text: str) -> None:
        """Print one line now."""
        print(text, file=self.out, flush=True)

    def finished(self, name: str, record: dict[str, Any], steps: int) -> None:
        """An arm finished (or was skipped as already finished)."""
        self.done += 1
        if not record.get("skipped"):
            self.walls.append(float(record.get("wall_s", 0.0)))
        left = self.total - self.done
        rounds = -(-left // self.parallel)  # arms left, run `parallel` at a time
        eta = sum(self.walls) / len(self.walls) * rounds if self.walls else None
        if record.get("skipped"):
            what = "already finished, skipped"
        else:
            what = f"done in {record.get('wall_s', 0):.0f} s"
            what += " (resumed)" if record.get("resumed") else ""
        self.say(f"[{self.done}/{self.total}] {name}: {what}; step {record.get('step')}/{steps}, "
                 f"reward {_num(record.get('reward/mean'))}, held-out acc "
                 f"{_num(record.get('eval/accuracy'))}"
                 + (f"; eta {eta / 60:.1f} min" if eta is not None and left else ""))

    def failed(self, name: str, error: str) -> None:
        """An arm raised."""
        self.done += 1
        self.say(f"[{self.done}/{self.total}] {name}: FAILED: {error}")

    def running(self, name: str, run_dir: Path, steps: int, since: float) -> None:
        """A status line for an arm still running."""
        m = last_metrics(run_dir)
        self.say(f"    running {name}: step {m.get('step', '-')}/{steps}, reward "
                 f"{_num(m.get('reward/mean'))}, {time.time() - since:.0f} s")


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


@dataclass(frozen=True)
class Job:
    """One arm to run: its name, config data, run directory and step count."""

    name: str
    cfg_data: dict[str, Any]
    run_dir: Path
    steps: int


def run_sequential(jobs: Sequence[Job], progress: Progress) -> dict[str, str]:
    """Run ``jobs`` one after another in this process; returns ``{arm: error}`` of failures."""
    failures: dict[str, str] = {}
    for job in jobs:
        if not is_done(job.run_dir):
            progress.say(f"start {job.name} -> {job.run_dir}")
        try:
            progress.finished(job.name, run_arm(job.cfg_data), job.steps)
        except Exception as exc:  # one arm failing does not stop the others
            failures[job.name] = f"{type(exc).__name__}: {exc}"
            progress.failed(job.name, failures[job.name])
    return failures


def run_ray(jobs: Sequence[Job], progress: Progress, max_parallel: int, num_cpus: float,
            address: str | None, poll_s: float = 60.0, num_gpus: float = 0.0) -> dict[str, str]:
    """Run ``jobs`` as Ray tasks (``num_cpus`` CPUs and ``num_gpus`` GPUs each, a fresh worker
    per arm), at most ``max_parallel`` at a time; joins ``address`` or starts a local Ray sized
    for them. Ray shows an arm only the GPUs it reserved (none by default), so a learner with
    ``learner.device: auto`` trains on its arm's GPU or on the CPU."""
    import ray

    started = False
    if not ray.is_initialized():
        if address:
            join_cluster(address, log_to_driver=False)  # token authentication as Ray's docs
        else:
            # Ray starts task workers at niceness 15 by default; an arm is the whole job here,
            # so on a busy machine it would starve behind every other process
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address="local", num_cpus=max(1, int(max_parallel * num_cpus + 0.999)),
                     include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if num_gpus > gpus:
            raise RlfbError(f"num_gpus_per_arm is {num_gpus:g} but the Ray cluster has {gpus:g} "
                            "GPUs; lower it or run on a cluster with GPUs")
        task = ray.remote(max_calls=1)(run_arm).options(num_cpus=num_cpus, num_gpus=num_gpus)
        return _schedule(ray, task, jobs, progress, max_parallel, poll_s)
    finally:
        if started:
            ray.shutdown()


def _schedule(ray: Any, task: Any, jobs: Sequence[Job], progress: Progress, max_parallel: int,
              poll_s: float) -> dict[str, str]:
    queue, running, failures = list(jobs), {}, {}
    last_poll = time.time()
    while queue or running:
        while queue and len(running) < max_parallel:
            job = queue.pop(0)
            if is_done(job.run_dir):
                progress.finished(job.name, run_arm(job.cfg_data), job.steps)
                continue
            progress.say(f"start {job.name} -> {job.run_dir} (log: {job.run_dir / LOG_FILE})")
            running[task.remote(job.cfg_data, True)] = (job, time.time())
        if not running:
            break
        ready, _ = ray.wait(list(running), num_returns=1, timeout=min(poll_s, 5.0))
        for ref in ready:
            job, _since = running.pop(ref)
            try:
                progress.finished(job.name, ray.get(ref), job.steps)
            except Exception as exc:  # a RayTaskError wraps the arm's exception
                failures[job.name] = _short(exc)
                progress.failed(job.name, failures[job.name] + f" (see {job.run_dir / LOG_FILE})")
        if running and time.time() - last_poll >= poll_s:
            last_poll = time.time()
            for job, since in running.values():
                progress.running(job.name, job.run_dir, job.steps, since)
    return failures


def _short(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[-1] if text else ''}"

