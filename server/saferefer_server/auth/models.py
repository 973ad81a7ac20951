"""Tables of the authentication layer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base


class UsedClientAssertion(Base):
    """A client assertion already exchanged for a token (RFC 7523 §3 jti replay protection).

    Kept in the database, not in memory, so every worker of the node refuses the same replay;
    the primary key makes two simultaneous uses of one assertion race to one winner. Rows are
    useless after `expires_at` and are purged by the token endpoint.
    """

    __tablename__ = "used_client_assertions"

    issuer: Mapped[str] = mapped_column(String(120), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
