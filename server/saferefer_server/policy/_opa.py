"""The OPA engine: decisions by a real Open Policy Agent server, through opa-python-client.

Policies and data are *pushed* with the client (`update_or_create_data`, then
`update_policy_from_string` for every module of the `PolicySet`), so any OPA started with
`opa run --server` works as the sidecar, and the set it decides with is exactly the one the
embedded engine and `opa eval` load. Modules the server holds that are not in the set (left over
from an earlier revision) are deleted first, so the server's policies equal the policy directory.
OPA recompiles everything on each module upload and refuses a module that calls a function defined
in a module not uploaded yet; uploads (and deletions) are therefore retried while a round still
makes progress, and only then is a compile error reported.

The push happens on first use (`decide` or `check_health`; the server's readiness probe calls the
latter at start-up) because the client lives on the event loop; it runs as its own task, so a
caller that stops waiting does not abort it. If the OPA server loses the policies (a restarted
sidecar) the decision comes back undefined, which fails closed, and the next call pushes them
again; failed pushes are retried at most once per `RELOAD_INTERVAL_S`.

Because the node pushes its policies, OPA accepts writes, and anyone else who can write to it
could replace them. The engine therefore checks that OPA holds exactly the node's `PolicySet`:
every module's source (`GET /v1/policies`, compared by SHA-256) and every data document it pushed
(`GET /v1/data/<path>` at paths no rule shares). The check runs after each push, in every
`check_health` (the readiness probe), and on the decision path at most once per
`VERIFY_INTERVAL_S`, in the background so that no decision waits for it. On a difference it logs
the module ids and data paths (never their contents), stops deciding with that server (fail
closed) and pushes the policy set again, which must then verify. Modules of the `system` package
are OPA's own configuration (the `system.authz` policy of `--authorization=basic`): they cannot
change a SafeRefer decision, and the engine neither checks nor deletes them. This is a tripwire,
not the protection: OPA must be reachable by the node only, and can require the node's bearer
token (`token`, `SAFEREFER_OPA_TOKEN`) for every request.

What opa-python-client 3.0.0's `AsyncOpaClient` does not do, and how this module copes:

* It takes a host and a port, not a URL: `opa_url` is split here (http and https only, no path
  prefix).
* It opens its aiohttp session only in `__aenter__`; the engine enters it once and keeps it.
* It has one timeout for every request; decisions get their own, shorter deadline from
  `asyncio.timeout`, while policy uploads keep the client's longer one.
* `query_rule` raises `aiohttp.ClientResponseError` on a non-2xx answer before reading the body,
  so OPA's error code (e.g. `eval_conflict_error`) is not available; the failure is logged as an
  evaluation error with the HTTP status only.
* It retries connection errors and 500/502/504 with back-off by default; decisions use
  `retries=0` so that one decision never costs more than its deadline, and a 500 (an evaluation
  error) is final.
* `update_policy_from_string` by default rewrites a module it thinks is Rego v0 and uploads it
  again; SafeRefer's policies are Rego v1, so `rego_compat=False` reports the real error instead.
* It has no call that returns every module's source at once (`get_policies_list` gives the ids,
  `get_policy` one module): the check reads `GET /v1/policies` and the pushed data documents with
  an aiohttp session of its own, which sends the same bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from opa_client import AsyncOpaClient
from opa_client.errors import DeletePolicyError

from ._decision import (
    DecisionReader,
    Failure,
    InvalidDecision,
    PolicyDecision,
    log_failure,
    logger,
)
from ._sources import DECISION_PACKAGE, DECISION_RULE, PolicyLoadError, PolicySet

RELOAD_INTERVAL_S = 1.0
LOAD_TIMEOUT_S = 30.0  # one upload of the policy set, in the background
LOAD_WAIT_S = 5.0  # how long a decision waits for an upload in progress
VERIFY_INTERVAL_S = 5.0  # how often the decision path checks what OPA holds
VERIFY_TIMEOUT_S = 5.0
SYSTEM_PACKAGE = "system"  # OPA's own configuration (system.authz), not the node's policies
_STRICT = {"strict-builtin-errors": "true"}
_PACKAGE = re.compile(r"^\s*package\s+([^\s#]+)", re.MULTILINE)


def _split_url(opa_url: str) -> tuple[str, int, bool]:
    parts = urlsplit(opa_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OPA URL must look like http://host:port, got {opa_url!r}")
    if parts.path not in ("", "/"):
        raise ValueError("OPA URL must not have a path (opa-python-client adds /v1 itself)")
    tls = parts.scheme == "https"
    return parts.hostname, parts.port or (443 if tls else 8181), tls


@dataclass(frozen=True)
class HeldDifferences:
    """How what OPA holds differs from the node's policy set: module ids and data paths only."""

    modules_changed: list[str]
    modules_added: list[str]
    modules_missing: list[str]
    data_changed: list[str]

    def __bool__(self) -> bool:
        return bool(
            self.modules_changed or self.modules_added or self.modules_missing or self.data_changed
        )

    def log_fields(self) -> dict[str, list[str]]:
        return {f"opa_{name}": value for name, value in vars(self).items() if value}


