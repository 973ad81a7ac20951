"""Which node serves an organisation that is not in this node's directory, and what is known
about it.

Organisation ids carry their country (`urn:saferefer:org:<CC>:<code>`), and a trust list has at
most one active node per country, so the country of an unknown organisation names its node. The
peer's entry lists its cross-border contact points with their roles (R24); a referral can go
only to one of them, because the egress policy must know the recipient's roles and the node
has no other trustworthy source for them. The domain asks only after its own directory lookup
failed: an organisation of another country registered locally stays a local recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from saferefer_server.federation.envelope import ORG_ID_PATTERN, org_country
from saferefer_server.federation.runtime import FederationRuntime
from saferefer_server.federation.trustlist import TrustedNode

_ORG_ID = re.compile(ORG_ID_PATTERN)


@dataclass(frozen=True)
class RemoteOrganisation:
    """A contact point on a peer node, shaped like a directory entry (`Organisation`) for the
    attributes a send needs: id, name, country, roles, node_id, enabled."""

    id: str
    name: str
    country: str
    roles: list[str]
    node_id: str
    base_url: str
    enabled: bool = True
    status: str = "enabled"
    nrm_contact_point: bool = True
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})


def remote_node_for(runtime: FederationRuntime | None, org_id: str) -> TrustedNode | None:
    """The active peer node for `org_id`'s country, or None if federation is off or none."""
    if runtime is None or not _ORG_ID.match(org_id):
        return None
    trust_list = runtime.trust.current
    if trust_list is None:
        return None
    country = org_country(org_id)
    if country == runtime.country:
        return None
    node = trust_list.active_node_for_country(country)
    if node is None or node.node_id == runtime.node_id:
        return None
    return node


def remote_recipient(runtime: FederationRuntime | None, org_id: str) -> RemoteOrganisation | None:
    """`org_id` as a recipient on a peer node, if the trust list names it a contact point."""
    node = remote_node_for(runtime, org_id)
    point = node.contact_point(org_id) if node is not None else None
    if node is None or point is None:
        return None
    return RemoteOrganisation(
        id=point.org_id,
        name=point.name,
        country=node.country,
        roles=list(point.roles),
        node_id=node.node_id,
        base_url=node.base_url,
    )


def is_remote(runtime: FederationRuntime | None, org_id: str) -> bool:
    return remote_recipient(runtime, org_id) is not None
