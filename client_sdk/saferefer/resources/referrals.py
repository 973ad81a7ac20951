"""Referrals: create (signed, validated), list the inbox or outbox, read, and move through states.

The state machine is the table in spec/codelists/referral-states.json: the recipient marks a
referral ``received``, then ``accepted`` or ``declined`` (with a decline reason), then
``completed`` (with an outcome code); the sender may ``withdraw`` it while it is open. A move the
table does not allow raises :class:`~saferefer.ConflictError` naming the allowed ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .._client import RequestOptions
from .._pagination import AsyncPaginator, SyncPage
from .._signing import sign_payload
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from .._validation import validate_document
from ..types import ErasureAcknowledgementRecord, Referral, ReferralCreate, ReferralTransition
from ._base import AsyncResource, SyncResource, document, options, path_id, utc_now

__all__ = ["AsyncReferrals", "Referrals"]

PATH = "/v1/referrals"
CURSOR_PARAM = "cursor"
Box = Literal["inbox", "outbox"]


class _ReferralOptions:
    def __init__(self, resource: SyncResource | AsyncResource) -> None:
        self._credentials = resource._client.credentials

    def create(
        self,
        referral: Mapping[str, Any] | ReferralCreate,
        sign: bool,
        validate: bool,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        body = document(referral, what="referral", model="ReferralCreate")
        if sign and "payload_signature" not in body and isinstance(body.get("payload"), Mapping):
            body["payload_signature"] = sign_payload(body["payload"], self._credentials)
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

    @staticmethod
    def list(
        box: Box,
        state: str | None,
        limit: int | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        return options(
            "GET",
            PATH,
            params={"box": box, "state": state, "limit": limit},
            timeout=timeout,
            extra_headers=extra_headers,
        )

    @staticmethod
    def transition(
        referral_id: str,
        to: str,
        reason: str | None,
        note: str | None,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        body: dict[str, Any] = {"to": to}
        if reason is not None:
            body["reason"] = reason
        if note is not None:
            body["note"] = note
        validate_document(
            "referral-transition.schema.json", body, what="transition", pointer="/$defs/request"
        )
        return options(
            "POST",
            f"{PATH}/{path_id(referral_id)}/transitions",
            json=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    @staticmethod
    def acknowledge_erasure(
        referral_id: str,
        consent_id: str,
        action: str,
        legal_basis: str | None,
        onward_referral_ids: Sequence[str] | None,
        completed_at: str | None,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> RequestOptions:
        body: dict[str, Any] = {
            "consent_id": consent_id,
            "action": action,
            "completed_at": completed_at or utc_now(),
        }
        if legal_basis is not None:
            body["legal_basis"] = legal_basis
        if onward_referral_ids is not None:
            body["onward_referral_ids"] = list(onward_referral_ids)
        validate_document(
            "erasure-acknowledgement.schema.json", body, what="erasure acknowledgement"
        )
        return options(
            "POST",
            f"{PATH}/{path_id(referral_id)}/erasure-acknowledgements",
            json=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
            extra_headers=extra_headers,
        )


class Referrals(SyncResource):
    def create(
        self,
        referral: Mapping[str, Any] | ReferralCreate,
        *,
        sign: bool = True,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Referral:
        """Send a referral (``referral-create.schema.json``).

        The payload is signed with the organisation's key (unless it already carries a
        ``payload_signature`` or ``sign=False``) and the body is validated locally first. The
        same ``Idempotency-Key`` is sent on every retry, so a retried create never duplicates.
        To replay a create yourself later (after a crash, say), pass the same
        ``idempotency_key`` and the same document: the signature is deterministic, so it is the
        same request and the node returns the first referral. A different document under the
        same key raises :class:`~saferefer.IdempotencyKeyReuseError`; so does the same document
        after a key rotation, whose signature differs. A policy denial raises
        :class:`~saferefer.PolicyViolationError` with every violation.
        The sender never gets the payload back: :meth:`retrieve` returns ``payload=None`` to it.
        """
        opts = _ReferralOptions(self).create(
            referral, sign, validate, idempotency_key, timeout, extra_headers
        )
        return self._client.request(opts, Referral)

    def list(
        self,
        *,
        box: Box = "inbox",
        state: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[Referral]:
        """The referrals this organisation received (``inbox``) or sent (``outbox``)."""
        return self._page(
            _ReferralOptions.list(box, state, limit, timeout, extra_headers), Referral, CURSOR_PARAM
        )

    def retrieve(
        self,
        referral_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Referral:
        """One referral; for the recipient, with the payload if the policy still allows it."""
        return self._client.request(
            options(
                "GET",
                f"{PATH}/{path_id(referral_id)}",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            Referral,
        )

    def transitions(
        self,
        referral_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[ReferralTransition]:
        """Every state change of the referral so far, oldest first."""
        opts = options(
            "GET",
            f"{PATH}/{path_id(referral_id)}/transitions",
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return self._page(opts, ReferralTransition, CURSOR_PARAM)

    def _transition(
        self,
        referral_id: str,
        to: str,
        reason: str | None,
        note: str | None,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> ReferralTransition:
        opts = _ReferralOptions.transition(
            referral_id, to, reason, note, idempotency_key, timeout, extra_headers
        )
        return self._client.request(opts, ReferralTransition)

    def receive(
        self,
        referral_id: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: confirm the referral arrived (``submitted`` → ``received``)."""
        return self._transition(
            referral_id, "received", None, note, idempotency_key, timeout, extra_headers
        )

    def accept(
        self,
        referral_id: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: take the referral on (``received`` → ``accepted``)."""
        return self._transition(
            referral_id, "accepted", None, note, idempotency_key, timeout, extra_headers
        )

    def decline(
        self,
        referral_id: str,
        *,
        reason: str,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: decline, with a code from the decline-reasons code list."""
        return self._transition(
            referral_id, "declined", reason, note, idempotency_key, timeout, extra_headers
        )

    def complete(
        self,
        referral_id: str,
        *,
        outcome: str,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: close an accepted referral with a code from the outcome-codes code list."""
        return self._transition(
            referral_id, "completed", outcome, note, idempotency_key, timeout, extra_headers
        )

    def withdraw(
        self,
        referral_id: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Sender: withdraw an open referral."""
        return self._transition(
            referral_id, "withdrawn", None, note, idempotency_key, timeout, extra_headers
        )

    def acknowledge_erasure(
        self,
        referral_id: str,
        *,
        consent_id: str,
        action: Literal["erased", "restricted"] = "erased",
        legal_basis: str | None = None,
        onward_referral_ids: Sequence[str] | None = None,
        completed_at: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ErasureAcknowledgementRecord:
        """Recipient: confirm that, after a withdrawal, the data is erased (or restricted, naming
        the ``legal_basis`` that obliges keeping it) and the notice went along ``onward_referral_ids``."""
        opts = _ReferralOptions.acknowledge_erasure(
            referral_id,
            consent_id,
            action,
            legal_basis,
            onward_referral_ids,
            completed_at,
            idempotency_key,
            timeout,
            extra_headers,
        )
        return self._client.request(opts, ErasureAcknowledgementRecord)


class AsyncReferrals(AsyncResource):
    async def create(
        self,
        referral: Mapping[str, Any] | ReferralCreate,
        *,
        sign: bool = True,
        validate: bool = True,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Referral:
        """Send a referral; see :meth:`Referrals.create`."""
        opts = _ReferralOptions(self).create(
            referral, sign, validate, idempotency_key, timeout, extra_headers
        )
        return await self._client.request(opts, Referral)

    def list(
        self,
        *,
        box: Box = "inbox",
        state: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[Referral]:
        """The referrals this organisation received (``inbox``) or sent (``outbox``)."""
        return AsyncPaginator(
            self._first_page(
                _ReferralOptions.list(box, state, limit, timeout, extra_headers),
                Referral,
                CURSOR_PARAM,
            )
        )

    async def retrieve(
        self,
        referral_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Referral:
        """One referral; for the recipient, with the payload if the policy still allows it."""
        return await self._client.request(
            options(
                "GET",
                f"{PATH}/{path_id(referral_id)}",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            Referral,
        )

    def transitions(
        self,
        referral_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[ReferralTransition]:
        """Every state change of the referral so far, oldest first."""
        opts = options(
            "GET",
            f"{PATH}/{path_id(referral_id)}/transitions",
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return AsyncPaginator(self._first_page(opts, ReferralTransition, CURSOR_PARAM))

    async def _transition(
        self,
        referral_id: str,
        to: str,
        reason: str | None,
        note: str | None,
        idempotency_key: str | None,
        timeout: Timeout | NotGiven,
        extra_headers: Headers | None,
    ) -> ReferralTransition:
        opts = _ReferralOptions.transition(
            referral_id, to, reason, note, idempotency_key, timeout, extra_headers
        )
        return await self._client.request(opts, ReferralTransition)

    async def receive(
        self,
        referral_id: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: confirm the referral arrived (``submitted`` → ``received``)."""
        return await self._transition(
            referral_id, "received", None, note, idempotency_key, timeout, extra_headers
        )

    async def accept(
        self,
        referral_id: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: take the referral on (``received`` → ``accepted``)."""
        return await self._transition(
            referral_id, "accepted", None, note, idempotency_key, timeout, extra_headers
        )

    async def decline(
        self,
        referral_id: str,
        *,
        reason: str,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: decline, with a code from the decline-reasons code list."""
        return await self._transition(
            referral_id, "declined", reason, note, idempotency_key, timeout, extra_headers
        )

    async def complete(
        self,
        referral_id: str,
        *,
        outcome: str,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Recipient: close an accepted referral with a code from the outcome-codes code list."""
        return await self._transition(
            referral_id, "completed", outcome, note, idempotency_key, timeout, extra_headers
        )

    async def withdraw(
        self,
        referral_id: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ReferralTransition:
        """Sender: withdraw an open referral."""
        return await self._transition(
            referral_id, "withdrawn", None, note, idempotency_key, timeout, extra_headers
        )

    async def acknowledge_erasure(
        self,
        referral_id: str,
        *,
        consent_id: str,
        action: Literal["erased", "restricted"] = "erased",
        legal_basis: str | None = None,
        onward_referral_ids: Sequence[str] | None = None,
        completed_at: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> ErasureAcknowledgementRecord:
        """Recipient: confirm erasure (or restriction) after a withdrawal."""
        opts = _ReferralOptions.acknowledge_erasure(
            referral_id,
            consent_id,
            action,
            legal_basis,
            onward_referral_ids,
            completed_at,
            idempotency_key,
            timeout,
            extra_headers,
        )
        return await self._client.request(opts, ErasureAcknowledgementRecord)
