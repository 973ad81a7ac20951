"""Idempotency: a retried POST never duplicates; a reused key never returns another's answer."""

from __future__ import annotations

import threading
import uuid

import httpx

from .. import _builders as b
from .. import _flows as flows
from .._context import Context
from .._registry import check

CONCURRENT_REQUESTS = 6


def _referral(ctx: Context) -> tuple[b.Scenario, dict[str, object]]:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    body = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=flows.support_purpose(ctx),
        consent_ids=[consent["id"]],
        categories=list(flows.BASIC_CATEGORIES),
    )
    return scenario, body


def _outbox_for(ctx: Context, subject_ref: str) -> list[str]:
    items = flows.list_all(ctx, ctx.sender, flows.REFERRALS, {"box": "outbox", "limit": flows.PAGE})
    return [str(i.get("id")) for i in items if i.get("subject_ref") == subject_ref]


@check(
    id="SRC-060",
    name="idempotency_replay_returns_first_response",
    title=(
        "Repeating a POST with the same Idempotency-Key and body returns the first response, once"
    ),
    severity="must",
    requirements=["SR-IDEM-001", "SR-IDEM-002"],
    profile="core",
)
def idempotency_replay_returns_first_response(ctx: Context) -> None:
    scenario, body = _referral(ctx)
    key = str(uuid.uuid4())
    first = ctx.sender.post(flows.REFERRALS, body, idempotency_key=key)
    created = ctx.expect_success(first, "A covered referral was refused")
    replay = ctx.sender.post(flows.REFERRALS, body, idempotency_key=key)
    if replay.status_code != first.status_code:
        ctx.fail(
            "The replay's status differs from the first response's",
            "",
            expected=str(first.status_code),
            response=replay,
        )
    replayed = ctx.json(replay, "The replayed response is not JSON")
    if replayed.get("id") != created.get("id"):
        ctx.fail(
            "The replay created or returned another referral",
            "",
            expected=f"id {created.get('id')}",
            actual=f"id {replayed.get('id')}",
            response=replay,
        )
    ids = _outbox_for(ctx, scenario.subject_ref)
    if len(ids) != 1:
        ctx.fail(
            "A replayed POST created a second referral",
            "",
            expected="1 referral for the subject",
            actual=f"{len(ids)}: {ids}",
        )
    consent_key = str(uuid.uuid4())
    consent_body = b.consent_body(
        subject=b.subject_ref(),
        recipient_org_id=ctx.recipient.org_id,
        recorder_role=flows.recorder_role(ctx.sender),
        purposes=[flows.support_purpose(ctx)],
        categories=["identity"],
    )
    one = ctx.sender.post(flows.CONSENTS, consent_body, idempotency_key=consent_key)
    two = ctx.sender.post(flows.CONSENTS, consent_body, idempotency_key=consent_key)
    if ctx.expect_success(one, "A valid consent was refused").get("id") != ctx.json(two, "").get(
        "id"
    ):
        ctx.fail(
            "A replayed consent POST recorded a second consent",
            "",
            expected="the same consent id",
            response=two,
        )


@check(
    id="SRC-061",
    name="idempotency_replay_marked",
    title="A replayed response carries Idempotent-Replayed: true",
    severity="should",
    requirements=["SR-IDEM-008"],
    profile="core",
)
def idempotency_replay_marked(ctx: Context) -> None:
    _, body = _referral(ctx)
    key = str(uuid.uuid4())
    ctx.expect_success(
        ctx.sender.post(flows.REFERRALS, body, idempotency_key=key),
        "A covered referral was refused",
    )
    replay = ctx.sender.post(flows.REFERRALS, body, idempotency_key=key)
    if replay.headers.get("idempotent-replayed", "").lower() != "true":
        ctx.fail(
            "The replay is not marked", "", expected="Idempotent-Replayed: true", response=replay
        )


