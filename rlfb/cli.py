"""The `rlfb` command line.

Each subcommand lives in a module of `rlfb.commands` exposing ``register(subparsers)``, which
adds its parser and sets ``func`` to a ``run(args) -> int``. Command modules import only
argparse-level code at start-up; heavy libraries load inside ``run``.

Bad input (an unknown name, a bad option, an unreadable file, a bad config) raises
`rlfb.errors.RlfbError`; the CLI prints it as one line and exits with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from rlfb.commands._options import is_override
from rlfb.errors import RlfbError

# Subcommand modules, in the order `rlfb --help` lists them.
COMMAND_MODULES = (
    "rlfb.commands.train",
    "rlfb.commands.verifiers",
    "rlfb.commands.envs",
    "rlfb.commands.hedges",
    "rlfb.commands.verify",
    "rlfb.commands.eval",
    "rlfb.commands.export",
    "rlfb.commands.rescore",
    "rlfb.commands.ablate",
)


class UsageError(RlfbError):
    """A command line that argparse rejected."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (status 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> Parser:
    """The full `rlfb` parser with every subcommand registered."""
    parser = Parser(
        prog="rlfb",
        description="rlfb: RL from feedback for language models, built on a registry of verifiers.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _version() -> str:
    from rlfb import __version__

    return f"rlfb {__version__}"


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
          ) -> argparse.Namespace:
    """Parse ``argv``. A command with ``key=value`` overrides (``train``, ``ablate``) takes them
    before and after its options: argparse fills the positional list with the words before the
    first option, and the ``key=value`` words it leaves over join the list, in order.

    >>> args = parse(build_parser(), ["train", "c.yaml", "a=1", "--resume", "runs/x", "b=2"])
    >>> args.overrides, args.resume
    (['a=1', 'b=2'], 'runs/x')
    """
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not isinstance(getattr(args, "overrides", None), list) or \
                not all(is_override(word) for word in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a check failed, 2 bad input)."""
    try:
        args = parse(build_parser(), argv)
        return int(args.func(args) or 0)
    except RlfbError as exc:
        print(f"rlfb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlfb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
