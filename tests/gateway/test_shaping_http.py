"""Shaping over real HTTP, against its written definition, and nginx against the same one.

The definition, written here independently of gateway/shaping.py (which states it as a
theoretical arrival time): tokens accrue at `rate` per second up to `bucket`, and an
identity's bucket starts full. An arriving request takes a token at once when one is there
and none of its identity's requests is waiting; otherwise it waits, first come first
served, for its own token, provided fewer than `size` requests are waiting already and its
wait would not exceed `max_delay_s` (when given). Else it is refused at once, and the refusal
changes nothing. A waiting request is answered when it gets its token, so its answer is late
by its wait and is not a 429. The identity is the key under `per_key` scope, everyone under
`global`.

Requests are sent on a fixed schedule, each on its own connection, so that several wait at
once. Each answer is checked for its status and its delay (receive minus send):
  - a 429 is wrong if the definition lets the request in at both ends of it (+-EPS);
  - a 200 is wrong if the definition refuses it at its send time and ARRIVAL_LAG later (the
    latest we allow it to have reached the server: a held answer's receive time is late by
    the hold, so it cannot serve as the end here); the schedules keep every decision at least
    0.2 s from its boundary (checked below);
  - a delay is wrong if it is shorter than the definition's wait with the earlier let-in
    requests at their send times (no server can answer a request before its token), or longer
    than the wait with them at their receive times plus MARGIN (the server's own arrival lag
    and its work after the hold).
Retry-After-ms and Retry-After on a 429 (rounded up to the ms and to the second) must point
into the span where the definition first lets a request in again.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import given, strategies as st

from gateway.nginx import Nginx
from gateway.profile import QuotaConfig
from gateway.shaping import ShapedTokenBucket

from ..conftest import require_program
from .helpers import ALICE, BOB, BODY, auth
from .test_quota_http import Obs

EPS = 0.005
ARRIVAL_LAG = 0.1
MARGIN = 0.3  # under one token interval (0.5 s at 2/s): an answer a token late is caught
FAST = ["latency.ttft_ms=0", "latency.per_token_ms=0", "nodes.slots=1000"]


@dataclass(frozen=True)
class Shaping:
    """The definition above."""

    rate: float
    bucket: int
    size: int
    max_delay_s: float | None = None

    def token_times(self, arrivals: list[float]) -> list[float]:
        """When each of these let-in requests (in arrival order) got its token."""
        out: list[float] = []
        level, clock = float(self.bucket), None
        for t in arrivals:
            start = max(t, out[-1]) if out else t  # not before the request ahead of it
            clock = start if clock is None else clock
            level = min(self.bucket, level + (start - clock) * self.rate)
            if level < 1:
                start += (1 - level) / self.rate
                level = 1.0
            clock = start
            level -= 1
            out.append(start)
        return out

    def served_at(self, hist: list[float], t: float) -> float:
        return self.token_times(hist + [t])[-1]

    def lets_in(self, hist: list[float], t: float) -> bool:
        waiting = sum(c > t for c in self.token_times(hist))
        wait = self.served_at(hist, t) - t
        return waiting < self.size and (self.max_delay_s is None
                                        or wait <= self.max_delay_s + 1e-9)

    def reopening(self, hist: list[float], t: float) -> float:
        """The earliest time >= t at which a request would be let in (monotone in t)."""
        lo, hi = t, t + 1
        while not self.lets_in(hist, hi):
            lo, hi = hi, hi + (hi - t)
        while hi - lo > 1e-4:
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if self.lets_in(hist, mid) else (mid, hi)
        return hi


async def _send_on_schedule(url: str, path: str, plan: list[tuple[float, str]],
                            method: str = "POST") -> list[Obs]:
    """Send each (offset, key) at its offset from the start, without waiting for the others."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        start = time.monotonic() + 0.05

        async def one(offset: float, key: str) -> Obs:
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            sent = time.monotonic()
            if method == "POST":
                r = await client.post(path, json=BODY, headers=auth(key))
            else:
                r = await client.get(path, headers=auth(key))
            recv = time.monotonic()
            ra, ra_ms = r.headers.get("retry-after"), r.headers.get("retry-after-ms")
            return Obs(key, sent, recv, r.status_code, float(ra) if ra else None,
                       float(ra_ms) if ra_ms else None)

        return await asyncio.gather(*(one(o, k) for o, k in plan))


def send_on_schedule(url, path, plan, method="POST") -> list[Obs]:
    return sorted(asyncio.run(_send_on_schedule(url, path, plan, method)),
                  key=lambda o: o.sent)


