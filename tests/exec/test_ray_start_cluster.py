"""A Ray cluster as a user starts it: `ray start --head` and `ray start --address` as separate
processes, Ray 2.60's token authentication on (its default once a token exists), each node with
its own CPU. `rlfb train --ray-address` joins it as a subprocess, with its roles on both nodes,
and a client with a wrong token is refused in one line.

The nodes live in private temp dirs and ports. `ray stop` stops every Ray process of the machine
(it matches process names), the Ray instances of other tests beside these included, so the nodes
are stopped as `ray stop` stops them (SIGTERM to the raylets, then to the other processes, then
to the GCS; SIGKILL after a grace period) but only their own processes: those whose environment
carries this module's marker, which every process a node starts (its workers too) inherits.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

RAY = str(Path(sys.executable).with_name("ray"))
RLFB = str(Path(sys.executable).with_name("rlfb"))
MARK = "RLFB_TEST_RAY_START"
# Set by the test session's own local Ray (or the user's shell); each process here gets its own.
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
ROLE_CLASSES = {"LearnerHost": "learner", "EngineHost": "rollout", "ScorerHost": "reward"}


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports that were free a moment ago."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def base_env(**extra: str) -> dict[str, str]:
    """This environment without Ray's auth and address variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", **extra}


def marked(marker: str) -> dict[int, str]:
    """``{pid: process name}`` of every live process whose environment has ``MARK=marker``."""
    needle = f"{MARK}={marker}".encode()
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                out[int(entry.name)] = (entry / "comm").read_text().strip()
        except OSError:  # gone, or not ours to read
            continue
    return out


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_marked(marker: str, grace_s: float = 5.0) -> None:
    """`ray stop`'s order, for this marker's processes only: raylets, then the other processes,
    then the GCS; SIGTERM each group, SIGKILL what is left after ``grace_s``."""
    groups = (lambda name: name == "raylet", lambda name: name != "gcs_server",
              lambda name: True)
    for in_group in groups:
        pids = [pid for pid, name in marked(marker).items() if in_group(name)]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            if alive(pid):
                _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class TwoNodes:
    """A head and a worker node on this machine, started with `ray start`, 1 CPU each."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rlfb-rs-"))  # short: Ray's socket paths
        self.token = secrets.token_hex(32)
        self.marker = secrets.token_hex(8)
        self.port, client_port, dash_port, head_agent, worker_agent = free_ports(5)
        self.address = f"127.0.0.1:{self.port}"
        self.logs = {"head": self.root / "head", "worker": self.root / "worker"}
        common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
        env = base_env(**{MARK: self.marker, "RAY_AUTH_TOKEN": self.token})
        # the head: token authentication turns on by itself, as a token exists
        self.head_out = self._ray_start(
            env, "--head", f"--port={self.port}", f"--ray-client-server-port={client_port}",
            f"--dashboard-port={dash_port}", "--include-dashboard=false",
            f"--dashboard-agent-listen-port={head_agent}", f"--temp-dir={self.logs['head']}",
            *common)
        # a worker node runs in token mode explicitly (Ray does not infer it when joining)
        self._ray_start({**env, "RAY_AUTH_MODE": "token"}, f"--address={self.address}",
                        f"--dashboard-agent-listen-port={worker_agent}",
                        f"--temp-dir={self.logs['worker']}", *common)

    def _ray_start(self, env: dict[str, str], *args: str) -> str:
        proc = subprocess.run([RAY, "start", *args], env=env, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            self.stop()
            pytest.fail(f"ray start {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
        return proc.stdout + proc.stderr

    def rlfb(self, *args: str, token: str, marker: str, **env_vars: str
             ) -> subprocess.CompletedProcess:
        """`rlfb ARGS` as a user runs it: the token in RAY_AUTH_TOKEN, RAY_AUTH_MODE unset."""
        env = base_env(**{"RAY_AUTH_TOKEN": token, MARK: marker, **env_vars})
        return subprocess.run([RLFB, *args], env=env, capture_output=True, text=True,
                              timeout=600)

    def actors_by_node(self) -> dict[str, set[str]]:
        """The role actors whose logs each node holds (``:actor_name:`` lines of its workers)."""
        out: dict[str, set[str]] = {}
        for node, temp in self.logs.items():
            roles = set()
            for log in temp.glob("session_*/logs/worker-*.out"):
                for line in log.read_text(errors="replace").splitlines():
                    name = line.removeprefix(":actor_name:")
                    if name != line and name in ROLE_CLASSES:
                        roles.add(ROLE_CLASSES[name])
            out[node] = roles
        return out

    def tasks_by_node(self, name: str) -> dict[str, int]:
        """Each node's ``:task_name:NAME`` log lines (Ray writes some per task it runs)."""
        return {node: sum(log.read_text(errors="replace").splitlines().count(f":task_name:{name}")
                          for log in temp.glob("session_*/logs/worker-*.out"))
                for node, temp in self.logs.items()}

    def stop(self) -> None:
        """Stop both nodes (module docstring) and remove their temp dirs."""
        stop_marked(self.marker)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def nodes():
    """The two nodes, stopped at the end if a test has not stopped them."""
    cluster = TwoNodes()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def tiny_cfg(kit, tmp_path_factory) -> Path:
    """The executor tests' tiny GRPO config, 2 steps, no held-out evaluation, as a file."""
    from rlfb.config import save_config

    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "tiny.yaml"
    save_config(kit.tiny_config(folder / "unused", "run.steps=2", "eval.every=0",
                                "ray.startup_timeout_s=300"), path)
    return path


