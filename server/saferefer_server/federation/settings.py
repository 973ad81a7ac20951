"""Federation settings, read from `SAFEREFER_FEDERATION_*` environment variables.

Federation is off until a trust list is configured: a node that is not a member of a
Transnational Referral Mechanism never accepts nor sends a cross-border message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FederationSettings(BaseSettings):
    """Field `x` is set by the environment variable `SAFEREFER_FEDERATION_X`."""

    model_config = SettingsConfigDict(env_prefix="SAFEREFER_FEDERATION_", extra="ignore")

    # Path of a file, or an http(s) URL, holding the signed trust list (compact JWS).
    trust_list: str | None = None
    # JWKS file with the trust-list authority's public key(s).
    trust_anchor: Path | None = None
    # How often the trust list source is checked for a change (file mtime / HTTP ETag).
    poll_interval_s: float = Field(default=30.0, gt=0)
    # Delivery retries: delay before attempt n+1 grows as base * 2**(n-1), capped, with jitter.
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_cap_s: float = Field(default=300.0, gt=0)
    # After this long undelivered, a message is dead-lettered (kept, visible, never silently lost).
    max_age_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    delivery_timeout_s: float = Field(default=10.0, gt=0)
    # How often the worker looks for due messages when nothing wakes it earlier.
    worker_poll_s: float = Field(default=1.0, gt=0)
    # A claimed message not finished within this time (worker killed) is claimed again.
    lease_s: float = Field(default=30.0, gt=0)
    max_concurrent_deliveries: int = Field(default=8, ge=1)
    # Tolerated difference between the sender's `created` and this node's clock (future only).
    max_clock_skew_s: float = Field(default=300.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.trust_list is not None