def violations(obs: list[Obs], d: Shaping, scope: str, check_retry_after: bool = True):
    """Every answer the definition cannot explain, as (what, observation)."""
    bad = []
    groups: dict[str, list[Obs]] = {}
    for o in obs:
        groups.setdefault(o.key if scope == "per_key" else "*", []).append(o)
    for seq in groups.values():
        sent_h: list[float] = []
        recv_h: list[float] = []
        for o in seq:
            took = o.recv - o.sent
            hists = (sent_h, recv_h)
            if o.status == 429:
                if all(d.lets_in(h, t) for h in hists for t in (o.sent - EPS, o.recv + EPS)):
                    bad.append(("refused, but the definition lets it in", o))
                if took > MARGIN:
                    bad.append((f"refused only after {took:.3f} s, not at once", o))
                if check_retry_after:  # rounded up: to the ms, and to the second
                    opens = [d.reopening(h, o.sent) for h in hists]
                    for wait, slack in (((o.retry_after_ms or math.nan) / 1000, 0.001),
                                        (o.retry_after or math.nan, 1.0)):
                        if not (o.recv + wait >= min(opens) - EPS
                                and o.sent + wait <= max(opens) + slack + EPS):
                            bad.append((f"Retry-After {wait} s, the definition reopens at "
                                        f"{[round(x - o.sent, 3) for x in opens]}", o))
                continue
            if o.status != 200:
                bad.append((f"status {o.status}", o))
                continue
            latest = min(o.recv, o.sent + ARRIVAL_LAG) + EPS
            if not any(d.lets_in(h, t) for h in hists for t in (o.sent - EPS, latest)):
                bad.append(("let in, but the definition refuses it", o))
            lo = max(0.0, d.served_at(sent_h, o.sent) - o.sent)
            hi = max(0.0, d.served_at(recv_h, o.sent) - o.sent)
            if not lo - EPS <= took <= hi + MARGIN:
                bad.append((f"answered after {took:.3f} s; the definition: {lo:.3f}-{hi:.3f} s",
                            o))
            sent_h.append(o.sent)
            recv_h.append(o.recv)
    return bad


def explain(obs: list[Obs], bad) -> str:
    t0 = obs[0].sent
    rows = [(round(o.sent - t0, 3), o.key[-4:], o.status, round(o.recv - o.sent, 3),
             o.retry_after_ms) for o in obs]
    return f"{[(what, round(o.sent - t0, 3)) for what, o in bad]}; all: {rows}"


# Rate 2/s throughout (a token every 0.5 s), so that every decision is >= 0.2 s from its
# boundary; what the definition says for each request is noted (wait in s, or refused).
A = [(0.0, ALICE), (0.1, ALICE), (0.2, ALICE), (0.25, BOB), (0.28, BOB), (0.3, ALICE),
     (0.75, ALICE), (0.8, ALICE)]
# ALICE: 0, held .4, held .8, refused (2 waiting), held .75 (one left at .5), refused;
# BOB, per key: 0, held .47; under one global queue BOB's are the 4th and 5th of ALICE's line,
# both refused.
B = [(0.0, ALICE), (0.05, ALICE), (0.1, ALICE), (0.15, ALICE), (0.6, ALICE), (0.65, ALICE),
     (1.2, ALICE)]
# bucket 2, longest wait 0.6 s: 0, 0, held .4, refused (.85 > .6 with one waiting), held .4,
# refused (.85), held .3.

CASES = {  # name: (overrides of the `shaping` profile, definition, scope, schedule)
    "bucket 1, queue 2, per key": (["quota.queueing.size=2"], Shaping(2, 1, 2), "per_key", A),
    "bucket 1, queue 2, global": (["quota.queueing.size=2", "quota.scope='global'"],
                                  Shaping(2, 1, 2), "global", A),
    "bucket 2, queue 2, longest wait 0.6 s": (
        ["quota.burst=2", "quota.queueing.size=2", "quota.queueing.max_delay_s=0.6"],
        Shaping(2, 2, 2, 0.6), "per_key", B),
}


def test_shaping_holds_the_excess_and_refuses_beyond_the_queue(gateway_factory):
    gateways = {name: gateway_factory("shaping", FAST + case[0]) for name, case in CASES.items()}

    async def all_cases():  # at the same time: one schedule's span for the three
        return await asyncio.gather(*(_send_on_schedule(gateways[name].base_url,
                                                        "/chat/completions", case[3])
                                      for name, case in CASES.items()))
    for (name, (_, definition, scope, plan)), obs in zip(CASES.items(), asyncio.run(all_cases())):
        obs = sorted(obs, key=lambda o: o.sent)
        bad = violations(obs, definition, scope)
        assert not bad, f"{name}: {explain(obs, bad)}"
        # The check can fail: some answers were held (late, not 429) and some refused, and
        # with two keys the other scope's reading of the same answers is wrong.
        assert any(o.status == 200 and o.recv - o.sent > 0.25 for o in obs), name
        assert any(o.status == 429 for o in obs), name
        if len({k for _, k in plan}) > 1:
            other = "global" if scope == "per_key" else "per_key"
            assert violations(obs, definition, other) != [], name
        health = httpx.get(f"{gateways[name].root_url}/healthz").json()
        assert health["held"] == 0, name  # every held request was answered
        assert 1 <= health["most_held"] <= definition.size, (name, health)