def test_the_head_is_asked_for_its_token_before_joining(nodes):
    from rlfb.exec.ray_join import OK, REFUSED, UNKNOWN, probe_gcs

    assert probe_gcs(nodes.address, None) == REFUSED
    assert probe_gcs(nodes.address, secrets.token_hex(32)) == REFUSED
    assert probe_gcs(nodes.address, nodes.token) == OK
    assert probe_gcs(f"127.0.0.1:{free_ports(1)[0]}", None) == UNKNOWN  # nothing listens


@pytest.mark.parametrize("token, says", [
    (secrets.token_hex(32), "refused the authentication token from RAY_AUTH_TOKEN: it is not "
                            "this cluster's token"),
    ("", "uses token authentication and no token was found"),
], ids=["wrong", "missing"])
def test_a_wrong_or_missing_token_is_refused_in_one_line(nodes, tiny_cfg, tmp_path, token, says):
    marker = secrets.token_hex(8)
    home = tmp_path / "home"  # no ~/.ray/auth_token
    home.mkdir()
    proc = nodes.rlfb("train", str(tiny_cfg), "--ray-address", nodes.address,
                      f"run.output_dir={tmp_path / 'run'}", token=token, marker=marker,
                      HOME=str(home))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("rlfb: error:")]
    assert len(ours) == 1 and proc.stderr.strip().splitlines()[-1] == ours[0], proc.stderr
    assert f"rlfb: error: the Ray cluster at {nodes.address} {says}" in ours[0]
    assert "set RAY_AUTH_TOKEN" in ours[0] and "docs/ray.md" in ours[0]
    assert "ray start --head" not in ours[0]
    assert not marked(marker)  # the refused client left no process behind


def test_rlfb_ablate_runs_its_arms_on_both_nodes(nodes, tmp_path):
    import json

    from rlfb.ablate.runner import DONE_FILE

    digit = {"mode": "regex", "pattern": "[0-9]", "match": "search"}
    base = {"run": {"steps": 2, "save_every": 0, "samples_every": 0, "progress": False},
            "model": {"path": "tiny:0"},
            "data": {"source": "reasoning_gym", "options": {"task": "basic_arithmetic",
                                                            "size": 20},
                     "prompts_per_step": 2, "eval_prompts": 0},
            "rollout": {"engine": "hf", "n": 2, "max_new_tokens": 4},
            "reward": {"name": "verifier", "options": {"verifier": "format", "options": digit}},
            "learner": {"micro_batch_size": 4}, "eval": {"every": 0}}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(json.dumps({"name": "two", "base": base, "seeds": [0, 1],
                                 "output_dir": str(tmp_path / "out"), "num_cpus_per_arm": 1,
                                 "axes": {"reward": {"digit": {}}}}))
    # two 1-CPU arms at once on two 1-CPU nodes: one arm on each; an override after the options
    proc = nodes.rlfb("ablate", str(sweep), "--ray-address", nodes.address, "--max-parallel",
                      "2", "run.steps=1", token=nodes.token, marker=secrets.token_hex(8))
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    for seed in (0, 1):
        done = json.loads((tmp_path / "out" / f"reward=digit/seed={seed}" / DONE_FILE).read_text())
        assert done["step"] == 1 and not done["resumed"]
    ran = nodes.tasks_by_node("run_arm")
    assert ran["head"] > 0 and ran["worker"] > 0, ran


def test_rlfb_train_runs_on_two_ray_start_nodes_and_nothing_is_left(nodes, tiny_cfg, tmp_path):
    from rlfb.run_log import read_jsonl

    assert "Token authentication is enabled" in nodes.head_out
    running = marked(nodes.marker)
    assert sorted(n for n in running.values() if n in ("raylet", "gcs_server")) == \
        ["gcs_server", "raylet", "raylet"]
    run = tmp_path / "run"
    driver = secrets.token_hex(8)
    # overrides after an option; the roles fill both 1-CPU nodes, so the learner (1 CPU) has
    # a node of its own and the rollout and scorer actors share the other
    proc = nodes.rlfb("train", str(tiny_cfg), "--ray-address", nodes.address,
                      f"run.output_dir={run}", "ray.placement=spread", "ray.learner.num_cpus=1",
                      "ray.rollout.num_cpus=0.5", "ray.reward.num_cpus=0.5",
                      token=nodes.token, marker=driver)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [r for r in read_jsonl(run / "metrics.jsonl") if "time/step" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for role in ROLE_CLASSES.values():  # every role did work on the cluster
        assert sum(r[f"ray/{role}/busy_s"] for r in steps) > 0, role
    on = nodes.actors_by_node()
    assert on["head"] and on["worker"] and on["head"] | on["worker"] == set(ROLE_CLASSES.values())
    assert not on["head"] & on["worker"], on  # one actor per role, each on one node
    assert not marked(driver)  # the driver and everything it started have exited

    nodes.stop()
    assert not marked(nodes.marker)
    assert not any(alive(pid) for pid in running)
