"""Schemathesis against a served SafeRefer node, authenticated as two real organisations.

    .venv/bin/python server/tests/reliability/fuzzing.py [--database sqlite|postgres]
        [--max-examples N] [--max-time SECONDS] [--seed N] [--workers N]
        [--phases examples,coverage,fuzzing,stateful] [--report-dir DIR]

Starts `saferefer-server serve` after `seed-demo` (SQLite in a temporary directory, or a throw-away
PostgreSQL cluster with `--database postgres`), then runs the `schemathesis run` CLI over
spec/openapi.yaml with every check and every phase, the stateful one included. Exit status: 0 when
schemathesis found nothing, 1 otherwise (its report is printed and kept in `--report-dir`).

Authentication: the demo NGO (`ngo`, which every operation is sent as) and the demo shelter
(`shelter`, the peer the `object_level_authorization` check replays the NGO's reads as) hold
private client keys, and `POST /oauth/token` wants a fresh signed client assertion (RFC 7523, a
new `jti` each time) for every token. Schemathesis's Web Fuzzing Commons login support posts a
fixed request, so a small token service on loopback (`TokenService`) signs the assertion with the
organisation's key, exchanges it at the node and hands back the node's answer unchanged. The access
tokens are the node's real ones; schemathesis re-logs in before they expire.

`schemathesis_hooks.py` (loaded through SCHEMATHESIS_HOOKS) turns schema-valid placeholders that
the server must treat as semantically meaningful into real values, without touching values that
are deliberately invalid: a fresh `Idempotency-Key` per generated request, real consent ids (two
consents the NGO records before the run), the sender's real detached JWS over a generated
referral payload, and the demo coordinator's token for `GET /v1/statistics`. It also adds a check:
every 422 `validation-error` locates each of its errors.

The one configured allowance: for operations whose requests have rules JSON Schema cannot express
(SEMANTIC_OPERATIONS), `positive_data_acceptance` also accepts the spec's 422 answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SPEC = REPO / "spec" / "openapi.yaml"
NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
COORDINATOR = "urn:saferefer:org:NL:demo-coordinator"
# WFC users: the first sends every request, the others are the peers of object-level checks.
IDENTITIES = {"ngo": NGO, "shelter": SHELTER}
# Operations only another role may call, and who calls them (schemathesis_hooks.py swaps the
# token): statistics are for national coordinators and rapporteurs (R15).
ROLE_IDENTITIES = {"coordinator": COORDINATOR}
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")
TOKEN_REFRESH_S = 120  # access tokens live 300 s
SEMANTIC_OPERATIONS = (
    "recordConsent",
    "withdrawConsent",
    "createReferral",
    "createReferralTransition",
    "acknowledgeErasure",
    "createPolicyDecision",
    "getStatistics",
)
# schemathesis's default for positive data, plus 422.
SEMANTIC_ACCEPTANCE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


@dataclass(frozen=True)
class FuzzResult:
    returncode: int
    output: str
    report_dir: Path
    tokens_issued: dict[str, int]

    @property
    def passed(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        """The failure details and summary of the run (the tail of schemathesis's output)."""
        marker = self.output.find("=== FAILURES ===")
        if marker < 0:
            marker = self.output.find("=== SUMMARY ===")
        text = self.output[marker:] if marker >= 0 else self.output
        return text[-20000:]


class TokenService:
    """A loopback HTTP service: `POST /token/<name>` → the node's token response for `<name>`."""

    def __init__(self, base_url: str, credentials: Mapping[str, Path]) -> None:
        from saferefer_server.testing import OrgCredentials

        self.base_url = base_url
        self.issued: dict[str, int] = dict.fromkeys(credentials, 0)
        self.credentials = {
            name: OrgCredentials.from_file(path) for name, path in credentials.items()
        }
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                status, body = service.exchange(name)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def exchange(self, name: str) -> tuple[int, bytes]:
        from saferefer_server.testing import client_assertion, token_form

        credentials = self.credentials.get(name)
        if credentials is None:
            return 404, b'{"error": "unknown identity"}'
        response = httpx.post(
            f"{self.base_url}/oauth/token",
            data=token_form(client_assertion(credentials)),
            timeout=30.0,
        )
        if response.status_code == 200:
            self.issued[name] += 1
        return response.status_code, response.content

    def __enter__(self) -> TokenService:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def record_consents(tokens: TokenService, recorder: str, recipients: Sequence[str]) -> list[str]:
    """Real consents of `recorder` naming each recipient; their ids (for the fuzz hooks)."""
    from saferefer_server.referrals.testing import consent_body, grant

    status, body = tokens.exchange(recorder)
    if status != 200:
        raise RuntimeError(f"no token for {recorder}: {status}")
    auth = {"Authorization": f"Bearer {json.loads(body)['access_token']}"}
    ids = []
    for name in recipients:
        org_id = tokens.credentials[name].org_id
        response = httpx.post(
            f"{tokens.base_url}/v1/consents",
            json=consent_body(grants=[grant(org_id=org_id)]),
            headers=auth,
            timeout=30.0,
        )
        response.raise_for_status()
        ids.append(str(response.json()["id"]))
    return ids


def write_config(directory: Path, token_service_url: str, names: Sequence[str]) -> Path:
    """The schemathesis.toml (and the WFC auth file it names) for a run; its path."""
    wfc = {
        "schemaVersion": "0.1.0",
        "auth": [
            {
                "name": name,
                "loginEndpointAuth": {
                    "externalEndpointURL": f"{token_service_url}/token/{name}",
                    "verb": "POST",
                    "token": {
                        "extractFrom": "body",
                        "extractSelector": "/access_token",
                        "sendIn": "header",
                        "sendName": "Authorization",
                        "sendTemplate": "Bearer {token}",
                    },
                },
            }
            for name in names
        ],
    }
    wfc_path = directory / "auth.wfc.json"
    wfc_path.write_text(json.dumps(wfc, indent=2))
    peers = ", ".join(json.dumps(name) for name in names)
    config = f"""\
# Written by server/tests/reliability/fuzzing.py for one run.
cache.enabled = false

[auth]
auto-signup = false

[auth.wfc]
path = {json.dumps(str(wfc_path))}
user = {json.dumps(names[0])}
peers = [{peers}]
refresh_interval = {TOKEN_REFRESH_S}

# These requests have rules beyond their JSON Schema (RIGHTS.md's minimum of a consent, cited
# consents must be the caller's, reason codes per transition, grants of the withdrawn consent,
# the consent of an erasure acknowledgement, statistics' `from` before `to`): the spec answers a
# schema-valid request that breaks one of them with 422 `validation-error`. So 422 is an acceptable answer to positive data here,
# and the `unprocessable_names_the_member` check (schemathesis_hooks.py) requires every such 422
# to be a validation-error problem that locates each error.
[[operations]]
include-operation-id = {json.dumps(list(SEMANTIC_OPERATIONS))}
checks.positive_data_acceptance.expected-statuses = {json.dumps(SEMANTIC_ACCEPTANCE_STATUSES)}
"""
    config_path = directory / "schemathesis.toml"
    config_path.write_text(config)
    return config_path


def run_schemathesis(
    base_url: str,
    credentials: Mapping[str, Path],
    *,
    max_examples: int,
    seed: int,
    report_dir: Path,
    max_time_s: float | None = None,
    workers: int = 1,
    phases: Sequence[str] = ALL_PHASES,
    timeout_s: float | None = None,
) -> FuzzResult:
    """Run the schemathesis CLI (all checks) against `base_url`; `credentials` by WFC user name,
    the first one being the identity that sends every request, plus the ROLE_IDENTITIES."""
    report_dir.mkdir(parents=True, exist_ok=True)
    names = [name for name in credentials if name not in ROLE_IDENTITIES]
    with TokenService(base_url, credentials) as tokens:
        consent_ids = record_consents(tokens, names[0], names[1:])
        config_path = write_config(report_dir, tokens.url, names)
        argv = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config_path),
            "--no-color",
            "run",
            str(SPEC),
            "--url",
            base_url,
            "--checks",
            "all",
            "--phases",
            ",".join(phases),
            "--max-examples",
            str(max_examples),
            "--seed",
            str(seed),
            "--workers",
            str(workers),
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--report",
            "junit,ndjson",
            "--report-dir",
            str(report_dir),
            "--output-truncate",
            "false",
        ]
        if max_time_s is not None:
            argv += ["--max-time", str(int(max_time_s))]
        signer = credentials[names[0]]
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            "PYTHONPATH": os.pathsep.join(
                [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "SAFEREFER_FUZZ_SIGNER": str(signer),
            "SAFEREFER_FUZZ_CONSENT_IDS": ",".join(consent_ids),
            "SAFEREFER_FUZZ_TOKEN_SERVICE": tokens.url,
            "COLUMNS": "120",
        }
        completed = subprocess.run(
            argv,
            env=env,
            cwd=report_dir,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        issued = dict(tokens.issued)
    output = completed.stdout + completed.stderr
    (report_dir / "output.txt").write_text(output)
    return FuzzResult(completed.returncode, output, report_dir, issued)


@contextlib.contextmanager
def served_demo_node(root: Path, database: str = "sqlite") -> Iterator[tuple[str, Path]]:
    """`seed-demo` + `serve` on SQLite or a throw-away PostgreSQL; (base URL, credentials dir)."""
    from saferefer_server.testing import demo_server, postgres_server

    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if database == "postgres":
            env["SAFEREFER_DATABASE_URL"] = stack.enter_context(postgres_server())
        elif database != "sqlite":
            raise ValueError(f"unknown database {database!r}")
        server = stack.enter_context(demo_server(root, env))
        yield server.base_url, server.credentials_dir


def demo_credentials(credentials_dir: Path) -> dict[str, Path]:
    from saferefer_server.organisations.credentials import credentials_file_name

    return {
        name: credentials_dir / credentials_file_name(org_id)
        for name, org_id in {**IDENTITIES, **ROLE_IDENTITIES}.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--max-time", type=float, default=None, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=20260101)
    # More than one worker thread trips CPython 3.11's `SystemError: AST constructor recursion
    # depth mismatch` in hypothesis (it parses lambda sources from several threads at once).
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default=",".join(ALL_PHASES))
    parser.add_argument("--report-dir", type=Path, default=REPO / "var" / "fuzz")
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory(prefix="saferefer-fuzz-") as tmp,
        served_demo_node(Path(tmp), args.database) as (base_url, credentials_dir),
    ):
        print(f"[fuzz] {args.database} node at {base_url}; report in {args.report_dir}")
        result = run_schemathesis(
            base_url,
            demo_credentials(credentials_dir),
            max_examples=args.max_examples,
            seed=args.seed,
            report_dir=args.report_dir,
            max_time_s=args.max_time,
            workers=args.workers,
            phases=args.phases.split(","),
        )
    print(result.output)
    print(f"[fuzz] access tokens issued: {result.tokens_issued}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