def test_the_schedules_keep_every_decision_clear_of_its_boundary():
    """What the live checks rely on: a request reaching the server up to 0.2 s after it was
    sent is decided as at its send time (the 0.2 s step lands on a boundary, never past it)."""
    for name, (_, d, scope, plan) in CASES.items():
        lines: dict[str, list[float]] = {}
        for t, key in sorted(plan):
            lines.setdefault(key if scope == "per_key" else "*", []).append(t)
        for times in lines.values():
            hist: list[float] = []
            for t in times:
                ok = d.lets_in(hist, t)
                assert all(d.lets_in(hist, t + step / 1000) == ok for step in range(1, 200)), \
                    (name, t)
                if ok:
                    hist.append(t)


def test_nginx_limit_req_without_nodelay_is_the_same_definition():
    """nginx `limit_req rate=2r/s burst=2` (no `nodelay`) on the first schedule: the definition
    above is the real shaper's, not only ours."""
    require_program("nginx")
    block = ("limit_req_zone $http_authorization zone=q:1m rate=2r/s;\n"
             "server { listen 127.0.0.1:{port};\n"
             "  location /limited { limit_req zone=q burst=2; limit_req_status 429;"
             " root {root}; try_files /ok.json =404; } }")
    with Nginx(block, files={"ok.json": '{"ok": true}'}) as ngx:
        obs = send_on_schedule(ngx.url, "/limited", A, method="GET")
    bad = violations(obs, Shaping(2, 1, 2), "per_key", check_retry_after=False)
    assert not bad, explain(obs, bad)
    assert violations(obs, Shaping(2, 1, 3), "per_key", check_retry_after=False) != []


# --- the gateway's shaper on a clock the test controls, against nginx's own arithmetic ---

def nginx_limit_req(rate: float, burst: int, delay: int):
    """ngx_http_limit_req_lookup/_account in requests and seconds instead of milli-requests
    and ms: `excess` drains at `rate`, each request adds one; over `burst` it is refused and
    the node left alone; otherwise it is delayed by (excess - delay) / rate."""
    node: list[float] = []  # [excess, last]

    def request(now: float) -> float | None:
        if not node:  # a new node: excess 0, answered at once
            node[:] = [0.0, now]
            return 0.0
        excess = max(0.0, node[0] - rate * (now - node[1]) + 1)
        # nginx's figures are whole milli-requests; a float needs a whisker of slack.
        if excess > burst + 1e-9:
            return None
        node[:] = [excess, now]
        return max(0.0, excess - delay) / rate
    return request


@given(rate=st.sampled_from([1.0, 2.0, 4.0, 10.0]), bucket=st.integers(1, 4),
       size=st.integers(1, 6),
       gaps_ms=st.lists(st.integers(0, 900), min_size=1, max_size=60))
def test_shaper_is_nginx_burst_with_delay_bucket_minus_one(rate, bucket, size, gaps_ms):
    # Bucket b and queue N are nginx's burst=N+b-1 delay=b-1; b=1 is burst=N without nodelay.
    cfg = QuotaConfig(algorithm="token_bucket", rate_per_s=rate, burst=bucket,
                      queueing={"size": size})
    ours = ShapedTokenBucket(cfg)
    theirs = nginx_limit_req(rate, size + bucket - 1, bucket - 1)

    def let_in_at(t: float) -> bool:  # on a copy: a request let in would move the state
        probe = ShapedTokenBucket(cfg)
        probe.tat = dict(ours.tat)
        return probe.hit("k", t).allowed

    now = 1000.0
    for gap in gaps_ms:
        now += gap / 1000
        d, expected = ours.hit("k", now), theirs(now)
        assert d.allowed == (expected is not None), (now, expected)
        if d.allowed:
            assert d.delay_s == pytest.approx(expected, abs=1e-6)
        else:
            # Retry-After: let in again at that instant, and not a millisecond before.
            assert d.retry_after_s > 0
            assert not let_in_at(now + d.retry_after_s - 1e-3)
            assert let_in_at(now + d.retry_after_s + 1e-9)
