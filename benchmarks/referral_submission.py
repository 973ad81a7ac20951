"""Referral submission end to end against a bare FastAPI endpoint, and the inbox at 100,000 rows.

    .venv/bin/python benchmarks/referral_submission.py [--databases sqlite,postgres]
        [--engines embedded,opa] [--connections 32] [--requests 3000] [--seconds 30]
        [--inbox-rows 100000] [--inbox-requests 2000] [--policy-timeout-ms MS] [--json PATH]

For each database (SQLite in a temporary directory; PostgreSQL from Debian's binaries, started
here) and each policy engine (`embedded`: rego-cpp in the server process; `opa`: an OPA server on
loopback started here from the pinned binary), this script:

1. runs `saferefer-server seed-demo` and `saferefer-server serve` (uvicorn, one worker, the serve
   command's own uvicorn settings) as a subprocess on loopback, with a test payload key;
2. takes real access tokens (`POST /oauth/token`, private_key_jwt) for the demo NGO (sender) and
   the demo shelter (recipient) and records a real consent of the NGO naming the shelter;
3. builds referral-create bodies whose `payload` is about 1 KB of JSON (identity and contact,
   the categories the consent grants, so the policy allows them), each signed by the NGO (a
   detached JWS over its JCS form, the SDK's `sign_payload`), all before the clock starts;
4. drives `POST /v1/referrals` with `--connections` concurrent keep-alive connections (an httpx
   AsyncClient with one connection per worker task) until `--requests` responses or `--seconds`
   have passed, after a short warm-up; every request must answer 201 — anything else is counted
   and reported as an error, and errors are not throughput;
5. the baseline: a bare FastAPI app with one endpoint, `POST /v1/referrals`, that only validates
   the same body (the server's own referral-create validator, `domain_spec.validate_or_422`) and
   answers 201, served by uvicorn with the same settings in another subprocess of this run, is
   driven the same way right before step 4. The ratio is server ÷ baseline throughput;
6. inbox listing: the referral rows are bulk-inserted into the shelter's inbox until it holds
   `--inbox-rows` (copies of a real referral the server stored in step 4: the same attributes
   and consent link, each payload re-sealed under its own id with AES-GCM as the server seals
   it, plus its `submitted` transition), then `GET /v1/referrals?box=inbox` (first page of 50)
   as the shelter is driven the same way;
7. server memory: resident set size (VmRSS) of the server process after start-up and after the
   runs, and its peak (VmHWM).

Targets (DESIGN.md "Quality bars"): server ÷ baseline throughput ≥ 0.5 and submission p99 ≤
25 ms under 32 connections. Policy timeout: the server's default (`SAFEREFER_POLICY_TIMEOUT_MS`)
unless `--policy-timeout-ms` is given; a decision over the deadline fails closed (503), which this
benchmark reports as errors. Client and servers share the machine's cores: compare rows of one
run. Results: a Markdown table on stdout and JSON in var/bench/referral_submission-<time>.json
(or `--json`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
NODE = "urn:saferefer:node:NL:demo"
NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0
WARMUP_REQUESTS = 64
INSERT_BATCH = 2000


# --- Measurement ------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p90_ms": round(self.percentile(90), 2),
            "p99_ms": round(self.percentile(99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
        }


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def drive(
    name: str,
    base_url: str,
    send: Send,
    *,
    connections: int,
    max_requests: int,
    seconds: float,
    expected_status: int,
    warmup: int = WARMUP_REQUESTS,
) -> Run:
    """`connections` tasks, each with its own keep-alive connection, call `send` back to back."""
    run = Run(name)
    clients = [
        httpx.AsyncClient(
            base_url=base_url,
            timeout=60.0,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(connections)
    ]
    try:
        # Warm-up: open every connection, fill caches; not measured. All connections stay busy
        # (an idle one would reach uvicorn's keep-alive timeout and be closed under the client).
        counter = iter(range(10**9))
        per_connection = max(1, -(-warmup // connections))

        async def warm(client: httpx.AsyncClient) -> None:
            for _ in range(per_connection):
                with contextlib.suppress(httpx.HTTPError):
                    await send(client, next(counter))

        await asyncio.gather(*(warm(c) for c in clients))
        issued = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal issued
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                index = next(counter)
                began = time.perf_counter()
                try:
                    response = await send(client, index)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed_ms = (time.perf_counter() - began) * 1000
                run.requests += 1
                if status == str(expected_status):
                    run.ok += 1
                    run.latencies_ms.append(elapsed_ms)
                else:
                    run.errors[status] = run.errors.get(status, 0) + 1

        await asyncio.gather(*(worker(c) for c in clients))
        run.seconds = time.perf_counter() - start
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return run


# --- Request bodies ---------------------------------------------------------------------------


def kilobyte_payload(index: int) -> dict[str, Any]:
    """About 1 KB of JSON in the categories the benchmark consent grants (identity, contact)."""
    payload = {
        "identity": {
            "given_name": f"Ana-{index:06d}",
            "family_name": "Popescu",
            "date_of_birth": "1998-04-17",
            "nationality": "RO",
            "languages": ["ro", "en"],
            "document": {"type": "passport", "number": f"RO{index:09d}", "held_by_subject": False},
            "aliases": ["A. P.", "Ana P."],
        },
        "contact": {
            "phone": "+40 700 000 000",
            "preferred_channel": "phone_via_caseworker",
            "safe_times": "weekdays 10:00-16:00, never evenings",
            "address": {"line": "Shelter address withheld", "city": "Utrecht", "country": "NL"},
            "notes": "",
        },
    }
    size = len(json.dumps(payload, separators=(",", ":")))
    payload["contact"]["notes"] = "x" * max(0, 1024 - size)
    return payload


def referral_bodies(count: int, consent: dict[str, Any], credentials: Any) -> list[bytes]:
    from saferefer import sign_payload

    retain_until = datetime.fromtimestamp(time.time() + 90 * 86400, UTC)
    bodies = []
    for index in range(count):
        payload = kilobyte_payload(index)
        body = {
            "recipient": SHELTER,
            "purpose": "assistance",
            "requested_services": ["case_management", "safe_accommodation"],
            "urgency": "routine",
            "consent_ids": [consent["id"]],
            "subject_ref": consent["subject_ref"],
            "subject": {
                "age_status": "adult",
                "asylum_pending": False,
                "identification_status": "reasonable_grounds",
            },
            "payload": payload,
            "payload_signature": sign_payload(payload, credentials),
            "safety_notes": {"risk_level": "medium", "contact_constraints": ["no_home_visits"]},
            "retain_until": retain_until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        bodies.append(json.dumps(body).encode())
    return bodies


# --- Processes --------------------------------------------------------------------------------


def baseline_app() -> Any:
    """The baseline: one endpoint that validates a referral-create body and does nothing else."""
    from fastapi import Body, FastAPI, Request, Response
    from saferefer_server.core.problems import ProblemError
    from saferefer_server.domain_spec import validate_or_422

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(ProblemError)
    async def problem(request: Request, exc: ProblemError) -> Response:
        return Response(
            json.dumps({"status": exc.status, "title": exc.title, "detail": exc.detail}),
            status_code=exc.status,
            media_type="application/problem+json",
        )

    @app.post("/v1/referrals", status_code=201)
    async def create(body: Any = Body()) -> Response:  # noqa: B008 - FastAPI's idiom
        validate_or_422("referral-create.schema.json", body, what="referral")
        return Response(
            json.dumps({"id": str(uuid.uuid4())}),
            status_code=201,
            media_type="application/json",
        )

    return app


def serve_baseline(port: int) -> None:
    """Serve the baseline with the uvicorn settings of `saferefer-server serve`."""
    import uvicorn

    uvicorn.run(
        baseline_app(),
        host="127.0.0.1",
        port=port,
        workers=1,
        log_config=None,
        access_log=False,
        server_header=False,
    )


@contextlib.contextmanager
def baseline_server() -> Iterator[tuple[str, int]]:
    from saferefer_server.testing import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-baseline", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                httpx.post(f"{base_url}/v1/referrals", json={}, timeout=2)
                break
            if process.poll() is not None:
                raise RuntimeError("the baseline server exited")
            time.sleep(0.1)
        yield base_url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    peak_mb: float


def memory_of(pid: int) -> Memory:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return Memory(round(fields.get("VmRSS", 0.0), 1), round(fields.get("VmHWM", 0.0), 1))


def seed_demo(env: dict[str, str], credentials_dir: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "saferefer_server.cli",
            "seed-demo",
            "--credentials-dir",
            str(credentials_dir),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"seed-demo failed: {completed.stderr[-2000:]}")


# --- Bulk insert ------------------------------------------------------------------------------


async def fill_inbox(database_url: str, keyring: Sequence[tuple[str, bytes]], target: int) -> int:
    """Copy a stored referral into the shelter's inbox until it holds `target` rows; rows added."""
    from saferefer_server.core.ids import uuid7
    from saferefer_server.referrals import crypto
    from saferefer_server.referrals.models import Referral, ReferralConsent, ReferralTransition
    from sqlalchemy import func, insert, select
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(Referral).where(Referral.recipient_org == SHELTER)
            )
            template = (
                (
                    await connection.execute(
                        select(Referral.__table__)
                        .where(Referral.recipient_org == SHELTER, Referral.sealed.is_not(None))
                        .order_by(Referral.id.desc())
                        .limit(1)
                    )
                )
                .mappings()
                .one()
            )
        document = crypto.unseal(
            keyring=keyring,
            referral_id=template["id"],
            kid=template["sealed_kid"],
            blob=template["sealed"],
        )
        missing = max(0, target - int(count or 0))
        added = 0
        while added < missing:
            referrals, links, transitions = [], [], []
            for _ in range(min(INSERT_BATCH, missing - added)):
                referral_id = uuid7()
                kid, sealed = crypto.seal(
                    keyring=keyring, referral_id=referral_id, document=document
                )
                row = dict(template)
                row.update(
                    id=referral_id,
                    subject_ref="srp1." + uuid.uuid4().hex + uuid.uuid4().hex[:11],
                    sealed_kid=kid,
                    sealed=sealed,
                )
                referrals.append(row)
                links += [{"referral_id": referral_id, "consent_id": c} for c in row["consent_ids"]]
                transitions.append(
                    {
                        "id": uuid7(),
                        "referral_id": referral_id,
                        "from_state": None,
                        "to_state": row["state"],
                        "actor": "sender",
                        "actor_org": row["sender_org"],
                        "reason": None,
                        "note": None,
                        "caused_by": None,
                        "at": row["created_at"],
                    }
                )
            async with engine.begin() as connection:
                await connection.execute(insert(Referral), referrals)
                await connection.execute(insert(ReferralConsent), links)
                await connection.execute(insert(ReferralTransition), transitions)
            added += len(referrals)
        return added
    finally:
        await engine.dispose()


