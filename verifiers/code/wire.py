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
bytes, which is why the trusted side decodes with bounds and never unpickles.

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
import socket
import struct
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


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """Rebuild plain data from untrusted bytes; raise `BadWire` on anything malformed."""
    try:
        tree = json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise BadWire(f"not valid JSON: {type(exc).__name__}") from None
    if b"{" not in data and data.count(b"[") <= max_depth and len(data) <= max_nodes:
        # No object, so no tag to rebuild: json.loads made only lists and exact leaves, and
        # there are fewer brackets than the depth bound and fewer bytes than the node bound.
        return tree
    return _from_json(tree, max_depth, [max_nodes])


def _from_json(j: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise BadWire("value has too many elements")
    if depth < 0:
        raise BadWire("value is nested too deeply")
    t = type(j)
    if j is None or t is bool or t is str or t is int or t is float:
        return j
    if t is list:
        return [_from_json(x, depth - 1, budget) for x in j]
    if t is not dict or len(j) != 1:
        raise BadWire("a JSON object must be one tag")
    (tag, body), = j.items()
    if tag == "i" and type(body) is str:
        try:
            return int(body, 16)
        except ValueError:
            raise BadWire("bad big int") from None
    if tag == "b" and type(body) is str:
        try:
            return base64.b64decode(body.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise BadWire("bad base64 bytes") from None
    if type(body) is not list:
        raise BadWire(f"bad tag {tag!r}")
    items = [_from_json(x, depth - 1, budget) for x in body] if tag != "d" else None
    try:
        if tag == "t":
            return tuple(items)
        if tag == "s":
            return set(items)
        if tag == "f":
            return frozenset(items)
        if tag == "d":
            return _dict_from(body, depth, budget)
    except TypeError:
        raise BadWire("unhashable element in a set or dict key") from None
    raise BadWire(f"bad tag {tag!r}")


def _dict_from(body: list[Any], depth: int, budget: list[int]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for pair in body:
        if type(pair) is not list or len(pair) != 2:
            raise BadWire("dict entries must be [key, value] pairs")
        out[_from_json(pair[0], depth - 1, budget)] = _from_json(pair[1], depth - 1, budget)
    return out


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
