"""The policy dry-run: "may I send this referral?" — the decision a real send would get."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._client import RequestOptions
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from .._validation import validate_document
from ..types import PolicyDecision, ReferralCreate
from ._base import AsyncResource, SyncResource, document, options

__all__ = ["AsyncPolicy", "Policy"]

PATH = "/v1/policy/decisions"


def _check_options(
    referral: Mapping[str, Any] | ReferralCreate,
    validate: bool,
    idempotency_key: str | None,
    timeout: Timeout | NotGiven,
    extra_headers: Headers | None,
) -> RequestOptions:
    body = document(referral, what="referral", model="ReferralCreate")
    if validate:
        validate_document("referral-create.schema.json", body, what="referral")
    return options(
        "POST",
        PATH,
        json=body,
        idempotency_key=idempotency_key,
        timeout=timeout,
        extra_headers=extra_headers,
    )


class Policy(SyncResource):
    def check(
        self,
        referral: Mapping[str, Any] | ReferralCreate,
        *,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> PolicyDecision:
        """Dry-run a referral: the node decides as for a real send, but stores and sends nothing.

        A denial is *returned* (``allow`` false, with ``violations``), not raised; use
        ``decision.permitted_categories`` with :func:`saferefer.minimal_payload`.
        """
        return self._client.request(
            _check_options(referral, validate, idempotency_key, timeout, extra_headers),
            PolicyDecision,
        )


class AsyncPolicy(AsyncResource):
    async def check(
        self,
        referral: Mapping[str, Any] | ReferralCreate,
        *,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> PolicyDecision:
        """Dry-run a referral; see :meth:`Policy.check`."""
        return await self._client.request(
            _check_options(referral, validate, idempotency_key, timeout, extra_headers),
            PolicyDecision,
        )
