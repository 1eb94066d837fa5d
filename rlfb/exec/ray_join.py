"""Joining an existing Ray cluster, with Ray's token authentication.

Ray 2.60 turns token authentication on for a head started with ``ray start --head`` whenever a
token exists: ``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH`` names, else
``~/.ray/auth_token`` (which ``ray get-auth-token --generate``, and every local ``ray.init``,
write). Every node and client of such a cluster must run with ``RAY_AUTH_MODE=token`` and the
same token; a client in token mode cannot use a cluster without authentication either (its
actors never start). ``ray.init`` picks the mode by itself only for ``address="auto"``, and only
from whether a token exists; with an explicit address it stays ``disabled``, and a head with
authentication refuses it (``InvalidAuthToken``).

`join_cluster` sets the mode as the cluster needs it. For a ``HOST:PORT`` address it first asks
the head's GCS for its cluster id (one gRPC call, as Ray's own client makes it): without a
token, then with this client's token. A cluster that answers without a token keeps Ray's mode
for an explicit address, ``disabled``; one that wants the token gets ``token``, set in this
process's environment, which every process rlfb starts inherits (Ray's workers take theirs from
their node). A token that is missing or refused, or a ``RAY_AUTH_MODE`` set against the
cluster, is one line naming what to set, before ``ray.init`` spends its 20 s of retries. For
``auto``, a ``ray://`` address or a head that does not answer, the mode is ``token`` when a
token exists, as Ray does for ``auto``, and a refusal that ``ray.init`` reports becomes the same
line. A mode the user set is kept. A local Ray that rlfb starts itself is left to Ray, which
turns authentication on for it (`rlfb.exec.ray_placement.ensure_ray`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from rlfb.errors import RlfbError

MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
DOCS = "docs/ray.md (section Authentication)"
CLUSTER_DOCS = "docs/ray.md (section A cluster)"
PROBE_TIMEOUT_S = 5.0
# How Ray says that a token was missing or refused, in an exception or the text of its cause.
AUTH_FAILURE_MARKS = ("InvalidAuthToken", "AuthenticationError", "no authentication token")

OK, REFUSED, UNKNOWN = "ok", "refused", "unknown"
Probe = Callable[[str, "str | None"], str]


@dataclass(frozen=True)
class Token:
    """A Ray authentication token and where it was found."""

    value: str
    source: str
    """``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH=<file>`` or the default file's path."""


def default_token_file(home: Path | None = None) -> Path:
    """Ray's default token file, ``~/.ray/auth_token``."""
    return (home if home is not None else Path.home()) / ".ray" / "auth_token"


def find_token(env: Mapping[str, str], home: Path | None = None) -> Token | None:
    """The token Ray would use, in Ray's order, or None; a ``RAY_AUTH_TOKEN_PATH`` naming no
    readable token is an `RlfbError` (Ray refuses it too). Blank variables count as unset.

    >>> find_token({"RAY_AUTH_TOKEN": " abc "}), find_token({}, Path("/nonexistent"))
    (Token(value='abc', source='RAY_AUTH_TOKEN'), None)
    """
    if env.get(TOKEN_VAR, "").strip():
        return Token(env[TOKEN_VAR].strip(), TOKEN_VAR)
    path = env.get(TOKEN_PATH_VAR)
    if path:
        value = _read_token(Path(path))
        if value is None:
            raise RlfbError(f"{TOKEN_PATH_VAR}={path} names no readable token file; point it at "
                            f"the file holding the Ray cluster's token (see {DOCS})")
        return Token(value, f"{TOKEN_PATH_VAR}={path}")
    default = default_token_file(home)
    value = _read_token(default)
    return Token(value, str(default)) if value is not None else None


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def gcs_address(address: str) -> str | None:
    """The ``HOST:PORT`` of a head's GCS that ``address`` names, or None for ``auto``,
    ``local`` and Ray Client (``ray://``) addresses.

    >>> gcs_address("10.0.0.1:6379"), gcs_address("auto"), gcs_address("ray://h:10001")
    ('10.0.0.1:6379', None, None)
    """
    host, sep, port = address.rpartition(":")
    return address if sep and host and port.isdigit() and "://" not in address else None


