"""When to retry a request and how long to wait: named constants and two pure functions.

Retried: connection errors and timeouts, 408, 429 and every 5xx. A POST is retried safely because
the client sends the same ``Idempotency-Key`` on every attempt of one logical call, so the node
returns the first response instead of acting twice.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "INITIAL_RETRY_DELAY",
    "JITTER_FRACTION",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "RETRYABLE_STATUS_CODES",
]

DEFAULT_MAX_RETRIES = 2
#: Seconds before the first retry; doubled on every further attempt.
INITIAL_RETRY_DELAY = 0.5
#: Upper bound of the computed backoff, in seconds.
MAX_RETRY_DELAY = 8.0
#: A ``Retry-After`` longer than this (seconds) is not honoured as such; the backoff applies.
MAX_RETRY_AFTER = 60.0
#: The backoff is reduced by up to this fraction at random, so clients do not retry in lockstep.
JITTER_FRACTION = 0.25
RETRYABLE_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})


def _should_retry(
    *,
    attempt: int,
    max_retries: int,
    status_code: int | None,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Whether attempt number ``attempt`` (0 = the first) may be followed by another.

    ``status_code`` is ``None`` for a connection error or timeout. A node may force the answer
    with ``x-should-retry: true|false``.
    """
    if attempt >= max_retries:
        return False
    if status_code is None:
        return True
    forced = (headers or {}).get("x-should-retry")
    if forced == "true":
        return True
    if forced == "false":
        return False
    return status_code in RETRYABLE_STATUS_CODES or status_code >= 500


def _parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), ``None`` if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


def _retry_delay(
    *,
    attempt: int,
    retry_after: str | None,
    random_fraction: float,
    now: float | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt + 1``.

    ``random_fraction`` in ``[0, 1)`` is the jitter draw (passed in so that the function stays
    pure). A ``Retry-After`` between 0 and :data:`MAX_RETRY_AFTER` seconds is honoured exactly;
    otherwise: ``min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)`` minus up to
    :data:`JITTER_FRACTION` of it.
    """
    after = _parse_retry_after(retry_after, now=now)
    if after is not None and after <= MAX_RETRY_AFTER:
        return after
    backoff = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    return backoff * (1.0 - JITTER_FRACTION * random_fraction)
