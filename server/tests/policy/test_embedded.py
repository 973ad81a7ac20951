"""The embedded engine's own guarantees: regopy's traps are handled, threads never mix answers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from saferefer_server.policy import (
    EmbeddedEngine,
    PolicyLoadError,
    build_engine,
    canonical_document,
)

REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO / "spec" / "schemas"
CATEGORIES = ["identity", "contact", "health", "criminal_record", "sexual_health", "family"]
PolicyWriter = Callable[..., Path]


def _embedded(policy_dir: Path, **kwargs: Any) -> EmbeddedEngine:
    engine = build_engine(kind="embedded", policy_dir=policy_dir, schema_dir=SCHEMA_DIR, **kwargs)
    assert isinstance(engine, EmbeddedEngine)
    return engine


def _varied_input(n: int) -> dict[str, Any]:
    return {
        "purpose": ["assistance", "shelter", "deportation"][n % 3],
        "data_categories": [c for i, c in enumerate(CATEGORIES) if (n >> i) & 1],
        "context": {"notify": n % 5 == 0},
    }


def test_decide_gives_each_thread_its_own_answer_when_threads_race(
    toy_policy_dir: Path, toy_expected: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    # One engine shared by four OS threads, each with its own event loop and many concurrent
    # decisions: with a shared interpreter, answers for other threads' inputs show up here.
    engine = _embedded(toy_policy_dir, max_workers=4, timeout_s=60)
    wrong: list[int] = []

    def caller(offset: int) -> None:
        async def run() -> None:
            inputs = [_varied_input(offset + i) for i in range(150)]
            decisions = await asyncio.gather(*(engine.decide(i) for i in inputs))
            for n, (policy_input, decision) in enumerate(zip(inputs, decisions, strict=True)):
                if decision.to_document() != canonical_document(toy_expected(policy_input)):
                    wrong.append(offset + n)

        asyncio.run(run())

    threads = [threading.Thread(target=caller, args=(k * 1000,)) for k in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        asyncio.run(engine.aclose())

    assert wrong == []


CONFLICT = """\
package saferefer.sharing

import rego.v1

mode := "assist" if input.purpose == "assistance"

mode := "restricted" if "health" in input.data_categories

decision := {"allow": mode == "assist", "violations": [], "permitted_categories": [],
	"obligations": []}
"""


async def test_decide_answers_new_input_when_same_thread_failed_before(
    write_policies: PolicyWriter,
) -> None:
    # One worker thread, so the failed evaluation and the next one share it: the next answer
    # must be computed for the next input, not replayed.
    engine = _embedded(write_policies({"saferefer/sharing/c.rego": CONFLICT}), max_workers=1)
    try:
        allowed = await engine.decide({"purpose": "assistance", "data_categories": []})
        failed = await engine.decide({"purpose": "assistance", "data_categories": ["health"]})
        denied = await engine.decide({"purpose": "shelter", "data_categories": ["health"]})
    finally:
        await engine.aclose()

    assert (allowed.allow, allowed.engine_failure) == (True, False)
    assert failed.engine_failure is True
    assert (denied.allow, denied.engine_failure) == (False, False)


SLOW = """\
package saferefer.sharing

import rego.v1

decision := {"allow": count([x | some x in numbers.range(1, input.n); x % 7 == 0]) > 0,
	"violations": [], "permitted_categories": [], "obligations": []}
"""


async def test_decide_leaves_event_loop_free_when_evaluation_is_slow(
    write_policies: PolicyWriter,
) -> None:
    engine = _embedded(write_policies({"saferefer/sharing/s.rego": SLOW}), timeout_s=10)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        started = time.perf_counter()
        decision = await engine.decide({"n": 200_000})
        elapsed = time.perf_counter() - started
    finally:
        ticking.cancel()
        await engine.aclose()

    assert decision.allow is True
    assert elapsed > 0.1  # the evaluation really was slow (~0.3 s on an idle machine) ...
    assert ticks >= 5  # ... and the loop kept ticking meanwhile (a blocked loop ticks once)


def test_build_engine_raises_when_module_does_not_parse(write_policies: PolicyWriter) -> None:
    broken = "package saferefer.sharing\n\ndecision := \n"

    with pytest.raises(PolicyLoadError, match="cannot compile"):
        _embedded(write_policies({"saferefer/sharing/broken.rego": broken}))


# rego-cpp 1.5.2 (regopy) differs from OPA here: a string literal passed straight to a function
# and formatted with sprintf("%s") keeps its quotes, and the output is no longer valid JSON. The
# engine must fail closed on that rather than crash or guess; the differential test is what keeps
# the real policies clear of it.
SPRINTF_QUIRK = """\
package saferefer.sharing

