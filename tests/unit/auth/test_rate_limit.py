"""Per-key rate limiter: burst, steady rate, Retry-After, bounded memory."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmpp_video.auth.rate_limit import DEFAULT_MAX_KEYS, RateLimiter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(limit: int = 5, period: float = 60.0, **kwargs: int) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(limit, period, now=clock, **kwargs), clock


def test_allows_limit_hits_then_refuses_with_retry_after() -> None:
    rl, _ = limiter(5, 60.0)
    assert [rl.hit("alice") for _ in range(5)] == [None] * 5

    assert rl.hit("alice") == pytest.approx(12.0)  # one hit per period / limit afterwards
    assert rl.hit("alice") == pytest.approx(12.0)  # a refused hit is not counted


def test_allowed_again_exactly_after_retry_after() -> None:
    rl, clock = limiter(5, 60.0)
    for _ in range(5):
        rl.hit("alice")
    retry = rl.hit("alice")
    assert retry is not None

    clock.now += retry - 0.001
    assert rl.hit("alice") == pytest.approx(0.001)
    clock.now += 0.001
    assert rl.hit("alice") is None
    assert rl.hit("alice") == pytest.approx(12.0)


def test_whole_budget_returns_after_a_period() -> None:
    rl, clock = limiter(5, 60.0)
    for _ in range(5):
        rl.hit("alice")
    clock.now += 60.0
    assert [rl.hit("alice") for _ in range(5)] == [None] * 5
    assert rl.hit("alice") is not None


def conforms(allowed: list[float], limit: int, period: float) -> bool:
    """GCRA's guarantee: a burst of ``limit``, then at most one hit per ``period / limit``.

    Between the i-th and j-th allowed hits at least ``(j - i - limit + 1) * period / limit``
    seconds pass (so over a long time: ``limit`` per ``period``).
    """
    interval = period / limit
    return all(
        allowed[j] - allowed[i] >= (j - i - limit + 1) * interval - 1e-6 * period
        for i in range(len(allowed))
        for j in range(i + limit, len(allowed))
    )


def test_steady_rate_is_limit_per_period() -> None:
    rl, clock = limiter(5, 60.0)
    allowed: list[float] = []
    for _ in range(2000):
        if rl.hit("k") is None:
            allowed.append(clock.now)
        clock.now += 0.25
    assert conforms(allowed, 5, 60.0)
    assert len(allowed) == pytest.approx(5 + 2000 * 0.25 / 12, abs=1)


def test_keys_are_independent() -> None:
    rl, _ = limiter(2, 60.0)
    assert rl.hit("alice") is None
    assert rl.hit("alice") is None
    assert rl.hit("alice") is not None
    assert rl.hit("bob") is None
    assert rl.check("bob") is None


def test_check_peeks_without_counting() -> None:
    rl, _ = limiter(2, 60.0)
    assert rl.check("alice") is None
    assert rl.check("alice") is None
    rl.hit("alice")
    assert rl.check("alice") is None
    rl.hit("alice")
    assert rl.check("alice") == pytest.approx(30.0)
    assert rl.hit("alice") == pytest.approx(30.0)


def test_reset_restores_the_budget() -> None:
    rl, _ = limiter(1, 60.0)
    rl.hit("alice")
    assert rl.hit("alice") is not None
    rl.reset("alice")
    assert rl.hit("alice") is None
    rl.reset("nobody")  # unknown keys are fine


def test_clear_forgets_every_key() -> None:
    rl, _ = limiter(1, 60.0)
    rl.hit("a")
    rl.hit("b")
    rl.clear()
    assert len(rl) == 0
    assert rl.hit("a") is None


def test_limit_of_one() -> None:
    rl, clock = limiter(1, 10.0)
    assert rl.hit("k") is None
    assert rl.hit("k") == pytest.approx(10.0)
    clock.now += 4.0
    assert rl.hit("k") == pytest.approx(6.0)
    clock.now += 6.0
    assert rl.hit("k") is None


@pytest.mark.parametrize(("limit", "period"), [(3, 1.0), (7, 1.0), (10, 0.1), (30, 60.0)])
def test_rounding_never_refuses_inside_the_burst(limit: int, period: float) -> None:
    rl, clock = limiter(limit, period)
    for _ in range(3):
        assert [rl.hit("k") for _ in range(limit)] == [None] * limit
        assert rl.hit("k") is not None
        clock.now += period


def test_idle_keys_are_dropped() -> None:
    rl, clock = limiter(5, 60.0)
    for n in range(100):
        rl.hit(f"user{n}")
    assert len(rl) == 100

    clock.now += 60.0
    for _ in range(20):
        rl.hit("fresh")
    assert len(rl) == 1


def test_keys_rotated_by_an_attacker_do_not_accumulate() -> None:
    """One new key per hit, forever: only the last period's keys are kept."""
    rl, clock = limiter(5, 1.0)
    for n in range(20_000):
        rl.hit(f"guess{n}")
        clock.now += 0.01
    assert len(rl) <= 100 + 5


