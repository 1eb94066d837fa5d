"""`rlfb verifiers list | check NAME | new NAME`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rlfb.commands._options import parse_options
from rlfb.errors import RlfbError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `verifiers` command group."""
    p = subparsers.add_parser("verifiers", help="list, check and create verifiers",
                              description="List registered verifiers, run a verifier's golden "
                              "cases, or write a new verifier plugin package.")
    sub = p.add_subparsers(dest="verifiers_command", metavar="ACTION", parser_class=type(p))
    sub.required = True

    ls = sub.add_parser("list", help="list registered verifiers (built-in and plugins)",
                        description="List every registered verifier with its version, number of "
                        "golden cases and origin. Verifiers without golden cases are flagged.")
    ls.set_defaults(func=run_list)

    check = sub.add_parser("check", help="run a verifier's golden cases",
                           description="Run the golden cases a verifier declares; exit 1 if any "
                           "case gives an unexpected status.")
    check.add_argument("name", help="verifier name")
    check.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                       help="an option applied to every case (repeatable)")
    check.add_argument("--verbose", "-v", action="store_true", help="print every case")
    check.set_defaults(func=run_check)

    new = sub.add_parser("new", help="write a new verifier plugin package",
                         description="Write an installable plugin package (pyproject with the "
                         "rlfb.verifiers entry point, the verifier, golden cases and a test). "
                         "Install it with `pip install -e DIR`.")
    new.add_argument("name", help="verifier name: lower case letters, digits and underscores")
    new.add_argument("--dir", help="where to write it (default: ./rlfb-NAME)")
    new.set_defaults(func=run_new)


def run_list(args: argparse.Namespace) -> int:
    """Print one row per verifier."""
    from rlfb.errors import RegistryError
    from rlfb.verifiers import VERIFIERS

    rows = [("NAME", "VERSION", "GOLDEN", "ORIGIN")]
    for entry in VERIFIERS.entries():
        try:
            cls = VERIFIERS.get(entry.name)
        except RegistryError as exc:
            rows.append((entry.name, "-", "IMPORT ERROR", str(exc)))
            continue
        cases = len(cls.golden_cases)
        golden = str(cases) if cases else "NONE (flagged)"
        rows.append((entry.name, cls.version, golden, _short_origin(entry.origin)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _short_origin(origin: str) -> str:
    m = re.match(r"entry point \S+ = '([^']+)' of (\S+)", origin)
    return f"{m.group(2)} ({m.group(1)})" if m else origin


def run_check(args: argparse.Namespace) -> int:
    """Run the golden cases; exit 1 on any mismatch."""
    from rlfb.verifiers import VERIFIERS, get_verifier

    cls = VERIFIERS.get(args.name)
    common = parse_options(args.option)
    cases = list(cls.golden_cases)
    if not cases:
        print(f"{args.name}: no golden cases declared (flagged); add `golden_cases` to the class")
        return 1
    failures = 0
    for i, case in enumerate(cases):
        result = get_verifier(args.name, **{**common, **case.options}).verify(
            case.completion, case.reference)
        ok = result.status == case.expected
        failures += not ok
        if args.verbose or not ok:
            print(f"{'PASS' if ok else 'FAIL'} #{i} [{case.kind}] expected {case.expected.value}, "
                  f"got {result.status.value}: {_clip(case.completion)!r}"
                  + (f" ({case.note})" if case.note else "")
                  + ("" if ok else f" info={result.info}"))
    kinds = {k: sum(c.kind == k for c in cases) for k in ("positive", "negative", "adversarial")}
    print(f"{args.name}: {len(cases) - failures}/{len(cases)} golden cases pass "
          f"({', '.join(f'{v} {k}' for k, v in kinds.items())})")
    return 1 if failures else 0


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def run_new(args: argparse.Namespace) -> int:
    """Write the plugin skeleton."""
    from rlfb.commands._skeleton import write_skeleton

    if not re.fullmatch(r"[a-z][a-z0-9_]*", args.name):
        raise RlfbError(f"bad verifier name {args.name!r}; use lower case letters, digits and _")
    target = Path(args.dir or f"rlfb-{args.name.replace('_', '-')}")
    if target.exists() and any(target.iterdir()):
        raise RlfbError(f"{target} exists and is not empty; pick another --dir")
    written = write_skeleton(args.name, target)
    print(f"wrote {len(written)} files to {target}/")
    print(f"next: pip install -e {target} && rlfb verifiers check {args.name}")
    return 0