class OpaEngine:
    """`PolicyEngine` backed by an OPA server. One instance belongs to one event loop."""

    name = "opa"

    def __init__(
        self,
        policy_set: PolicySet,
        reader: DecisionReader,
        *,
        opa_url: str,
        timeout_s: float,
        token: str | None = None,
    ) -> None:
        self._policy_set = policy_set
        self._reader = reader
        self._timeout_s = timeout_s
        self._host, self._port, self._tls = _split_url(opa_url)
        self._token = token
        self.revision = policy_set.revision
        self._module_digests = {_policy_id(m.path): _digest(m.source) for m in policy_set.modules}
        self._data_checks = _data_checks(policy_set)
        self._stack = AsyncExitStack()
        self._client: AsyncOpaClient | None = None
        self._http: aiohttp.ClientSession | None = None  # the integrity check's own session
        self._loading: asyncio.Future[AsyncOpaClient] | None = None
        self._loaded = False
        self._last_attempt = -RELOAD_INTERVAL_S
        self._last_error = "not loaded yet"
        self._verifying: asyncio.Future[bool] | None = None
        self._verified_at = -VERIFY_INTERVAL_S
        self._closed = False

    async def decide(self, policy_input: Mapping[str, Any]) -> PolicyDecision:
        try:
            # Only JSON reaches the policy, exactly as the embedded engine requires.
            json.dumps(policy_input, allow_nan=False)
        except (TypeError, ValueError) as exc:
            log_failure(self.name, Failure.ERROR, f"input is not JSON ({type(exc).__name__})")
            return PolicyDecision.fail_closed()
        client = await self._client_for_decision()
        if client is None:
            return PolicyDecision.fail_closed()
        self._verify_when_due()
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await client.query_rule(
                    dict(policy_input), DECISION_PACKAGE, DECISION_RULE, query_params=_STRICT
                )
        except TimeoutError:
            log_failure(self.name, Failure.TIMEOUT, f"no decision within {self._timeout_s:g} s")
            return PolicyDecision.fail_closed()
        except aiohttp.ClientResponseError as exc:
            # OPA is up but could not evaluate (e.g. conflicting outputs, a built-in error).
            log_failure(self.name, Failure.ERROR, _describe(exc))
            return PolicyDecision.fail_closed()
        except (aiohttp.ClientError, OSError) as exc:
            self._loaded = False  # the server went away: re-check and re-push next time
            log_failure(self.name, Failure.UNAVAILABLE, _describe(exc))
            return PolicyDecision.fail_closed()
        except Exception as exc:
            log_failure(self.name, Failure.ERROR, _describe(exc))
            return PolicyDecision.fail_closed()
        try:
            if not isinstance(answer, dict):
                raise InvalidDecision(Failure.INVALID, "OPA answered with something else")
            return self._reader.read(answer.get("result"))
        except InvalidDecision as exc:
            if exc.failure is Failure.UNDEFINED:
                self._loaded = False  # maybe a restarted server without our policies
            log_failure(self.name, exc.failure, exc.detail)
            return PolicyDecision.fail_closed()

    async def _client_for_decision(self) -> AsyncOpaClient | None:
        """The client once our policies are in OPA; None (logged) when they are not."""
        if self._loaded and self._client is not None and not self._closed:
            return self._client
        try:
            # Waiting for an upload is bounded too; the upload itself carries on.
            client: AsyncOpaClient = await asyncio.wait_for(
                self._ready_client(), max(self._timeout_s, LOAD_WAIT_S)
            )
        except TimeoutError:
            log_failure(self.name, Failure.UNAVAILABLE, "policies still being loaded")
            return None
        except Exception as exc:
            log_failure(self.name, Failure.UNAVAILABLE, _describe(exc))
            return None
        return client

    async def check_health(self) -> bool:
        """Healthy when OPA answers /health, holds exactly our policy set, and a probe decision
        (empty input) is valid.

        The probe is what a decision needs: a server that lost our policies answers it with
        "undefined" and is unhealthy (and gets them pushed again), as is one that holds
        anything else than our policy set.
        """
        try:
            client = await self._ready_client()
            if not await client.check_health():
                self._loaded = False
                return False
        except Exception:
            return False
        if not await self._verify():
            return False
        probe = await self.decide({})
        return not probe.engine_failure

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._loading, self._verifying):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self._stack.aclose()
        self._client = None
        self._http = None

    # --- integrity ------------------------------------------------------------------------

    def _verify_when_due(self) -> None:
        """Start a check of what OPA holds in the background, at most once per interval."""
        if time.monotonic() - self._verified_at < VERIFY_INTERVAL_S:
            return
        if self._verifying is not None and not self._verifying.done():
            return
        self._verified_at = time.monotonic()
        self._verifying = asyncio.ensure_future(self._verify())
        self._verifying.add_done_callback(_consume_outcome)

    async def _verify(self) -> bool:
        """True when OPA holds exactly our policy set. On a difference: log it, stop deciding
        with this server until the set is pushed again, and start that push."""
        self._verified_at = time.monotonic()
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT_S):
                differences = await self._differences()
        except Exception as exc:
            # Unreachable or failing: the decisions themselves fail closed and say so.
            logger.info("could not check the policies held by OPA: %s", _describe(exc))
            return False
        if not differences:
            return True
        logger.error(
            "OPA holds policies or data other than the node's policy set; "
            "failing closed and pushing the policy set again",
            extra={"policy_engine": self.name, **differences.log_fields()},
        )
        self._loaded = False
        with contextlib.suppress(Exception):
            self._start_loading()
        return False

    async def _differences(self) -> HeldDifferences:
        held = {
            policy_id: _digest(raw)
            for policy_id, raw in (await self._held_modules()).items()
            if not _is_system_module(raw)
        }
        expected = self._module_digests
        data_changed = []
        for path, value in self._data_checks:
            if await self._held_data(path) != value:
                data_changed.append("data." + ".".join(path))
        return HeldDifferences(
            modules_changed=sorted(
                p for p in expected.keys() & held.keys() if held[p] != expected[p]
            ),
            modules_added=sorted(held.keys() - expected.keys()),
            modules_missing=sorted(expected.keys() - held.keys()),
            data_changed=data_changed,
        )

    async def _held_modules(self) -> dict[str, str]:
        """Every module OPA holds: id → source text."""
        document = await self._get_json("/v1/policies")
        return {
            str(module["id"]): str(module.get("raw", ""))
            for module in document.get("result", [])
            if isinstance(module, dict) and "id" in module
        }

    async def _held_data(self, path: tuple[str, ...]) -> object:
        """The document at `data.<path>`; a fresh object (never equal to data) if undefined."""
        document = await self._get_json("/v1/data/" + "/".join(quote(k, safe="") for k in path))
        return document["result"] if "result" in document else object()

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._http is None:
            raise RuntimeError("not connected to OPA")
        async with self._http.get(url) as response:
            response.raise_for_status()
            body = await response.read()
        # Parsed off the event loop: the module list with OPA's ASTs is about half a megabyte.
        document = await asyncio.to_thread(json.loads, body)
        if not isinstance(document, dict):
            raise PolicyLoadError(f"OPA answered {url} with something else than an object")
        return document

    # --- loading --------------------------------------------------------------------------

    async def _ready_client(self) -> AsyncOpaClient:
        if self._closed:
            raise RuntimeError("engine is closed")
        if self._loaded and self._client is not None:
            return self._client
        loading = self._start_loading()
        # Shielded: a caller that gives up (a readiness probe's deadline) does not abort the
        # upload that every other caller is waiting for.
        return await asyncio.shield(loading)

    def _start_loading(self) -> asyncio.Future[AsyncOpaClient]:
        """The upload in progress, or a new one (at most one per `RELOAD_INTERVAL_S`)."""
        if self._loading is None or self._loading.done():
            if time.monotonic() - self._last_attempt < RELOAD_INTERVAL_S:
                raise PolicyLoadError(f"policies not loaded into OPA: {self._last_error}")
            self._last_attempt = time.monotonic()
            self._loading = asyncio.ensure_future(self._load())
            self._loading.add_done_callback(_consume_outcome)
        return self._loading

    async def _load(self) -> AsyncOpaClient:
        try:
            client = await self._connect()
            async with asyncio.timeout(LOAD_TIMEOUT_S):
                await self._push(client)
                # Someone writing at the same moment could have replaced a module again.
                differences = await self._differences()
            if differences:
                raise PolicyLoadError(
                    "OPA does not hold the policy set just pushed: "
                    + json.dumps(differences.log_fields(), sort_keys=True)
                )
        except Exception as exc:
            self._last_error = _describe(exc)
            raise
        self._verified_at = time.monotonic()
        self._last_attempt = -RELOAD_INTERVAL_S  # only failed pushes hold the next one back
        self._loaded = True
        return client

    async def _connect(self) -> AsyncOpaClient:
        if self._client is None:
            client = AsyncOpaClient(
                host=self._host,
                port=self._port,
                ssl=self._tls,
                token=self._token,
                retries=0,
                timeout=LOAD_TIMEOUT_S,
            )
            self._client = await self._stack.enter_async_context(client)
        if self._http is None:
            scheme = "https" if self._tls else "http"
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
            session = aiohttp.ClientSession(
                base_url=f"{scheme}://{self._host}:{self._port}",
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=VERIFY_TIMEOUT_S),
            )
            self._http = await self._stack.enter_async_context(session)
        return self._client

    async def _push(self, client: AsyncOpaClient) -> None:
        if not await client.check_health():
            raise PolicyLoadError(f"OPA at {self._host}:{self._port} is not healthy")
        modules = {_policy_id(m.path): m.source for m in self._policy_set.modules}
        # Stale modules go first: one could define rules that conflict with the new set.
        held = await self._held_modules()
        stale = {p for p, raw in held.items() if not _is_system_module(raw)} - set(modules)
        await _until_no_progress(
            {policy_id: functools.partial(_delete_if_present, client) for policy_id in stale},
            "delete",
        )
        await client.update_or_create_data(dict(self._policy_set.data), "")
        await _until_no_progress(
            {
                policy_id: functools.partial(
                    client.update_policy_from_string, source, rego_compat=False
                )
                for policy_id, source in modules.items()
            },
            "accept",
        )


