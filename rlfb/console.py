"""The terminal of `rlfb train`, `rlfb ablate` and `rlfb eval`: rlfb's own lines, one progress
bar, and library noise kept in ``RUN_DIR/logs/`` instead.

While a `Console` is open:

- log records of every library (vLLM, Ray, transformers, torch ...) go to
  ``logs/libraries.log``: their own stream handlers are removed, so the records reach the root
  logger, where the console's handlers are. Python warnings (`warnings.warn`) go there too; those
  raised by rlfb's own code are also shown on the terminal, as they are meant for the user.
- whatever a library prints on this process's ``sys.stdout`` / ``sys.stderr`` goes to
  ``logs/output.log``; rlfb's lines and its progress bar go to the terminal (`terminal`).
- library progress bars (loading and writing checkpoints) are turned off, so they cannot break
  the run's bar.
- a local Ray started by this process keeps its actors' stdout/stderr in its session logs
  instead of streaming them here (``RAY_LOG_TO_DRIVER=0``); they are copied to ``logs/ray/`` when
  the console closes. Warning lines that vLLM and Ray format themselves (in these files and in
  ``output.log``) are counted with the others.

Each distinct warning is counted. At the end `warning_summary` gives one line per distinct
warning with its count ("250x vllm: CPU backend doesn't allow ..."). With ``verbose`` (the
commands' ``-v``) every library record and printed line is also shown as it comes, a repeated
warning only the first time.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, TYPE_CHECKING, TextIO

from rlfb.report import series

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig

LOG_FILE = "libraries.log"
OUTPUT_FILE = "output.log"
# Environment that quiets library progress bars (set only while a console is open).
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}
# Warning lines that libraries format themselves, counted from output.log and the Ray actors'
# logs: (source, pattern whose last group is the message).
# vLLM: "WARNING 12-07 17:30:01 [cpu_worker.py:141] message"
# Ray:  "2026-12-07 17:27:49,391\tWARNING worker.py:85 -- message"
WARNING_LINES = (("vllm", re.compile(r"(?:WARNING|ERROR) \d\d-\d\d [\d:.]+ \[[^\]]+\] (.*)")),
                 ("ray", re.compile(r"\t(?:WARNING|ERROR) \S+:\d+ -- (.*)")))
SUMMARY_LINES = 5
WIDTH = 110

_active: "Console | None" = None


def terminal() -> TextIO:
    """The stream for rlfb's own progress output: the real terminal while a console is open
    (``sys.stderr`` then goes to the run's logs), else ``sys.stderr``."""
    return _active.term if _active is not None else sys.stderr


def say(line: str) -> None:
    """Print one line of rlfb's own on the terminal without breaking a progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=terminal())


def clip(text: str, width: int = WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters.

    >>> clip("a\\nb" + "c" * 20, 10)
    'a bcccccc…'
    """
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


class _Captured(io.TextIOBase):
    """A text stream that writes to the output log (and echoes to the terminal if asked)."""

    def __init__(self, console: "Console", name: str) -> None:
        self.console, self.name, self._partial = console, name, ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.console.output.write(s)
        self.console.output.flush()
        if self.console.verbose:
            self._partial += s
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                if line.strip():
                    say(line)
        return len(s)

    def flush(self) -> None:
        self.console.output.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # libraries that need a real descriptor get the log file's
        return self.console.output.fileno()


class _Records(logging.Handler):
    """Counts warning records by (logger family, message); echoes new ones when verbose."""

    def __init__(self, console: "Console") -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a library's bad format string; keep its template
            message = str(record.msg)
        source = record.name.split(".")[0]
        if source == "rlfb":
            say(f"{record.levelname.lower()}: {message}")  # rlfb's own are for the user
        else:
            self.console.count(source, message)


class Console:
    """Routes library output of this process to ``log_dir`` while open (module docstring).

    Args:
        log_dir: where ``libraries.log``, ``output.log`` and ``ray/`` go (``RUN_DIR/logs``).
        verbose: also show every library record and printed line on the terminal.
        capture_streams: send this process's ``sys.stdout`` / ``sys.stderr`` to ``output.log``
            (False for a command whose own lines are printed on them, as `rlfb ablate`'s are).
    """

    def __init__(self, log_dir: str | Path, verbose: bool = False,
                 capture_streams: bool = True) -> None:
        self.log_dir = Path(log_dir)
        self.verbose = verbose
        self.capture_streams = capture_streams
        self.counts: Counter[tuple[str, str]] = Counter()
        self.started = time.monotonic()
        self.term: TextIO = sys.stderr
        self._saved: dict[str, Any] = {}
        self._ray_logs: Path | None = None

    # -- open / close ------------------------------------------------------------------------
    def __enter__(self) -> "Console":
        global _active
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.output = (self.log_dir / OUTPUT_FILE).open("a", encoding="utf-8", buffering=1)
        self._output_start, self._output_counted = self.output.tell(), False
        self.file_handler = logging.FileHandler(self.log_dir / LOG_FILE, encoding="utf-8")
        self.file_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.records = _Records(self)
        root = logging.getLogger()
        self._saved = {"stdout": sys.stdout, "stderr": sys.stderr, "level": root.level,
                       "showwarning": warnings.showwarning,
                       "env": {k: os.environ.get(k) for k in [*QUIET_ENV, "RAY_LOG_TO_DRIVER"]}}
        self.term = sys.stderr
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        if not self.verbose:
            os.environ.setdefault("RAY_LOG_TO_DRIVER", "0")
        root.addHandler(self.file_handler)
        root.addHandler(self.records)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        warnings.showwarning = self._showwarning
        if self.capture_streams:
            sys.stdout = _Captured(self, "stdout")  # type: ignore[assignment]
            sys.stderr = _Captured(self, "stderr")  # type: ignore[assignment]
        _active = self
        self.adopt_library_loggers()
        return self

    def __exit__(self, *exc: Any) -> None:
        global _active
        if self._ray_logs is not None:
            self.collect_ray_logs()
        root = logging.getLogger()
        root.removeHandler(self.file_handler)
        root.removeHandler(self.records)
        root.setLevel(self._saved["level"])
        self.file_handler.close()
        warnings.showwarning = self._saved["showwarning"]
        sys.stdout, sys.stderr = self._saved["stdout"], self._saved["stderr"]
        for key, value in self._saved["env"].items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.output.close()
        _active = None

    # -- routing -------------------------------------------------------------------------------
    def adopt_library_loggers(self) -> None:
        """Send every library logger's records to the root logger (the console's handlers):
        remove handlers that write to a terminal stream, and let records propagate. Call again
        after a library that configures its logging on first use (vLLM, Ray) was loaded."""
        streams = {self._saved["stdout"], self._saved["stderr"], sys.__stdout__, sys.__stderr__,
                   sys.stdout, sys.stderr}
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger) or name.split(".")[0] == "rlfb":
                continue
            for handler in list(logger.handlers):
                if isinstance(handler, logging.StreamHandler) and \
                        not isinstance(handler, logging.FileHandler) and \
                        getattr(handler, "stream", None) in streams:
                    logger.removeHandler(handler)
            if not logger.handlers:
                logger.propagate = True
        hf_logging = sys.modules.get("transformers.utils.logging")
        if hf_logging is not None:  # its loading/saving bars: one switch, not TQDM_DISABLE
            hf_logging.disable_progress_bar()

    def _showwarning(self, message: Warning | str, category: type[Warning], filename: str,
                     lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
        text = warnings.formatwarning(message, category, filename, lineno, line)
        self.file_handler.handle(logging.LogRecord("py.warnings", logging.WARNING, filename,
                                                   lineno, text.rstrip(), None, None))
        if f"{os.sep}rlfb{os.sep}" in filename and "site-packages" not in filename:
            say(f"warning: {message}")  # rlfb's own warnings are for the user
            return
        self.count(_family(filename), f"{category.__name__}: {message}")

    def count(self, source: str, message: str) -> None:
        """Count one warning; the first of its kind is shown at once when verbose."""
        key = (source, clip(message, 400))
        self.counts[key] += 1
        if self.verbose and self.counts[key] == 1:
            say(clip(f"[{source}] {message}"))

    def after_build(self) -> None:
        """Call once the run's roles exist: adopt the loggers the libraries just configured
        (vLLM, Ray) and note the Ray session whose actor logs to keep."""
        self.adopt_library_loggers()
        self.note_ray_session()

    # -- Ray actors ------------------------------------------------------------------------------
    def note_ray_session(self) -> None:
        """Remember the logs folder of the Ray session this process runs, if any (call while
        Ray is up: the executor shuts it down before the console closes)."""
        ray = sys.modules.get("ray")
        if ray is None or not ray.is_initialized():
            return
        try:
            node = ray._private.worker.global_worker.node
            self._ray_logs = Path(node.get_logs_dir_path())
        except AttributeError:  # a client connection (ray://) has no local node
            self._ray_logs = None

    def collect_ray_logs(self) -> None:
        """Copy the actors' stdout/stderr files of the noted Ray session to ``logs/ray/`` and
        count their vLLM warning lines."""
        if self._ray_logs is None or not self._ray_logs.is_dir():
            return
        out = self.log_dir / "ray"
        out.mkdir(exist_ok=True)
        for path in sorted(self._ray_logs.glob("worker-*")):
            if path.suffix not in (".out", ".err") or path.stat().st_size == 0:
                continue
            shutil.copyfile(path, out / path.name)
            self.count_lines(path.read_text(errors="replace"))
        self._ray_logs = None

    def count_lines(self, text: str) -> None:
        """Count the `WARNING_LINES` in ``text`` (output a library formatted itself)."""
        for line in text.splitlines():
            for source, pattern in WARNING_LINES:
                match = pattern.search(line)
                if match:
                    self.count(source, match.group(1))
                    break

    # -- the end ---------------------------------------------------------------------------------
    def warning_summary(self) -> list[str]:
        """One line per distinct warning, most frequent first, with its count and where the
        full text is; empty when there was none."""
        if not self.counts:
            return []
        total = sum(self.counts.values())
        lines = [f"library warnings: {total} ({len(self.counts)} distinct), full text in "
                 f"{self.log_dir}/"]
        for (source, message), n in self.counts.most_common(SUMMARY_LINES):
            lines.append("  " + clip(f"{n}x {source}: {message}", WIDTH - 2))
        if len(self.counts) > SUMMARY_LINES:
            lines.append(f"  ... and {len(self.counts) - SUMMARY_LINES} more")
        return lines

    def finish(self, results: list[str], report: str | Path | None = None) -> None:
        """The closing lines: the warning summary, ``results`` (e.g. `result_lines`), the
        report path, the wall time and where the logs are."""
        self.collect_ray_logs()
        if self.capture_streams and not self._output_counted:  # what libraries printed here
            self.output.flush()
            with (self.log_dir / OUTPUT_FILE).open(encoding="utf-8", errors="replace") as f:
                f.seek(self._output_start)
                self.count_lines(f.read())
            self._output_counted = True
        for line in [*self.warning_summary(), *results]:
            say(line)
        if report is not None:
            say(f"report: {report}")
        say(f"wall time: {self.wall_time()} (library logs: {self.log_dir}/)")

    def wall_time(self) -> str:
        """Time since the console was created, as ``1h 02m 03s`` / ``2m 03s`` / ``4.2s``."""
        return format_seconds(time.monotonic() - self.started)


def format_seconds(seconds: float) -> str:
    """``4.2s``, ``2m 03s`` or ``1h 02m 03s``.

    >>> format_seconds(4.24), format_seconds(123), format_seconds(3723)
    ('4.2s', '2m 03s', '1h 02m 03s')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _family(filename: str) -> str:
    """The top-level package a warning came from (``.../site-packages/ray/x.py`` → ``ray``)."""
    parts = Path(filename).parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1:]
        if rest:
            return rest[0].removesuffix(".py")
    return Path(filename).stem


# What a run's last lines report, in this order: training figures, then held-out ones.
HEADLINES = (("reward/mean", "train reward"), ("learner/loss", "train loss"),
             ("eval/loss", "held-out loss"), ("eval/pair_accuracy", "held-out pair accuracy"),
             ("eval/accuracy", "held-out accuracy"))


def result_lines(records: list[dict[str, Any]]) -> list[str]:
    """``first -> last`` of each `HEADLINES` metric the run logged.

    >>> result_lines([{"step": 0, "eval/accuracy": 0.08}, {"step": 1, "reward/mean": 0.1},
    ...               {"step": 2, "reward/mean": 0.5, "eval/accuracy": 0.3}])
    ['train reward: 0.100 -> 0.500 (step 1 -> 2)', 'held-out accuracy: 0.080 -> 0.300 (step 0 -> 2)']
    """
    lines = []
    for key, label in HEADLINES:
        if key == "learner/loss" and any("reward/mean" in r for r in records):
            continue  # online RL: the reward is the figure; the surrogate loss says little
        steps, values = series(records, key)
        if values:
            lines.append(f"{label}: {values[0]:.3f} -> {values[-1]:.3f} "
                         f"(step {steps[0]} -> {steps[-1]})")
    return lines


def start_line(command: str, cfg: TrainConfig) -> str:
    """The first line of a training run: model, algorithm, then executor and engine (online)
    or data files and epochs (offline), steps, run folder."""
    from rlfb.algorithms import make_algorithm

    head = f"rlfb {command}: model {cfg.model.path} · {cfg.algo.name}"
    if make_algorithm(cfg.algo).online:
        return (f"{head} · executor {cfg.run.executor} ({cfg.rollout.engine} engine) · "
                f"{cfg.run.steps} steps · run {cfg.run.output_dir}")
    o = cfg.offline
    length = f"{o.epochs} epoch(s)" if o.epochs else f"{cfg.run.steps} steps"
    return (f"{head} · {', '.join(map(str, o.files))} · {length} of {o.batch_size}-row batches "
            f"· run {cfg.run.output_dir}")
