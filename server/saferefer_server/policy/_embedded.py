"""The embedded engine: Rego evaluated in-process by rego-cpp (regopy), no extra process.

How it avoids regopy's traps (each one is exercised by server/tests/policy/: test_engine.py on
both engines, test_embedded.py, and test_differential.py on the real policies):

* Compiled once. `EmbeddedEngine` compiles the policy set into a rego-cpp bundle with a single
  entrypoint, the decision object `data.saferefer.sharing.decision` (querying a boolean rule
  that is false answers "undefined", indistinguishable from a missing rule). The bundle is
  saved in rego-cpp's binary format to a private temporary directory.
* One interpreter per thread. Decisions run in a bounded `ThreadPoolExecutor`; each worker
  thread owns an interpreter and its own copy of the bundle (loaded from that file), kept in a
  `threading.local`. An interpreter shared by threads answers with other threads' inputs, or
  crashes the process.
* Off the event loop. A decision is C++ work, well under a millisecond for a small policy and
  tens of milliseconds for SafeRefer's full policy set in rego-cpp 1.5.2; it runs in the pool, so
  the event loop never blocks on it. The ctypes calls release the GIL.
* No stale answers. Ad-hoc queries are never used (a query that fails to parse answers with the
  previous query's result and `ok()` true). The input is set before every evaluation, the output
  must be `ok()` and hold exactly one value, and after any error the thread's interpreter and
  bundle are thrown away and rebuilt for the next decision.
* Strings survive. The input is handed over the way `_rego_input.set_input` explains: never as
  a plain `regopy.Input`, which breaks strings holding a quote, a backslash or a control
  character, and not as JSON text either, whose parsing costs most of the time budget. rego-cpp
  keeps such strings in escaped form: equality and output are right, but `count`, `substring` or
  `upper` on them count the escapes (the policies use them only on codes and timestamps).
* Warm at start-up. Every worker thread loads its interpreter and bundle and evaluates once
  while the engine is built, so the first burst of decisions does not pay for loading inside
  its deadline.
* Sized for the CPU. Evaluations are CPU-bound C++ work that releases the GIL: one thread per
  available core (at most four) keeps every core busy; more threads would only slice the same
  cores and make every decision slower.
* Two deadlines. `timeout_s` bounds the evaluation itself and starts when a worker thread picks
  the decision up; waiting for a free worker has its own, longer bound (`queue_timeout_s`), so a
  burst of concurrent decisions queues instead of failing because of the decisions ahead of it.
* Fail closed. Errors, undefined or schema-invalid results and either timeout give
  `PolicyDecision.fail_closed()`. A decision that gives up while still queued is never
  evaluated. rego-cpp cannot be interrupted: after an evaluation timeout the worker finishes in
  the background and its result is discarded; the pool is bounded, so runaway evaluations make
  later decisions queue and time out (fail closed) rather than pile up threads.
* Kept interpreters. An input that is not JSON is refused before rego-cpp sees it, so the
  thread keeps its interpreter; only a failure inside rego-cpp replaces it (rebuilding one loads
  the bundle again: tens of milliseconds of CPU for SafeRefer's policies).
* One C++ allocator. regopy is imported through `_native`, which makes rego-cpp and libstdc++
  share `operator new`/`operator delete` whatever C++ extension was loaded first; with two
  allocators every decision and every rebuilt interpreter leaked memory (about 450 KB per
  decision in the served node, which loads greenlet's libstdc++ first).
* Built-in errors are strict (`strict_built_in_errors`), as in the OPA engine: a built-in that
  fails makes the whole decision fail closed instead of silently dropping the rule that called it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._decision import (
    DecisionReader,
    Failure,
    InvalidDecision,
    PolicyDecision,
    log_failure,
)
from ._native import regopy
from ._rego_input import set_input
from ._sources import DECISION_ENTRYPOINT, PolicyLoadError, PolicySet

_BUNDLE_FILE = "policy.rbb"
_MAX_DEFAULT_WORKERS = 4
_MIN_QUEUE_TIMEOUT_S = 2.0
_WARM_UP_TIMEOUT_S = 120.0


def default_workers() -> int:
    """One evaluation thread per core this process may run on, at most four."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(_MAX_DEFAULT_WORKERS, cores))


