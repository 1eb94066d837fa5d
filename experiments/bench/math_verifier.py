"""Benchmark: rlfb's math verifier against HuggingFace math-verify 0.9.0, on the same pairs.

    .venv/bin/python experiments/bench/math_verifier.py [--data PATH] [--no-peer]

Data: ``math_pairs.jsonl`` (default ``../shared/benchdata/math_pairs.jsonl`` from the repository
root): labelled (gold, pred, equal) pairs from the public test suites of math-verify, NeMo-Skills,
hendrycks MATH, Qwen2.5-Math and open-r1. ``gold`` is always the reference (first argument) and
``pred`` the completion text.

Printed, for rlfb and for math-verify in its best calling mode (raw strings, or bare gold wrapped
as ``$...$`` and bare predictions as ``\\boxed{...}``):

- agreement with the labels per source (rows flagged ``label_suspect`` are left out of the
  per-source table and listed on their own), overall, and on the rows without flags;
- pairs/s in one process (one check at a time, cache off) and p50 / p99 / max latency, the
  checkers taking turns on each pair so that they see the same machine load;
- time bounds: adversarial inputs checked from worker threads, with the overrun past the budget;
- `verify_batch` throughput with the process fan-out.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "benchdata" / "math_pairs.jsonl"


def load(path: Path) -> list[dict]:
    """The labelled pairs."""
    if not path.exists():
        sys.exit(f"no data at {path}; pass --data PATH to math_pairs.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wrap_gold(text: str) -> str:
    return text if re.search(r"\$|\\boxed|\\\(|\\\[", text) else f"${text}$"


def _wrap_pred(text: str) -> str:
    return text if re.search(r"\$|\\boxed|\\\(|\\\[", text) else f"\\boxed{{{text}}}"


def _peer_check(gold: str, pred: str, wrapped: bool) -> bool:
    from math_verify import parse, verify
    from math_verify import parser as mv_parser

    for cached in (mv_parser.parse_latex_cached, mv_parser.parse_expr_cached):
        cached.cache_clear()  # no reuse of the other calling mode's parse of the same pair
    if wrapped:
        gold, pred = _wrap_gold(gold), _wrap_pred(pred)
    try:
        return bool(verify(parse(gold), parse(pred)))
    except Exception:  # math-verify raising counts as "not equal"
        return False


def run_interleaved(rows: list[dict], peer: bool,
                    full_warmup: bool) -> dict[str, tuple[list[bool], list[float]]]:
    """Verdicts (True = equal) and latencies per checker, the checkers taking turns on each pair
    so that both see the same machine load. rlfb: one check at a time, cache off."""
    from rlfb.verifiers import VerifyStatus, get_verifier

    verifier = get_verifier("math", cache_size=0)
    start = time.perf_counter()
    verifier.warmup(full=full_warmup)
    what = "fork server and its generic LaTeX corpus" if full_warmup else "fork server only"
    print(f"rlfb warm-up ({what}, not timed): {time.perf_counter() - start:.1f} s")
    checkers = {"rlfb": lambda g, p: verifier.verify(p, g).status is VerifyStatus.CORRECT}
    if peer:
        checkers["math-verify (wrapped)"] = lambda g, p: _peer_check(g, p, True)
        checkers["math-verify (raw)"] = lambda g, p: _peer_check(g, p, False)
    for check in checkers.values():  # first call of each (imports, first parse) not timed
        check("1+x", "\\boxed{x+1}")
    out: dict[str, tuple[list[bool], list[float]]] = {name: ([], []) for name in checkers}
    for row in rows:
        for name, check in checkers.items():
            start = time.perf_counter()
            verdict = check(row["gold"], row["pred"])
            out[name][1].append(time.perf_counter() - start)
            out[name][0].append(verdict)
    return out


def agreement(rows: list[dict], verdicts: list[bool], keep) -> tuple[int, int]:
    """(agreeing, total) over the rows ``keep`` selects."""
    pairs = [(r, v) for r, v in zip(rows, verdicts) if keep(r)]
    return sum(v == r["equal"] for r, v in pairs), len(pairs)


def pct(ok: int, n: int) -> str:
    return f"{ok:3d}/{n:<3d} {100.0 * ok / n:5.1f}%" if n else "   -   "


def timing(latencies: list[float]) -> dict[str, float]:
    """pairs/s, p50, p99 and max latency (ms)."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"pairs_per_s": len(latencies) / sum(latencies),
            "p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * p99,
            "max_ms": 1000 * ordered[-1]}


def report(rows: list[dict], ours: list[bool], peer: list[bool] | None, peer_name: str) -> None:
    """The agreement tables."""
    name = lambda r: r["source"].split(":")[0].split("/")[-1] + ":" + r["source"].split("/")[-1]
    sources = sorted({r["source"] for r in rows})
    print(f"\n{'source (label_suspect rows left out)':58s} {'rlfb':>14s}   {peer_name:>14s}")
    for source in sources:
        keep = lambda r, s=source: r["source"] == s and "label_suspect" not in r["flags"]
        line = f"{name(next(r for r in rows if r['source'] == source))[:58]:58s} " \
               f"{pct(*agreement(rows, ours, keep)):>14s}"
        print(line + (f"   {pct(*agreement(rows, peer, keep)):>14s}" if peer else ""))
    groups = [("all rows", lambda r: True), ("rows without flags", lambda r: not r["flags"])]
    for flag in ("foreign_semantics", "config_dependent", "label_suspect"):
        groups.append((f"flag {flag}", lambda r, f=flag: f in r["flags"]))
    print()
    for label, keep in groups:
        line = f"{label:58s} {pct(*agreement(rows, ours, keep)):>14s}"
        print(line + (f"   {pct(*agreement(rows, peer, keep)):>14s}" if peer else ""))
    for r, v in zip(rows, ours):
        if "label_suspect" in r["flags"]:
            print(f"  label_suspect {r['id']}: label equal={r['equal']}, rlfb says {v}"
                  + (f", {peer_name} says {peer[rows.index(r)]}" if peer else "")
                  + f": {r['gold'][:40]!r} vs {r['pred'][:40]!r}")


