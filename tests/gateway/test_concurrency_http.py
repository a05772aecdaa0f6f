"""The concurrency cap over real HTTP, against its written definition.

The definition, written here independently of gateway/concurrency.py: at most C of an
identity's requests (a key's under `per_key` scope, everyone's under `global`) are in flight at
once; a request that arrives while C are in flight is refused at once, and one admitted is in
flight until its answer has been sent in full (a stream until it ends or its client leaves).

Each completion takes a known time L (latency.ttft_ms, no jitter), so an admitted request was
surely in flight from its receive time minus L (the latest it can have been admitted) to its
send time plus L (the earliest it can have finished). The checks: never more than C surely in
flight at once, and every refusal met C requests that could have been in flight (sent before
the refusal came back and answered after it was sent).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import pytest

from gateway.concurrency import ConcurrencyCap, ReleaseAtEnd, at_end
from gateway.profile import QuotaConfig

from .helpers import ALICE, BOB, BODY, auth, chat

L = 0.6  # seconds a completion takes
SLOW = [f"latency.ttft_ms={L * 1000:g}", "latency.per_token_ms=0", "latency.jitter=0",
        "nodes.slots=1000"]


@dataclass(frozen=True)
class Reply:
    key: str
    sent: float
    recv: float
    response: httpx.Response

    @property
    def status(self) -> int:
        return self.response.status_code


def at_once(url: str, keys: list[str]) -> list[Reply]:
    async def run() -> list[Reply]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            async def one(key: str) -> Reply:
                sent = time.monotonic()
                r = await client.post("/chat/completions", json=BODY, headers=auth(key))
                return Reply(key, sent, time.monotonic(), r)
            return await asyncio.gather(*(one(k) for k in keys))
    return asyncio.run(run())


def cap_violations(replies: list[Reply], c: int, scope: str = "per_key") -> list[str]:
    problems = []
    groups: dict[str, list[Reply]] = {}
    for r in replies:
        groups.setdefault(r.key if scope == "per_key" else "*", []).append(r)
    for seq in groups.values():
        admitted = [r for r in seq if r.status == 200]
        surely = [(r.recv - L, r.sent + L) for r in admitted]
        for start, _ in surely:
            if sum(s <= start <= e for s, e in surely) > c:
                problems.append(f"more than {c} surely in flight at {start:.3f}")
        for r in seq:
            if r.status != 200:
                could = [a for a in admitted if a.sent <= r.recv and a.recv >= r.sent]
                if len(could) < c:
                    problems.append(f"refused with only {len(could)} possibly in flight")
    return problems


def health(gw) -> dict:
    return httpx.get(f"{gw.root_url}/healthz", timeout=10).json()


def test_at_most_c_in_flight_per_key_and_429_at_once(gateway_factory):
    gw = gateway_factory("concurrency", SLOW)  # C = 2 per key, 429, no Retry-After
    replies = at_once(gw.base_url, [ALICE] * 5 + [BOB])
    assert cap_violations(replies, 2) == []
    mine = [r for r in replies if r.key == ALICE]
    assert sorted(r.status for r in mine) == [200, 200, 429, 429, 429]
    assert [r.status for r in replies if r.key == BOB] == [200]  # its own two places
    assert cap_violations(replies, 2, "global") != []  # the check can fail
    admitted = [r for r in mine if r.status == 200]
    for r in mine:
        if r.status == 429:
            body = r.response.json()["error"]
            assert body["code"] == "concurrency_limit_exceeded" and "2 at once" in body["message"]
            assert "retry-after" not in r.response.headers
            assert "request_id" not in r.response.json()
            # Refused at once: back before any admitted one could have finished.
            assert r.recv < min(a.sent for a in admitted) + L
    h = health(gw)
    assert h["in_flight"] == 0 and h["most_in_flight"] == 2
    # The places are free again once the completions are done.
    again = at_once(gw.base_url, [ALICE] * 2)
    assert [r.status for r in again] == [200, 200]


def test_global_cap_answers_503_with_a_constant_retry_after(gateway_factory):
    gw = gateway_factory("concurrency", SLOW + [
        "quota.scope='global'", "quota.limit=1", "quota.concurrency_status=503",
        "quota.retry_after='constant'", "quota.retry_after_constant_s=2"])
    replies = at_once(gw.base_url, [ALICE, BOB, ALICE])
    assert cap_violations(replies, 1, "global") == []
    assert sorted(r.status for r in replies) == [200, 503, 503]
    for r in replies:
        if r.status == 503:
            assert r.response.json()["error"]["type"] == "service_unavailable"
            assert r.response.json()["error"]["code"] == "concurrency_limit_exceeded"
            assert r.response.headers["retry-after"] == "2"
            assert "x-request-id" not in r.response.headers
    assert health(gw)["most_in_flight"] == 1


def _wait_for_in_flight(gw, n: int, polls: int = 200) -> list[int]:
    seen = []
    for _ in range(polls):  # bounded in count
        seen.append(health(gw)["in_flight"])
        if seen[-1] == n:
            break
        time.sleep(0.05)
    return seen


def test_no_place_leaks_on_refusal_on_error_or_when_the_client_leaves(gateway_factory):
    # One place; a 10 s stream (200 tokens of 50 ms) holds it for longer than any check here.
    gw = gateway_factory("concurrency", [
        "quota.limit=1", "latency.ttft_ms=1", "latency.per_token_ms=50", "latency.jitter=0",
        "latency.output_tokens=200"])
    probe = BODY | {"max_tokens": 1}
    with httpx.Client(base_url=gw.base_url, timeout=10) as c:
        stream_start = time.monotonic()
        with c.stream("POST", "/chat/completions", json=BODY | {"stream": True},
                      headers=auth(ALICE)) as r:
            lines = r.iter_lines()  # kept: dropping it would already close the stream
            assert next(lines).startswith("data: ")
            assert [chat(c, body=probe).status_code for _ in range(10)] == [429] * 10
            assert chat(c, BOB, body=probe).status_code == 200  # another key's place
            assert health(gw)["in_flight"] == 1  # ten refusals took no place
        # The client hung up mid-stream: its place comes back long before the stream's end.
        seen = _wait_for_in_flight(gw, 0)
        assert seen[-1] == 0 and time.monotonic() - stream_start < 200 * 0.05, seen
        # A request refused further down (422 after admission) gives its place back too.
        assert chat(c, body={"model": "llama3.2:3b"}).status_code == 422
        assert chat(c, body=probe).status_code == 200
        assert health(gw)["in_flight"] == 0
    # A client that gives up on a non-streamed completion: the place is held until the
    # gateway has finished with it (it does not notice), then freed.
    with httpx.Client(base_url=gw.base_url, timeout=0.3) as c:
        try:
            chat(c, body=BODY | {"max_tokens": 20})  # 1 s of tokens
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("the completion came back before the client's timeout")
    seen = _wait_for_in_flight(gw, 0)
    assert seen[0] == 1 and seen[-1] == 0, seen
    with httpx.Client(base_url=gw.base_url, timeout=10) as c:
        assert chat(c, body=probe).status_code == 200
    assert health(gw)["most_in_flight"] == 1


# --- the pieces on their own ---------------------------------------------------------------

def test_cap_counts_per_identity_and_a_refusal_takes_no_place():
    cap = ConcurrencyCap(QuotaConfig(algorithm="concurrency", limit=2, retry_after="absent"))
    assert [cap.hit("a", 0).allowed for _ in range(3)] == [True, True, False]
    assert cap.hit("b", 0).remaining == 1
    assert cap.counters() == {"in_flight": 3, "most_in_flight": 2}
    cap.release("a")
    assert cap.hit("a", 0).allowed and not cap.hit("a", 0).allowed
    for ident in ("a", "a", "b"):
        cap.release(ident)
    assert cap.counters() == {"in_flight": 0, "most_in_flight": 2}


def test_release_at_end_runs_after_the_app_even_when_it_fails():
    released = []

    async def failing_app(scope, receive, send):
        at_end(scope).append(lambda: released.append("done"))
        raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError, match="the handler failed"):
        asyncio.run(ReleaseAtEnd(failing_app)({"type": "http"}, None, None))
    assert released == ["done"]
    with pytest.raises(RuntimeError, match="ReleaseAtEnd is not installed"):
        at_end({"type": "http"})
