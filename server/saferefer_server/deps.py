"""`Annotated` dependency aliases for routes: the one place where request-scoped things come from.

    async def create(body: ReferralCreate, db_session: SessionDep, org: CurrentOrg) -> ...

`SessionDep` is one AsyncSession per request (shared by every dependency of that request); the
route or its service commits, anything uncommitted is rolled back when the request ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.auth.keys import NodeKeyStore
from saferefer_server.auth.principal import Principal
from saferefer_server.auth.service import principal_for_token
from saferefer_server.auth.tokens import TokenError
from saferefer_server.core.idempotency import mark_effects
from saferefer_server.core.problems import unauthorized
from saferefer_server.db.session import read_phase
from saferefer_server.policy import PolicyEngine
from saferefer_server.settings import Settings

__all__ = [
    "CurrentOrg",
    "NodeKeysDep",
    "PolicyEngineDep",
    "Principal",
    "ReadingOrg",
    "SessionDep",
    "SettingsDep",
]


# The getters below only read `app.state`; they are `async def` so FastAPI calls them on the
# event loop: a plain `def` dependency is run in the thread pool, a thread hop per request each.


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as db_session:
        mark_effects(db_session)
        yield db_session


async def get_node_keys(request: Request) -> NodeKeyStore:
    keys: NodeKeyStore = request.app.state.node_keys
    return keys


async def get_policy_engine(request: Request) -> PolicyEngine:
    engine: PolicyEngine = request.app.state.policy_engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_db_session)]
NodeKeysDep = Annotated[NodeKeyStore, Depends(get_node_keys)]
PolicyEngineDep = Annotated[PolicyEngine, Depends(get_policy_engine)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise unauthorized("this operation needs an access token (Authorization: Bearer ...)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


async def _authenticate(
    request: Request, db_session: AsyncSession, settings: Settings, keys: NodeKeyStore, token: str
) -> Principal:
    """The caller of `token`, read from the directory in the caller's read phase."""
    try:
        principal = await principal_for_token(
            db_session=db_session, settings=settings, keys=keys, token=token
        )
    except TokenError as exc:
        raise unauthorized(str(exc)) from exc
    request.state.org_id = principal.org_id
    return principal


async def get_current_org(
    request: Request, db_session: SessionDep, settings: SettingsDep, keys: NodeKeysDep
) -> Principal:
    token = bearer_token(request)
    # A read of its own: on SQLite it never waits for, or holds, the write lock.
    async with read_phase(db_session):
        return await _authenticate(request, db_session, settings, keys, token)


async def get_reading_org(
    request: Request, db_session: SessionDep, settings: SettingsDep, keys: NodeKeysDep
) -> AsyncIterator[Principal]:
    """The caller, for a route that only reads: the token check's read phase stays open around
    the route (`scope="function"`), and the route's own `read_phase` joins it.

    One transaction (one BEGIN, one COMMIT, one pooled connection) instead of two. The phase
    ends when the route returns, before the response is sent; anything the route raises rolls
    it back, and a route that writes fails the phase (`read_phase` refuses changes).
    """
    token = bearer_token(request)
    async with read_phase(db_session):
        yield await _authenticate(request, db_session, settings, keys, token)


CurrentOrg = Annotated[Principal, Depends(get_current_org)]
# Only for routes that read and never write (a listing, say).
ReadingOrg = Annotated[Principal, Depends(get_reading_org, scope="function")]
