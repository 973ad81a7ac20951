"""Fixtures of these tests: the domain flows on the demo node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from saferefer_server.referrals.testing import DomainFlows, patient_node
from saferefer_server.testing import TestNode


@pytest.fixture
def flows(node: TestNode) -> DomainFlows:
    return DomainFlows(node)


@pytest.fixture
async def patient_flows(database_url: str, tmp_path: Path) -> AsyncIterator[DomainFlows]:
    """Flows on a node whose policy engine tolerates a burst of concurrent decisions."""
    async with patient_node(tmp_path / "patient", database_url) as flows:
        yield flows
