"""Audit: a hash chain anyone holding the entries can verify, covering every decision."""

from __future__ import annotations

import hashlib
from typing import Any

from .. import _flows as flows
from .._context import Context
from .._failures import FailureCollector
from .._jcs import canonicalize
from .._registry import check

GENESIS = "sha256:" + "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonicalize(body)).hexdigest()


def audit_entries(ctx: Context, org: Any) -> list[dict[str, Any]]:
    """Every audit entry ``org`` sees, in chain order (every page)."""
    entries = flows.list_all(ctx, org, flows.AUDIT, {"limit": flows.PAGE})
    return [e for e in entries if isinstance(e, dict)]


def chain_errors(entries: list[dict[str, Any]]) -> list[str]:
    """Every entry's own hash, and every link between consecutive entries the caller holds."""
    errors = []
    by_seq = {e.get("seq"): e for e in entries}
    for entry in entries:
        if entry.get("hash") != entry_hash(entry):
            errors.append(f"entry seq {entry.get('seq')}: hash does not match its content")
        seq = entry.get("seq")
        if not isinstance(seq, int):
            errors.append(f"entry without an integer seq: {entry.get('id')}")
            continue
        if seq == 1 and entry.get("prev_hash") != GENESIS:
            errors.append("entry seq 1: prev_hash is not sha256:000…0")
        previous = by_seq.get(seq - 1)
        if previous is not None and entry.get("prev_hash") != previous.get("hash"):
            errors.append(f"entry seq {seq}: prev_hash is not the hash of entry {seq - 1}")
    return errors


@check(
    id="SRC-070",
    name="audit_chain_verifies",
    title=(
        "The audit chain verifies, both by the server's verification and by recomputing each hash"
    ),
    severity="must",
    requirements=["SR-AUDIT-002", "SR-AUDIT-004", "SR-AUDIT-006", "SR-AUDIT-003"],
    profile="core",
)
def audit_chain_verifies(ctx: Context) -> None:
    flows.consent_and_send(ctx)  # make sure there is something to verify
    response = ctx.sender.get(flows.AUDIT_VERIFY)
    with ctx.requirement("SR-AUDIT-004"):
        verification = ctx.expect_success(response, "GET /v1/audit/verify failed")
        ctx.expect_schema(
            verification,
            "audit-verification.schema.json",
            "The verification result is malformed",
            response,
        )
    if verification.get("valid") is not True:
        ctx.fail(
            "The server reports a broken audit chain", "", expected="valid: true", response=response
        )
    found = FailureCollector()
    for slot in ("sender", "recipient"):
        # Every page, through to the entries this run wrote last: a node that tampers with recent
        # entries only keeps its oldest page intact.
        entries = audit_entries(ctx, ctx.org(slot))
        if not entries:
            found.add(
                ctx.failure(
                    f"The {slot} sees no audit entries",
                    "An organisation sees the entries about its objects.",
                    requirement="SR-AUDIT-006",
                )
            )
        for entry in (entries[0], entries[-1]) if entries else ():
            with ctx.requirement("SR-AUDIT-002"):
                ctx.expect_schema(
                    entry, "audit-entry.schema.json", "An audit entry does not match its schema"
                )
        errors = chain_errors(entries)
        if errors:
            found.add(
                ctx.failure(
                    f"The audit entries the {slot} holds do not verify",
                    "; ".join(errors[:5]),
                    expected="hash = sha256(JCS(entry without hash)); prev_hash = previous hash",
                    actual=f"{len(errors)} of {len(entries)} entries wrong",
                    requirement="SR-AUDIT-002",
                )
            )
    found.raise_if_any()


@check(
    id="SRC-071",
    name="audit_covers_each_disclosure",
    title="Allowed and denied decisions, the referral, its read and the consent are all audited",
    severity="must",
    requirements=["SR-AUDIT-001", "SR-POLICY-001"],
    profile="core",
)
def audit_covers_each_disclosure(ctx: Context) -> None:
    sent = flows.consent_and_send(ctx, categories=["identity"])
    ctx.expect_success(
        ctx.recipient.get(flows.referral_path(sent.referral_id)),
        "The recipient cannot read its referral",
    )
    denied = flows.send(ctx, sent.scenario, [sent.consent_id], categories=["identity", "contact"])
    problem = denied.json() if denied.status_code == 403 else {}
    expected: dict[str, tuple[str, set[str | None]]] = {
        "the consent being recorded": ("consent.recorded", {sent.consent_id}),
        "the referral being created": ("referral.created", {sent.referral_id}),
        "the allow decision for the send": (
            "policy.decision",
            {sent.referral_id, sent.referral.get("decision_id")},
        ),
    }
    if problem.get("decision_id"):
        expected["the deny decision"] = ("policy.decision", {problem["decision_id"]})
    sender_entries = audit_entries(ctx, ctx.sender)
    recipient_entries = audit_entries(ctx, ctx.recipient)
    found = FailureCollector()
    for what, (action, ids) in expected.items():
        if not any(
            e.get("action") == action and (e.get("object_id") in ids or e.get("id") in ids)
            for e in sender_entries
        ):
            found.add(
                ctx.failure(
                    f"No audit entry for {what}",
                    "",
                    expected=f"an entry {action} about {sorted(map(str, ids - {None}))}",
                    actual=f"{len(sender_entries)} entries visible to the sender",
                )
            )
    if denied.status_code == 403 and not any(
        e.get("action") == "policy.decision" and (e.get("decision") or {}).get("allow") is False
        for e in sender_entries
    ):
        found.add(
            ctx.failure(
                "No audit entry for the denied decision",
                "",
                expected="policy.decision with allow false",
            )
        )
    if not any(
        e.get("action") == "referral.read" and e.get("object_id") == sent.referral_id
        for e in recipient_entries
    ):
        found.add(
            ctx.failure(
                "The recipient's read of the payload is not audited",
                "",
                expected=f"referral.read about {sent.referral_id}",
            )
        )
    found.raise_if_any()


@check(
    id="SRC-072",
    name="audit_entries_carry_no_personal_data",
    title="Audit entries carry ids and codes, never payload values or subject references",
    severity="must",
    requirements=["SR-AUDIT-005"],
    profile="core",
)
def audit_entries_carry_no_personal_data(ctx: Context) -> None:
    sent = flows.consent_and_send(ctx)
    ctx.recipient.get(flows.referral_path(sent.referral_id))
    for slot in ("sender", "recipient"):
        response = ctx.org(slot).get(flows.AUDIT)
        text = "".join(str(e) for e in audit_entries(ctx, ctx.org(slot)))
        markers = {**sent.scenario.canaries, "subject_ref": sent.scenario.subject_ref}
        leaked = [name for name, value in markers.items() if value in text]
        if leaked:
            ctx.fail(
                "Audit entries contain personal data",
                f"found in the {slot}'s audit view: {leaked}",
                expected="ids and codes only",
                response=response,
            )
