"""`rlfb envs list | check NAME | new NAME`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rlfb.commands._options import parse_options
from rlfb.errors import RlfbError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `envs` command group."""
    p = subparsers.add_parser("envs", help="list, check and create environments",
                              description="List registered environments and tools, check an "
                              "environment on scripted turns, or write a new environment "
                              "plugin package.")
    sub = p.add_subparsers(dest="envs_command", metavar="ACTION", parser_class=type(p))
    sub.required = True

    ls = sub.add_parser("list", help="list registered environments and tools",
                        description="List every registered environment (its turn budget, tools "
                        "and origin) and every registered tool.")
    ls.set_defaults(func=run_list)

    check = sub.add_parser("check", help="check an environment on scripted turns",
                           description="Build the environment, check its tools' schemas, and "
                           "run reset and step on scripted assistant messages (a call of each "
                           "tool, a malformed call, a plain answer); exit 1 if a check fails, "
                           "2 if it cannot be loaded or built.")
    check.add_argument("name", help="environment name")
    check.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                       help="an option of the environment (repeatable)")
    check.set_defaults(func=run_check)

    new = sub.add_parser("new", help="write a new environment plugin package",
                         description="Write an installable plugin package (pyproject with the "
                         "rlfb.environments, rlfb.tools and rlfb.prompt_sources entry points, "
                         "the environment, a tool, a prompt source and tests). Install it with "
                         "`pip install -e DIR`.")
    new.add_argument("name", help="environment name: lower case letters, digits, - and _")
    new.add_argument("--dir", help="where to write it (default: ./rlfb-env-NAME)")
    new.set_defaults(func=run_new)


def run_list(args: argparse.Namespace) -> int:
    """Print one row per environment (built with its defaults), then one per tool."""
    from rlfb.environments import ENVIRONMENTS, TOOLS, get_environment

    rows = [("ENVIRONMENT", "TURNS", "TOOLS", "ORIGIN")]
    for entry in ENVIRONMENTS.entries():
        try:
            env = get_environment(entry.name)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
            rows.append((entry.name, "-", "ERROR", _one_line(exc)))
            continue
        tools = ", ".join(t.name for t in env.tools) or "-"
        rows.append((entry.name, str(env.max_turns), tools, _short_origin(entry.origin)))
        for tool in env.tools:
            close = getattr(tool, "close", None)
            if callable(close):
                close()
    _print(rows)
    print()
    tool_rows = [("TOOL", "", "", "ORIGIN")]
    for entry in TOOLS.entries():
        try:
            TOOLS.get(entry.name)
            tool_rows.append((entry.name, "", "", _short_origin(entry.origin)))
        except RlfbError as exc:
            tool_rows.append((entry.name, "", "ERROR", _one_line(exc)))
    _print(tool_rows)
    return 0


def _print(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths) if w) + "  " + row[3])


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _short_origin(origin: str) -> str:
    m = re.match(r"entry point \S+ = '([^']+)' of (\S+)", origin)
    return f"{m.group(2)} ({m.group(1)})" if m else origin


def run_check(args: argparse.Namespace) -> int:
    """Run the checks; exit 1 when one fails."""
    from rlfb.environments.check import check_environment

    checks = check_environment(args.name, parse_options(args.option))
    for check in checks:
        print(f"{'INFO' if check.ok is None else 'PASS' if check.ok else 'FAIL'} {check.line}")
    judged = [c for c in checks if c.ok is not None]
    failed = sum(not c.ok for c in judged)
    print(f"{args.name}: {len(judged) - failed}/{len(judged)} checks pass")
    return 1 if failed else 0


def run_new(args: argparse.Namespace) -> int:
    """Write the plugin skeleton."""
    from rlfb.commands._env_skeleton import write_env_skeleton

    if not re.fullmatch(r"[a-z][a-z0-9_-]*", args.name):
        raise RlfbError(f"bad environment name {args.name!r}; use lower case letters, digits, "
                        "- and _, starting with a letter")
    target = Path(args.dir or f"rlfb-env-{args.name.replace('_', '-')}")
    if target.exists() and any(target.iterdir()):
        raise RlfbError(f"{target} exists and is not empty; pick another --dir")
    written = write_env_skeleton(args.name, target)
    print(f"wrote {len(written)} files to {target}/")
    print(f"next: pip install -e {target} && rlfb envs check {args.name}")
    return 0