ADVERSARIAL = [
    ("10^{10^{10}} vs 5", "\\boxed{10^{10^{10}}}", "5"),
    ("2^{2^{2^{2^{2}}}} vs 1", "\\boxed{2^{2^{2^{2^{2}}}}}", "1"),
    ("100 KB completion", "lorem ipsum 3.14 " * 6000 + "\\boxed{7}", "7"),
    ("400-deep parentheses", "\\boxed{" + "(" * 400 + "x" + ")" * 400 + "}", "x"),
    ("slow sympy (product of 3000 factors)", "\\boxed{\\prod_{k=1}^{3000} (x+k)}",
     "\\prod_{k=1}^{3000} (x+k+1)"),
]


def time_bounds(budget: float, threads: int) -> None:
    """Adversarial checks from worker threads: status, latency and overrun past the budget."""
    from rlfb.verifiers import get_verifier

    verifier = get_verifier("math", timeout_s=budget, cache_size=0)
    results: dict[str, tuple[str, float]] = {}

    def one(label: str, completion: str, reference: str) -> None:
        start = time.perf_counter()
        status = verifier.verify(completion, reference).status.value
        results[label] = (status, time.perf_counter() - start)

    print(f"\ntime bounds: budget {budget} s, {threads} threads at once, from non-main threads")
    pool = [threading.Thread(target=one, args=case) for case in ADVERSARIAL[:threads]]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    worst = 0.0
    for label, _, _ in ADVERSARIAL[:threads]:
        status, elapsed = results[label]
        worst = max(worst, elapsed - budget)
        print(f"  {label:40s} {status:12s} {elapsed:7.3f} s")
    print(f"  largest overrun past the budget: {max(worst, 0.0):.3f} s (limit 0.2 s)")


def batch_throughput(rows: list[dict]) -> None:
    """verify_batch with the process fan-out, cache off."""
    from rlfb.verifiers import get_verifier

    verifier = get_verifier("math", cache_size=0, batch_parallel_min=1)
    verifier.warmup(workers=2)
    start = time.perf_counter()
    verifier.verify_batch([r["pred"] for r in rows], [r["gold"] for r in rows])
    elapsed = time.perf_counter() - start
    print(f"\nverify_batch (fan-out over {verifier.workers or 'cpu-count'} workers): "
          f"{len(rows) / elapsed:.0f} pairs/s")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="math_pairs.jsonl")
    ap.add_argument("--no-peer", action="store_true", help="skip math-verify")
    ap.add_argument("--budget", type=float, default=1.0, help="timeout_s for the bounds test")
    ap.add_argument("--cold", action="store_true",
                    help="do not wait for rlfb's parser warm-up corpus before timing")
    args = ap.parse_args(argv)
    rows = load(args.data)
    print(f"{len(rows)} pairs from {args.data}")
    results = run_interleaved(rows, peer=not args.no_peer, full_warmup=not args.cold)
    ours, ours_lat = results.pop("rlfb")
    peer = peer_lat = None
    peer_name = "math-verify"
    if results:
        for name, (verdicts, _) in results.items():
            print(f"{name}: agreement {pct(*agreement(rows, verdicts, lambda r: True))}")
        peer_name = max(results, key=lambda n: agreement(rows, results[n][0], lambda r: True)[0])
        peer, peer_lat = results[peer_name]
    report(rows, ours, peer, peer_name)
    print(f"\n{'speed, one process, one check at a time':40s} {'pairs/s':>9s} {'p50 ms':>8s} "
          f"{'p99 ms':>8s} {'max ms':>8s}")
    for label, lat in (("rlfb", ours_lat), (peer_name, peer_lat)):
        if lat:
            t = timing(lat)
            print(f"{label:40s} {t['pairs_per_s']:9.0f} {t['p50_ms']:8.2f} {t['p99_ms']:8.2f} "
                  f"{t['max_ms']:8.1f}")
    if peer_lat:
        print(f"speed-up: {timing(ours_lat)['pairs_per_s'] / timing(peer_lat)['pairs_per_s']:.1f}x")
    slowest = sorted(zip(ours_lat, (r["id"] for r in rows)), reverse=True)[:5]
    print("rlfb's slowest pairs: " + ", ".join(f"{i} {1000 * t:.0f} ms" for t, i in slowest))
    from rlfb.verifiers.math.worker import get_pool

    print(f"rlfb workers forked before the warm-up corpus was parsed and replaced by warm forks "
          f"during the pass: {get_pool().refreshed}")
    time_bounds(args.budget, threads=len(ADVERSARIAL))
    batch_throughput(rows)


if __name__ == "__main__":
    main()
