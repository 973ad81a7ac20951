"""The hash-chained audit log: appends, per-caller view, verification and tamper detection."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from saferefer_server.audit import service
from saferefer_server.audit.models import AuditEntry
from saferefer_server.domain_spec import schema_errors
from saferefer_server.referrals.testing import DomainFlows
from saferefer_server.testing import TestNode
from sqlalchemy import select, text

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
POLICE = "urn:saferefer:org:NL:demo-police"


async def test_audit_list_shows_only_the_callers_entries(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    mine = (await flows.get(NGO, "/v1/audit", limit=200)).json()
    assert mine["items"]
    for entry in mine["items"]:
        assert schema_errors("audit-entry.schema.json", entry) == []
        assert NGO in (entry["actor_org"], entry["counterparty_org"])
    assert referral["decision_id"] in {e["id"] for e in mine["items"]}
    received = (await flows.get(SHELTER, "/v1/audit", limit=200)).json()["items"]
    assert [e["action"] for e in received if e["object_id"] == referral["id"]] == [
        "policy.decision",
        "referral.created",
    ]
    assert (await flows.get(POLICE, "/v1/audit")).json()["items"] == []


async def test_audit_list_pages_by_cursor(flows: DomainFlows) -> None:
    for _ in range(2):
        await flows.referral(NGO, SHELTER)
    everything = (await flows.get(NGO, "/v1/audit", limit=200)).json()["items"]
    seen, cursor = [], None
    while True:
        page = (
            await flows.get(NGO, "/v1/audit", limit=3, **({"cursor": cursor} if cursor else {}))
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["seq"] for e in seen] == [e["seq"] for e in everything]


async def test_verify_reports_an_intact_chain(flows: DomainFlows) -> None:
    await flows.referral(NGO, SHELTER)
    result = (await flows.get(NGO, "/v1/audit/verify")).json()
    assert schema_errors("audit-verification.schema.json", result) == []
    assert result["valid"] is True
    assert result["first_invalid_seq"] is None
    assert result["entries_checked"] == result["last_seq"] >= 3


async def test_verify_names_the_entry_edited_in_the_database(
    flows: DomainFlows, node: TestNode
) -> None:
    await flows.referral(NGO, SHELTER)
    async with node.app.state.engine.begin() as connection:
        await connection.execute(
            text("UPDATE audit_entries SET counterparty_org = :org WHERE seq = 3"), {"org": POLICE}
        )
    result = (await flows.get(NGO, "/v1/audit/verify")).json()
    assert result["valid"] is False
    assert result["first_invalid_seq"] == 3
    assert "entry 3" in result["error"]
    async with node.app.state.sessionmaker() as db_session:
        verification = await service.verify_chain(db_session=db_session)
    assert [f.seq for f in verification.failures] == [3]


async def test_verify_detects_entries_removed_from_the_end(
    flows: DomainFlows, node: TestNode
) -> None:
    await flows.referral(NGO, SHELTER)
    async with node.app.state.engine.begin() as connection:
        last = (await connection.execute(text("SELECT max(seq) FROM audit_entries"))).scalar_one()
        await connection.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": last})
    result = (await flows.get(NGO, "/v1/audit/verify")).json()
    assert result["valid"] is False
    assert "removed" in result["error"]


async def test_concurrent_appends_extend_one_chain(node: TestNode) -> None:
    sessionmaker = node.app.state.sessionmaker

    async def append(index: int) -> None:
        async with sessionmaker() as db_session:
            await service.append(
                db_session=db_session,
                node_id=node.settings.node_id,
                actor_org=NGO,
                action="consent.read",
                object_type="consent",
                object_id=f"object-{index}",
            )
            await db_session.commit()

    await asyncio.gather(*(append(i) for i in range(20)))
    async with sessionmaker() as db_session:
        verification = await service.verify_chain(db_session=db_session)
        seqs = list(await db_session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert verification.valid, verification.failures
    assert seqs == list(range(1, len(seqs) + 1))


async def test_appends_of_several_entries_at_once_interleave_into_one_chain(
    node: TestNode,
) -> None:
    # `append_all` takes the chain head once for a whole batch: batches and single appends
    # running concurrently still make one gap-free chain, each batch in its own order, and
    # each entry keeps the id it was given before it was written (a decision id).
    sessionmaker = node.app.state.sessionmaker
    batches = [
        [service.PendingEntry(NGO, "referral.read", "referral", f"b{b}-{i}") for i in range(3)]
        for b in range(6)
    ]

    async def append_batch(entries: list[service.PendingEntry]) -> None:
        async with sessionmaker() as db_session:
            await service.append_all(
                db_session=db_session, node_id=node.settings.node_id, entries=entries
            )
            await db_session.commit()

    async def append_one(index: int) -> None:
        async with sessionmaker() as db_session:
            await service.append(
                db_session=db_session,
                node_id=node.settings.node_id,
                actor_org=None,
                action="consent.read",
                object_type="consent",
                object_id=f"single-{index}",
            )
            await db_session.commit()

    await asyncio.gather(
        *(append_batch(entries) for entries in batches), *(append_one(i) for i in range(6))
    )
    async with sessionmaker() as db_session:
        verification = await service.verify_chain(db_session=db_session)
        rows = list(await db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert verification.valid, verification.failures
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    by_id = {row.id: row for row in rows}
    for entries in batches:
        stored = [by_id[entry.id] for entry in entries]
        assert [row.object_id for row in stored] == [entry.object_id for entry in entries]
        assert [row.seq for row in stored] == list(range(stored[0].seq, stored[0].seq + 3))


async def test_cli_audit_verify_exit_code_follows_the_chain(
    flows: DomainFlows, node: TestNode, tmp_path: Path
) -> None:
    await flows.referral(NGO, SHELTER)
    env = {
        **os.environ,
        "SAFEREFER_DATABASE_URL": node.settings.database_url,
        "SAFEREFER_DATA_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "saferefer_server.cli", "audit", "verify"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    ok = await asyncio.to_thread(run)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    async with node.app.state.engine.begin() as connection:
        await connection.execute(
            text("UPDATE audit_entries SET action = 'consent.read' WHERE seq = 2")
        )
    broken = await asyncio.to_thread(run)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["failures"][0]["seq"] == 2
