"""Policy decision throughput and latency of both engines over the decision-vector corpus.

    .venv/bin/python benchmarks/policy_engines.py [--seconds 3] [--threads 1,2]
                                                  [--engines embedded,opa] [--opa-url URL]
                                                  [--json results.json]

For each engine (`embedded`: rego-cpp in-process; `opa`: an OPA server on loopback, started here
from the pinned binary unless `--opa-url` is given) and each thread count, every thread runs its own
event loop and calls `engine.decide()` back to back, cycling through the inputs of all vectors in
policies/vectors (each thread from a different offset), for `--seconds`. The embedded engine is
shared by the threads (its pool has one worker per thread), as in one server process; each thread
has its own OPA engine (its HTTP session belongs to its event loop), all talking to one OPA server.
Latency is one `decide()` call as a route sees it: queueing, evaluation, schema check.
`CPU ms/decision` is the CPU time of this process (and of the OPA server it started) over the
measured seconds, divided by the decisions: on a busy machine wall-clock latency includes waiting
for a core, CPU time much less so. The report ends with the load average before and after.

Baselines, measured in the same run with the same threads:

* `<engine> · trivial policy` — the same engine with a policy whose decision is a constant: the
  engine's fixed cost (thread hand-off or HTTP round trip, input conversion, schema check). The
  `÷ trivial` column is the corpus throughput divided by this one: the share of time the
  SafeRefer policies themselves take.
* `no-op engine` — a pure-Python engine returning a constant decision: the harness itself.

Every decision must come back without `engine_failure`; failures are counted and reported (a
fast engine that fails closed would otherwise look good). Targets (DESIGN.md): p99 ≤ 1 ms for
the embedded engine and ≤ 2 ms through the OPA server, single-threaded, on the corpus. Numbers
depend on the machine and on whatever else runs on it; compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from saferefer_server._resources import policy_dir
from saferefer_server.policy import (
    OpaProcess,
    PolicyDecision,
    PolicyEngine,
    build_engine,
    load_vectors,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "spec" / "schemas"
TARGET_P99_MS = {"embedded": 1.0, "opa": 2.0}
TIMEOUT_S = 30.0  # measure latency, never fail closed on a slow machine

TRIVIAL_POLICY = """\
package saferefer.sharing

