"""Directory tables and their API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base, utcnow

ORG_ID_PATTERN = r"^urn:saferefer:org:[A-Z]{2}:[a-z0-9][a-z0-9-]{1,62}$"


class OrganisationStatus(StrEnum):
    """A suspended organisation can neither authenticate nor receive referrals."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    node_id: Mapped[str] = mapped_column(String(120))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=OrganisationStatus.ACTIVE.value)
    # Registered contact point of its country's referral mechanism (R24).
    nrm_contact_point: Mapped[bool] = mapped_column(Boolean, default=False)
    # Created by `seed-demo`; a production node refuses to start while any exists.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def enabled(self) -> bool:
        """Active: may authenticate and receive referrals."""
        return is_enabled(self.status)


def is_enabled(status: str) -> bool:
    """Whether an organisation of this directory status may authenticate and receive referrals
    (for code that reads the status column without loading the organisation)."""
    return status == OrganisationStatus.ACTIVE.value


class OrganisationPublic(BaseModel):
    """An entry of the directory as the API returns it (organisation.schema.json)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    country: str
    roles: list[str]
    node_id: str
    nrm_contact_point: bool
    jwks: dict[str, Any]
    status: OrganisationStatus
    created_at: datetime
    updated_at: datetime
