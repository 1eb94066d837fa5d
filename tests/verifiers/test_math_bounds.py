"""Time bounds without SIGALRM: timeouts from threads, asyncio, forked processes and Ray actors;
worker crashes; inputs that must never hang the caller. (Latency figures are measured by
experiments/bench/math_verifier.py, not asserted here.)"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.math.worker import get_pool

C, W, U, T, E = (VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.UNPARSEABLE,
                 VerifyStatus.TIMEOUT, VerifyStatus.ERROR)
# sympy needs far longer than any budget below to compare these two products
SLOW = ("\\boxed{\\prod_{k=1}^{3000} (x+k+1)}", "\\prod_{k=1}^{3000} (x+k)")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", autouse=True)
def ready_workers():
    """Budgets here are tight: start the workers before the first check."""
    get_verifier("math").warmup(workers=2, full=False)


# Checks expected to succeed get a roomy budget: on a loaded machine a freshly forked worker may
# need more than the tight budgets used for the checks that must time out.
ROOMY = 30.0


def test_overrun_is_a_timeout_and_the_next_check_works():
    verifier = get_verifier("math", timeout_s=0.4, cache_size=0)
    result = verifier.verify(*SLOW)
    assert result.status == T and result.score != result.score  # nan: masked, never 0
    assert "deadline" in result.info["reason"]
    after = get_verifier("math", timeout_s=ROOMY, cache_size=0)
    assert after.verify("\\boxed{x^2-1}", "(x-1)(x+1)").status == C


def test_timeouts_from_many_threads_at_once():
    tight = get_verifier("math", timeout_s=0.5, cache_size=0)
    roomy = get_verifier("math", timeout_s=ROOMY, cache_size=0)
    jobs = [(tight, *SLOW), (roomy, "\\boxed{2x}", "x+x"), (tight, *SLOW),
            (roomy, "\\boxed{3}", "4"), (roomy, "\\boxed{\\sqrt{8}}", "2\\sqrt{2}")]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        statuses = list(pool.map(lambda job: job[0].verify(job[1], job[2]).status, jobs))
    assert statuses == [T, C, T, W, C]


def test_inside_an_asyncio_loop():
    verifier = get_verifier("math", timeout_s=0.4, cache_size=0)
    roomy = get_verifier("math", timeout_s=ROOMY, cache_size=0)

    async def main():
        direct = verifier.verify(*SLOW).status  # blocking call inside the loop
        loop = asyncio.get_running_loop()
        offloaded = await loop.run_in_executor(None, roomy.verify, "\\boxed{x+x}", "2x")
        return direct, offloaded.status

    assert asyncio.run(main()) == (T, C)


def _child(queue) -> None:
    verifier = get_verifier("math", timeout_s=0.4, cache_size=0)
    verifier.warmup(full=False)  # a forked child starts its own workers
    roomy = get_verifier("math", timeout_s=ROOMY, cache_size=0)
    queue.put([roomy.verify("\\boxed{x+x}", "2x").status.value,
               verifier.verify(*SLOW).status.value])


def test_in_a_forked_process_with_its_own_pool():
    parent_pool = get_pool()
    get_verifier("math").verify("\\boxed{x+1}", "1+x")  # the parent pool has a worker now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    assert queue.get(timeout=60) == ["correct", "timeout"]
    child.join(timeout=30)
    assert child.exitcode == 0
    assert get_pool() is parent_pool
    assert get_verifier("math").verify("\\boxed{y+1}", "1+y").status == C


def test_a_worker_that_died_while_idle_is_replaced():
    verifier = get_verifier("math", cache_size=0)
    assert verifier.verify("\\boxed{z+1}", "1+z").status == C
    idle, _ = get_pool().pids()
    for pid in idle:
        os.kill(pid, signal.SIGKILL)
    for pid in idle:  # wait until the kernel has removed them
        while _exists(pid):
            threading.Event().wait(0.01)
    assert verifier.verify("\\boxed{z+2}", "2+z").status == C


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def test_a_worker_crash_during_a_check_is_an_error_not_a_score():
    verifier = get_verifier("math", timeout_s=30.0, cache_size=0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(verifier.verify, *SLOW)
        busy: list[int] = []
        for _ in range(200):
            busy = get_pool().pids()[1]
            if busy:
                break
            threading.Event().wait(0.05)
        for pid in busy:
            os.kill(pid, signal.SIGKILL)
        crashed = pending.result(timeout=60)
    assert crashed.status == E and crashed.score != crashed.score
    assert "exited" in crashed.info["reason"]
    assert verifier.verify("\\boxed{z+3}", "3+z").status == C


@pytest.mark.parametrize(
    "completion, reference, expected",
    [
        ("\\boxed{10^{10^{10}}}", "5", U),
        ("\\boxed{10^{10^{10}}}", "10^{10^{10}}", C),
        ("\\boxed{2^{2^{2^{2^{2}}}}}", "1", W),
        ("\\boxed{(10^{10^{10}})!}", "1", U),
        ("\\boxed{" + "(" * 400 + "x" + ")" * 400 + "}", "x", U),
        ("\\boxed{" + "{" * 400 + "x" + "}" * 400 + "}", "x", U),
        ("\\boxed{" + "x+" * 2000 + "1}", "1", U),
        ("lorem ipsum 3.14 " * 6000 + "\\boxed{7}", "7", C),
        ("(" * 50000, "7", U),
        ("\\boxed{" * 20000, "7", U),
    ],
)
def test_hostile_inputs_return_promptly(completion, reference, expected):
    verifier = get_verifier("math", timeout_s=2.0, cache_size=0)
    assert verifier.verify(completion, reference).status == expected


def test_long_lists_stay_within_the_budget():
    ints = ",".join(str(i) for i in range(400))
    reordered = ",".join(reversed(ints.split(",")))
    verifier = get_verifier("math", cache_size=0)
    assert verifier.verify("\\boxed{" + reordered + "}", ints).status == C  # linear set check
    decimals = ",".join(f"{i}.5" for i in range(300))
    tiny = get_verifier("math", timeout_s=0.001, cache_size=0)
    result = tiny.verify("\\boxed{" + ",".join(reversed(decimals.split(","))) + "}", decimals)
    assert result.status == T and result.info["path"] == "exact"


@pytest.mark.ray
def test_inside_a_ray_actor(ray_local):
    @ray_local.remote
    class Judge:
        def run(self):
            from rlfb.verifiers import get_verifier as make

            verifier = make("math", timeout_s=0.4, cache_size=0)
            verifier.warmup(full=False)  # the actor is a fresh process
            roomy = make("math", timeout_s=30.0, cache_size=0)
            return [roomy.verify("\\boxed{x+x}", "2x").status.value,
                    verifier.verify(*SLOW).status.value,
                    threading.current_thread() is threading.main_thread()]

    judge = Judge.options(max_concurrency=2).remote()  # methods run in a thread pool
    correct, timeout, in_main_thread = ray_local.get(judge.run.remote(), timeout=120)
    assert (correct, timeout, in_main_thread) == ("correct", "timeout", False)