async def _until_no_progress(
    steps: dict[str, Callable[[str], Awaitable[object]]], verb: str
) -> None:
    """Run `steps[policy_id](policy_id)` for every module, retrying the failed ones while a round
    still makes progress: OPA refuses a module whose dependencies are not there (yet / anymore)."""
    pending = dict(steps)
    errors: dict[str, str] = {}
    while pending:
        before = len(pending)
        for policy_id, step in list(pending.items()):
            try:
                await step(policy_id)
            except Exception as exc:
                errors[policy_id] = _describe(exc)
            else:
                del pending[policy_id]
                errors.pop(policy_id, None)
        if len(pending) == before:
            first, reason = sorted(errors.items())[0]
            raise PolicyLoadError(
                f"OPA did not {verb} {len(pending)} module(s), e.g. {first}: {reason}"
            )


async def _delete_if_present(client: AsyncOpaClient, policy_id: str) -> None:
    # Another engine sharing the server may have deleted it a moment ago.
    try:
        await client.delete_policy(policy_id)
    except DeletePolicyError as exc:
        if exc.expression != "resource_not_found":
            raise


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    # Every caller may have given up waiting; the outcome is kept in `_last_error` instead.
    if not task.cancelled():
        task.exception()


def _policy_id(module_path: str) -> str:
    # The module's path in the policy directory, as OPA's own loader would name it.
    return module_path


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _package_of(source: str) -> tuple[str, ...]:
    match = _PACKAGE.search(source)
    return tuple(match.group(1).split(".")) if match else ()


