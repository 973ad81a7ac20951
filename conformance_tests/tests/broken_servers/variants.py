"""A catalogue of deliberately broken SafeRefer servers: the reference app behind ASGI wrappers.

Each variant breaks exactly one MUST of spec/standard.md by rewriting requests or responses on their
way through, and names the conformance checks that must catch it (and only those). Running the suite
against each variant is how the suite proves it can fail — a check that passes against a broken
server would be a check that cannot fail. ``core_only_node()`` is the one wrapper outside the
catalogue: a conforming node that implements the core profile only, against which the checks of
the other profiles must skip.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

Headers = list[tuple[bytes, bytes]]
PROBLEMS = "https://saferefer.org/problems/"


@dataclass
class Exchange:
    """A request as the wrapper sees it (the body fully read)."""

    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        return next((v.decode() for k, v in self.headers if k.lower() == wanted), None)

    def without_header(self, name: str) -> Exchange:
        wanted = name.lower().encode()
        return replace(self, headers=[(k, v) for k, v in self.headers if k.lower() != wanted])

    def with_header(self, name: str, value: str) -> Exchange:
        return replace(
            self.without_header(name),
            headers=[*self.without_header(name).headers, (name.lower().encode(), value.encode())],
        )

    def json(self) -> Any:
        return json.loads(self.body)

    def with_json(self, document: Any) -> Exchange:
        return replace(self, body=json.dumps(document).encode())

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


@dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes

    @property
    def media_type(self) -> str:
        return next((v.decode() for k, v in self.headers if k.lower() == b"content-type"), "")

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def of_json(cls, status: int, document: Any, media_type: str = "application/json") -> Reply:
        return cls(status, [(b"content-type", media_type.encode())], json.dumps(document).encode())

    def with_json(self, document: Any) -> Reply:
        return replace(self, body=json.dumps(document).encode())


CallNext = Callable[[Exchange], Awaitable[Reply]]


@dataclass
class Variant:
    name: str
    breaks: str  # the requirement id it violates
    description: str
    expected_failures: frozenset[str]
    memory: dict[str, Any] = field(default_factory=dict)

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        return await call_next(request)


def _jwt_header(token: str) -> dict[str, Any]:
    raw = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return header


def _bearer_sub(request: Exchange) -> str | None:
    value = request.header("authorization") or ""
    token = value.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


class AcceptsAlgNoneAssertion(Variant):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.method == "POST" and request.path == "/oauth/token":
            assertion = request.form().get("client_assertion", "")
            try:
                unsigned = _jwt_header(assertion).get("alg") == "none"
            except ValueError:
                unsigned = False
            if unsigned:
                return Reply.of_json(
                    200,
                    {
                        "access_token": assertion,
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "scope": "",
                    },
                )
        return await call_next(request)


class AcceptsReplayedAssertion(Variant):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.method == "POST" and request.path == "/oauth/token":
            assertion = request.form().get("client_assertion", "")
            if assertion in self.memory:
                return self.memory[assertion]  # type: ignore[no-any-return]
            reply = await call_next(request)
            if reply.status == 200:
                self.memory[assertion] = reply
            return reply
        return await call_next(request)


class IgnoresConsentExpiry(Variant):
    """Stores every consent as valid for a year, whatever valid_until says."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.method == "POST" and request.path == "/v1/consents":
            try:
                body = request.json()
                until = datetime.fromisoformat(body["valid_until"].replace("Z", "+00:00"))
            except (ValueError, KeyError, TypeError, AttributeError):
                return await call_next(request)
            if timedelta(0) < until - datetime.now(UTC) < timedelta(days=1):
                body["valid_until"] = (datetime.now(UTC) + timedelta(days=365)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
                request = request.with_json(body)
        return await call_next(request)


class IgnoresConsentWithdrawal(Variant):
    """Acknowledges the recording organisation's withdrawal without recording it."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if (
            request.method == "POST"
            and request.path.startswith("/v1/consents/")
            and request.path.endswith("/withdraw")
        ):
            read = replace(
                request, method="GET", path=request.path.removesuffix("/withdraw"), body=b""
            )
            reply = await call_next(read.without_header("content-type"))
            if reply.status == 200:
                recorder = (reply.json().get("recorder") or {}).get("org_id")
                if recorder is not None and recorder == _bearer_sub(request):
                    return reply
        return await call_next(request)


class _Impersonating(Variant):
    """Remembers each organisation's bearer token, to answer one with another's data."""

    def remember(self, request: Exchange) -> None:
        sub = _bearer_sub(request)
        if sub:
            self.memory[sub] = request.header("authorization")

    def others(self, request: Exchange) -> list[str]:
        me = _bearer_sub(request)
        return [token for sub, token in self.memory.items() if sub != me]


class ReadsAcrossOrganisations(_Impersonating):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        self.remember(request)
        reply = await call_next(request)
        if (
            request.method == "GET"
            and request.path.startswith("/v1/referrals/")
            and reply.status == 404
        ):
            for token in self.others(request):
                borrowed = await call_next(request.with_header("authorization", token))
                if borrowed.status == 200:
                    return borrowed
        return reply


class LeaksOtherOrganisationsReferrals(_Impersonating):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        self.remember(request)
        reply = await call_next(request)
        if request.method == "GET" and request.path == "/v1/referrals" and reply.status == 200:
            page = reply.json()
            for token in self.others(request):
                borrowed = await call_next(request.with_header("authorization", token))
                if borrowed.status == 200:
                    page["items"].extend(borrowed.json()["items"])
            return reply.with_json(page)
        return reply


class AllowsIllegalTransition(Variant):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if (
            request.method == "POST"
            and request.path.endswith("/transitions")
            and reply.status == 409
        ):
            return Reply.of_json(201, {"to": request.json().get("to")})
        return reply


class DuplicatesOnRetry(Variant):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.method == "POST":
            request = request.without_header("idempotency-key")
        return await call_next(request)


class PlainTextErrors(Variant):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if reply.status == 405:
            return Reply(
                405, [(b"content-type", b"text/plain; charset=utf-8")], b"Method Not Allowed"
            )
        return reply


class DropsEventFromFeed(Variant):
    """Loses `referral.withdrawn` events from the pull feed (a gap in `sequence`)."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "GET" and request.path == "/v1/events" and reply.status == 200:
            page = reply.json()
            page["items"] = [
                e for e in page["items"] if e.get("type") != "org.saferefer.referral.withdrawn"
            ]
            return reply.with_json(page)
        return reply


class AltersAuditEntry(Variant):
    """Serves audit entries whose content changed after they were hashed."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "GET" and request.path == "/v1/audit" and reply.status == 200:
            page = reply.json()
            for entry in page["items"][:1]:
                entry["occurred_at"] = "2000-01-01T00:00:00Z"
            return reply.with_json(page)
        return reply


class TrimsUncoveredCategories(Variant):
    """Silently drops the categories the policy refused and sends the rest."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "POST" and request.path == "/v1/referrals" and reply.status == 403:
            refused = {
                c for v in reply.json().get("violations", []) for c in v.get("categories", [])
            }
            body = request.json()
            kept = {k: v for k, v in body.get("payload", {}).items() if k not in refused}
            if refused and kept:
                retry = await call_next(
                    request.with_json({**body, "payload": kept}).without_header("idempotency-key")
                )
                if retry.status == 201:
                    return retry
        return reply


class ShowsSmallStatisticsCells(Variant):
    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "GET" and request.path == "/v1/statistics" and reply.status == 200:
            document = reply.json()
            for cell in document.get("cells", []):
                if cell.get("suppressed"):
                    cell.update(count=2, suppressed=False)
            return reply.with_json(document)
        return reply


class AcceptsOnlyInPersonWithdrawal(Variant):
    """Refuses withdrawals through any channel but in person."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if (
            request.method == "POST"
            and request.path.startswith("/v1/consents/")
            and request.path.endswith("/withdraw")
        ):
            try:
                channel = request.json().get("channel")
            except (ValueError, AttributeError):
                channel = None
            if channel != "in_person":
                return Reply.of_json(
                    422,
                    {
                        "type": PROBLEMS + "validation-error",
                        "title": "Unsupported withdrawal channel",
                        "status": 422,
                        "errors": [{"pointer": "#/channel", "detail": "only in_person"}],
                    },
                    "application/problem+json",
                )
        return await call_next(request)


class NamesSignerOnDeniedRead(Variant):
    """Leaves payload_signed_by in a referral whose payload the read decision withholds."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if (
            request.method == "GET"
            and request.path.startswith("/v1/referrals/")
            and request.path.count("/") == 3
            and reply.status == 200
        ):
            referral = reply.json()
            if "payload" not in referral and referral.get("withheld_categories"):
                return reply.with_json({**referral, "payload_signed_by": "node"})
        return reply


