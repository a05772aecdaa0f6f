"""Each retry policy's delays against its definition; the SDK policy against the SDK itself;
the simulator against quotas whose answers are known."""

from __future__ import annotations


import pytest

from analysis.simulate import (Policy, ServerModel, next_delay, poisson_arrivals, policy_grid,
                              recommend, simulate)


class Fixed:
    """A random stream that always returns the same draw."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.value


@pytest.mark.parametrize("u", [0.0, 0.5, 0.999])
def test_full_equal_and_decorrelated_jitter(u):
    rng = Fixed(u)
    full = Policy("full_jitter", 5, base_s=0.5, cap_s=4)
    assert [next_delay(full, n, None, 0, rng) for n in range(5)] == \
        pytest.approx([u * min(4, 0.5 * 2 ** n) for n in range(5)])
    assert next_delay(full, 5, None, 0, rng) is None  # retries used up
    equal = Policy("equal_jitter", 5, base_s=1, cap_s=8)
    assert [next_delay(equal, n, None, 0, rng) for n in range(5)] == \
        pytest.approx([min(8, 2 ** n) * (0.5 + 0.5 * u) for n in range(5)])
    deco = Policy("decorrelated", 9, base_s=1, cap_s=10)
    prev, got = 1.0, []
    for n in range(6):
        prev = next_delay(deco, n, None, prev, rng)
        got.append(prev)
    expect, p = [], 1.0
    for _ in range(6):
        p = min(10, 1 + (max(1, p * 3) - 1) * u)
        expect.append(p)
    assert got == pytest.approx(expect)


def test_retry_after_floor_and_fallback():
    p = Policy("retry_after", 3, base_s=1, cap_s=8, jitter_s=0.5)
    assert next_delay(p, 0, 4.0, 0, Fixed(0.5)) == pytest.approx(4.25)
    assert next_delay(p, 1, None, 0, Fixed(0.5)) == pytest.approx(1.0)  # full jitter of 2
    assert next_delay(p, 3, 4.0, 0, Fixed(0.5)) is None
    assert next_delay(Policy("none"), 0, 1.0, 0, Fixed(0.5)) is None


def sdk_client():
    import openai  # a dev dependency: the comparison must run, not skip

    return openai.OpenAI(api_key="pk-test-not-used", base_url="http://127.0.0.1:9/v1")


@pytest.mark.parametrize("headers, retries_taken", [
    ({}, 0), ({}, 1), ({"retry-after": "3"}, 0), ({"retry-after-ms": "1500"}, 1),
    ({"retry-after": "0"}, 0), ({"retry-after": "garbage"}, 1), ({"retry-after": "500"}, 0),
])
def test_sdk_default_matches_the_sdk(monkeypatch, headers, retries_taken):
    """Our SDK policy's delay equals the SDK's own _calculate_retry_timeout for the same
    response headers, retry count and random draw, and stops where the SDK stops."""
    import httpx2  # the SDK's HTTP library
    from openai import _base_client

    client = sdk_client()
    draw = 0.37
    monkeypatch.setattr(_base_client, "random", lambda: draw)
    options = _base_client.FinalRequestOptions.construct(method="post", url="/x",
                                                         max_retries=2)
    response_headers = httpx2.Headers(headers)
    response = httpx2.Response(429, headers=headers)
    sdk_retries = client._should_retry(response) and retries_taken < 2
    ours = next_delay(Policy("sdk_default"), retries_taken,
                      _stated(headers), 0, Fixed(draw))
    if not sdk_retries:
        assert ours is None
        return
    theirs = client._calculate_retry_timeout(2 - retries_taken, options, response_headers)
    assert ours == pytest.approx(theirs)


def _stated(headers: dict) -> float | None:
    """What the harness reads as the stated wait (as the SDK: ms first, then seconds)."""
    for name, div in (("retry-after-ms", 1000), ("retry-after", 1)):
        if name in headers:
            try:
                return float(headers[name]) / div
            except ValueError:
                continue
    return None


def test_sdk_stops_after_two_retries():
    p = Policy("sdk_default")
    assert next_delay(p, 2, None, 0, Fixed(0.1)) is None
    assert next_delay(p, 0, 121.0, 0, Fixed(0.1)) is None


WINDOW = ServerModel("fixed_window", limit=20, window_s=10, alignment="first_request",
                     retry_after="exact")
BUCKET = ServerModel("token_bucket", rate_per_s=2.0, burst=10, retry_after="whole")


def admitted_by_hand(server: ServerModel, times: list[float]) -> int:
    """How many of these requests the quota admits, from its definition: a window of `limit`
    opened by the first request after the last one closed; a bucket of `burst` tokens
    refilled at `rate_per_s`, one token per request."""
    if server.algorithm == "fixed_window":
        opened, used, admitted = None, 0, 0
        for t in times:
            if opened is None or t - opened >= server.window_s:
                opened, used = t, 0
            if used < server.limit:
                used, admitted = used + 1, admitted + 1
        return admitted
    tokens, last, admitted = float(server.burst), times[0], 0
    for t in times:
        tokens, last = min(server.burst, tokens + (t - last) * server.rate_per_s), t
        if tokens >= 1 - 1e-9:
            tokens, admitted = tokens - 1, admitted + 1
    return admitted


@pytest.mark.parametrize("server", [WINDOW, BUCKET], ids=["window", "bucket"])
def test_no_retry_goodput_is_bounded_by_the_quota(server):
    out = simulate(Policy("none"), server, offered_per_s=5.0, logical=4000)
    assert out.attempts == 4000 and out.rejected == 4000 - out.successes
    # Without retries each arrival is one attempt, sent on time: the quota admits them.
    assert out.successes == admitted_by_hand(server, poisson_arrivals(5.0, 4000, 0))
    # At 2.5 times the quota it is full all along (a window reopens at the first request
    # after it closed, a fifth of a second later on average: 2% below the rate).
    assert server.sustained_rate * 0.95 <= out.goodput_per_s <= server.sustained_rate * 1.05


@pytest.mark.parametrize("server", [WINDOW, BUCKET], ids=["window", "bucket"])
def test_below_the_quota_honouring_retry_after_wastes_fewer_429s(server):
    """At 80% of the quota, bursts still meet 429s: waiting out the stated time gets nearly
    everything through with fewer 429s than quick blind retries."""
    load = server.sustained_rate * 0.8
    ra = simulate(Policy("retry_after", 8, jitter_s=0.1), server, load, logical=3000)
    blind = simulate(Policy("full_jitter", 8, base_s=0.1, cap_s=0.4), server, load,
                     logical=3000)
    assert ra.success_ratio >= 0.99
    assert ra.goodput_per_s >= 0.95 * ra.ideal_goodput_per_s
    assert ra.rejected_per_success < blind.rejected_per_success


@pytest.mark.parametrize("server", [WINDOW, BUCKET], ids=["window", "bucket"])
def test_above_the_quota_only_pacing_avoids_429s(server):
    """At 120% of the quota every policy that retries on stated waits wakes its retries at
    the same reopening (a thundering herd): over one 429 per success. Pacing at the fitted
    rate reaches the quota with none, and goodput never exceeds the quota."""
    load = server.sustained_rate * 1.2
    ra = simulate(Policy("retry_after", 8, jitter_s=0.1), server, load, logical=3000)
    paced = simulate(Policy("retry_after", 5, jitter_s=0.1, pacer_fraction=1.0), server,
                     load, logical=3000)
    assert ra.rejected_per_success > 1
    assert paced.rejected_per_success < 0.01
    assert paced.goodput_per_s >= 0.95 * paced.ideal_goodput_per_s
    for out in (ra, paced):
        # Over any stretch a fixed window can pass one window's worth more than the rate
        # (20 in about a thousand seconds here): 2% is that edge, not a loose tolerance.
        assert out.goodput_per_s <= server.sustained_rate * 1.02


def test_pacer_below_the_rate_avoids_429s():
    out = simulate(Policy("retry_after", 5, jitter_s=0.1, pacer_fraction=0.95), BUCKET,
                   offered_per_s=3.0, logical=2000, deadline_s=1000)
    assert out.rejected_per_success < 0.01
    assert out.goodput_per_s == pytest.approx(0.95 * 2.0, rel=0.05)


def test_deadline_bounds_latency_and_is_seeded():
    a = simulate(Policy("sdk_default"), WINDOW, 4.0, logical=1500, deadline_s=5, seed=3)
    b = simulate(Policy("sdk_default"), WINDOW, 4.0, logical=1500, deadline_s=5, seed=3)
    assert a == b
    # By hand: 1 per 10 s; the first request (t=0) is admitted and done at 0.1 s; the second
    # (t=1) is refused at once with Retry-After 9, which the SDK waits out: its retry leaves
    # at 1.002 + 9 = 10.002 s, is admitted in the new window and done 9.102 s after its
    # arrival. Within a 30 s deadline both succeed; within 5 s the retry is never sent.
    one = ServerModel("fixed_window", limit=1, window_s=10, alignment="first_request",
                      retry_after="exact")
    late = simulate(Policy("sdk_default"), one, 1.0, deadline_s=30, arrivals=[0.0, 1.0])
    assert (late.attempts, late.rejected, late.successes) == (3, 1, 2)
    assert late.p50_s == pytest.approx(9.102) and late.p99_s == pytest.approx(9.102)
    cut = simulate(Policy("sdk_default"), one, 1.0, deadline_s=5, arrivals=[0.0, 1.0])
    assert (cut.attempts, cut.rejected, cut.successes) == (2, 1, 1)
    assert cut.p99_s == pytest.approx(0.1) and cut.success_ratio == 0.5


def test_grid_and_recommendation():
    grid = policy_grid()
    assert len(grid) >= 200 and len({p.label() for p in grid}) == len(grid)
    outs = [simulate(p, BUCKET, 2.4, logical=600) for p in grid[:40:4]]
    best = recommend(outs, max_rejected_per_success=0.2)
    assert best is not None and best.rejected_per_success <= 0.2
    assert best.goodput_per_s == max(o.goodput_per_s for o in outs
                                     if o.rejected_per_success <= 0.2)
    assert recommend(outs, max_rejected_per_success=-1) is None