def default_queue_timeout(timeout_s: float) -> float:
    """How long a decision may wait for a free worker: four evaluation budgets, at least 2 s."""
    return max(_MIN_QUEUE_TIMEOUT_S, 4 * timeout_s)


def _new_interpreter() -> regopy.Interpreter:
    interpreter = regopy.Interpreter()
    # rego-cpp prints parse and evaluation errors to stdout at its default level; those messages
    # can quote input values, which must never reach a log.
    interpreter.log_level = regopy.LogLevel.NONE
    interpreter.strict_built_in_errors = True
    return interpreter


def compile_bundle(policy_set: PolicySet, bundle_path: Path) -> None:
    """Compile `policy_set` to a rego-cpp binary bundle at `bundle_path` (once per engine)."""
    interpreter = _new_interpreter()
    try:
        interpreter.add_data(policy_set.data)
        for module in policy_set.modules:
            interpreter.add_module(module.path, module.source)
        bundle = interpreter.build(None, [DECISION_ENTRYPOINT])
    except regopy.RegoError as exc:
        # rego-cpp's compiler messages quote the policy source, never an input: safe to show.
        raise PolicyLoadError(f"rego-cpp cannot compile {policy_set.root}: {exc}") from exc
    if not bundle.ok():
        raise PolicyLoadError(f"rego-cpp could not build a bundle from {policy_set.root}")
    interpreter.save_bundle(str(bundle_path), bundle, regopy.BundleFormat.Binary)


@dataclass
class _ThreadState:
    interpreter: regopy.Interpreter
    bundle: regopy.Bundle


class _EvaluationError(Exception):
    """rego-cpp reported an error; its message is not kept (it may quote input values)."""


class InputNotJson(Exception):
    """The policy input is not a JSON document; rego-cpp never saw it."""


class _Abandoned(Exception):
    """The caller stopped waiting before a worker picked the decision up."""


