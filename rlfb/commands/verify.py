"""`rlfb verify NAME`: judge one completion and print the VerifyResult as one JSON object."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rlfb.commands._options import parse_json, parse_options, read_text
from rlfb.errors import RlfbError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `verify` subcommand."""
    p = subparsers.add_parser(
        "verify",
        help="judge one completion with a verifier and print the result as JSON",
        description="Judge one completion with a registered verifier; prints one JSON object "
        "(status, score, extracted, info, verifier, version, latency_s).",
    )
    p.add_argument("name", help="verifier name (see `rlfb verifiers list`)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--completion", help="the completion text")
    src.add_argument("--completion-file", metavar="PATH", help="read the completion from a file")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--reference", help="the reference, as text")
    ref.add_argument("--reference-json", metavar="JSON", help="the reference, as JSON")
    ref.add_argument("--reference-file", metavar="PATH",
                     help="read the reference from a file (parsed as JSON if it ends in .json)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                   help="a verifier option (repeatable), e.g. -o timeout_s=5")
    p.set_defaults(func=run)


def _reference(args: argparse.Namespace) -> Any:
    if args.reference_json is not None:
        return parse_json(args.reference_json, "--reference-json")
    if args.reference_file is not None:
        text = read_text(args.reference_file, "reference")
        return parse_json(text, args.reference_file) if args.reference_file.endswith(".json") else text
    return args.reference


def run(args: argparse.Namespace) -> int:
    """Build the verifier, judge, print JSON."""
    from rlfb.verifiers import get_verifier

    completion = args.completion
    if args.completion_file is not None:
        completion = read_text(args.completion_file, "completion")
    verifier = get_verifier(args.name, **parse_options(args.option))
    result = verifier.verify(completion, _reference(args))
    try:
        print(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    except (TypeError, ValueError) as exc:  # pragma: no cover - info should be JSON-ready
        raise RlfbError(f"verifier {args.name!r} returned evidence that is not JSON: {exc}")
    return 0