decision := {"allow": true, "violations": [], "permitted_categories": [], "obligations": []}
"""


class NoopEngine:
    """The harness baseline: no policy, no thread hand-off, no I/O."""

    name = "noop"
    _decision = PolicyDecision(True, [], [], [])

    async def decide(self, policy_input: Mapping[str, Any]) -> PolicyDecision:
        return self._decision

    async def check_health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


@dataclass
class Row:
    scenario: str
    engine: str
    policy: str
    threads: int
    decisions: int
    failures: int
    decisions_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_decision: float
    vs_trivial: float | None = None


def _percentile(sorted_ns: Sequence[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(fraction * len(sorted_ns)) - 1))
    return sorted_ns[index] / 1e6


@dataclass
class Measurement:
    latencies_ns: list[int]  # sorted
    failures: int
    wall_s: float
    cpu_s: float  # this process plus the OPA server, if one is watched


def _process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process `pid` (0.0 for None)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    engine_for_thread: Callable[[int], PolicyEngine],
    inputs: Sequence[Mapping[str, Any]],
    threads: int,
    seconds: float,
    *,
    close_in_thread: bool = False,
    opa_pid: int | None = None,
) -> Measurement:
    """`threads` callers deciding back to back for `seconds`, after a warm-up.

    `close_in_thread`: each thread owns its engine and closes it on its own event loop.
    CPU time is counted because the machine may be busy: wall-clock latency then includes
    waiting for a core, CPU seconds per decision much less so.
    """
    latencies: list[list[int]] = [[] for _ in range(threads)]
    failures = [0] * threads
    deadline = [0.0]
    began = [0.0]
    cpu_began = [0.0]

    def open_the_clock() -> None:  # runs once, before any thread passes the barrier
        cpu_began[0] = time.process_time() + _process_cpu_s(opa_pid)
        began[0] = time.perf_counter()
        deadline[0] = began[0] + seconds

    start = threading.Barrier(threads + 1, action=open_the_clock)

    def caller(k: int) -> None:
        engine = engine_for_thread(k)

        async def run() -> None:
            offset = k * len(inputs) // threads
            for i in range(min(len(inputs), 50)):  # warm up: threads, connections, caches
                await engine.decide(inputs[(offset + i) % len(inputs)])
            start.wait()
            i = offset
            own = latencies[k]
            while time.perf_counter() < deadline[0]:
                sent = time.perf_counter_ns()
                decision = await engine.decide(inputs[i % len(inputs)])
                own.append(time.perf_counter_ns() - sent)
                failures[k] += decision.engine_failure
                i += 1
            if close_in_thread:
                await engine.aclose()

        asyncio.run(run())

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began[0]
    cpu = time.process_time() + _process_cpu_s(opa_pid) - cpu_began[0]
    return Measurement(sorted(ns for own in latencies for ns in own), sum(failures), wall, cpu)


def _row(scenario: str, engine: str, policy: str, threads: int, result: Measurement) -> Row:
    count = len(result.latencies_ns)
    return Row(
        scenario=scenario,
        engine=engine,
        policy=policy,
        threads=threads,
        decisions=count,
        failures=result.failures,
        decisions_per_s=count / result.wall_s,
        p50_ms=_percentile(result.latencies_ns, 0.50),
        p99_ms=_percentile(result.latencies_ns, 0.99),
        cpu_ms_per_decision=result.cpu_s * 1000 / count,
    )


def _measure_engine(
    kind: str,
    policies: Path,
    inputs: Sequence[Mapping[str, Any]],
    threads: int,
    seconds: float,
    opa_url: str | None,
    opa_pid: int | None,
) -> Measurement:
    def build() -> PolicyEngine:
        return build_engine(
            kind=kind,
            policy_dir=policies,
            opa_url=opa_url,
            timeout_s=TIMEOUT_S,
            schema_dir=SCHEMA_DIR,
            **({"max_workers": threads} if kind == "embedded" else {}),
        )

    if kind == "opa":
        return _measure(
            lambda _k: build(), inputs, threads, seconds, close_in_thread=True, opa_pid=opa_pid
        )
    shared = build()
    try:
        return _measure(lambda _k: shared, inputs, threads, seconds)
    finally:
        asyncio.run(shared.aclose())


def run(args: argparse.Namespace) -> list[Row]:
    vectors = load_vectors(policy_dir())
    if not vectors:
        sys.exit("no decision vectors under policies/vectors")
    inputs = [v.input for v in vectors]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="saferefer-bench-") as scratch:
        trivial_dir = Path(scratch) / "policies"
        (trivial_dir / "saferefer" / "sharing").mkdir(parents=True)
        (trivial_dir / "saferefer" / "sharing" / "decision.rego").write_text(TRIVIAL_POLICY)
        opa: OpaProcess | None = None
        if "opa" in args.engines and not args.opa_url:
            opa = OpaProcess().start()
        try:
            for threads in args.threads:
                rows.append(
                    _row(
                        "no-op engine",
                        "noop",
                        "none",
                        threads,
                        _measure(lambda _k: NoopEngine(), inputs, threads, args.seconds),
                    )
                )
                for kind in args.engines:
                    url = args.opa_url or (opa.url if opa else None)
                    measured: dict[str, Row] = {}
                    # The trivial policy first: the OPA engines of the corpus run then push the
                    # real policies, replacing the trivial ones on the shared server.
                    for policy, where in (("trivial", trivial_dir), ("corpus", policy_dir())):
                        result = _measure_engine(
                            kind,
                            where,
                            inputs,
                            threads,
                            args.seconds,
                            url,
                            opa.pid if opa else None,
                        )
                        label = f"{kind} · {'trivial policy' if policy == 'trivial' else 'corpus'}"
                        measured[policy] = _row(label, kind, policy, threads, result)
                    corpus = measured["corpus"]
                    corpus.vs_trivial = corpus.decisions_per_s / measured["trivial"].decisions_per_s
                    rows += [measured["corpus"], measured["trivial"]]
                    print(f"  measured {kind} with {threads} thread(s)", file=sys.stderr)
        finally:
            if opa is not None:
                opa.stop()
    return rows


def render(rows: list[Row], vector_count: int) -> str:
    lines = [
        f"Corpus: {vector_count} decision vectors (policies/vectors).",
        "",
        "| scenario | threads | decisions/s | p50 ms | p99 ms | CPU ms/decision | ÷ trivial "
        "| failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = f"{row.vs_trivial:.3f}" if row.vs_trivial is not None else ""
        lines.append(
            f"| {row.scenario} | {row.threads} | {row.decisions_per_s:,.0f} | {row.p50_ms:.3f} "
            f"| {row.p99_ms:.3f} | {row.cpu_ms_per_decision:.3f} | {ratio} | {row.failures} |"
        )
    lines.append("")
    for row in rows:
        if row.policy == "corpus" and row.threads == 1:
            target = TARGET_P99_MS[row.engine]
            verdict = "meets" if row.p99_ms <= target and not row.failures else "MISSES"
            lines.append(
                f"{row.engine}: p99 {row.p99_ms:.2f} ms single-threaded {verdict} the "
                f"{target:g} ms target."
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per row")
    parser.add_argument("--threads", type=lambda s: [int(n) for n in s.split(",")], default=[1, 2])
    parser.add_argument("--engines", type=lambda s: s.split(","), default=["embedded", "opa"])
    parser.add_argument("--opa-url", help="use this OPA server instead of starting one")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = run(args)
    print(render(rows, len(load_vectors(policy_dir()))))
    print(
        f"Machine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after."
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