class EmbeddedEngine:
    """`PolicyEngine` on rego-cpp, one interpreter per worker thread."""

    name = "embedded"

    def __init__(
        self,
        policy_set: PolicySet,
        reader: DecisionReader,
        *,
        timeout_s: float,
        max_workers: int | None = None,
        queue_timeout_s: float | None = None,
    ) -> None:
        self._reader = reader
        self._timeout_s = timeout_s
        self._queue_timeout_s = (
            default_queue_timeout(timeout_s) if queue_timeout_s is None else queue_timeout_s
        )
        self.revision = policy_set.revision
        self._workdir = tempfile.TemporaryDirectory(prefix="saferefer-policy-")
        self._bundle_path = Path(self._workdir.name) / _BUNDLE_FILE
        try:
            compile_bundle(policy_set, self._bundle_path)
        except BaseException:
            self._workdir.cleanup()
            raise
        self.workers = max_workers or default_workers()
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rego")
        self._closed = False
        # Threads and the bundle file go away even if the owner forgets aclose().
        self._finalizer = weakref.finalize(self, _release, self._executor, self._workdir)
        try:
            self._warm_up()
        except BaseException:
            self._finalizer()
            raise

    def _warm_up(self) -> None:
        """Start every worker thread and give it a loaded interpreter that has evaluated once."""
        # The barrier holds each warm-up task until all have started, so each runs on its own
        # thread and the pool starts all of them.
        barrier = threading.Barrier(self.workers)

        def warm() -> None:
            try:
                state = self._new_thread_state()
            except BaseException:
                barrier.abort()  # release the other threads: the engine cannot be built
                raise
            try:
                self._run(state, {})
            except Exception:  # a policy that fails on an empty input: not a loading problem
                self._local.state = None  # a fresh interpreter is built on first use
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(_WARM_UP_TIMEOUT_S)

        warming = [self._executor.submit(warm) for _ in range(self.workers)]
        for future in warming:
            try:
                future.result()
            except _EvaluationError as exc:
                raise PolicyLoadError("rego-cpp could not load the compiled bundle") from exc

    async def decide(self, policy_input: Mapping[str, Any]) -> PolicyDecision:
        if self._closed:
            log_failure(self.name, Failure.UNAVAILABLE, "engine is closed")
            return PolicyDecision.fail_closed()
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        abandoned = threading.Event()

        def job() -> PolicyDecision:
            if abandoned.is_set():
                raise _Abandoned
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody waits
                loop.call_soon_threadsafe(_mark_started, started)
            return self._evaluate(policy_input)

        evaluation = loop.run_in_executor(self._executor, job)
        try:
            await asyncio.wait(
                (evaluation, started),
                timeout=self._queue_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not (evaluation.done() or started.done()):
                abandoned.set()
                evaluation.cancel()
                log_failure(
                    self.name,
                    Failure.TIMEOUT,
                    f"no free evaluator within {self._queue_timeout_s:g} s",
                )
                return PolicyDecision.fail_closed()
            return await asyncio.wait_for(evaluation, self._timeout_s)
        except TimeoutError:
            log_failure(self.name, Failure.TIMEOUT, f"no decision within {self._timeout_s:g} s")
        except InvalidDecision as exc:
            log_failure(self.name, exc.failure, exc.detail)
        except Exception as exc:  # anything else: deny, and say which kind of thing went wrong
            log_failure(self.name, Failure.ERROR, type(exc).__name__)
        finally:
            started.cancel()
        return PolicyDecision.fail_closed()

    async def check_health(self) -> bool:
        """Healthy when the pool is open and a probe evaluation gives a valid decision."""
        if self._closed:
            return False
        probe = await self.decide({})
        return not probe.engine_failure

    async def aclose(self) -> None:
        self._closed = True
        self._finalizer()

    # --- worker thread side ---------------------------------------------------------------

    def _evaluate(self, policy_input: Mapping[str, Any]) -> PolicyDecision:
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is None:
            state = self._new_thread_state()
        try:
            result = self._run(state, policy_input)
        except InputNotJson:
            raise  # refused before rego-cpp saw it: the interpreter is intact
        except BaseException:
            # Never evaluate on an interpreter that has failed: rebuild it next time.
            self._local.state = None
            raise
        return self._reader.read(result)

    def _new_thread_state(self) -> _ThreadState:
        interpreter = _new_interpreter()
        bundle = interpreter.load_bundle(str(self._bundle_path), regopy.BundleFormat.Binary)
        if not bundle.ok():
            raise _EvaluationError("bundle did not load")
        state = _ThreadState(interpreter, bundle)
        self._local.state = state
        return state

    @staticmethod
    def _run(state: _ThreadState, policy_input: Mapping[str, Any]) -> object:
        """The decision value, or None when it is undefined."""
        try:
            set_input(state.interpreter, policy_input)
        except (TypeError, ValueError):
            raise InputNotJson from None
        except regopy.RegoError:
            raise _EvaluationError("rego-cpp refused the input") from None
        try:
            output = state.interpreter.query_bundle_entrypoint(state.bundle, DECISION_ENTRYPOINT)
        except regopy.RegoError:
            raise _EvaluationError("rego-cpp raised") from None
        if not output.ok():
            raise _EvaluationError("rego-cpp answered with an error")
        results = output.results
        if len(results) != 1:
            return None
        expressions = results[0].expressions
        if len(expressions) != 1:
            return None  # rego-cpp's "undefined" is a result without expressions
        value: object = expressions[0]
        return value


def _mark_started(started: asyncio.Future[None]) -> None:
    if not started.done():
        started.set_result(None)


def _release(executor: ThreadPoolExecutor, workdir: tempfile.TemporaryDirectory[str]) -> None:
    executor.shutdown(wait=False, cancel_futures=True)
    workdir.cleanup()
