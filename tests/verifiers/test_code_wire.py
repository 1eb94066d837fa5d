"""The plain-data codec that carries values across the sandbox boundary."""

from __future__ import annotations

import json
import math

import pytest

from rlfb.verifiers.code import wire


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**53 - 1, 2**53, -(2**200), 3.25, -0.0, float("inf"), "",
    "héllo\udc80", b"\x00\xff", [], [1, [2, [3]]], (), (1, "a", (2.5,)), {1, 2}, frozenset({"x"}),
    {}, {"a": 1, 2: [3], (4, 5): {"n": None}, b"k": frozenset({1})},
])
def test_round_trip_keeps_value_and_exact_types(value):
    back = wire.decode(wire.encode(value))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, (list, tuple)):
        assert [type(x) for x in back] == [type(x) for x in value]


def test_nan_round_trips():
    assert math.isnan(wire.decode(wire.encode(float("nan"))))


def test_bool_is_not_turned_into_int():
    assert wire.decode(wire.encode([True, 1])) == [True, 1]
    assert [type(x) for x in wire.decode(wire.encode([True, 1]))] == [bool, int]


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyInt(int):
    def __eq__(self, other):
        return True


class SneakyList(list):
    pass


@pytest.mark.parametrize("value", [
    AlwaysEqual(), SneakyInt(3), SneakyList([1]), [1, SneakyInt(2)], {"k": AlwaysEqual()},
    range(3), (x for x in ()), {1: 2}.keys(), bytearray(b"x"), 1j, object(), print,
])
def test_non_plain_values_are_refused(value):
    with pytest.raises(wire.NotPlain):
        wire.encode(value)


def test_bounds_on_depth_and_size():
    deep: list = []
    node = deep
    for _ in range(wire.MAX_DEPTH + 5):
        node.append([])
        node = node[0]
    with pytest.raises(wire.NotPlain, match="deeply"):
        wire.encode(deep)
    with pytest.raises(wire.NotPlain, match="too many"):
        wire.encode(list(range(100)), max_nodes=50)


@pytest.mark.parametrize("raw", [
    b"not json", b'{"x": 1}', b'{"t": 5}', b'{"t": [1], "s": [2]}', b'{"s": [[1]]}',
    b'{"d": [[1]]}', b'{"d": [[[1], 2]]}', b'{"b": "!!"}', b'{"i": "zz"}', b"[" * 5000,
    b"\xff\xfe",
])
def test_malformed_bytes_are_refused(raw):
    with pytest.raises(wire.BadWire):
        wire.decode(raw)


def test_decode_bounds_hold_on_forged_input():
    forged = json.dumps([[[[[1]]]]]).encode()
    with pytest.raises(wire.BadWire, match="deeply"):
        wire.decode(forged, max_depth=3)
    with pytest.raises(wire.BadWire, match="too many"):
        wire.decode(json.dumps(list(range(20))).encode(), max_nodes=10)


def test_frames_carry_their_length():
    framed = wire.frame(b"abc")
    assert wire.header_length(framed[:4]) == 3 and framed[4:] == b"abc"


@pytest.mark.parametrize("value", [
    None, True, 2**200, -0.0, "héllo\udc80", b"\x00", [1, (2, {3})], {(1, 2): frozenset({b"k"})},
    ((1, True), {"x": None}),
])
def test_pack_is_marshal_the_child_reads_with_exact_types(value):
    import marshal

    back = marshal.loads(wire.pack(value))
    assert back == value and type(back) is type(value)
    assert wire.decode(wire.encode(back)) == value  # the same values the JSON codec carries


@pytest.mark.parametrize("value", [AlwaysEqual(), SneakyInt(3), [SneakyList([1])], {"k": print}])
def test_pack_refuses_what_encode_refuses(value):
    with pytest.raises(wire.NotPlain):
        wire.pack(value)
