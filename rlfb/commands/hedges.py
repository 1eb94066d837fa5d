"""`rlfb hedges list | check [NAME] | detect TEXT`: hedge detectors, like `rlfb verifiers`."""

from __future__ import annotations

import argparse
import json

from rlfb.commands._options import parse_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `hedges` command group."""
    p = subparsers.add_parser("hedges", help="list, check and try hedge detectors",
                              description="Hedge detectors classify a completion as unhedged, "
                              "hedged or uninformative for the 'hedging' reward.")
    sub = p.add_subparsers(dest="hedges_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    ls = sub.add_parser("list", help="list registered hedge detectors")
    ls.set_defaults(func=run_list)
    check = sub.add_parser("check", help="run a detector's golden cases",
                           description="Run the labelled golden cases of a hedge detector; "
                           "exit 1 if any case gets another class.")
    check.add_argument("name", nargs="?", default="phrases", help="detector (default: phrases)")
    check.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                       help="a detector option (repeatable)")
    check.add_argument("--verbose", "-v", action="store_true", help="print every case")
    check.set_defaults(func=run_check)
    detect = sub.add_parser("detect", help="classify one text and print the evidence as JSON")
    detect.add_argument("text", help="the completion")
    detect.add_argument("--detector", default="phrases", help="detector (default: phrases)")
    detect.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                        help="a detector option (repeatable)")
    detect.set_defaults(func=run_detect)


def run_list(args: argparse.Namespace) -> int:
    """Print one row per detector: name, version, number of golden cases."""
    from rlfb.rewards.hedging.detect import HEDGE_DETECTORS, get_hedge_detector

    for name in HEDGE_DETECTORS.names():
        detector = get_hedge_detector(name)
        print(f"{name}  version {detector.version}  {len(detector.golden_cases)} golden cases  "
              f"{HEDGE_DETECTORS.origin(name)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Run the golden cases; exit 1 on any mismatch."""
    from rlfb.rewards.hedging.detect import check_hedge_detector

    checks = check_hedge_detector(args.name, **parse_options(args.option))
    if not checks:
        print(f"{args.name}: no golden cases declared (flagged)")
        return 1
    failures = [c for c in checks if not c.passed]
    for c in checks:
        if args.verbose or not c.passed:
            print(f"{'PASS' if c.passed else 'FAIL'} [{c.case.kind}] expected "
                  f"{c.case.expected.value}, got {c.detection.hedge_class.value}: "
                  f"{c.case.text[:70]!r} {c.detection.evidence}")
    kinds = sorted({c.case.kind for c in checks})
    counts = ", ".join(f"{sum(c.case.kind == k for c in checks)} {k}" for k in kinds)
    print(f"{args.name}: {len(checks) - len(failures)}/{len(checks)} golden cases pass ({counts})")
    return 1 if failures else 0


def run_detect(args: argparse.Namespace) -> int:
    """Classify one text; print class, reason, evidence and stated confidence as JSON."""
    from rlfb.rewards.hedging.detect import get_hedge_detector

    d = get_hedge_detector(args.detector, **parse_options(args.option)).detect(args.text)
    print(json.dumps({"hedge_class": d.hedge_class.value, "reason": d.reason,
                      "evidence": d.evidence, "confidence": d.confidence}, ensure_ascii=False))
    return 0
