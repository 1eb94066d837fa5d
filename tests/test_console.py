"""The console of `rlfb train`: a start line, one progress bar, the results at the end; library
warnings and output go to RUN_DIR/logs/, a repeated warning shown once with its count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# vLLM's CPU worker logs this on every torch.set_num_threads call (about 250 times in
# `make demo`); here an hf-engine run logs it on each generate call through a logger set up the
# way vLLM sets up its own (a stream handler on stdout, no propagation), and a library prints.
LIBRARY_NOISE = '''
import logging, sys
vllm_log = logging.getLogger("vllm.v1.worker.cpu_worker")
vllm_log.addHandler(logging.StreamHandler(sys.stdout))
vllm_log.propagate = False
from rlfb.rollout import hf_engine
generate = hf_engine.HFEngine.generate
def noisy_generate(self, *args, **kwargs):
    vllm_log.warning("CPU backend doesn't allow to use `torch.set_num_threads` after the "
                     "thread binding, skip it.")
    print("noise printed by a library")
    return generate(self, *args, **kwargs)
hf_engine.HFEngine.generate = noisy_generate
from rlfb.cli import main
sys.exit(main(sys.argv[1:]))
'''
WARNING = "CPU backend doesn't allow to use `torch.set_num_threads`"
QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"


def rlfb_train(run: Path, *extra: str) -> subprocess.CompletedProcess:
    """`rlfb train` of the quickstart config shrunk to 2 tiny-model steps, local and hf (eval
    before and after: 4 generate calls)."""
    return subprocess.run(
        [sys.executable, "-c", LIBRARY_NOISE, "train", str(QUICKSTART), "model.path=tiny:0",
         "executor=local", "rollout.engine=hf", "rollout.engine_options={}", "run.steps=2",
         "run.save_every=2", "data.prompts_per_step=2", "data.eval_prompts=4", "rollout.n=2",
         "rollout.max_new_tokens=8", "eval.every=2", f"run.output_dir={run}", *extra],
        capture_output=True, text=True, timeout=600)


def lines(text: str) -> list[str]:
    """Console lines, progress-bar redraws split out."""
    return [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]


def test_train_console_is_quiet_and_ends_with_the_results(tmp_path):
    run = tmp_path / "run"
    proc = rlfb_train(run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = lines(proc.stdout + proc.stderr)
    assert console[0] == (f"rlfb train: model tiny:0 · grpo · executor local (hf engine) · 2 "
                          f"steps · run {run}")
    # the repeated warning: once, with its count; the full records in the run's logs
    assert sum(WARNING in line for line in console) == 1, console
    assert any(line.startswith("4x vllm: CPU backend doesn't allow") for line in console)
    logged = (run / "logs" / "libraries.log").read_text()
    assert logged.count(f"WARNING vllm.v1.worker.cpu_worker: {WARNING} after the thread "
                        "binding, skip it.") == 4
    # what libraries print, and their loading / checkpoint-writing bars, stay off the console
    assert "noise printed by a library" not in proc.stdout + proc.stderr
    assert (run / "logs" / "output.log").read_text().count("noise printed by a library") == 4
    assert not any("Loading weights" in line or "Writing model" in line for line in console)
    # one bar: every bar line is the run's, showing reward and step time
    bars = [line for line in console if "step/s" in line or "s/step" in line]
    assert bars and all(line.startswith("quickstart:") for line in bars)
    assert "reward=" in bars[-1] and "step_s=" in bars[-1] and "2/2" in bars[-1]
    # the end: the held-out result, the report, the wall time
    assert console[-3].startswith("held-out accuracy: ") and "(step 0 -> 2)" in console[-3]
    assert console[-2] == f"report: {run / 'report.md'}"
    assert console[-1].startswith("wall time: ") and f"{run / 'logs'}/" in console[-1]
    assert console[-4].startswith("train reward: ") and "(step 1 -> 2)" in console[-4]


def test_verbose_shows_library_output_and_a_repeated_warning_once(tmp_path):
    run = tmp_path / "run"
    proc = rlfb_train(run, "-v")
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = lines(proc.stdout + proc.stderr)
    assert sum(WARNING in line for line in console) == 2, console  # as it came, and the count
    assert f"[vllm] {WARNING} after the thread binding, skip it." in console
    assert console.count("noise printed by a library") == 4
    assert console[-2] == f"report: {run / 'report.md'}"


def test_warning_summary_counts_and_clips():
    from rlfb.console import Console, SUMMARY_LINES

    console = Console("/nonexistent")
    for i in range(SUMMARY_LINES + 2):
        for _ in range(i + 1):
            console.count("lib", f"message {i} " + "x" * 200)
    summary = console.warning_summary()
    total = sum(range(1, SUMMARY_LINES + 3))
    assert summary[0].startswith(f"library warnings: {total} ({SUMMARY_LINES + 2} distinct)")
    assert summary[1].startswith(f"  {SUMMARY_LINES + 2}x lib: message {SUMMARY_LINES + 1} ")
    assert all(len(line) <= 110 for line in summary)
    assert summary[-1] == "  ... and 2 more" and len(summary) == SUMMARY_LINES + 2


def test_warning_lines_libraries_format_themselves_are_counted():
    from rlfb.console import Console

    console = Console("/nonexistent")
    console.count_lines(
        "(EngineHost pid=7) WARNING 12-07 17:30:01 [cpu_worker.py:141] CPU backend doesn't "
        "allow to use `torch.set_num_threads`\n" * 3
        + "2026-12-07 17:27:49,391\tWARNING authentication_token_setup.py:85 -- Token "
        "authentication is enabled\nINFO 12-07 17:30:02 [llm.py:9] not a warning\n"
        "2026-12-07 17:27:56,151\tINFO worker.py:2038 -- Started a local Ray instance.\n")
    assert console.counts == {
        ("vllm", "CPU backend doesn't allow to use `torch.set_num_threads`"): 3,
        ("ray", "Token authentication is enabled"): 1}


@pytest.mark.parametrize("seconds, text", [(4.24, "4.2s"), (123, "2m 03s"), (3723, "1h 02m 03s")])
def test_format_seconds(seconds, text):
    from rlfb.console import format_seconds

    assert format_seconds(seconds) == text


def test_an_offline_start_line_names_its_files_and_epochs_not_an_engine():
    from rlfb.config import load_config
    from rlfb.console import start_line

    cfg = load_config(None, ["algo.name=sft", "model.path=tiny:0", "offline.files=[sft.jsonl]",
                             "offline.epochs=2", "offline.batch_size=16", "run.output_dir=out"])
    assert start_line("train", cfg) == ("rlfb train: model tiny:0 · sft · sft.jsonl · 2 epoch(s) "
                                        "of 16-row batches · run out")
    cfg = load_config(None, ["algo.name=sft", "model.path=tiny:0", "offline.files=[a.jsonl]",
                             "run.steps=7", "run.output_dir=out"])
    assert " · 7 steps of " in start_line("train", cfg)
