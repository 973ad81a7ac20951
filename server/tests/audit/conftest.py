"""Fixtures of these tests: the domain flows on the demo node."""

from __future__ import annotations

import pytest
from saferefer_server.referrals.testing import DomainFlows
from saferefer_server.testing import TestNode


@pytest.fixture
def flows(node: TestNode) -> DomainFlows:
    return DomainFlows(node)
