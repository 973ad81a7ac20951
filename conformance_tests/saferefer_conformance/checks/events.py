"""Event delivery: a per-organisation, gap-free, resumable feed of CloudEvents; signed webhooks."""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

from .. import _builders as b
from .. import _flows as flows
from .. import _spec
from .._context import Context
from .._failures import FailureCollector, Skipped
from .._http import detached_jws_verify
from .._registry import check

#: The media type of a CloudEvent in structured JSON mode (SR-EVENT-010).
CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents+json"


def _seq(event: dict[str, Any]) -> int:
    try:
        return int(str(event.get("sequence")))
    except ValueError:
        return -1


def _about(
    events: list[dict[str, Any]], subject: str, event_type: str | None = None
) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e.get("subject") == subject and (event_type is None or e.get("type") == event_type)
    ]


@check(
    id="SRC-090",
    name="event_feed_gap_free_and_resumable",
    title=(
        "The feed numbers events 1, 2, 3… without gaps and a cursor resume neither skips nor "
        "repeats"
    ),
    severity="must",
    requirements=["SR-EVENT-002", "SR-EVENT-003"],
    profile="events",
)
def event_feed_gap_free_and_resumable(ctx: Context) -> None:
    recipient = ctx.recipient
    history, head = flows.read_feed(ctx, recipient)
    sequences = [_seq(e) for e in history]
    found = FailureCollector()
    if sequences and sequences != list(range(1, len(sequences) + 1)):
        gaps = [(a, c) for a, c in itertools.pairwise(sequences) if c != a + 1]
        found.add(
            ctx.failure(
                "The feed has gaps or is out of order",
                "sequence must run 1, 2, 3, …",
                expected="consecutive sequences from 1",
                actual=f"first irregularities: {gaps[:5]}",
                requirement="SR-EVENT-002",
            )
        )
    last = sequences[-1] if sequences else 0
    # The first referral is withdrawn before the others are sent: events of another kind then
    # sit between the new ones, so a feed that loses the events of one kind shows a gap.
    first = flows.consent_and_send(ctx)
    ctx.expect_success(
        flows.transition(ctx.sender, first.referral_id, "withdrawn"),
        "The sender could not withdraw a referral it had just sent",
    )
    sent = [first, *(flows.consent_and_send(ctx) for _ in range(2))]
    wanted = {s.referral_id for s in sent}
    deadline = time.monotonic() + 10
    while True:
        new, _ = flows.read_feed(ctx, recipient, head)
        if wanted <= {e.get("subject") for e in new} or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    new_sequences = [_seq(e) for e in new]
    if new_sequences[:1] and new_sequences != list(range(last + 1, last + 1 + len(new_sequences))):
        found.add(
            ctx.failure(
                "Resuming from the head cursor skipped or repeated events",
                "",
                expected=f"sequences {last + 1}…",
                actual=str(new_sequences[:10]),
                requirement="SR-EVENT-003",
            )
        )
    if not wanted <= {e.get("subject") for e in new}:
        found.add(
            ctx.failure(
                "Events of new referrals did not reach the feed",
                "",
                expected=str(sorted(wanted)),
                actual=str([e.get("subject") for e in new][:10]),
                requirement="SR-EVENT-003",
            )
        )
    # Resume mid-way: page by page from the head, one event at a time where the server allows it.
    cursor: str | None = head
    seen: list[int] = []
    for _ in range(len(new) + 2):
        response = recipient.get(
            flows.EVENTS, params={"after": cursor, "limit": 1} if cursor else {"limit": 1}
        )
        page = ctx.expect_success(response, "Reading the event feed failed")
        if not page.get("items"):
            break
        seen.extend(_seq(e) for e in page["items"])
        cursor = page.get("next_cursor") or cursor
        if not page.get("next_cursor"):
            break
    if seen[: len(new_sequences)] != new_sequences[: len(seen)]:
        found.add(
            ctx.failure(
                "Paging the feed one event at a time differs from reading it at once",
                "",
                expected=str(new_sequences[:10]),
                actual=str(seen[:10]),
                requirement="SR-EVENT-003",
            )
        )
    found.raise_if_any()