import rego.v1

message(code) := sprintf("%s refused", [code])

decision := {"allow": false, "violations": [{"code": "x", "rule": "R30",
	"message": message("unknown_purpose"), "legal_basis": "b", "fix": "f"}],
	"permitted_categories": [], "obligations": []}
"""


async def test_decide_fails_closed_when_rego_cpp_emits_broken_json(
    write_policies: PolicyWriter,
) -> None:
    engine = _embedded(write_policies({"saferefer/sharing/q.rego": SPRINTF_QUIRK}))
    try:
        decision = await engine.decide({"purpose": "assistance"})
    finally:
        await engine.aclose()

    assert decision.engine_failure is True


async def test_aclose_removes_compiled_bundle(toy_policy_dir: Path) -> None:
    engine = _embedded(toy_policy_dir)
    bundle_dir = Path(engine._workdir.name)
    assert any(bundle_dir.iterdir())

    await engine.aclose()

    assert not bundle_dir.exists()


def test_build_engine_loads_every_worker_thread_before_first_decision(
    toy_policy_dir: Path,
) -> None:
    engine = _embedded(toy_policy_dir, max_workers=3)
    try:
        # Each worker thread already holds its interpreter; no decision has been asked for yet.
        loaded = [
            engine._executor.submit(lambda: engine._local.state is not None) for _ in range(9)
        ]
        assert all(future.result() for future in loaded)
        assert len(engine._executor._threads) == 3
    finally:
        asyncio.run(engine.aclose())


async def test_decide_counts_only_evaluation_against_timeout_when_decisions_queue(
    write_policies: PolicyWriter,
) -> None:
    # One worker busy with a slow evaluation; a fast decision queued behind it waits far longer
    # than the evaluation deadline, but its own evaluation is quick: it must not fail closed.
    engine = _embedded(
        write_policies({"saferefer/sharing/s.rego": SLOW}), max_workers=1, timeout_s=30
    )
    try:
        started = time.perf_counter()
        assert (await engine.decide({"n": 200_000})).allow is True
        slow = time.perf_counter() - started
        engine._timeout_s = slow / 3
        engine._queue_timeout_s = 60.0
        burst = time.perf_counter()
        blocking, queued = await asyncio.gather(
            engine.decide({"n": 200_000}), engine.decide({"n": 10})
        )
        waited = time.perf_counter() - burst
    finally:
        await engine.aclose()

    assert blocking.engine_failure is True  # over its own deadline: fails closed
    assert waited > engine._timeout_s  # the fast one queued longer than the deadline ...
    assert (queued.allow, queued.engine_failure) == (True, False)  # ... and still decided


async def test_decide_fails_closed_without_evaluating_when_no_worker_frees_up(
    write_policies: PolicyWriter, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _embedded(
        write_policies({"saferefer/sharing/s.rego": SLOW}),
        max_workers=1,
        timeout_s=30,
        queue_timeout_s=0.05,
    )
    evaluated: list[object] = []
    evaluate = engine._evaluate

    def counting(policy_input: Any) -> Any:
        evaluated.append(policy_input)
        return evaluate(policy_input)

    engine._evaluate = counting  # type: ignore[method-assign]
    try:
        slow, queued = await asyncio.gather(engine.decide({"n": 100_000}), engine.decide({"n": 10}))
        await asyncio.sleep(0)
        after = await engine.decide({"n": 10})
    finally:
        await engine.aclose()

    assert (slow.allow, slow.engine_failure) == (True, False)
    assert queued.engine_failure is True
    assert "no free evaluator" in caplog.text
    assert evaluated == [{"n": 100_000}, {"n": 10}]  # the abandoned one never ran; `after` did
    assert (after.allow, after.engine_failure) == (True, False)


async def test_decide_keeps_interpreter_when_input_is_not_json(toy_policy_dir: Path) -> None:
    engine = _embedded(toy_policy_dir, max_workers=1)
    try:
        state = await asyncio.get_running_loop().run_in_executor(
            engine._executor, lambda: engine._local.state
        )
        refused = await engine.decide({"purpose": float("nan")})
        allowed = await engine.decide({"purpose": "assistance", "data_categories": []})
        kept = await asyncio.get_running_loop().run_in_executor(
            engine._executor, lambda: engine._local.state
        )
    finally:
        await engine.aclose()

    assert refused.engine_failure is True
    assert allowed.engine_failure is False
    assert kept is state  # no new interpreter: rebuilding one reloads the bundle


def test_build_engine_refuses_non_positive_queue_timeout(toy_policy_dir: Path) -> None:
    with pytest.raises(ValueError, match="queue_timeout_s"):
        _embedded(toy_policy_dir, queue_timeout_s=0)
