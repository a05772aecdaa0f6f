"""Check 6: a 429 or 503 met on the way is explained, waited out once when short, and the
doctor stays bounded (the gateway counts what it received)."""

import re

import httpx

from .helpers import GOOD_KEY, line, run_doctor

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}


def use_up_quota(gw):
    r = httpx.post(f"{gw.base_url}/chat/completions", json=CHAT,
                   headers={"Authorization": f"Bearer {GOOD_KEY}"}, timeout=30)
    assert r.status_code == 200


def chat_requests(gw) -> int:
    return httpx.get(f"{gw.root_url}/healthz", timeout=30).json()["chat_requests"]


def test_429_with_a_long_retry_after_fails_and_prints_it(gateway_factory):
    gw = gateway_factory("default", ["quota.limit=1", "quota.window_s=60"])
    use_up_quota(gw)
    waits = []
    code, out = run_doctor(gw.base_url, GOOD_KEY, sleep=waits.append)
    assert code == 1
    verdict = line(out, "FAIL completion:")
    assert "429 Too Many Requests" in verdict and "longer than the 15 s" in verdict
    assert re.search(r"Retry-After \d+(\.\d)? s \[retry-after-ms: \d+; Retry-After: 60\]",
                     verdict)
    assert "429 stopped the completion" in line(out, "FAIL 429/503:")
    assert "per-key request quota is used up" in out
    assert "tight loop" in out and "wait at least the Retry-After time" in out
    assert waits == []
    assert chat_requests(gw) == 2  # ours, then the doctor's one completion


def test_429_with_a_short_retry_after_is_waited_out_once_and_warns(gateway_factory):
    gw = gateway_factory("default", ["quota.limit=1", "quota.window_s=4"])
    use_up_quota(gw)
    code, out = run_doctor(gw.base_url, GOOD_KEY)
    assert code == 0, out
    assert "waiting" in line(out, "INFO completion:")
    assert "200 OK after one retry" in line(out, "PASS completion:")
    assert "429 seen on the way" in line(out, "WARN 429/503:")
    assert "per-key request quota" in out
    assert chat_requests(gw) == 3


def test_503_is_retried_once_then_fails_with_the_backoff_remedy(gateway_factory):
    gw = gateway_factory("default", ["nodes.random_offline_p=1.0", "nodes.retry_after_s=1"])
    waits = []
    code, out = run_doctor(gw.base_url, GOOD_KEY, sleep=waits.append)
    assert code == 1
    assert waits == [1.0]
    verdict = line(out, "FAIL completion:")
    assert "503 Service Unavailable" in verdict and "again after one retry" in verdict
    assert "Retry-After 1 s [Retry-After: 1]" in verdict
    assert "503 stopped the completion" in line(out, "FAIL 429/503:")
    assert "no GPU node was free" in out and "retry with exponential backoff" in out
    assert chat_requests(gw) == 2
