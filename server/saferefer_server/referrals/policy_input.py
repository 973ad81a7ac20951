"""Building the policy-input.schema.json document of a referral disclosure from server records.

Sender and recipient (roles, country, node) come from the directory and the consents from the
database, never from the request (SR-POLICY-002). The request contributes only what the sender
declares (`subject`, `payload_flags`, `context`, `justifications` — the same members as the policy
input), which the node completes with `now`, `cross_border`, `retain_until` and the `based_on`
chain it looks up itself.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from saferefer_server.audit.ids import rfc3339
from saferefer_server.consents import service as consents
from saferefer_server.consents.models import Consent
from saferefer_server.organisations.models import Organisation


def party(org: Organisation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "org": org.id,
        "roles": sorted(set(org.roles)),
        "country": org.country,
        "node": org.node_id,
    }
    # R24: a registered contact point of its country's mechanism (directory flag, or a peer's
    # contact point as the trust list names it).
    if getattr(org, "nrm_contact_point", False):
        document["contact_point"] = True
    return document


def disclosed_categories(body: Mapping[str, Any]) -> list[str]:
    """Payload keys, plus `language_needs` when that member is present (referral.schema.json)."""
    categories = set(body.get("payload") or {})
    if body.get("language_needs") is not None:
        categories.add("language_needs")
    return sorted(categories)


def build(
    *,
    action: str,
    body: Mapping[str, Any],
    sender: Organisation,
    recipient: Organisation,
    consent_rows: Sequence[Consent],
    now: datetime,
    based_on_chain: Sequence[Mapping[str, Any]] = (),
    collected_for: str | None = None,
    data_categories: Sequence[str] | None = None,
    consent_views: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The policy input; `data_categories` overrides the categories derived from the body
    (a read is decided on the categories stored with the referral)."""
    categories = disclosed_categories(body) if data_categories is None else sorted(data_categories)
    context: dict[str, Any] = copy.deepcopy(dict(body.get("context") or {}))
    context["now"] = rfc3339(now)
    context["cross_border"] = sender.country != recipient.country
    if body.get("retain_until"):
        context["retain_until"] = body["retain_until"]
    if based_on_chain:
        context["based_on"] = [dict(link) for link in based_on_chain]
    if collected_for is not None:
        context["collected_for"] = collected_for
    return {
        "action": action,
        "sender": party(sender),
        "recipient": party(recipient),
        "purpose": body["purpose"],
        "data_categories": categories,
        "payload_flags": dict(body.get("payload_flags") or {}),
        "subject": copy.deepcopy(dict(body.get("subject") or {})),
        # A referral delivered by a peer node is decided on the consents as that node sent them.
        "consents": [dict(v) for v in consent_views]
        if consent_views is not None
        else [consents.policy_consent(c, now=now) for c in consent_rows],
        "context": context,
        "justifications": [dict(j) for j in body.get("justifications") or []],
    }
