from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from saferefer_server.federation.backoff import (
    RETRY_AFTER_MAX_S,
    ceiling_delay,
    next_attempt_at,
    parse_retry_after,
    retry_delay,
)


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 256.0), (10, 300.0), (50, 300.0), (5000, 300.0)],
)
def test_ceiling_delay_doubles_until_cap(attempts: int, expected: float) -> None:
    assert ceiling_delay(attempts, base_s=1.0, cap_s=300.0) == expected


def test_ceiling_delay_refuses_zero_attempts() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        ceiling_delay(0, base_s=1.0, cap_s=300.0)


def test_retry_delay_stays_between_half_ceiling_and_ceiling() -> None:
    rng = random.Random(7)
    for attempts in range(1, 20):
        ceiling = ceiling_delay(attempts, base_s=0.5, cap_s=60.0)
        draws = [retry_delay(attempts, base_s=0.5, cap_s=60.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert max(draws) - min(draws) > ceiling / 4  # jitter actually spreads retries


def test_retry_delay_honours_retry_after_but_caps_it() -> None:
    rng = random.Random(1)
    assert retry_delay(1, base_s=1.0, cap_s=300.0, retry_after_s=120.0, rng=rng) == 120.0
    assert (
        retry_delay(1, base_s=1.0, cap_s=300.0, retry_after_s=10**9, rng=rng) == RETRY_AFTER_MAX_S
    )
    # A Retry-After shorter than the backoff does not make us retry sooner.
    assert retry_delay(9, base_s=1.0, cap_s=300.0, retry_after_s=1.0, rng=rng) >= 128.0


def test_schedule_over_hours_of_downtime_keeps_trying_every_cap() -> None:
    rng = random.Random(3)
    now = start = datetime(2026, 1, 1, tzinfo=UTC)
    attempts = 0
    while now - start < timedelta(hours=6):
        attempts += 1
        now = next_attempt_at(now, attempts, base_s=1.0, cap_s=300.0, rng=rng)
    # 6 h with a 150-300 s spacing once capped: between 72 and ~150 attempts, never a burst.
    assert 72 <= attempts <= 160


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("30", 30.0),
        ("Wed, 01 Jan 2026 00:01:00 GMT", 60.0),
        ("Tue, 31 Dec 2025 23:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected
