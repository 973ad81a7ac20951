"""Who is calling: the organisation an access token was issued to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: str
    roles: tuple[str, ...]
    country: str
    node_id: str
    token_id: str

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)
