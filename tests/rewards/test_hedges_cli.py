"""`rlfb hedges list | check | detect`: the subcommand module on its own parser."""

from __future__ import annotations

import argparse
import json


def _parse_hedges(argv):
    from rlfb.commands import hedges

    parser = argparse.ArgumentParser(prog="rlfb")
    hedges.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_hedges_check_and_detect(capsys):
    args = _parse_hedges(["hedges", "check"])
    assert args.func(args) == 0
    assert "golden cases pass" in capsys.readouterr().out
    args = _parse_hedges(["hedges", "detect", "I'm fairly sure it's 7."])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hedge_class"] == "hedged" and "doubt: fairly sure" in out["evidence"]
    args = _parse_hedges(["hedges", "list"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.startswith("phrases")


def test_hedges_check_exits_1_when_a_case_fails(capsys):
    # counting quoted words as the speaker's own flips the quotation golden case
    args = _parse_hedges(["hedges", "check", "-o", "ignore_quotes=false"])
    assert args.func(args) == 1
    assert "FAIL" in capsys.readouterr().out