def _is_system_module(source: str) -> bool:
    return _package_of(source)[:1] == (SYSTEM_PACKAGE,)


def _data_checks(policy_set: PolicySet) -> tuple[tuple[tuple[str, ...], object], ...]:
    """(path, document) pairs that cover the pushed data and that OPA returns unchanged.

    `GET /v1/data/<path>` mixes in the rules of packages at or below `path`, so the data tree is
    split below any such path into the subtrees that hold data only.
    """
    packages = {_package_of(module.source) for module in policy_set.modules}
    checks: list[tuple[tuple[str, ...], object]] = []

    def walk(path: tuple[str, ...], document: object) -> None:
        shared = any(package[: len(path)] == path for package in packages)
        if shared and isinstance(document, dict):
            for key, child in document.items():
                walk((*path, str(key)), child)
        else:
            checks.append((path, document))

    for key, document in policy_set.data.items():
        walk((str(key),), document)
    return tuple(checks)


def _describe(exc: BaseException) -> str:
    """Exception type plus, for errors raised here or by OPA's compiler, the message.

    Messages of other exceptions are not logged: they can quote parts of the request.
    """
    if isinstance(exc, PolicyLoadError):
        return str(exc)
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__} (HTTP {exc.status})"
    if type(exc).__module__.startswith("opa_client"):
        # OPA's compiler messages point into the policy source, which is not personal data.
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__
