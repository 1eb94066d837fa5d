"""Plain data and length-prefixed frames: the only things that cross the sandbox boundary.

*Plain data* is None, bool, int, float, str, bytes, and list, tuple, dict, set, frozenset of
plain data. Types are checked exactly (``type(x) is int``), never with ``isinstance``: a subclass
of ``int`` with an always-true ``__eq__`` is not plain data. Values are bounded in nesting depth
and node count.

On the wire a value is JSON, with tags for what JSON lacks: ``{"t": [...]}`` a tuple,
``{"s": [...]}`` a set, ``{"f": [...]}`` a frozenset, ``{"d": [[k, v], ...]}`` a dict,
``{"b": "<base64>"}`` bytes and ``{"i": "<hex>"}`` an int too large for a JSON double. A JSON
object is always a tag, so a decoder accepts nothing else.

The sandbox side uses `encode`; the trusted side reads untrusted bytes with `decode`, which builds
only plain values of exact builtin types and raises `BadWire` on anything else. Encoding on the
sandbox side is a courtesy, not a defence: the candidate controls that process and can write any
bytes, which is why the trusted side decodes with bounds and never unpickles. The bounds are on
time and memory as well as size: no set or dict with more than `MAX_SAME_HASH` elements of one
hash value (building one of n colliding elements takes n*n/2 comparisons), and no more
containers than `MEMORY_FACTOR` bytes per byte of input (plus `MEMORY_FLOOR`) can hold.

The other direction, trusted to sandbox (a call's arguments), uses `pack`: the same plain-data
check, then ``marshal``, which the sandboxed child reads with one C call (``marshal.loads``).
Marshal is never read on the trusted side: it is not safe against crafted bytes.

This module is loaded by file path inside the sandbox's fork server, so it imports nothing from
rlfb.

>>> decode(encode([1, (2.5, "x"), {b"k": {3}}]))
[1, (2.5, 'x'), {b'k': {3}}]
"""

from __future__ import annotations

import base64
import json
import marshal
import re
import socket
import struct
import sys
from collections import Counter
from operator import itemgetter
from typing import Any

# The sandbox side runs this module in the candidate's process: bind the builtins it uses as
# module globals, so a candidate that rebinds ``builtins.len`` (on purpose or not) cannot break
# the protocol into a hang.
len, type, format, int, list, tuple, set, frozenset, dict, bytes, str, min = (  # noqa: A001
    len, type, format, int, list, tuple, set, frozenset, dict, bytes, str, min)

MAX_DEPTH = 100
MAX_NODES = 2_000_000
_HEADER = struct.Struct(">I")
_SAFE_INT = 2**53
_FIRST = itemgetter(0)


class NotPlain(TypeError):
    """A value that is not plain data (named in the message)."""