@check(
    id="SRC-062",
    name="idempotency_key_reuse_with_different_body_rejected",
    title=(
        "The same Idempotency-Key with a different body is refused with 422 idempotency-key-reuse"
    ),
    severity="must",
    requirements=["SR-IDEM-003"],
    profile="core",
)
def idempotency_key_reuse_with_different_body_rejected(ctx: Context) -> None:
    scenario, body = _referral(ctx)
    key = str(uuid.uuid4())
    ctx.expect_success(
        ctx.sender.post(flows.REFERRALS, body, idempotency_key=key),
        "A covered referral was refused",
    )
    changed = {**body, "urgency": "urgent" if body["urgency"] != "urgent" else "routine"}
    response = ctx.sender.post(flows.REFERRALS, changed, idempotency_key=key)
    ctx.expect_problem(
        response, 422, "idempotency-key-reuse", "A reused key with a different body was not refused"
    )
    if len(_outbox_for(ctx, scenario.subject_ref)) != 1:
        ctx.fail(
            "A reused key with a different body created a referral",
            "",
            expected="1 referral for the subject",
        )


@check(
    id="SRC-063",
    name="concurrent_idempotent_posts_create_one_referral",
    title="Concurrent POSTs with one Idempotency-Key create exactly one referral",
    severity="must",
    requirements=["SR-IDEM-004", "SR-ID-004"],
    profile="core",
)
def concurrent_idempotent_posts_create_one_referral(ctx: Context) -> None:
    scenario, body = _referral(ctx)
    key = str(uuid.uuid4())
    token = ctx.sender.token()
    barrier = threading.Barrier(CONCURRENT_REQUESTS)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def post() -> None:
        with httpx.Client(base_url=ctx.base_url, timeout=ctx.config.timeout_seconds) as client:
            barrier.wait()
            response = client.post(
                flows.REFERRALS,
                json=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": key,
                    "Accept": "application/json",
                },
            )
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=post) for _ in range(CONCURRENT_REQUESTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in responses)
    created_ids = {r.json().get("id") for r in responses if 200 <= r.status_code < 300}
    bad = [r for r in responses if not (200 <= r.status_code < 300 or r.status_code == 409)]
    if bad:
        ctx.fail(
            "A concurrent duplicate got neither the first response nor 409",
            "",
            expected="2xx (same referral) or 409 conflict",
            response=bad[0],
        )
    for r in responses:
        if r.status_code == 409:
            ctx.expect_problem(
                r, 409, "conflict", "A concurrent duplicate's 409 is not a conflict problem"
            )
    ids = _outbox_for(ctx, scenario.subject_ref)
    if len(ids) != 1 or len(created_ids) != 1:
        ctx.fail(
            "Concurrent POSTs with one Idempotency-Key created several referrals",
            "",
            expected="exactly one referral",
            actual=(
                f"statuses {statuses}; ids returned {sorted(map(str, created_ids))}; stored {ids}"
            ),
        )


@check(
    id="SRC-064",
    name="idempotency_keys_scoped_per_organisation",
    title=(
        "The same Idempotency-Key used by two organisations never returns one's answer to the other"
    ),
    severity="must",
    requirements=["SR-IDEM-005"],
    profile="core",
)
def idempotency_keys_scoped_per_organisation(ctx: Context) -> None:
    key = str(uuid.uuid4())
    mine = b.consent_body(
        subject=b.subject_ref(),
        recipient_org_id=ctx.recipient.org_id,
        recorder_role=flows.recorder_role(ctx.sender),
        purposes=[flows.support_purpose(ctx)],
        categories=["identity"],
    )
    first = ctx.expect_success(
        ctx.sender.post(flows.CONSENTS, mine, idempotency_key=key), "A valid consent was refused"
    )
    other = ctx.recipient
    theirs = b.consent_body(
        subject=b.subject_ref(),
        recipient_org_id=ctx.sender.org_id,
        recorder_role=flows.recorder_role(other),
        purposes=[flows.support_purpose(ctx)],
        categories=["identity"],
    )
    response = other.post(flows.CONSENTS, theirs, idempotency_key=key)
    if first.get("id") in response.text:
        ctx.fail(
            "Another organisation received this organisation's response for the same key",
            "",
            expected="an independent answer",
            response=response,
        )
    if response.status_code == 422 and "idempotency-key-reuse" in response.text:
        ctx.fail(
            "Keys are not scoped per organisation",
            "Another organisation's key collided.",
            response=response,
        )
