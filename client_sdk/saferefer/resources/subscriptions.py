"""Webhook subscriptions: the node POSTs each event of this organisation's feed to a URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .._client import RequestOptions
from .._pagination import AsyncPaginator, SyncPage
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from .._validation import validate_document
from ..types import Subscription, SubscriptionDelivery
from ._base import AsyncResource, SyncResource, options, path_id

__all__ = ["AsyncSubscriptions", "DeliveryStatus", "Subscriptions"]

PATH = "/v1/subscriptions"
CURSOR_PARAM = "cursor"
#: The ``status`` of a webhook delivery (code list ``delivery-statuses``).
DeliveryStatus = Literal["pending", "retrying", "delivered", "dead_lettered"]


def _create_options(
    url: str,
    event_types: Sequence[str],
    description: str | None,
    idempotency_key: str | None,
    timeout: Timeout | NotGiven,
    extra_headers: Headers | None,
) -> RequestOptions:
    body: dict[str, object] = {"url": url, "event_types": list(event_types)}
    if description is not None:
        body["description"] = description
    validate_document(
        "subscription.schema.json", body, what="subscription", pointer="/$defs/create"
    )
    return options(
        "POST",
        PATH,
        json=body,
        idempotency_key=idempotency_key,
        timeout=timeout,
        extra_headers=extra_headers,
    )


def _deliveries_options(
    subscription_id: str,
    status: DeliveryStatus | None,
    limit: int | None,
    timeout: Timeout | NotGiven,
    extra_headers: Headers | None,
) -> RequestOptions:
    return options(
        "GET",
        f"{PATH}/{path_id(subscription_id)}/deliveries",
        params={"status": status, "limit": limit},
        timeout=timeout,
        extra_headers=extra_headers,
    )


class Subscriptions(SyncResource):
    def create(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Subscription:
        """Subscribe ``url`` to the ``event_types`` (codes of the event-types code list) of this organisation's feed."""
        opts = _create_options(
            url, event_types, description, idempotency_key, timeout, extra_headers
        )
        return self._client.request(opts, Subscription)

    def list(
        self,
        *,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[Subscription]:
        return self._page(
            options(
                "GET", PATH, params={"limit": limit}, timeout=timeout, extra_headers=extra_headers
            ),
            Subscription,
            CURSOR_PARAM,
        )

    def retrieve(
        self,
        subscription_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Subscription:
        return self._client.request(
            options(
                "GET",
                f"{PATH}/{path_id(subscription_id)}",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            Subscription,
        )

    def delete(
        self,
        subscription_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> None:
        self._client.request(
            options(
                "DELETE",
                f"{PATH}/{path_id(subscription_id)}",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            type(None),
        )

    def deliveries(
        self,
        subscription_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[SubscriptionDelivery]:
        """Deliveries of a subscription, newest first; ``status`` filters them (``pending``,
        ``retrying``, ``delivered`` or ``dead_lettered``: given up after 24 hours of retries)."""
        return self._page(
            _deliveries_options(subscription_id, status, limit, timeout, extra_headers),
            SubscriptionDelivery,
            CURSOR_PARAM,
        )


class AsyncSubscriptions(AsyncResource):
    async def create(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Subscription:
        """Subscribe ``url`` to the ``event_types`` (codes of the event-types code list) of this organisation's feed."""
        opts = _create_options(
            url, event_types, description, idempotency_key, timeout, extra_headers
        )
        return await self._client.request(opts, Subscription)

    def list(
        self,
        *,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[Subscription]:
        return AsyncPaginator(
            self._first_page(
                options(
                    "GET",
                    PATH,
                    params={"limit": limit},
                    timeout=timeout,
                    extra_headers=extra_headers,
                ),
                Subscription,
                CURSOR_PARAM,
            )
        )

    async def retrieve(
        self,
        subscription_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Subscription:
        return await self._client.request(
            options(
                "GET",
                f"{PATH}/{path_id(subscription_id)}",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            Subscription,
        )

    async def delete(
        self,
        subscription_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> None:
        await self._client.request(
            options(
                "DELETE",
                f"{PATH}/{path_id(subscription_id)}",
                timeout=timeout,
                extra_headers=extra_headers,
            ),
            type(None),
        )

    def deliveries(
        self,
        subscription_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[SubscriptionDelivery]:
        """Deliveries of a subscription, newest first; ``status`` filters them (``pending``,
        ``retrying``, ``delivered`` or ``dead_lettered``: given up after 24 hours of retries)."""
        return AsyncPaginator(
            self._first_page(
                _deliveries_options(subscription_id, status, limit, timeout, extra_headers),
                SubscriptionDelivery,
                CURSOR_PARAM,
            )
        )
