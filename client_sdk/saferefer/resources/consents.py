"""Consent records: record, read, list, withdraw, and the person's portable receipt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._client import RequestOptions
from .._credentials import Credentials
from .._pagination import AsyncPaginator, SyncPage
from .._signing import sign_consent
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from .._validation import validate_document
from ..types import ConsentCreate, ConsentReceipt, ConsentRecord
from ._base import AsyncResource, SyncResource, document, options, path_id, utc_now

__all__ = ["AsyncConsents", "Consents"]

PATH = "/v1/consents"
CURSOR_PARAM = "cursor"


class _ConsentOptions:
    @staticmethod
    def record(
        consent: Mapping[str, Any] | ConsentCreate,
        credentials: Credentials | None,
        validate: bool,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        body = document(consent, what="consent", model="ConsentCreate")
        if credentials is not None and "recorder_jws" not in body:
            body["recorder_jws"] = sign_consent(body, credentials)
        if validate:
            validate_document("consent-create.schema.json", body, what="consent")
        return options(
            "POST",
            PATH,
            json=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    @staticmethod
    def withdraw(
        consent_id: str,
        channel: str,
        received_by: str,
        withdrawn_at: str | None,
        grant_ids: Sequence[str] | None,
        note: str | None,
        validate: bool,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        body: dict[str, Any] = {
            "channel": channel,
            "withdrawn_at": withdrawn_at or utc_now(),
            "received_by": received_by,
        }
        if grant_ids is not None:
            body["grant_ids"] = list(grant_ids)
        if note is not None:
            body["note"] = note
        if validate:
            validate_document("consent-withdrawal.schema.json", body, what="withdrawal")
        return options(
            "POST",
            f"{PATH}/{path_id(consent_id)}/withdraw",
            json=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    @staticmethod
    def list(
        status: str | None,
        limit: int | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        return options(
            "GET",
            PATH,
            params={"status": status, "limit": limit},
            timeout=timeout,
            extra_headers=extra_headers,
        )


class Consents(SyncResource):
    def record(
        self,
        consent: Mapping[str, Any] | ConsentCreate,
        *,
        sign: bool = True,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentRecord:
        """Record a consent the organisation obtained (``consent-create.schema.json``).

        Unless it carries one or ``sign=False``, the document is signed with the organisation's
        key (``recorder_jws``). It is checked against the schema first; a malformed one raises
        :class:`~saferefer.InvalidRequestError` and nothing is sent. The signature is
        deterministic: the same document under the same ``idempotency_key`` is the same
        request, and the node returns the first consent record.
        """
        opts = _ConsentOptions.record(
            consent,
            self._client.credentials if sign else None,
            validate,
            idempotency_key,
            timeout,
            extra_headers,
        )
        return self._client.request(opts, ConsentRecord)

    def retrieve(
        self,
        consent_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentRecord:
        return self._client.request(
            options(
                "GET", f"{PATH}/{path_id(consent_id)}", timeout=timeout, extra_headers=extra_headers
            ),
            ConsentRecord,
        )

    def list(
        self,
        *,
        status: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[ConsentRecord]:
        """Consents this organisation recorded or is named in; iterate to walk every page."""
        return self._page(
            _ConsentOptions.list(status, limit, timeout, extra_headers),
            ConsentRecord,
            CURSOR_PARAM,
        )

    def withdraw(
        self,
        consent_id: str,
        *,
        channel: str,
        received_by: str,
        withdrawn_at: str | None = None,
        grant_ids: Sequence[str] | None = None,
        note: str | None = None,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentRecord:
        """Record the person's withdrawal (``channel`` from the withdrawal-channels code list,
        ``received_by`` the worker pseudonym); every referral under it is revoked."""
        opts = _ConsentOptions.withdraw(
            consent_id,
            channel,
            received_by,
            withdrawn_at,
            grant_ids,
            note,
            validate,
            idempotency_key,
            timeout,
            extra_headers,
        )
        return self._client.request(opts, ConsentRecord)

    def receipt(
        self,
        consent_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentReceipt:
        """The portable receipt the person can keep."""
        return self._client.request(
            options(
                "GET",
                f"{PATH}/{path_id(consent_id)}/receipt",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            ConsentReceipt,
        )


class AsyncConsents(AsyncResource):
    async def record(
        self,
        consent: Mapping[str, Any] | ConsentCreate,
        *,
        sign: bool = True,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentRecord:
        """Record a consent the organisation obtained (``consent-create.schema.json``)."""
        opts = _ConsentOptions.record(
            consent,
            self._client.credentials if sign else None,
            validate,
            idempotency_key,
            timeout,
            extra_headers,
        )
        return await self._client.request(opts, ConsentRecord)

    async def retrieve(
        self,
        consent_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentRecord:
        return await self._client.request(
            options(
                "GET", f"{PATH}/{path_id(consent_id)}", timeout=timeout, extra_headers=extra_headers
            ),
            ConsentRecord,
        )

    def list(
        self,
        *,
        status: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[ConsentRecord]:
        """Consents this organisation recorded or is named in."""
        return AsyncPaginator(
            self._first_page(
                _ConsentOptions.list(status, limit, timeout, extra_headers),
                ConsentRecord,
                CURSOR_PARAM,
            )
        )

    async def withdraw(
        self,
        consent_id: str,
        *,
        channel: str,
        received_by: str,
        withdrawn_at: str | None = None,
        grant_ids: Sequence[str] | None = None,
        note: str | None = None,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentRecord:
        """Record the person's withdrawal; every referral under it is revoked."""
        opts = _ConsentOptions.withdraw(
            consent_id,
            channel,
            received_by,
            withdrawn_at,
            grant_ids,
            note,
            validate,
            idempotency_key,
            timeout,
            extra_headers,
        )
        return await self._client.request(opts, ConsentRecord)

    async def receipt(
        self,
        consent_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ConsentReceipt:
        """The portable receipt the person can keep."""
        return await self._client.request(
            options(
                "GET",
                f"{PATH}/{path_id(consent_id)}/receipt",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            ConsentReceipt,
        )