def test_memory_is_capped_and_the_oldest_key_evicted() -> None:
    rl, clock = limiter(1, 3600.0, max_keys=100)
    for n in range(100):
        rl.hit(f"user{n}")
        clock.now += 1.0
    assert len(rl) == 100
    assert rl.hit("user0") is not None

    rl.hit("newcomer")

    assert len(rl) == 100
    assert rl.check("user0") is None  # evicted: starts over
    assert rl.check("user1") is not None
    assert rl.check("newcomer") is not None


def test_a_counted_hit_makes_a_key_recent() -> None:
    rl, _ = limiter(3, 3600.0, max_keys=3)
    rl.hit("a")
    rl.hit("b")
    rl.hit("c")
    rl.hit("a")  # a is now the most recent
    rl.hit("d")  # evicts b
    assert rl.check("b") is None
    assert len(rl) == 3
    rl.hit("b")  # evicts c
    rl.hit("b")
    rl.hit("b")
    assert rl.hit("b") is not None
    assert rl.check("a") is None  # a has 2 of 3 hits left
    assert rl.check("c") is None


def test_default_cap() -> None:
    assert RateLimiter(5, 60.0).max_keys == DEFAULT_MAX_KEYS == 100_000


@pytest.mark.parametrize(
    ("limit", "period", "max_keys"),
    [(0, 60.0, 10), (-1, 60.0, 10), (5, 0.0, 10), (5, -1.0, 10), (5, math.nan, 10), (5, 1.0, 0)],
)
def test_invalid_parameters(limit: int, period: float, max_keys: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(limit, period, max_keys=max_keys)


def test_default_clock_is_monotonic() -> None:
    rl = RateLimiter(1, 60.0)
    assert rl.hit("k") is None
    retry = rl.hit("k")
    assert retry is not None
    assert 59.0 < retry <= 60.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(1, 10),
    period=st.floats(0.01, 100.0),
    steps=st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(0.0, 50.0), st.booleans()), max_size=80
    ),
)
def test_model(limit: int, period: float, steps: list[tuple[str, float, bool]]) -> None:
    """Against the GCRA guarantee: allowed hits conform, a refusal's delay is positive, at
    most ``period / limit`` and accurate, and check() agrees with hit()."""
    rl, clock = limiter(limit, period)
    log: dict[str, list[float]] = {}
    for key, advance, reset in steps:
        clock.now += advance
        if reset:
            rl.reset(key)
            log.pop(key, None)
            continue
        peek = rl.check(key)
        retry = rl.hit(key)
        assert peek == retry or (peek is not None and retry == pytest.approx(peek))
        if retry is None:
            log.setdefault(key, []).append(clock.now)
            assert conforms(log[key], limit, period)
        else:
            assert 0 < retry <= period / limit * (1 + 1e-9)
            saved = clock.now
            clock.now += retry
            assert rl.check(key) is None
            clock.now = saved
    assert len(rl) <= 3
