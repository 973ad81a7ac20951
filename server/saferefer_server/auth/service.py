"""Authentication services: exchange a client assertion for a token, resolve a bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.auth.keys import NodeKeyStore
from saferefer_server.auth.models import UsedClientAssertion
from saferefer_server.auth.principal import Principal
from saferefer_server.auth.tokens import (
    TokenError,
    check_access_token,
    check_client_assertion,
    issue_access_token,
    read_unverified,
    require_assertion_typ,
)
from saferefer_server.organisations.models import Organisation, is_enabled
from saferefer_server.settings import Settings


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    scope: str
    org_id: str


async def _enabled_org(db_session: AsyncSession, org_id: str) -> Organisation:
    org = await db_session.get(Organisation, org_id)
    if org is None:
        raise TokenError("the organisation is not registered at this node")
    if not org.enabled:
        raise TokenError("the organisation is suspended")
    return org


async def exchange_client_assertion(
    *, db_session: AsyncSession, settings: Settings, keys: NodeKeyStore, assertion: str
) -> IssuedToken:
    """Verify an RFC 7523 client assertion and issue an access token.

    Commits: the assertion's jti is recorded as used before the token is handed out, so a
    replay on any worker of the node fails on the primary key.
    """
    unverified = read_unverified(assertion)
    require_assertion_typ(unverified)
    issuer = unverified.claims.get("iss")
    if not isinstance(issuer, str):
        raise TokenError("the assertion has no iss claim")
    org = await _enabled_org(db_session, issuer)
    checked = check_client_assertion(
        assertion,
        org_jwks=org.jwks,
        accepted_audiences={settings.token_endpoint, settings.node_id},
        max_lifetime_s=settings.client_assertion_max_age_s,
    )
    now = datetime.now(UTC)
    await db_session.execute(
        delete(UsedClientAssertion).where(UsedClientAssertion.expires_at < now)
    )
    try:
        await db_session.execute(
            insert(UsedClientAssertion).values(
                issuer=checked.org_id,
                jti=checked.jti,
                expires_at=datetime.fromtimestamp(checked.expires_at, UTC),
            )
        )
        await db_session.commit()
    except IntegrityError as exc:
        await db_session.rollback()
        raise TokenError("the assertion has already been used (jti replay)") from exc
    token, scope = issue_access_token(
        keys=keys,
        node_id=settings.node_id,
        org_id=org.id,
        roles=list(org.roles),
        ttl_s=settings.access_token_ttl_s,
    )
    return IssuedToken(access_token=token, scope=scope, org_id=org.id)


# The directory columns a bearer-token check needs, read on every API call: not the
# organisation's keys (a JSON document) nor a mapped object, and built once (values are bound).
_CALLER = select(Organisation.status, Organisation.roles, Organisation.country).where(
    Organisation.id == bindparam("org_id")
)


async def principal_for_token(
    *, db_session: AsyncSession, settings: Settings, keys: NodeKeyStore, token: str
) -> Principal:
    """The caller of an API request, from its bearer token and the directory as it is now.

    The directory is read on every call, so a suspension or a removed role counts from the
    next request on.
    """
    checked = check_access_token(
        token, keys=keys, node_id=settings.node_id, ttl_s=settings.access_token_ttl_s
    )
    org = (await db_session.execute(_CALLER, {"org_id": checked.org_id})).one_or_none()
    if org is None:
        raise TokenError("the organisation is not registered at this node")
    if not is_enabled(org.status):
        raise TokenError("the organisation is suspended")
    # A role removed from the directory since the token was issued no longer counts.
    roles = tuple(role for role in checked.roles if role in org.roles)
    return Principal(
        org_id=checked.org_id,
        roles=roles,
        country=org.country,
        node_id=settings.node_id,
        token_id=checked.token_id,
    )