class DeliversWebhooksAsPlainJson(Variant):
    """Delivers webhooks with Content-Type application/json instead of the CloudEvents type.

    The node's deliveries leave the process, out of this wrapper's reach, so the wrapper registers
    each subscription with a relay URL of its own and passes each delivery on to the subscriber,
    body and signature untouched, with the media type changed.
    """

    RELAY = "/conformance-relay/"

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.method == "POST" and request.path == "/v1/subscriptions":
            body = request.json()
            token = f"{len(self.memory)}"
            self.memory[token] = body.get("url")
            body["url"] = f"http://{request.header('host')}{self.RELAY}{token}"
            return await call_next(request.with_json(body))
        if request.method == "POST" and request.path.startswith(self.RELAY):
            target = self.memory.get(request.path.removeprefix(self.RELAY))
            if not target:
                return Reply(404, [], b"")
            headers = {
                k.decode(): v.decode()
                for k, v in request.headers
                if k.lower() not in (b"host", b"content-length", b"content-type")
            }
            async with httpx.AsyncClient() as client:
                delivered = await client.post(
                    target,
                    content=request.body,
                    headers={**headers, "content-type": "application/json"},
                )
            return Reply(delivered.status_code, [], b"")
        return await call_next(request)


class ActsForTheOrganisationInTheToken(Variant):
    """Ignores the sender or recorder a body names and acts for the token's organisation."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.method == "POST" and request.path in ("/v1/consents", "/v1/referrals"):
            try:
                body = request.json()
            except ValueError:
                return await call_next(request)
            if isinstance(body, dict):
                body.pop("sender", None)
                if isinstance(body.get("recorder"), dict):
                    body["recorder"].pop("org_id", None)
                request = request.with_json(body)
        return await call_next(request)


class OmitsAllowedTransitions(Variant):
    """Refuses invalid transitions with 409 but without saying which are allowed."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.path.endswith("/transitions") and reply.status == 409:
            problem = reply.json()
            problem.pop("allowed_transitions", None)
            return reply.with_json(problem)
        return reply


