"""The check registry: metadata is validated, selection by profile and name works."""

from __future__ import annotations

import pytest
from saferefer_conformance._registry import PROFILES, Registry, RegistryError, check, load_registry


def _noop(ctx: object) -> None:
    return None


def _register(registry: Registry, **overrides: object) -> None:
    metadata: dict[str, object] = {
        "id": "SRC-900",
        "name": "example_claim_holds",
        "title": "An example",
        "severity": "must",
        "requirements": ["SR-TEST-001"],
        "profile": "core",
    }
    metadata.update(overrides)
    check(registry=registry, **metadata)(_noop)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"id": "C-1"}, "must look like SRC-001"),
        ({"name": "NotSnake"}, "snake_case"),
        ({"severity": "could"}, "severity"),
        ({"profile": "extra"}, "profile"),
        ({"requirements": []}, "at least one requirement"),
        ({"requirements": ["R5"]}, "not a requirement id"),
    ],
)
def test_register_rejects_invalid_metadata(override: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        _register(Registry(), **override)


def test_register_rejects_duplicate_id_and_name() -> None:
    registry = Registry()
    _register(registry)
    with pytest.raises(RegistryError, match="SRC-900 is used"):
        _register(registry, name="another_claim_holds")
    with pytest.raises(RegistryError, match="registered twice"):
        _register(registry, id="SRC-901")


def test_select_filters_by_profile_and_name() -> None:
    registry = Registry()
    _register(registry)
    _register(registry, id="SRC-901", name="event_claim_holds", profile="events")
    assert [c.name for c in registry.select(profiles=["core"])] == ["example_claim_holds"]
    assert [c.name for c in registry.select(profiles=list(PROFILES))] == [
        "example_claim_holds",
        "event_claim_holds",
    ]
    assert [
        c.name for c in registry.select(profiles=list(PROFILES), names=["event_claim_holds"])
    ] == ["event_claim_holds"]
    with pytest.raises(KeyError, match="no_such_check"):
        registry.select(names=["no_such_check"])


def test_builtin_registry_covers_every_profile_and_the_issue_checks() -> None:
    registry = load_registry()
    assert {c.profile for c in registry} == set(PROFILES)
    for name in (
        "referral_without_covering_consent_refused",
        "expired_consent_blocks_disclosure",
        "withdrawn_consent_blocks_disclosure",
        "read_after_withdrawal_refused",
        "withdrawal_reaches_every_recipient_as_event",
        "illegal_transition_refused_with_409",
        "concurrent_idempotent_posts_create_one_referral",
        "event_feed_gap_free_and_resumable",
        "audit_chain_verifies",
        "audit_covers_each_disclosure",
        "every_error_is_problem_json",
        "token_rejects_alg_none_assertion",
        "token_rejects_wrong_audience_assertion",
        "token_rejects_expired_assertion",
        "token_rejects_replayed_assertion",
        "statistics_suppress_small_cells",
        "capability_document_complete",
        "organisation_cannot_read_foreign_referral",
        "openapi_no_server_errors",
    ):
        assert name in registry, name
