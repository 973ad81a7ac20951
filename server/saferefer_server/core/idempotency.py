"""`Idempotency-Key` for every POST, as ASGI middleware (no route has to opt in).

Keys are scoped to the calling organisation (from its access token). The rules:

* first request with a key: claimed by inserting an `idempotency_records` row (primary key
  (org_id, key)), executed, and its response (status, headers, body) stored;
* a retry with the same key and the same request (method, path, query, body) gets the stored
  response again, marked `Idempotent-Replayed: true`;
* the same key with a different request: 422 `idempotency-key-reuse`;
* concurrent duplicates: the insert lets exactly one request execute; the others wait for its
  response (polling the row, up to `WAIT_FOR_FIRST_S`) and then replay it. If it is still running
  after that, they get 409 `conflict` with `Retry-After`, and a later retry replays.

Exactly-once also holds across a crash: the request's own database session marks the claim
`effects_committed` inside the same transaction as the request's writes (see `mark_effects`).
A claim whose worker died *before* committing is taken over after `LEASE_S`; one that died
*after* committing is never executed again (409, the client reads the resource instead).
A response that failed (5xx, or 401/429) before anything was committed releases the claim, so
the retry executes; the audit entry of a failed policy decision, committed before its 503, does
not count (`recording_only`). Stored bodies are encrypted with the node's payload key (they can echo a
referral) and records expire after `RETENTION`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saferefer_server.auth.tokens import TokenError, check_access_token
from saferefer_server.core.models import IdempotencyRecord
from saferefer_server.core.problems import ProblemError, instance_of, problem_response
from saferefer_server.db.session import in_read_phase
from saferefer_server.organisations.models import Organisation
from saferefer_server.settings import Settings

log = logging.getLogger("saferefer.idempotency")

HEADER = b"idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(rb"^[\x21-\x7e]{1,255}$")
# Paths with their own replay protection: client assertions (jti) and federation (message_id).
EXCLUDED_PREFIXES = ("/oauth/", "/federation/")
WAIT_FOR_FIRST_S = 10.0
POLL_INTERVAL_S = 0.025
LEASE_S = 60.0
RETENTION = timedelta(hours=24)
PURGE_PROBABILITY = 0.02
# Response headers that belong to one delivery, not to the stored response.
_NOT_STORED = {b"x-request-id", b"content-length", b"date", b"server"}
_RELEASE_STATUSES = {401, 429}


@dataclass(frozen=True)
class Claim:
    org_id: str
    key: str


_current_claim: ContextVar[Claim | None] = ContextVar("saferefer_idempotency_claim", default=None)
_recording_only: ContextVar[bool] = ContextVar(
    "saferefer_idempotency_recording_only", default=False
)


@contextmanager
def recording_only() -> Iterator[None]:
    """Commits inside leave the current claim unmarked: they only record why the request is being
    refused with a 5xx (the audit entry of a failed policy decision), so the claim is released
    and a retry under the same `Idempotency-Key` runs again instead of replaying the refusal."""
    token = _recording_only.set(True)
    try:
        yield
    finally:
        _recording_only.reset(token)


def mark_effects(db_session: AsyncSession) -> None:
    """Make `db_session`'s commit also mark the current request's claim `effects_committed`.

    Called by `deps.get_db_session` for every request session; a no-op without a claim.
    """
    claim = _current_claim.get()
    if claim is None:
        return

    def before_commit(session: Session) -> None:
        if in_read_phase() or _recording_only.get():
            return  # nothing the request is for was committed: its effects are still to come
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.org_id == claim.org_id, IdempotencyRecord.key == claim.key)
            .values(effects_committed=True)
        )

    event.listen(db_session.sync_session, "before_commit", before_commit)


def request_fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


class _Cipher:
    def __init__(self, settings: Settings) -> None:
        self.keyring = dict(settings.payload_keyring())
        self.current_kid = next(iter(self.keyring))

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        return self.current_kid, nonce + AESGCM(self.keyring[self.current_kid]).encrypt(
            nonce, plaintext, aad
        )

    def open(self, kid: str, sealed: bytes, aad: bytes) -> bytes:
        return AESGCM(self.keyring[kid]).decrypt(sealed[:12], sealed[12:], aad)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class IdempotencyStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.cipher = _Cipher(settings)

    async def claim(self, org_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """None when this request now holds the claim, else the existing record."""
        now = datetime.now(UTC)
        async with self.sessionmaker() as db_session:
            if random.random() < PURGE_PROBABILITY:  # noqa: S311 - load spreading, not security
                await db_session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now)
                )
            try:
                await db_session.execute(
                    insert(IdempotencyRecord).values(
                        org_id=org_id,
                        key=key,
                        request_hash=fingerprint,
                        state="in_progress",
                        effects_committed=False,
                        claimed_at=now,
                        expires_at=now + RETENTION,
                    )
                )
                await db_session.commit()
                return None
            except IntegrityError:
                await db_session.rollback()
            existing = await self._load(db_session, org_id, key)
            if existing is None:  # expired and purged in between: try once more
                return await self.claim(org_id, key, fingerprint)
            if existing.expires_at < now or self._abandoned(existing, now):
                taken = await db_session.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.org_id == org_id,
                        IdempotencyRecord.key == key,
                        IdempotencyRecord.claimed_at == existing.claimed_at,
                    )
                    .values(
                        request_hash=fingerprint,
                        state="in_progress",
                        effects_committed=False,
                        claimed_at=now,
                        expires_at=now + RETENTION,
                        response_status=None,
                        response_headers=None,
                        response_body=None,
                        response_key_id=None,
                    )
                )
                await db_session.commit()
                if getattr(taken, "rowcount", 0) == 1:
                    return None
                existing = await self._load(db_session, org_id, key) or existing
            return existing

    @staticmethod
    def _abandoned(record: IdempotencyRecord, now: datetime) -> bool:
        return (
            record.state == "in_progress"
            and not record.effects_committed
            and record.claimed_at + timedelta(seconds=LEASE_S) < now
        )

    @staticmethod
    def abandoned_after_commit(record: IdempotencyRecord, now: datetime | None = None) -> bool:
        """The worker committed the request's writes, then died before storing the response."""
        now = now or datetime.now(UTC)
        return (
            record.state == "in_progress"
            and record.effects_committed
            and record.claimed_at + timedelta(seconds=LEASE_S) < now
        )

    async def _load(
        self, db_session: AsyncSession, org_id: str, key: str
    ) -> IdempotencyRecord | None:
        result = await db_session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.org_id == org_id, IdempotencyRecord.key == key
            )
        )
        record = result.scalar_one_or_none()
        await db_session.commit()
        return record

    async def wait_for_completion(self, org_id: str, key: str) -> IdempotencyRecord | None:
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_FIRST_S
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            async with self.sessionmaker() as db_session:
                record = await self._load(db_session, org_id, key)
            if record is None or record.state == "completed":
                return record
        return None

    async def complete(self, claim: Claim, response: StoredResponse) -> None:
        async with self.sessionmaker() as db_session:
            if response.status >= 500 or response.status in _RELEASE_STATUSES:
                released = await db_session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.org_id == claim.org_id,
                        IdempotencyRecord.key == claim.key,
                        IdempotencyRecord.effects_committed.is_(False),
                    )
                )
                if getattr(released, "rowcount", 0) == 1:
                    await db_session.commit()
                    return
            kid, sealed = self.cipher.seal(response.body, self._aad(claim))
            await db_session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.org_id == claim.org_id, IdempotencyRecord.key == claim.key)
                .values(
                    state="completed",
                    response_status=response.status,
                    response_headers=[
                        [k.decode("latin-1"), v.decode("latin-1")] for k, v in response.headers
                    ],
                    response_body=sealed,
                    response_key_id=kid,
                )
            )
            await db_session.commit()

    async def release(self, claim: Claim) -> None:
        async with self.sessionmaker() as db_session:
            await db_session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.org_id == claim.org_id,
                    IdempotencyRecord.key == claim.key,
                    IdempotencyRecord.effects_committed.is_(False),
                )
            )
            await db_session.commit()

    def stored_response(self, record: IdempotencyRecord) -> StoredResponse:
        assert record.response_status is not None
        assert record.response_body is not None
        assert record.response_key_id is not None
        body = self.cipher.open(
            record.response_key_id,
            record.response_body,
            self._aad(Claim(record.org_id, record.key)),
        )
        headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in record.response_headers or []
        ]
        return StoredResponse(status=record.response_status, headers=headers, body=body)

    @staticmethod
    def _aad(claim: Claim) -> bytes:
        return f"idempotency\0{claim.org_id}\0{claim.key}".encode()

    async def org_enabled(self, org_id: str) -> bool:
        async with self.sessionmaker() as db_session:
            org = await db_session.get(Organisation, org_id)
            await db_session.commit()
        return org is not None and org.enabled


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].startswith(EXCLUDED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.match(raw_key):
            await self._send(
                scope,
                receive,
                send,
                ProblemError(
                    422,
                    "validation-error",
                    "The request is invalid",
                    "Idempotency-Key must be 1-255 visible ASCII characters",
                    errors=[{"header": "Idempotency-Key", "detail": "invalid key"}],
                ),
            )
            return
        org_id = self._caller(scope, headers)
        if org_id is None:  # no valid token: the route answers 401, nothing to protect
            await self.app(scope, receive, send)
            return
        body = await self._read_body(receive)
        store: IdempotencyStore = scope["app"].state.idempotency
        claim = Claim(org_id, raw_key.decode("ascii"))
        fingerprint = request_fingerprint(scope, body)
        existing = await store.claim(claim.org_id, claim.key, fingerprint)
        if existing is None:
            await self._execute(scope, self._replay_body(body, receive), send, store, claim)
            return
        if existing.request_hash != fingerprint:
            await self._send(scope, receive, send, self._reuse_problem())
            return
        if existing.state != "completed":
            if store.abandoned_after_commit(existing):
                await self._send(scope, receive, send, self._lost_problem())
                return
            completed = await store.wait_for_completion(claim.org_id, claim.key)
            if completed is None or completed.state != "completed":
                await self._send(scope, receive, send, self._in_progress_problem())
                return
            if completed.request_hash != fingerprint:
                await self._send(scope, receive, send, self._reuse_problem())
                return
            existing = completed
        if not await store.org_enabled(claim.org_id):
            await self.app(scope, self._replay_body(body, receive), send)  # the route answers 401
            return
        await self._replay(store.stored_response(existing), send)

    @staticmethod
    def _caller(scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        state: Any = scope["app"].state
        try:
            checked = check_access_token(
                token.strip(),
                keys=state.node_keys,
                node_id=state.settings.node_id,
                ttl_s=state.settings.access_token_ttl_s,
            )
        except TokenError:
            return None
        return checked.org_id

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _replay_body(body: bytes, receive: Receive) -> Receive:
        """The body already read, then whatever the client sends next (its disconnect)."""
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _execute(
        self, scope: Scope, receive: Receive, send: Send, store: IdempotencyStore, claim: Claim
    ) -> None:
        status = 500
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _NOT_STORED
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        token = _current_claim.set(claim)
        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await asyncio.shield(store.release(claim))
            raise
        finally:
            _current_claim.reset(token)
        await asyncio.shield(
            store.complete(claim, StoredResponse(status, response_headers, b"".join(chunks)))
        )

    @staticmethod
    async def _replay(response: StoredResponse, send: Send) -> None:
        headers = [
            *response.headers,
            (b"content-length", str(len(response.body)).encode()),
            (REPLAYED_HEADER.lower().encode(), b"true"),
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})

    @staticmethod
    async def _send(scope: Scope, receive: Receive, send: Send, problem: ProblemError) -> None:
        state = scope.get("state") or {}
        response = problem_response(
            problem, instance=instance_of(scope), request_id=state.get("request_id")
        )
        await response(scope, receive, send)

    @staticmethod
    def _reuse_problem() -> ProblemError:
        return ProblemError(
            422,
            "idempotency-key-reuse",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request; use a new key per request",
        )

    @staticmethod
    def _in_progress_problem() -> ProblemError:
        return ProblemError(
            409,
            "conflict",
            "Request in progress",
            "a request with this Idempotency-Key is still being processed; retry later",
            headers={"Retry-After": "1"},
        )

    @staticmethod
    def _lost_problem() -> ProblemError:
        return ProblemError(
            409,
            "conflict",
            "Request already processed",
            "a request with this Idempotency-Key was processed but its response was lost; "
            "read the resource instead of retrying",
        )