# --- One configuration ------------------------------------------------------------------------


async def token(client: httpx.AsyncClient, credentials_file: Path) -> dict[str, str]:
    from saferefer_server.testing import OrgCredentials, client_assertion, token_form

    credentials = OrgCredentials.from_file(credentials_file)
    response = await client.post(
        "/oauth/token", data=token_form(client_assertion(credentials, audience=NODE))
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def measure_configuration(
    *,
    database: str,
    database_url: str,
    engine: str,
    root: Path,
    args: argparse.Namespace,
    baseline_url: str,
) -> dict[str, Any]:
    from saferefer import Credentials
    from saferefer_server.referrals.testing import consent_body, grant
    from saferefer_server.settings import Settings
    from saferefer_server.testing import TEST_PAYLOAD_KEY, running_server_process

    env = {
        "SAFEREFER_DATA_DIR": str(root / "data"),
        "SAFEREFER_DATABASE_URL": database_url,
        "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
        "SAFEREFER_NODE_ID": NODE,
        "SAFEREFER_POLICY_ENGINE": engine,
        "SAFEREFER_LOG_LEVEL": "WARNING",
    }
    if args.policy_timeout_ms:
        env["SAFEREFER_POLICY_TIMEOUT_MS"] = str(args.policy_timeout_ms)
    credentials_dir = root / "credentials"
    with contextlib.ExitStack() as stack:
        if engine == "opa":
            from saferefer_server.policy import OpaProcess

            opa = stack.enter_context(OpaProcess())
            env["SAFEREFER_OPA_URL"] = opa.url
        if not credentials_dir.exists():
            await asyncio.to_thread(seed_demo, env, credentials_dir)
        log_file = root / f"server-{engine}.log"
        server = stack.enter_context(running_server_process(env, log_file=log_file))
        memory_start = memory_of(server.process.pid)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            ngo_auth = await token(client, credentials_dir / "NL-demo-ngo.json")
            shelter_auth = await token(client, credentials_dir / "NL-demo-shelter.json")
            consent_response = await client.post(
                "/v1/consents",
                json=consent_body(grants=[grant(org_id=SHELTER)]),
                headers=ngo_auth,
            )
            if consent_response.status_code != 201:
                raise RuntimeError(f"consent refused: {consent_response.text[:500]}")
            consent = consent_response.json()
        sender = Credentials.from_file(credentials_dir / "NL-demo-ngo.json")
        pool = args.requests + WARMUP_REQUESTS + args.connections
        bodies = await asyncio.to_thread(referral_bodies, pool, consent, sender)
        payload_bytes = len(json.dumps(json.loads(bodies[0])["payload"], separators=(",", ":")))

        def poster(headers: dict[str, str]) -> Send:
            json_headers = {**headers, "Content-Type": "application/json"}

            async def send(client: httpx.AsyncClient, index: int) -> httpx.Response:
                return await client.post(
                    "/v1/referrals", content=bodies[index % len(bodies)], headers=json_headers
                )

            return send

        drive_options = {
            "connections": args.connections,
            "max_requests": args.requests,
            "seconds": args.seconds,
        }
        baseline = await drive(
            "bare FastAPI validation",
            baseline_url,
            poster({}),
            expected_status=201,
            **drive_options,
        )
        submission = await drive(
            f"POST /v1/referrals ({database}, {engine})",
            server.base_url,
            poster(ngo_auth),
            expected_status=201,
            **drive_options,
        )
        memory_after_submission = memory_of(server.process.pid)

        settings = Settings(
            data_dir=root / "data", database_url=database_url, payload_keys=TEST_PAYLOAD_KEY
        )
        began = time.perf_counter()
        added = await fill_inbox(database_url, settings.payload_keyring(), args.inbox_rows)
        fill_seconds = time.perf_counter() - began

        async def list_inbox(client: httpx.AsyncClient, index: int) -> httpx.Response:
            return await client.get(
                "/v1/referrals", params={"box": "inbox", "limit": 50}, headers=shelter_auth
            )

        inbox = await drive(
            f"GET /v1/referrals?box=inbox ({database}, {engine})",
            server.base_url,
            list_inbox,
            expected_status=200,
            connections=args.connections,
            max_requests=args.inbox_requests,
            seconds=args.seconds,
        )
        memory_end = memory_of(server.process.pid)
        server_errors = [
            line
            for line in server.log_lines()
            if '"level":"error"' in line or '"level":"critical"' in line or "Traceback" in line
        ]
    ratio = submission.throughput / baseline.throughput if baseline.throughput else 0.0
    return {
        "database": database,
        "engine": engine,
        "payload_bytes": payload_bytes,
        "baseline": baseline.summary(),
        "submission": submission.summary(),
        "ratio": round(ratio, 3),
        "meets_ratio_target": ratio >= TARGET_RATIO,
        "meets_p99_target": submission.percentile(99) <= TARGET_P99_MS and not submission.errors,
        "inbox": {
            **inbox.summary(),
            "rows_inserted_before": added,
            "insert_seconds": round(fill_seconds, 1),
            "target_rows": args.inbox_rows,
        },
        "server_error_log_lines": len(server_errors),
        "server_error_log_sample": server_errors[:5],
        "server_memory_mb": {
            "rss_after_start": memory_start.rss_mb,
            "rss_after_submissions": memory_after_submission.rss_mb,
            "rss_at_end": memory_end.rss_mb,
            "peak": memory_end.peak_mb,
        },
    }


# --- Report -----------------------------------------------------------------------------------


def table(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| database | engine | what | ok/sent | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for key in ("baseline", "submission", "inbox"):
            row = r[key]
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(row["errors"].items())) or "—"
            lines.append(
                f"| {r['database']} | {r['engine']} | {row['name']} | {row['ok']}/{row['requests']} "
                f"| {row['throughput_rps']} | {row['p50_ms']} | {row['p99_ms']} | {errors} |"
            )
    lines.append("")
    lines.append(
        "| database | engine | server ÷ baseline (target ≥ 0.5) | submission p99 ≤ 25 ms "
        "| inbox rows | server RSS start / end / peak MB |"
    )
    lines.append("|---|---|---|---|---|---|")
    for r in results:
        mem = r["server_memory_mb"]
        lines.append(
            f"| {r['database']} | {r['engine']} | {r['ratio']} "
            f"({'met' if r['meets_ratio_target'] else 'NOT met'}) "
            f"| {r['submission']['p99_ms']} ({'met' if r['meets_p99_target'] else 'NOT met'}) "
            f"| {r['inbox']['target_rows']} | {mem['rss_after_start']} / {mem['rss_at_end']} "
            f"/ {mem['peak']} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    from saferefer_server.testing import postgres_cluster

    results = []
    with baseline_server() as (baseline_url, _), contextlib.ExitStack() as stack:
        for database in args.databases.split(","):
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sr-bench-")))
            if database == "sqlite":
                database_url = f"sqlite+aiosqlite:///{root / 'data' / 'saferefer.db'}"
            elif database == "postgres":
                cluster = stack.enter_context(postgres_cluster())
                database_url = cluster.create_database("bench")
            else:
                raise SystemExit(f"unknown database {database!r}")
            for engine in args.engines.split(","):
                print(f"[bench] {database} · {engine} …", file=sys.stderr, flush=True)
                result = await measure_configuration(
                    database=database,
                    database_url=database_url,
                    engine=engine,
                    root=root,
                    args=args,
                    baseline_url=baseline_url,
                )
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--engines", default="embedded,opa")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--inbox-rows", type=int, default=100_000)
    parser.add_argument("--inbox-requests", type=int, default=2000)
    parser.add_argument("--policy-timeout-ms", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return 0

    started = datetime.now(UTC)
    load_at_start = list(os.getloadavg())
    results = asyncio.run(main_async(args))
    print(table(results))
    print(
        f"\nload average (1/5/15 min) at start {load_at_start}, at end {list(os.getloadavg())}; "
        f"{os.cpu_count()} CPUs"
    )
    output = args.json or REPO / "var" / "bench" / (
        f"referral_submission-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "referral_submission",
        "started": started.isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_at_start": load_at_start,
            "load_average_at_end": list(os.getloadavg()),
        },
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {"ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS},
        "results": results,
    }
    output.write_text(json.dumps(document, indent=2))
    print(f"\nJSON: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
