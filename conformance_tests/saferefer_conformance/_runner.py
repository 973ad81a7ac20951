"""Running checks and telling reporters about it through a stream of events.

The runner knows nothing about output formats: it yields :class:`RunStarted`, then a
:class:`CheckStarted` / :class:`CheckFinished` pair per check, then :class:`RunFinished`. Reporters
(console, JUnit XML, JSON) are consumers of that stream, as in schemathesis' architecture.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import httpx

from ._context import Context
from ._failures import CheckFailed, Failure, Skipped, mask_text
from ._registry import Check

Outcome = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class CheckResult:
    check: Check
    outcome: Outcome
    duration: float
    failures: tuple[Failure, ...] = ()
    reason: str = ""

    @property
    def blocks_conformance(self) -> bool:
        """A failed (or crashed) MUST check makes the run fail."""
        return self.outcome in ("failed", "error") and self.check.severity == "must"


@dataclass(frozen=True)
class RunStarted:
    base_url: str
    checks: tuple[Check, ...]
    profiles: tuple[str, ...]
    started_at: float


@dataclass(frozen=True)
class CheckStarted:
    check: Check


@dataclass(frozen=True)
class CheckFinished:
    result: CheckResult


@dataclass(frozen=True)
class RunFinished:
    results: tuple[CheckResult, ...]
    duration: float
    profiles: tuple[str, ...] = field(default=())

    @property
    def conformant(self) -> bool:
        return not any(r.blocks_conformance for r in self.results)


Event = RunStarted | CheckStarted | CheckFinished | RunFinished
Reporter = Callable[[Event], None]


def run_check(check: Check, ctx: Context) -> CheckResult:
    started = time.monotonic()
    try:
        check.run(ctx)
    except CheckFailed as exc:
        failures = tuple(replace(f, severity=check.severity) for f in exc.failures)
        return CheckResult(check, "failed", time.monotonic() - started, failures)
    except Skipped as exc:
        return CheckResult(check, "skipped", time.monotonic() - started, reason=str(exc))
    except httpx.HTTPError as exc:
        failure = Failure(
            title="The server could not be reached or the exchange broke off",
            message=f"{type(exc).__name__}: {mask_text(str(exc))}",
            severity=check.severity,
        )
        return CheckResult(check, "failed", time.monotonic() - started, (failure,))
    except Exception as exc:  # a crash in the suite itself: reported, never hidden
        detail = mask_text("".join(traceback.format_exception(exc))[-2000:])
        return CheckResult(check, "error", time.monotonic() - started, reason=detail)
    return CheckResult(check, "passed", time.monotonic() - started)


def iter_run(checks: Sequence[Check], ctx: Context, profiles: Sequence[str]) -> Iterator[Event]:
    started = time.monotonic()
    yield RunStarted(ctx.base_url, tuple(checks), tuple(profiles), time.time())
    results: list[CheckResult] = []
    for check in checks:
        yield CheckStarted(check)
        result = run_check(check, ctx)
        results.append(result)
        yield CheckFinished(result)
    yield RunFinished(tuple(results), time.monotonic() - started, tuple(profiles))


def run(
    checks: Sequence[Check], ctx: Context, profiles: Sequence[str], reporters: Iterable[Reporter]
) -> RunFinished:
    consumers = list(reporters)
    finished: RunFinished | None = None
    for event in iter_run(checks, ctx, profiles):
        for reporter in consumers:
            reporter(event)
        if isinstance(event, RunFinished):
            finished = event
    assert finished is not None
    return finished
