"""Joining a Ray cluster with token authentication: where the token comes from, the client's auth
mode, and the one-line errors (a real cluster: tests/exec/test_ray_start_cluster.py)."""

from __future__ import annotations

import pytest

from rlfb.errors import RlfbError
from rlfb.exec.ray_join import (
    OK,
    REFUSED,
    UNKNOWN,
    Token,
    auth_failure_message,
    client_auth_mode,
    default_token_file,
    find_token,
    is_auth_failure,
    join_failure_message,
)

ADDRESS = "10.0.0.1:6379"


@pytest.fixture
def home(tmp_path):
    """A home folder holding Ray's default token file."""
    default_token_file(tmp_path).parent.mkdir()
    default_token_file(tmp_path).write_text("from-file\n")
    return tmp_path


def test_find_token_follows_rays_order(home, tmp_path):
    path = tmp_path / "token"
    path.write_text("from-path")
    both = {"RAY_AUTH_TOKEN": "from-env", "RAY_AUTH_TOKEN_PATH": str(path)}
    assert find_token(both, home) == Token("from-env", "RAY_AUTH_TOKEN")
    assert find_token({"RAY_AUTH_TOKEN_PATH": str(path)}, home) == \
        Token("from-path", f"RAY_AUTH_TOKEN_PATH={path}")
    default = Token("from-file", str(home / ".ray" / "auth_token"))
    assert find_token({}, home) == default
    # blank variables count as unset, as Ray reads them
    assert find_token({"RAY_AUTH_TOKEN": " ", "RAY_AUTH_TOKEN_PATH": ""}, home) == default
    assert find_token({}, tmp_path / "nobody") is None


def test_a_token_path_without_a_token_is_one_line(home, tmp_path):
    (tmp_path / "empty").write_text("\n")
    for path in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(RlfbError) as err:
            find_token({"RAY_AUTH_TOKEN_PATH": str(path)}, home)
        assert "\n" not in str(err.value) and f"RAY_AUTH_TOKEN_PATH={path}" in str(err.value)


class Head:
    """A fake head's answers to `probe_gcs`: which token it wants (None: none), or no answer."""

    def __init__(self, wants: str | None = None, answers: bool = True) -> None:
        self.wants, self.answers, self.calls = wants, answers, []

    def __call__(self, address: str, token: str | None) -> str:
        self.calls.append((address, token))
        if not self.answers:
            return UNKNOWN
        return OK if self.wants is None or token == self.wants else REFUSED


def test_mode_is_token_when_the_head_wants_the_clients_token(home):
    head = Head(wants="from-file")
    assert client_auth_mode(ADDRESS, {}, home, head) == "token"
    assert head.calls == [(ADDRESS, None), (ADDRESS, "from-file")]
    assert client_auth_mode(ADDRESS, {"RAY_AUTH_MODE": "token"}, home, head) is None  # kept


def test_mode_stays_as_ray_sets_it_for_a_head_without_authentication(home):
    # a token exists, but a client in token mode could not start actors on this cluster
    assert client_auth_mode(ADDRESS, {}, home, Head()) is None
    with pytest.raises(RlfbError, match="runs without token authentication but "
                                        "RAY_AUTH_MODE=token.*unset RAY_AUTH_MODE"):
        client_auth_mode(ADDRESS, {"RAY_AUTH_MODE": "token"}, home, Head())


@pytest.mark.parametrize("env, says", [
    ({"RAY_AUTH_TOKEN": "wrong"}, "refused the authentication token from RAY_AUTH_TOKEN"),
    ({}, "no token was found (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"),
    ({"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "right"}, "but RAY_AUTH_MODE=disabled"),
])
def test_a_head_that_will_refuse_the_client_is_one_line_before_joining(env, says, tmp_path):
    with pytest.raises(RlfbError) as err:
        client_auth_mode(ADDRESS, env, tmp_path, Head(wants="right"))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_without_an_answer_the_mode_follows_rays_rule_for_auto(home, tmp_path):
    silent = Head(answers=False)
    assert client_auth_mode(ADDRESS, {}, home, silent) == "token"  # a token exists
    assert client_auth_mode(ADDRESS, {}, tmp_path / "nobody", silent) is None
    assert client_auth_mode(ADDRESS, {"RAY_AUTH_MODE": "disabled"}, home, silent) is None
    never = Head()
    for address in ("auto", "ray://10.0.0.1:10001"):  # no GCS address to ask
        assert client_auth_mode(address, {}, home, never) == "token"
    assert never.calls == []


def test_auth_failures_are_told_apart_from_other_connection_failures():
    def raised(outer: Exception, cause: Exception) -> Exception:
        try:
            raise outer from cause
        except Exception as exc:
            return exc

    refused = RuntimeError("Failed to connect to GCS. Last connection error: Traceback ...\n"
                           "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: "
                           "Authentication token is missing or incorrect")
    assert is_auth_failure(raised(ConnectionError("Failed to connect to Ray cluster"), refused))
    assert is_auth_failure(type("AuthenticationError", (Exception,), {})("no token found"))
    timeout = RuntimeError("Failed to connect to GCS. Last connection error: TimedOut")
    assert not is_auth_failure(raised(ConnectionError("Failed to connect to Ray cluster"),
                                      timeout))
    assert not is_auth_failure(ValueError("bad address"))


@pytest.mark.parametrize("env", [{"RAY_AUTH_TOKEN": "x"}, {}, {"RAY_AUTH_MODE": "disabled"}])
def test_auth_failure_message_names_the_variable_and_the_docs(env, tmp_path):
    msg = auth_failure_message(ADDRESS, env, tmp_path)
    assert "\n" not in msg and msg.startswith(f"the Ray cluster at {ADDRESS} ")
    assert "set RAY_AUTH_TOKEN" in msg and "docs/ray.md" in msg
    assert "ray start --head" not in msg  # the cluster is running: no hint to start one


def test_join_failure_messages(tmp_path):
    refused = ConnectionError("x")
    refused.__cause__ = RuntimeError("AuthenticationError: RPC error: InvalidAuthToken")
    env = {"RAY_AUTH_TOKEN": "x"}
    assert "refused the authentication token" in join_failure_message("h:1", refused, env)
    nobody = join_failure_message("h:1", ConnectionError("Failed to connect to Ray cluster at "
                                                         "h:1"), env, tmp_path)
    assert nobody == ("cannot join the Ray cluster at 'h:1': Failed to connect to Ray cluster at "
                      "h:1; no cluster answers there: start one with `ray start --head` or fix "
                      "the address (see docs/ray.md (section A cluster))")
    # Ray Client cannot tell a refused token from a timeout: the line names both
    client = join_failure_message("ray://h:10001", ConnectionError("ray client connection "
                                                                   "timeout\nmore"), env)
    assert "\n" not in client and "ray client connection timeout; check the address" in client
    assert "RAY_AUTH_TOKEN holds its token" in client
    assert join_failure_message("h:1", KeyError("not about joining"), env) is None
