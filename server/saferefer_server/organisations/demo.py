"""The demo directory: a few organisations of different roles in two countries, for a local node
and for tests. Production mode refuses to start while any of them is registered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.organisations import service
from saferefer_server.organisations.credentials import (
    credentials_document,
    credentials_file_name,
    new_client_key,
    write_credentials,
)

DEMO_NODE_ID = "urn:saferefer:node:NL:demo"


@dataclass(frozen=True)
class DemoOrganisation:
    org_id: str
    name: str
    roles: tuple[str, ...]

    @property
    def country(self) -> str:
        return self.org_id.split(":")[3]


DEMO_ORGANISATIONS: tuple[DemoOrganisation, ...] = (
    DemoOrganisation("urn:saferefer:org:NL:demo-ngo", "Demo NGO (NL)", ("ngo_service_provider",)),
    DemoOrganisation("urn:saferefer:org:NL:demo-shelter", "Demo Shelter (NL)", ("shelter",)),
    DemoOrganisation(
        "urn:saferefer:org:NL:demo-social", "Demo Social Services (NL)", ("social_services",)
    ),
    DemoOrganisation("urn:saferefer:org:NL:demo-police", "Demo Police (NL)", ("police",)),
    DemoOrganisation(
        "urn:saferefer:org:NL:demo-prosecutor", "Demo Prosecutor (NL)", ("prosecutor",)
    ),
    DemoOrganisation(
        "urn:saferefer:org:NL:demo-labour",
        "Demo Labour Inspectorate (NL)",
        ("labour_inspectorate",),
    ),
    DemoOrganisation(
        "urn:saferefer:org:NL:demo-immigration",
        "Demo Immigration Authority (NL)",
        ("immigration_authority",),
    ),
    DemoOrganisation(
        "urn:saferefer:org:NL:demo-rapporteur",
        "Demo National Rapporteur (NL)",
        ("national_rapporteur",),
    ),
    DemoOrganisation(
        "urn:saferefer:org:NL:demo-coordinator",
        "Demo National Coordinator (NL)",
        ("national_coordinator",),
    ),
    DemoOrganisation("urn:saferefer:org:MD:demo-ngo", "Demo NGO (MD)", ("ngo_service_provider",)),
    DemoOrganisation(
        "urn:saferefer:org:MD:demo-embassy", "Demo Embassy of Moldova", ("embassy_of_origin",)
    ),
)


async def seed_demo_directory(
    *, db_session: AsyncSession, node_id: str, base_url: str
) -> list[dict[str, Any]]:
    """Register every demo organisation not yet registered; their credentials documents.

    The caller commits, then writes the documents (see `write_demo_credentials`).
    """
    documents: list[dict[str, Any]] = []
    for demo in DEMO_ORGANISATIONS:
        if await service.get(db_session=db_session, org_id=demo.org_id) is not None:
            continue
        private_jwk, jwks = new_client_key()
        await service.register(
            db_session=db_session,
            org_id=demo.org_id,
            name=demo.name,
            country=demo.country,
            roles=list(demo.roles),
            node_id=node_id,
            jwks=jwks,
            is_demo=True,
        )
        documents.append(
            credentials_document(
                base_url=base_url, node_id=node_id, org_id=demo.org_id, private_jwk=private_jwk
            )
        )
    return documents


def write_demo_credentials(directory: Path, documents: list[dict[str, Any]]) -> list[Path]:
    return [write_credentials(directory, document) for document in documents]


def demo_credentials_path(directory: Path, org_id: str) -> Path:
    return directory / credentials_file_name(org_id)
