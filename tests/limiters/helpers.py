"""Talking to an independent limiter on loopback and timing each reply with brackets.

A limiter decides on its own clock at an instant we cannot see: somewhere between our send and
the reply. So a request's limiter time is a bracket [sent, replied] (monotonic seconds), and a
check against the written truth asks whether the truth allows the decision at some instant of
the bracket (never a false failure on a slow machine) and, where it must say which, whether the
whole bracket lies on one side of the limiter's boundary (if not, the trial is inconclusive and
is run again with a fresh key)."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

BODY = {"model": "any", "messages": [{"role": "user", "content": "hello"}]}
TRIALS = 3  # fresh-key trials before a loaded machine makes a timing check give up


@dataclass(frozen=True)
class Reply:
    sent: float
    replied: float
    status: int
    headers: httpx.Headers
    body: str


def fresh_key(label: str) -> str:
    return f"Bearer {label}-{uuid.uuid4().hex[:12]}"


def post(client: httpx.Client, key: str) -> Reply:
    sent = time.monotonic()
    r = client.post("/v1/chat/completions", json=BODY, headers={"Authorization": key})
    return Reply(sent, time.monotonic(), r.status_code, r.headers, r.text)


def post_at(client: httpx.Client, key: str, when: float) -> Reply:
    time.sleep(max(0.0, when - time.monotonic()))
    return post(client, key)


def assert_completion(reply: Reply) -> None:
    """The 200 the harness counts as ok: JSON with a top-level string request_id."""
    assert reply.status == 200, reply
    assert isinstance(json.loads(reply.body)["request_id"], str)


def require_installed(reason: str | None) -> None:
    """Skip when `reason` says a limiter is not installed (an npm package, a Varnish module),
    or fail in CI (as require_program does)."""
    if reason is None:
        return
    if os.environ.get("PINAIVU_REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(f"{reason}; PINAIVU_REQUIRE_SYSTEM_DEPS=1 forbids skipping")
    pytest.skip(reason)


class Inconclusive(Exception):
    """Raised by a trial whose brackets straddle a boundary of the truth; it is retried."""


def with_trials(trial) -> None:
    """Run `trial()` until one is conclusive, at most TRIALS times."""
    reasons = []
    for _ in range(TRIALS):
        try:
            trial()
            return
        except Inconclusive as exc:
            reasons.append(str(exc))
    pytest.fail(f"{TRIALS} trials were all inconclusive (machine too loaded?): {reasons}")
