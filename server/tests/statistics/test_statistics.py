"""Statistics for monitoring bodies: aggregates only, small cells suppressed (R15)."""

from __future__ import annotations

from typing import Any

import pytest
from saferefer_server.domain_spec import schema_errors
from saferefer_server.referrals.testing import DomainFlows
from saferefer_server.statistics.service import suppress

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
SOCIAL = "urn:saferefer:org:NL:demo-social"
RAPPORTEUR = "urn:saferefer:org:NL:demo-rapporteur"
COORDINATOR = "urn:saferefer:org:NL:demo-coordinator"


def test_suppress_hides_small_cells_and_a_partner_in_each_line() -> None:
    cells = {("a",): 12, ("b",): 3, ("c",): 7, ("d",): 40}
    # b is small; alone it could be recovered from the total, so the next smallest goes too.
    assert suppress(cells, dimensions=1) == {("b",), ("c",)}


def test_suppress_two_small_cells_need_no_partner() -> None:
    cells = {("a",): 12, ("b",): 3, ("c",): 2}
    assert suppress(cells, dimensions=1) == {("b",), ("c",)}


def test_suppress_two_dimensions_leaves_no_line_with_one_hidden_cell() -> None:
    cells = {
        ("x", "m1"): 10,
        ("x", "m2"): 2,
        ("x", "m3"): 9,
        ("y", "m1"): 8,
        ("y", "m2"): 11,
        ("y", "m3"): 6,
    }
    hidden = suppress(cells, dimensions=2)
    assert ("x", "m2") in hidden
    for free in range(2):
        lines: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for cell in cells:
            lines.setdefault(cell[:free] + cell[free + 1 :], []).append(cell)
        for line in lines.values():
            assert sum(c in hidden for c in line) != 1, line


def test_suppress_keeps_large_cells() -> None:
    assert suppress({("a",): 5, ("b",): 9}, dimensions=1) == set()


async def test_statistics_for_rapporteur_suppress_small_cells(flows: DomainFlows) -> None:
    for _ in range(5):
        await flows.referral(NGO, SHELTER)
    await flows.referral(NGO, SOCIAL)
    response = await flows.get(RAPPORTEUR, "/v1/statistics", group_by="recipient_role")
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors("statistics.schema.json", body) == []
    cells = {c["dimensions"]["recipient_role"]: c for c in body["cells"]}
    # 5 to the shelter is shown; 1 to social services is suppressed; with only two cells the
    # shelter count would reveal it through the total, so it is suppressed too.
    assert cells["social_services"] == {
        "dimensions": {"recipient_role": "social_services"},
        "count": None,
        "suppressed": True,
    }
    assert cells["shelter"]["suppressed"] is True
    assert "id" not in response.text
    assert NGO not in response.text


async def test_statistics_by_two_dimensions_for_coordinator(flows: DomainFlows) -> None:
    for _ in range(6):
        await flows.referral(NGO, SHELTER)
    response = await flows.get(COORDINATOR, "/v1/statistics", group_by=["purpose", "month"])
    assert response.status_code == 200, response.text
    [cell] = response.json()["cells"]
    assert cell["count"] == 6
    assert cell["suppressed"] is False
    assert set(cell["dimensions"]) == {"purpose", "month"}


async def test_statistics_are_forbidden_to_other_roles(flows: DomainFlows) -> None:
    response = await flows.get(NGO, "/v1/statistics")
    assert response.status_code == 403
    assert response.json()["type"] == "https://saferefer.org/problems/forbidden"


async def test_statistics_reject_unknown_dimensions(flows: DomainFlows) -> None:
    response = await flows.get(RAPPORTEUR, "/v1/statistics", group_by="subject_ref")
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"to": "0001-01-05T00:00:00Z"}, 422),  # a default period would start before year 1
        ({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}, 200),
        ({"to": "not-a-time"}, 422),
        # `from` after a `to` in year 1: refused as a reversed period, not a 500.
        ({"from": "2000-06-01T00:00:12Z", "to": "0001-01-01T00:00:06Z", "group_by": "state"}, 422),
    ],
)
async def test_statistics_period_at_the_calendar_edges(
    flows: DomainFlows, params: dict[str, str], status: int
) -> None:
    response = await flows.get(RAPPORTEUR, "/v1/statistics", **params)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["type"] == "https://saferefer.org/problems/validation-error"


async def test_statistics_read_is_decided_and_audited(flows: DomainFlows) -> None:
    await flows.get(RAPPORTEUR, "/v1/statistics")
    entries = (await flows.get(RAPPORTEUR, "/v1/audit")).json()["items"]
    assert [e["action"] for e in entries] == ["policy.decision", "statistics.read"]
    assert entries[0]["decision"]["allow"] is True