class OmitsSmallStatisticsCells(Variant):
    """Leaves small cells out of the statistics instead of reporting them suppressed."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "GET" and request.path == "/v1/statistics" and reply.status == 200:
            document = reply.json()
            document["cells"] = [c for c in document.get("cells", []) if not c.get("suppressed")]
            return reply.with_json(document)
        return reply


class AltersNewestAuditEntry(Variant):
    """Serves the newest audit entry changed after it was hashed (older pages stay intact)."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "GET" and request.path == "/v1/audit" and reply.status == 200:
            page = reply.json()
            if page["items"] and not page.get("next_cursor"):
                page["items"][-1]["occurred_at"] = "2000-01-01T00:00:00Z"
                return reply.with_json(page)
        return reply


class AdvertisesUnheldRole(Variant):
    """Answers a token request with a scope naming a role the organisation does not hold."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if request.method == "POST" and request.path == "/oauth/token" and reply.status == 200:
            response = reply.json()
            held = str(response.get("scope", "")).split()
            # Not a monitoring role, and appended: the suite's choice of roles stays as it was.
            extra = next(r for r in ("role:immigration_authority", "role:police") if r not in held)
            return reply.with_json({**response, "scope": " ".join([*held, extra])})
        return reply


class ImplementsCoreOnly(Variant):
    """A conforming node of the core profile only: it claims no other profile and serves neither
    the event feed nor webhook subscriptions. Not part of the catalogue: it breaks nothing."""

    async def handle(self, request: Exchange, call_next: CallNext) -> Reply:
        if request.path.startswith(("/v1/events", "/v1/subscriptions")):
            return Reply.of_json(
                404,
                {"type": PROBLEMS + "not-found", "title": "Not found", "status": 404},
                "application/problem+json",
            )
        reply = await call_next(request)
        if request.path == "/.well-known/saferefer" and reply.status == 200:
            return reply.with_json({**reply.json(), "profiles": ["core"]})
        return reply


def core_only_node() -> Variant:
    return ImplementsCoreOnly(
        name="implements_core_only",
        breaks="",
        description="claims and serves the core profile only",
        expected_failures=frozenset(),
    )


def catalogue() -> list[Variant]:
    """Every broken variant with the checks that must fail against it."""

    def make(cls: type[Variant], name: str, breaks: str, description: str, *checks: str) -> Variant:
        return cls(
            name=name, breaks=breaks, description=description, expected_failures=frozenset(checks)
        )

    return [
        make(
            AcceptsAlgNoneAssertion,
            "accepts_alg_none_assertion",
            "SR-AUTH-003",
            "issues a token for an unsigned client assertion",
            "token_rejects_alg_none_assertion",
        ),
        make(
            AcceptsReplayedAssertion,
            "accepts_replayed_assertion",
            "SR-AUTH-007",
            "answers a replayed client assertion with the first token",
            "token_rejects_replayed_assertion",
        ),
        make(
            IgnoresConsentExpiry,
            "ignores_consent_expiry",
            "SR-CONSENT-005",
            "keeps consents valid past valid_until",
            "expired_consent_blocks_disclosure",
        ),
        make(
            IgnoresConsentWithdrawal,
            "ignores_consent_withdrawal",
            "SR-CONSENT-004",
            "acknowledges withdrawals without recording them",
            "withdrawn_consent_blocks_disclosure",
            "withdrawal_accepted_through_every_channel",
            "read_after_withdrawal_refused",
            "withdrawal_reaches_every_recipient_as_event",
            "erasure_acknowledgement_recorded",
        ),
        make(
            ReadsAcrossOrganisations,
            "reads_across_organisations",
            "SR-AUTHZ-001",
            "lets an organisation read another's referral",
            "organisation_cannot_read_foreign_referral",
        ),
        make(
            LeaksOtherOrganisationsReferrals,
            "leaks_other_organisations_referrals",
            "SR-AUTHZ-002",
            "lists other organisations' referrals in inbox and outbox",
            "lists_filtered_to_own_objects",
        ),
        make(
            AllowsIllegalTransition,
            "allows_illegal_transition",
            "SR-STATE-003",
            "acknowledges transitions the state table forbids",
            "illegal_transition_refused_with_409",
            "transition_by_wrong_party_refused",
            "concurrent_transitions_serialised",
        ),
        make(
            DuplicatesOnRetry,
            "duplicates_on_retry",
            "SR-IDEM-002",
            "ignores Idempotency-Key",
            "idempotency_replay_returns_first_response",
            "idempotency_replay_marked",
            "idempotency_key_reuse_with_different_body_rejected",
            "concurrent_idempotent_posts_create_one_referral",
        ),
        make(
            PlainTextErrors,
            "plain_text_errors",
            "SR-ERR-001",
            "answers 405 with a plain-text error",
            "every_error_is_problem_json",
        ),
        make(
            DropsEventFromFeed,
            "drops_event_from_feed",
            "SR-EVENT-002",
            "loses events from the pull feed",
            "event_feed_gap_free_and_resumable",
        ),
        make(
            AltersAuditEntry,
            "alters_audit_entry",
            "SR-AUDIT-003",
            "serves an audit entry changed after hashing",
            "audit_chain_verifies",
        ),
        make(
            TrimsUncoveredCategories,
            "trims_uncovered_categories",
            "SR-POLICY-009",
            "discloses the covered part of a referral with an uncovered category",
            "uncovered_category_refused",
            "minimisation_matrix_enforced",
            "policy_dry_run_agrees_with_submission",
            "errors_do_not_echo_personal_data",
        ),
        make(
            ShowsSmallStatisticsCells,
            "shows_small_statistics_cells",
            "SR-STATS-002",
            "publishes cells under the suppression threshold",
            "statistics_suppress_small_cells",
        ),
        make(
            OmitsSmallStatisticsCells,
            "omits_small_statistics_cells",
            "SR-STATS-002",
            "leaves small cells out instead of reporting them suppressed",
            "statistics_suppress_small_cells",
        ),
        make(
            AcceptsOnlyInPersonWithdrawal,
            "accepts_only_in_person_withdrawal",
            "SR-CONSENT-023",
            "refuses withdrawals through every channel but in person",
            "withdrawal_accepted_through_every_channel",
        ),
        make(
            NamesSignerOnDeniedRead,
            "names_signer_on_denied_read",
            "SR-CONSENT-026",
            "keeps payload_signed_by in a referral whose payload a withdrawal withholds",
            "read_after_withdrawal_refused",
        ),
        make(
            DeliversWebhooksAsPlainJson,
            "delivers_webhooks_as_plain_json",
            "SR-EVENT-010",
            "delivers webhooks as application/json, not application/cloudevents+json",
            "webhook_deliveries_signed",
        ),
        make(
            ActsForTheOrganisationInTheToken,
            "acts_for_the_organisation_in_the_token",
            "SR-AUTHZ-006",
            "ignores the sender or recorder a body names instead of refusing the request",
            "acting_organisation_taken_from_token",
        ),
        make(
            OmitsAllowedTransitions,
            "omits_allowed_transitions",
            "SR-STATE-003",
            "refuses invalid transitions without naming the allowed ones",
            "illegal_transition_refused_with_409",
        ),
        make(
            AltersNewestAuditEntry,
            "alters_newest_audit_entry",
            "SR-AUDIT-003",
            "serves the newest audit entry changed after hashing",
            "audit_chain_verifies",
        ),
        make(
            AdvertisesUnheldRole,
            "advertises_unheld_role",
            "SR-AUTH-011",
            "names a role the organisation does not hold in the token response's scope",
            "token_issued_for_valid_client_assertion",
        ),
    ]