class BadWire(ValueError):
    """Bytes that do not decode to plain data within the bounds."""


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time.
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def encode(value: Any, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> bytes:
    """Serialise plain data to bytes; raise `NotPlain` for anything else or past the bounds."""
    budget = [max_nodes]
    tree = _to_json(value, max_depth, budget)
    return _DUMPS(tree).encode("ascii")


def pack(value: Any, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> bytes:
    """Plain data as ``marshal`` bytes, for the trusted side to send into the sandbox; raise
    `NotPlain` for anything else or past the bounds (the same check as `encode`)."""
    _to_json(value, max_depth, [max_nodes])
    return marshal.dumps(value)


_LEAVES = frozenset({type(None), bool, str, float})


def _flat(items: Any) -> bool:
    """True when every item is a JSON-ready leaf (exact type; ints small enough)."""
    for x in items:
        t = type(x)
        if t not in _LEAVES and not (t is int and -_SAFE_INT < x < _SAFE_INT):
            return False
    return True


def _to_json(v: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise NotPlain("value has too many elements")
    if depth < 0:
        raise NotPlain("value is nested too deeply")
    t = type(v)
    if t in _LEAVES:
        return v
    if t is int:
        return v if -_SAFE_INT < v < _SAFE_INT else {"i": format(v, "x")}
    if t is list:
        if len(v) <= budget[0] and _flat(v):  # the common case, without recursion
            budget[0] -= len(v)
            return v
        return [_to_json(x, depth - 1, budget) for x in v]
    if t is tuple:
        return {"t": [_to_json(x, depth - 1, budget) for x in v]}
    if t is set or t is frozenset:
        return {"s" if t is set else "f": [_to_json(x, depth - 1, budget) for x in v]}
    if t is dict:
        return {"d": [[_to_json(k, depth - 1, budget), _to_json(x, depth - 1, budget)]
                      for k, x in v.items()]}
    if t is bytes:
        return {"b": base64.b64encode(v).decode("ascii")}
    raise NotPlain(f"{t.__module__}.{t.__qualname__} is not plain data")


# Decoding is bounded in depth, node count, time and memory. The C JSON parser does the
# parsing, and each JSON object (always a tag) is rebuilt the moment it is parsed, by
# `_TagBuilder`: no intermediate dict per tag and no second copy of the tree.
MAX_SAME_HASH = 8  # elements of one set (keys of one dict) that may share a hash value
MEMORY_FACTOR = 16  # rebuilt containers may take this many bytes per byte of reply ...
MEMORY_FLOOR = 4 << 20  # ... plus this much
_LIST_COST = 96  # a short list as the parser builds it (56 bytes, 4 slots) and its slot
_ALWAYS_FITS = MEMORY_FLOOR // 32  # no shorter reply can rebuild past the floor
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """Rebuild plain data from untrusted bytes; raise `BadWire` on anything malformed or past
    the bounds: nesting depth, node count, more than ``MAX_SAME_HASH`` elements with one hash
    value in a set or dict (a quadratic build otherwise), and containers taking more than
    ``MEMORY_FACTOR`` bytes per byte of ``data`` (plus ``MEMORY_FLOOR``)."""
    n = len(data)
    opens = data.count(b"[")
    if b"{" not in data and opens <= max_depth and n <= max_nodes:
        # No object, so no tag to rebuild: json.loads makes only lists and exact leaves, and
        # there are fewer brackets than the depth bound and fewer bytes than the node bound.
        try:
            return json.loads(data)
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise BadWire(f"not valid JSON: {type(exc).__name__}") from None
    budget = MEMORY_FACTOR * n + MEMORY_FLOOR
    if n > _ALWAYS_FITS:  # every '[' outside a string is a list: charge them before parsing
        budget -= _LIST_COST * _lists(data, opens, budget // _LIST_COST)
        if budget < 0:
            raise BadWire(f"a reply of {n} bytes holds too many lists to rebuild")
    try:  # a short reply cannot reach the floor: the shared builder, which charges nothing
        value = (_TagBuilder(budget) if n > _ALWAYS_FITS else _SHORT).loads(data)
    except BadWire:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise BadWire(f"not valid JSON: {type(exc).__name__}") from None
    if opens > max_depth or n > max_nodes:  # otherwise both hold: a level needs a '[', a
        _check_shape(value, max_depth, max_nodes)  # value at least a byte
    return value


def _lists(data: bytes, opens: int, enough: int) -> int:
    """How many of the ``opens`` '[' of ``data`` are outside strings, counted only as far as
    needed: once at most ``enough`` can be lists, the exact number does not matter."""
    for m in _STRING.finditer(data):
        if opens <= enough:
            break
        opens -= data.count(b"[", m.start(), m.end())
    return opens


class _TagBuilder:
    """JSON text to plain data, each tag rebuilt as the parser meets it; what the rebuilt
    objects take is charged to ``budget`` bytes (None: not counted)."""

    def __init__(self, budget: int | None) -> None:
        self.left = budget
        self.decoder = json.JSONDecoder(object_pairs_hook=self.tag)

    def loads(self, data: bytes) -> Any:
        """Parse ``data`` (bytes, in the encodings `json.loads` accepts)."""
        return self.decoder.decode(data.decode(json.detect_encoding(data), "surrogatepass"))

    def tag(self, pairs: list[tuple[str, Any]]) -> Any:
        """The value of one JSON object, whose body the parser has already rebuilt."""
        if len(pairs) != 1:
            raise BadWire("a JSON object must be one tag")
        (tag, body), = pairs
        if type(body) is str and tag in ("i", "b"):
            value = _scalar(tag, body)
        elif type(body) is not list:
            raise BadWire(f"bad tag {tag!r}")
        elif tag == "t":
            value = tuple(body)
        elif tag == "s" or tag == "f":
            _check_hashes(body)
            value = set(body) if tag == "s" else frozenset(body)
        elif tag == "d":
            value = _dict_from(body)
        else:
            raise BadWire(f"bad tag {tag!r}")
        if self.left is not None:
            self.left -= sys.getsizeof(value)
            if self.left < 0:
                raise BadWire("the reply takes too much memory to rebuild")
        return value


_SHORT = _TagBuilder(None)


def _scalar(tag: str, body: str) -> Any:
    if tag == "i":
        try:
            return int(body, 16)
        except ValueError:
            raise BadWire("bad big int") from None
    try:
        return base64.b64decode(body.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise BadWire("bad base64 bytes") from None


def _check_hashes(items: list[Any]) -> None:
    """Refuse unhashable elements, and more than ``MAX_SAME_HASH`` with one hash value: a set
    of n colliding elements takes n*n/2 comparisons to build."""
    try:
        hashes = [*map(hash, items)]
    except TypeError:
        raise BadWire("unhashable element in a set or dict key") from None
    if len({*hashes}) < len(hashes) and max(Counter(hashes).values()) > MAX_SAME_HASH:
        raise BadWire(f"more than {MAX_SAME_HASH} elements of a set or keys of a dict share "
                      f"a hash value")


def _dict_from(body: list[Any]) -> dict[Any, Any]:
    for pair in body:
        if type(pair) is not list or len(pair) != 2:
            raise BadWire("dict entries must be [key, value] pairs")
    _check_hashes(list(map(_FIRST, body)))
    return dict(body)


def _check_shape(value: Any, max_depth: int, max_nodes: int) -> None:
    """Raise `BadWire` when ``value`` nests deeper than ``max_depth`` or holds more than
    ``max_nodes`` values (itself included), level by level."""
    nodes, level, depth = 1, [value] if type(value) in _CONTAINERS else [], 0
    while level:
        below: list[Any] = []
        for c in level:
            parts = (c.keys(), c.values()) if type(c) is dict else (c,)
            for part in parts:
                nodes += len(part)
                if not _CONTAINERS.isdisjoint(map(type, part)):
                    below += [x for x in part if type(x) in _CONTAINERS]
        if nodes > max_nodes:
            raise BadWire("value has too many elements")
        if depth >= max_depth and any(map(len, level)):
            raise BadWire("value is nested too deeply")
        level, depth = below, depth + 1


# -- frames -----------------------------------------------------------------------------------
def frame(payload: bytes) -> bytes:
    """A 4-byte big-endian length followed by the payload."""
    return _HEADER.pack(len(payload)) + payload


def frame_json(obj: Any) -> bytes:
    """A frame holding ``obj`` as compact JSON (trusted control messages, not plain-data values)."""
    return frame(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def header_length(header: bytes) -> int:
    """The payload length announced by a 4-byte frame header."""
    return _HEADER.unpack(header)[0]


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes from a blocking socket; raise EOFError on a closed peer."""
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, limit: int = 1 << 30) -> bytes:
    """Read one frame from a blocking socket (trusted peers only; no deadline)."""
    n = header_length(recv_exact(sock, 4))
    if n > limit:
        raise BadWire(f"frame of {n} bytes is over the {limit}-byte limit")
    return recv_exact(sock, n)


def recv_json(sock: socket.socket) -> Any:
    """Read one JSON control frame from a trusted peer."""
    return json.loads(recv_frame(sock))