@check(
    id="SRC-091",
    name="events_are_valid_cloudevents",
    title="Every event is a CloudEvents 1.0 document valid against event.schema.json",
    severity="must",
    requirements=["SR-EVENT-001"],
    profile="events",
)
def events_are_valid_cloudevents(ctx: Context) -> None:
    _, head = flows.read_feed(ctx, ctx.recipient)
    sent = flows.consent_and_send(ctx)
    events = flows.wait_for_events(
        ctx, ctx.recipient, head, lambda e: e.get("subject") == sent.referral_id
    )
    if not events:
        ctx.fail(
            "No event reached the recipient's feed",
            "",
            expected="at least org.saferefer.referral.submitted",
        )
    node_id = ctx.capability().get("node_id")
    types = set(_spec.codes("event-types"))
    for event in events:
        ctx.expect_schema(
            event, "event.schema.json", "An event is not a valid SafeRefer CloudEvent"
        )
        if (
            event.get("specversion") != "1.0"
            or event.get("type") not in types
            or event.get("source") != node_id
        ):
            ctx.fail(
                "An event's envelope is wrong",
                "",
                expected=f"specversion 1.0, a registered type, source {node_id}",
                actual=json.dumps({k: event.get(k) for k in ("specversion", "type", "source")}),
            )


@check(
    id="SRC-092",
    name="referral_changes_notify_the_other_party",
    title="A new referral reaches the recipient's feed; its acceptance reaches the sender's",
    severity="must",
    requirements=["SR-EVENT-009", "SR-STATE-008"],
    profile="events",
)
def referral_changes_notify_the_other_party(ctx: Context) -> None:
    _, recipient_head = flows.read_feed(ctx, ctx.recipient)
    _, sender_head = flows.read_feed(ctx, ctx.sender)
    sent = flows.consent_and_send(ctx)
    rid = sent.referral_id
    events = flows.wait_for_events(
        ctx,
        ctx.recipient,
        recipient_head,
        lambda e: e.get("subject") == rid and e.get("type") == "org.saferefer.referral.submitted",
    )
    if not _about(events, rid, "org.saferefer.referral.submitted"):
        ctx.fail(
            "The recipient was not told of the new referral",
            "",
            expected="org.saferefer.referral.submitted",
            requirement="SR-EVENT-009",
        )
    ctx.expect_success(
        flows.transition(ctx.recipient, rid, "received"),
        "The recipient could not mark the referral received",
    )
    ctx.expect_success(
        flows.transition(ctx.recipient, rid, "accepted"),
        "The recipient could not accept the referral",
    )
    events = flows.wait_for_events(
        ctx,
        ctx.sender,
        sender_head,
        lambda e: e.get("subject") == rid and e.get("type") == "org.saferefer.referral.accepted",
    )
    for event_type in ("org.saferefer.referral.received", "org.saferefer.referral.accepted"):
        if not _about(events, rid, event_type):
            ctx.fail(
                "The sender was not told of a state change",
                "",
                expected=event_type,
                requirement="SR-STATE-008",
            )


