"""Table tests of the pure retry functions."""

from __future__ import annotations

import email.utils

import pytest
from saferefer import _retry
from saferefer._retry import (
    INITIAL_RETRY_DELAY,
    JITTER_FRACTION,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    _parse_retry_after,
    _retry_delay,
    _should_retry,
)


@pytest.mark.parametrize(
    ("attempt", "max_retries", "status", "headers", "expected"),
    [
        (0, 2, None, None, True),  # connection error / timeout
        (1, 2, None, None, True),
        (2, 2, None, None, False),  # retries used up
        (0, 0, 503, None, False),  # retries disabled
        (0, 2, 408, None, True),
        (0, 2, 429, None, True),
        (0, 2, 500, None, True),
        (0, 2, 502, None, True),
        (0, 2, 503, None, True),
        (0, 2, 504, None, True),
        (0, 2, 507, None, True),  # any 5xx
        (0, 2, 400, None, False),
        (0, 2, 401, None, False),  # handled by the token refresh, not by retries
        (0, 2, 403, None, False),
        (0, 2, 404, None, False),
        (0, 2, 409, None, False),
        (0, 2, 422, None, False),
        (0, 2, 400, {"x-should-retry": "true"}, True),
        (0, 2, 503, {"x-should-retry": "false"}, False),
        (2, 2, 503, {"x-should-retry": "true"}, False),
    ],
)
def test_should_retry_follows_table(
    attempt: int,
    max_retries: int,
    status: int | None,
    headers: dict[str, str] | None,
    expected: bool,
) -> None:
    assert (
        _should_retry(attempt=attempt, max_retries=max_retries, status_code=status, headers=headers)
        is expected
    )


@pytest.mark.parametrize(
    ("attempt", "fraction", "expected"),
    [
        (0, 0.0, INITIAL_RETRY_DELAY),
        (1, 0.0, INITIAL_RETRY_DELAY * 2),
        (2, 0.0, INITIAL_RETRY_DELAY * 4),
        (0, 1.0, INITIAL_RETRY_DELAY * (1 - JITTER_FRACTION)),
        (3, 0.5, INITIAL_RETRY_DELAY * 8 * (1 - JITTER_FRACTION / 2)),
        (10, 0.0, MAX_RETRY_DELAY),  # capped
        (50, 1.0, MAX_RETRY_DELAY * (1 - JITTER_FRACTION)),
    ],
)
def test_retry_delay_backs_off_exponentially_with_jitter(
    attempt: int, fraction: float, expected: float
) -> None:
    assert _retry_delay(
        attempt=attempt, retry_after=None, random_fraction=fraction
    ) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("0", 0.0),
        ("3", 3.0),
        ("1.5", 1.5),
        (str(int(MAX_RETRY_AFTER)), MAX_RETRY_AFTER),
        (str(int(MAX_RETRY_AFTER) + 1), INITIAL_RETRY_DELAY),  # too long: backoff instead
        ("-5", 0.0),
        ("soon", INITIAL_RETRY_DELAY),  # unparseable: backoff
        ("nan", INITIAL_RETRY_DELAY),
        ("inf", INITIAL_RETRY_DELAY),
    ],
)
def test_retry_delay_honours_capped_retry_after(retry_after: str, expected: float) -> None:
    assert _retry_delay(attempt=0, retry_after=retry_after, random_fraction=0.0) == pytest.approx(
        expected
    )


def test_retry_after_http_date_counts_from_now() -> None:
    now = 1_800_000_000.0
    header = email.utils.formatdate(now + 7, usegmt=True)
    assert _parse_retry_after(header, now=now) == pytest.approx(7.0)
    assert _retry_delay(
        attempt=0, retry_after=header, random_fraction=0.0, now=now
    ) == pytest.approx(7.0)


def test_retry_delay_never_exceeds_cap_for_any_jitter() -> None:
    for attempt in range(20):
        for fraction in (0.0, 0.3, 0.999):
            delay = _retry_delay(attempt=attempt, retry_after=None, random_fraction=fraction)
            assert 0 < delay <= MAX_RETRY_DELAY


def test_retryable_status_codes_are_named() -> None:
    assert {408, 429}.issubset(_retry.RETRYABLE_STATUS_CODES)
