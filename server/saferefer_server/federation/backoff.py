"""When to try a delivery again: exponential backoff with jitter, as pure functions.

Delay before attempt n+1 (n = attempts made so far, n >= 1) is drawn from
[ceiling / 2, ceiling] with ceiling = min(cap, base * 2**(n-1)): it grows exponentially so a peer
that is down for hours is retried every `cap` seconds, and the random half spreads retries of many
messages (and of many sending nodes) so a peer coming back is not hit all at once. Keeping half
of the ceiling as a floor ("equal jitter") guarantees the schedule never collapses to retrying
immediately. A `Retry-After` from the peer is honoured but capped.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_AFTER_MAX_S = 3600.0


def ceiling_delay(attempts: int, *, base_s: float, cap_s: float) -> float:
    """Upper bound of the delay after `attempts` failed attempts (exponent capped early to avoid
    overflowing floats for messages that failed thousands of times)."""
    if attempts < 1:
        raise ValueError("attempts counts failed attempts and starts at 1")
    exponent = min(attempts - 1, 62)
    return min(cap_s, base_s * float(2**exponent))


def retry_delay(
    attempts: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the next attempt after `attempts` failed ones."""
    ceiling = ceiling_delay(attempts, base_s=base_s, cap_s=cap_s)
    draw = (rng or random).uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        return max(draw, min(retry_after_s, RETRY_AFTER_MAX_S))
    return draw


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date); None if absent or unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def next_attempt_at(
    now: datetime,
    attempts: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    delay = retry_delay(attempts, base_s=base_s, cap_s=cap_s, retry_after_s=retry_after_s, rng=rng)
    return now + timedelta(seconds=delay)