@check(
    id="SRC-093",
    name="withdrawal_reaches_every_recipient_as_event",
    title=(
        "A withdrawal reaches every organisation that received data under the consent, per referral"
    ),
    severity="must",
    requirements=["SR-CONSENT-019", "SR-STATE-008"],
    profile="events",
)
def withdrawal_reaches_every_recipient_as_event(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    _, head = flows.read_feed(ctx, ctx.recipient)
    referral_ids = []
    for _ in range(2):
        response = flows.send(ctx, scenario, [consent["id"]])
        referral_ids.append(ctx.expect_success(response, "A covered referral was refused")["id"])
    ctx.expect_success(flows.withdraw(ctx, consent["id"]), "The consent could not be withdrawn")

    def complete(events: list[dict[str, Any]]) -> bool:
        return bool(_about(events, consent["id"], "org.saferefer.consent.withdrawn")) and all(
            _about(events, rid, "org.saferefer.erasure.requested") for rid in referral_ids
        )

    events = flows.wait_for_events(ctx, ctx.recipient, head, until=complete)
    found = FailureCollector()
    if not _about(events, consent["id"], "org.saferefer.consent.withdrawn"):
        found.add(
            ctx.failure(
                "The recipient was not told of the withdrawal",
                "",
                expected=f"org.saferefer.consent.withdrawn about {consent['id']}",
                requirement="SR-CONSENT-019",
            )
        )
    for rid in referral_ids:
        if not _about(events, rid, "org.saferefer.erasure.requested"):
            found.add(
                ctx.failure(
                    "The recipient was not asked to erase a referral's data",
                    "",
                    expected=f"org.saferefer.erasure.requested about {rid}",
                    requirement="SR-CONSENT-019",
                )
            )
        if not _about(events, rid, "org.saferefer.referral.revoked"):
            found.add(
                ctx.failure(
                    "The recipient was not told the referral was revoked",
                    "",
                    expected=f"org.saferefer.referral.revoked about {rid}",
                    requirement="SR-STATE-008",
                )
            )
    found.raise_if_any()


@check(
    id="SRC-094",
    name="events_carry_no_personal_data",
    title="Events carry ids and codes, never payload values or subject references",
    severity="must",
    requirements=["SR-EVENT-008"],
    profile="events",
)
def events_carry_no_personal_data(ctx: Context) -> None:
    _, head = flows.read_feed(ctx, ctx.recipient)
    sent = flows.consent_and_send(ctx)
    events = flows.wait_for_events(
        ctx, ctx.recipient, head, lambda e: e.get("subject") == sent.referral_id
    )
    text = json.dumps(events)
    markers = {**sent.scenario.canaries, "subject_ref": sent.scenario.subject_ref}
    leaked = [name for name, value in markers.items() if value in text]
    if leaked:
        ctx.fail("Events contain personal data", f"found: {leaked}", expected="ids and codes only")


@check(
    id="SRC-095",
    name="event_feed_only_own_events",
    title="An organisation's feed never shows events about other organisations' referrals",
    severity="must",
    requirements=["SR-EVENT-007", "SR-AUTHZ-002"],
    profile="events",
)
def event_feed_only_own_events(ctx: Context) -> None:
    outsider = ctx.outsider()
    _, head = flows.read_feed(ctx, outsider)
    sent = flows.consent_and_send(ctx)
    flows.wait_for_events(
        ctx, ctx.recipient, None, lambda e: e.get("subject") == sent.referral_id, timeout=5
    )
    events, _ = flows.read_feed(ctx, outsider, head)
    mentions = [
        e for e in events if sent.referral_id in json.dumps(e) or sent.consent_id in json.dumps(e)
    ]
    if mentions:
        ctx.fail(
            "A third organisation's feed shows another organisation's referral",
            "",
            expected="no event about it",
            actual=json.dumps(mentions[0])[:400],
            requirement="SR-EVENT-007",
        )


class _Receiver(BaseHTTPRequestHandler):
    deliveries: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        type(self).deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@check(
    id="SRC-096",
    name="webhook_deliveries_signed",
    title=(
        "Webhook deliveries are application/cloudevents+json events signed with a detached ES256 "
        "JWS in SafeRefer-Signature"
    ),
    severity="must",
    requirements=["SR-EVENT-010", "SR-EVENT-011", "SR-AUTHZ-005"],
    profile="events",
)
def webhook_deliveries_signed(ctx: Context) -> None:
    hook = ctx.config.webhook
    if hook is None:
        raise Skipped(
            "needs a [webhook] section (listen_host, listen_port, public_url) the server can reach"
        )
    handler: type[_Receiver] = type("Receiver", (_Receiver,), {"deliveries": []})
    server = HTTPServer((hook.listen_host, hook.listen_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    subscription: dict[str, Any] = {}
    try:
        url = hook.public_url or f"http://{hook.listen_host}:{server.server_address[1]}/saferefer"
        response = ctx.recipient.post(
            flows.SUBSCRIPTIONS, {"url": url, "event_types": ["org.saferefer.referral.submitted"]}
        )
        subscription = ctx.expect_success(response, "The recipient could not subscribe a webhook")
        listed = (
            flows.list_all(ctx, ctx.outsider(), flows.SUBSCRIPTIONS)
            if ctx.has("outsider") or ctx.has("police")
            else []
        )
        if any(s.get("id") == subscription.get("id") for s in listed):
            ctx.fail(
                "Another organisation sees the webhook subscription", "", requirement="SR-AUTHZ-005"
            )
        sent = flows.consent_and_send(ctx)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            sent.referral_id.encode() in body for _, body in handler.deliveries
        ):
            time.sleep(0.25)
        ours = [(h, body) for h, body in handler.deliveries if sent.referral_id.encode() in body]
        if not ours:
            ctx.fail(
                "No webhook delivery arrived within 20 s",
                "",
                expected="a POST about the new referral",
                requirement="SR-EVENT-010",
            )
        jwks = ctx.anonymous.get(flows.JWKS, authenticated=False).json()
        headers, body = ours[0]
        found = FailureCollector()
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != CLOUDEVENTS_MEDIA_TYPE:
            found.add(
                ctx.failure(
                    "A webhook delivery is not sent as application/cloudevents+json",
                    "Each delivery is an HTTP POST of the CloudEvent in structured mode, whose "
                    "media type tells the receiver what the body is.",
                    expected=f"Content-Type: {CLOUDEVENTS_MEDIA_TYPE}",
                    actual=f"Content-Type: {headers.get('content-type', '(none)')}",
                    requirement="SR-EVENT-010",
                )
            )
        signature = headers.get("saferefer-signature")
        problem = (
            "no SafeRefer-Signature header"
            if not signature
            else detached_jws_verify(signature, body, jwks)
        )
        if problem:
            found.add(
                ctx.failure(
                    "A webhook delivery's signature does not verify",
                    problem,
                    expected="a detached ES256 JWS over the body by a key of /jwks.json",
                    requirement="SR-EVENT-011",
                )
            )
        try:
            errors = _spec.schema_errors("event.schema.json", json.loads(body))
        except ValueError:
            errors = ["the body is not JSON"]
        if errors:
            found.add(
                ctx.failure(
                    "A webhook delivery is not a valid event",
                    "The delivery body does not validate against event.schema.json.",
                    actual="; ".join(errors),
                    requirement="SR-EVENT-010",
                )
            )
        found.raise_if_any()
    finally:
        if subscription.get("id"):  # leave no subscription behind that calls a closed port
            ctx.recipient.request("DELETE", f"{flows.SUBSCRIPTIONS}/{subscription['id']}")
        server.shutdown()
        server.server_close()


@check(
    id="SRC-097",
    name="erasure_acknowledgement_recorded",
    title=(
        "A past recipient's erasure acknowledgement is accepted, audited and reported to the sender"
    ),
    severity="must",
    requirements=["SR-CONSENT-021", "SR-AUTHZ-004"],
    profile="events",
)
def erasure_acknowledgement_recorded(ctx: Context) -> None:
    outsider = ctx.outsider()
    sent = flows.consent_and_send(ctx)
    _, sender_head = flows.read_feed(ctx, ctx.sender)
    ctx.expect_success(flows.withdraw(ctx, sent.consent_id), "The consent could not be withdrawn")
    body = {"consent_id": sent.consent_id, "action": "erased", "completed_at": b.timestamp(b.now())}
    path = f"{flows.referral_path(sent.referral_id)}/erasure-acknowledgements"
    stranger = outsider.post(path, body)
    with ctx.requirement("SR-AUTHZ-004"):
        ctx.expect_problem(
            stranger,
            (403, 404),
            ("not-found", "forbidden"),
            "An organisation that never received the referral could acknowledge its erasure",
        )
    response = ctx.recipient.post(path, body)
    ctx.expect_success(response, "The recipient could not acknowledge erasure")
    events = flows.wait_for_events(
        ctx,
        ctx.sender,
        sender_head,
        lambda e: (
            e.get("subject") == sent.referral_id
            and e.get("type") == "org.saferefer.erasure.acknowledged"
        ),
    )
    if not _about(events, sent.referral_id, "org.saferefer.erasure.acknowledged"):
        ctx.fail(
            "The sender was not told of the erasure acknowledgement",
            "",
            expected="org.saferefer.erasure.acknowledged",
            requirement="SR-CONSENT-021",
        )
    entries = flows.list_all(ctx, ctx.recipient, flows.AUDIT, {"limit": flows.PAGE})
    if not any(e.get("action") == "erasure.acknowledged" for e in entries):
        ctx.fail(
            "The erasure acknowledgement is not audited",
            "",
            expected="an erasure.acknowledged audit entry",
            requirement="SR-CONSENT-021",
        )