def probe_gcs(address: str, token: str | None, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Ask the GCS at ``address`` for its cluster id, with ``token`` (None: without one):
    `OK`, `REFUSED` (the cluster wants a token, or another one) or `UNKNOWN` (no answer)."""
    try:
        import grpc
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:
        return UNKNOWN
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(address) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout_s,
                              metadata=metadata)
        except grpc.RpcError as exc:
            return REFUSED if exc.code() == grpc.StatusCode.UNAUTHENTICATED else UNKNOWN
    return OK


def client_auth_mode(address: str, env: Mapping[str, str], home: Path | None = None,
                     probe: Probe = probe_gcs) -> str | None:
    """The ``RAY_AUTH_MODE`` to set before joining ``address`` ("token"), or None to leave the
    environment as it is (module docstring); `RlfbError` when the cluster will refuse this
    client. ``probe(gcs_address, token or None)`` asks the head (`probe_gcs`)."""
    token = find_token(env, home)
    mode = (env.get(MODE_VAR) or "").lower() or None
    gcs = gcs_address(address)
    open_cluster = probe(gcs, None) if gcs else UNKNOWN
    if open_cluster == UNKNOWN:  # as Ray does for "auto"
        return None if mode or token is None else "token"
    if open_cluster == OK:
        if mode == "token":
            raise RlfbError(f"the Ray cluster at {address} runs without token authentication "
                            f"but {MODE_VAR}=token, with which its actors never start; unset "
                            f"{MODE_VAR} or set it to disabled (see {DOCS})")
        return None  # Ray's mode for an explicit address, unless the user set one
    if (mode is not None and mode != "token") or token is None \
            or probe(gcs, token.value) == REFUSED:
        raise RlfbError(auth_failure_message(address, env, home))
    return None if mode else "token"


def use_client_auth_mode(address: str) -> str | None:
    """Set ``RAY_AUTH_MODE`` in this process's environment as `client_auth_mode` says (before
    joining ``address``); returns the mode set, or None when nothing changed. Ray reads the mode
    once per process, so when it is already imported its settings are read again."""
    mode = client_auth_mode(address, os.environ)
    if mode is None:
        return None
    os.environ[MODE_VAR] = mode
    if "ray._raylet" in sys.modules:
        from ray._raylet import Config

        Config.initialize("")  # what Ray itself does after enabling token mode
    return mode


def is_auth_failure(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, says the cluster refused the
    client's token or that the client has none (``ray.init`` wraps the refusal in a
    ConnectionError whose cause quotes it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{type(current).__name__}: {current}"
        if any(mark in text for mark in AUTH_FAILURE_MARKS):
            return True
        current = current.__cause__ or current.__context__
    return False


def auth_failure_message(address: str, env: Mapping[str, str],
                         home: Path | None = None) -> str:
    """One line: the cluster at ``address`` wants a token that this client lacks or got wrong,
    and which variable to set."""
    fix = (f"set {TOKEN_VAR} to the cluster's token (`ray get-auth-token` prints it on the head "
           f"node) or {TOKEN_PATH_VAR} to a file holding it; see {DOCS}")
    mode = env.get(MODE_VAR, "")
    if mode and mode.lower() != "token":
        return (f"the Ray cluster at {address} uses token authentication but {MODE_VAR}={mode}; "
                f"set {MODE_VAR}=token and {fix}")
    token = find_token(env, home)
    if token is None:
        return (f"the Ray cluster at {address} uses token authentication and no token was "
                f"found ({TOKEN_VAR}, {TOKEN_PATH_VAR} or ~/.ray/auth_token); {fix}")
    return (f"the Ray cluster at {address} refused the authentication token from "
            f"{token.source}: it is not this cluster's token; {fix}")


def join_failure_message(address: str, exc: BaseException, env: Mapping[str, str],
                         home: Path | None = None) -> str | None:
    """One line for a failed ``ray.init(address)``, or None for an error that is not about
    reaching the cluster (raise it as it is)."""
    if is_auth_failure(exc):
        return auth_failure_message(address, env, home)
    if not isinstance(exc, (ConnectionError, RuntimeError, ValueError)):
        return None
    said = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if address.startswith("ray://"):  # Ray Client times out on a refused token too
        return (f"cannot join the Ray cluster at {address!r} through Ray Client: {said}; check "
                f"the address and its port (10001 by default) and, if the cluster uses token "
                f"authentication, that {TOKEN_VAR} holds its token; see {DOCS}")
    return (f"cannot join the Ray cluster at {address!r}: {said}; no cluster answers there: "
            f"start one with `ray start --head` or fix the address (see {CLUSTER_DOCS})")


def join_cluster(address: str, log_to_driver: bool = True) -> None:
    """``ray.init(address)`` with the client's auth mode set up (module docstring); a one-line
    `RlfbError` when the token is missing or refused, or when no cluster answers."""
    import ray

    use_client_auth_mode(address)
    try:
        ray.init(address=address, log_to_driver=log_to_driver)
    except Exception as exc:
        message = join_failure_message(address, exc, os.environ)
        if message is None:
            raise
        raise RlfbError(message) from None
