"""Steps that many checks share: record a consent, send a referral, withdraw, walk a list or a feed.

Each step states what it needs from the server; when the server refuses a step a check depends on
(not the claim under test), the check fails with that refusal as the evidence, because a conforming
server must accept these valid requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from . import _builders as b
from ._context import Context
from ._failures import Skipped
from ._http import OrgClient

CONSENTS = "/v1/consents"
REFERRALS = "/v1/referrals"
DECISIONS = "/v1/policy/decisions"
EVENTS = "/v1/events"
SUBSCRIPTIONS = "/v1/subscriptions"
AUDIT = "/v1/audit"
AUDIT_VERIFY = "/v1/audit/verify"
STATISTICS = "/v1/statistics"
ORGANISATIONS = "/v1/organisations"
JWKS = "/jwks.json"
CAPABILITY = "/.well-known/saferefer"

#: What the basic flows disclose: categories an NGO may send a shelter or NGO with consent.
BASIC_CATEGORIES = ("identity", "contact")
MAX_PAGES = 1000
#: The largest page every list operation of the standard accepts.
PAGE = 200


def consent_path(consent_id: str) -> str:
    return f"{CONSENTS}/{consent_id}"


def referral_path(referral_id: str) -> str:
    return f"{REFERRALS}/{referral_id}"


def recorder_role(org: OrgClient) -> str:
    roles = org.roles
    if not roles:
        raise Skipped(f"the node granted {org.org_id} no role scope; cannot record a consent")
    return roles[0]


@dataclass
class Sent:
    """A consent and a referral sent under it, as the server returned them."""

    scenario: b.Scenario
    consent: dict[str, Any]
    referral: dict[str, Any]
    response: httpx.Response

    @property
    def referral_id(self) -> str:
        return str(self.referral["id"])

    @property
    def consent_id(self) -> str:
        return str(self.consent["id"])


def support_purpose(ctx: Context) -> str:
    return b.support_purpose(ctx.recipient.roles)


def consent_for(
    ctx: Context,
    scenario: b.Scenario,
    *,
    recipient: OrgClient | None = None,
    recorder: OrgClient | None = None,
    purposes: Sequence[str] | None = None,
    categories: Sequence[str] = BASIC_CATEGORIES,
    explicit_categories: Sequence[str] = (),
    valid_for: timedelta = timedelta(days=30),
    withdrawal_channels: Sequence[str] = ("in_person",),
) -> dict[str, Any]:
    """Record (as the sender, unless ``recorder``) a consent naming ``recipient``."""
    recorder = recorder or ctx.sender
    recipient = recipient or ctx.recipient
    body = b.consent_body(
        subject=scenario.subject_ref,
        recipient_org_id=recipient.org_id,
        recorder_role=recorder_role(recorder),
        purposes=purposes or [support_purpose(ctx)],
        categories=categories,
        explicit_categories=explicit_categories,
        valid_for=valid_for,
        withdrawal_channels=withdrawal_channels,
    )
    response = recorder.post(CONSENTS, body)
    record = ctx.expect_success(response, "A valid consent could not be recorded")
    if not isinstance(record, dict) or "id" not in record:
        ctx.fail(
            "The consent record lacks an id",
            "POST /v1/consents must return the record.",
            response=response,
        )
    return record


def send(
    ctx: Context,
    scenario: b.Scenario,
    consent_ids: Sequence[str],
    *,
    categories: Sequence[str] = BASIC_CATEGORIES,
    purpose: str | None = None,
    sender: OrgClient | None = None,
    recipient: OrgClient | None = None,
    **extra: Any,
) -> httpx.Response:
    sender = sender or ctx.sender
    recipient = recipient or ctx.recipient
    body = b.referral_body(
        scenario=scenario,
        recipient_org_id=recipient.org_id,
        purpose=purpose or support_purpose(ctx),
        consent_ids=consent_ids,
        categories=categories,
        **extra,
    )
    return sender.post(REFERRALS, body)


def consent_and_send(ctx: Context, *, categories: Sequence[str] = BASIC_CATEGORIES) -> Sent:
    """The happy path: a consent covering recipient, purpose and categories, and a referral
    under it."""
    scenario = b.Scenario()
    consent = consent_for(ctx, scenario, categories=categories)
    response = send(ctx, scenario, [consent["id"]], categories=categories)
    referral = ctx.expect_success(
        response,
        "A referral covered by an active consent was refused",
    )
    return Sent(scenario, consent, referral, response)


def withdraw(
    ctx: Context, consent_id: str, org: OrgClient | None = None, channel: str = "in_person"
) -> httpx.Response:
    return (org or ctx.sender).post(
        f"{consent_path(consent_id)}/withdraw", b.withdrawal_body(channel)
    )


def transition(
    org: OrgClient, referral_id: str, to: str, reason: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"to": to}
    if reason is not None:
        body["reason"] = reason
    return org.post(f"{referral_path(referral_id)}/transitions", body)


def iter_pages(
    ctx: Context,
    org: OrgClient,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    cursor_param: str = "cursor",
    max_pages: int = MAX_PAGES,
) -> Iterator[tuple[httpx.Response, list[Any]]]:
    """Every page of a list operation, following ``next_cursor`` (sent back as ``cursor_param``)."""
    query = dict(params or {})
    seen_cursors: set[str] = set()
    for _ in range(max_pages):
        response = org.get(path, params=query)
        page = ctx.expect_success(response, f"Listing {path} failed")
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            ctx.fail(
                "A list response is not a page",
                "List operations return {items: [...], next_cursor: string|null}.",
                response=response,
            )
        yield response, page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return
        if cursor in seen_cursors:
            ctx.fail(
                "Paging does not advance",
                f"{path} returned a next_cursor it had returned before: the '{cursor_param}' "
                "parameter of spec/openapi.yaml is ignored or the cursor does not move.",
                response=response,
                requirement="SR-MSG-005",
            )
        seen_cursors.add(cursor)
        query[cursor_param] = cursor
    if max_pages == MAX_PAGES:
        ctx.fail("A list never ends", f"{path} returned more than {MAX_PAGES} pages.")


def list_all(
    ctx: Context,
    org: OrgClient,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    cursor_param: str = "cursor",
    max_pages: int = MAX_PAGES,
) -> list[Any]:
    pages = iter_pages(ctx, org, path, params, cursor_param=cursor_param, max_pages=max_pages)
    return [item for _, items in pages for item in items]


def find_ids(
    ctx: Context, org: OrgClient, path: str, params: dict[str, Any], wanted: set[str]
) -> set[str]:
    """The ids of ``wanted`` that a list shows, reading pages only until all were seen."""
    found: set[str] = set()
    for _, items in iter_pages(ctx, org, path, {**params, "limit": PAGE}):
        found |= wanted & {str(i.get("id")) for i in items if isinstance(i, dict)}
        if found == wanted:
            break
    return found


def read_feed(
    ctx: Context, org: OrgClient, after: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Every event after ``after`` and the cursor to resume from (the feed's head)."""
    events: list[dict[str, Any]] = []
    cursor = after
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["after"] = cursor
        response = org.get(EVENTS, params=params)
        page = ctx.expect_success(response, "Reading the event feed failed")
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            ctx.fail(
                "The event feed is not a page",
                "GET /v1/events returns {items, next_cursor}.",
                response=response,
            )
        events.extend(page["items"])
        next_cursor = page.get("next_cursor")
        if not page["items"] or not next_cursor or next_cursor == cursor:
            return events, next_cursor or cursor
        cursor = next_cursor
    ctx.fail("The event feed never ends", f"more than {MAX_PAGES} pages")


def wait_for_events(
    ctx: Context,
    org: OrgClient,
    after: str | None,
    predicate: Callable[[dict[str, Any]], bool] | None = None,
    *,
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Poll the feed after ``after`` until an event satisfies ``predicate`` (or the events read so
    far satisfy ``until``), because an outbox may deliver a moment after the change."""
    deadline = time.monotonic() + timeout
    while True:
        events, _ = read_feed(ctx, org, after)
        done = (
            until(events) if until is not None else any(predicate(e) for e in events if predicate)
        )
        if done or time.monotonic() > deadline:
            return events
        time.sleep(0.25)
