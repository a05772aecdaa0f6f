"""Run in a child interpreter by test_one_outcome.py (it imports Locust, which patches the
process): each situation's outcome by each path that decides one, as JSON on stdout."""

from __future__ import annotations

import json
import socket
import time
from types import SimpleNamespace

import gevent
import httpx2
from locust.event import EventHook

from locustfiles.common import hooks
from locustfiles.common.recorder import ROW_NAMES, request_outcome, row_from_request
from locustfiles.common.sdk_client import SdkClient
from locustfiles.common.user import PinaivuUser

# (situation, status, body, what broke it off, outcome). A body stands for what the fallback
# reads in the context: the request_id the client found in it.
SITUATIONS = [
    ("answered", 200, b'{"request_id": "req_1"}', None, "ok"),
    ("no request_id", 200, b'{"id": "x"}', None, "bad_response"),
    ("request_id not a string", 200, b'{"request_id": 7}', None, "bad_response"),
    ("refused by the quota", 429, b'{"error": {}}', None, "rate_limited"),
    ("no node free", 503, b"{}", None, "unavailable"),
    ("server error", 500, b"oops", None, "server_error"),
    ("bad key", 401, b"{}", None, "unauthorized"),
    ("key not allowed", 403, b"{}", None, "forbidden"),
    ("no such model", 404, b"{}", None, "not_found"),
    ("bad body", 422, b"{}", None, "invalid"),
    ("connection refused", 0, b"", ConnectionRefusedError("refused"), "transport_error"),
    ("timed out", 0, b"", socket.timeout("timed out"), "timeout"),
    ("gevent's timeout", 0, b"", gevent.Timeout(), "timeout"),
]


class _GeventResponse:
    """What body.read_body reads of geventhttpclient's response: all of it already parsed."""

    def __init__(self, body: bytes) -> None:
        self._headers_index, self._body_buffer = {}, bytearray(body)
        self.message_complete = True


class _Caught:
    """Locust's ResponseContextManager as the user's _finish sees it."""

    def __init__(self, status: int, body: bytes, failure) -> None:
        self.status_code, self.headers, self.error = status, {}, failure
        self._response = _GeventResponse(body)
        self.request_meta = {"exception": failure}
        self.verdict = None

    def success(self):
        self.verdict = "success"

    def failure(self, why):
        self.verdict = why


def plain_user(status, body, failure, recording=True):
    user = PinaivuUser.__new__(PinaivuUser)  # what _finish reads, without a Locust run
    user.stream, user.max_body_bytes, user.body_timeout = False, 10_000, 5.0
    user.number, user.key_id, user.model = 3, "abcd1234", "m"
    ctx = {"phase": "p", "logical_id": "l", "attempt": 1, "intended_ts": None,
           "key_id": user.key_id}
    r = _Caught(status, body, failure)
    saved, PinaivuUser.recording = PinaivuUser.recording, recording
    try:
        outcome = user._finish(r, ctx, time.perf_counter(), time.time())
    finally:
        PinaivuUser.recording = saved
    assert ctx["outcome"] == outcome and r.verdict == ("success" if outcome == "ok" else outcome)
    if recording:
        assert dict(zip(ROW_NAMES, ctx["event_row"]))["outcome"] == outcome
    return outcome


SDK_FAILURE = {ConnectionRefusedError: httpx2.ConnectError("refused"),
               socket.timeout: httpx2.ReadTimeout("timed out"),
               gevent.Timeout: httpx2.PoolTimeout("timed out")}


def sdk_client(status, body, failure):
    fired = []
    events = SimpleNamespace(request=EventHook())
    events.request.add_listener(lambda **kw: fired.append(kw))
    client = SdkClient.__new__(SdkClient)  # what _record reads, without the SDK's client
    client.phase, client._current = "p", {gevent.getcurrent(): ["l", time.time(), 0]}
    client.user = SimpleNamespace(key_id="abcd1234", model="m", number=3,
                                  environment=SimpleNamespace(events=events))
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    t0, sent = time.perf_counter(), time.time()
    if status:
        client._record(request, httpx2.Response(status, content=body), sent, t0, 1.0, None, "")
    else:
        client._record(request, None, sent, t0, None, SDK_FAILURE[type(failure)])
    (event,) = fired
    return event["context"]["outcome"]


class _Response:
    def __init__(self, status):
        self.status_code, self.headers = status, {}


def said_nothing(status, body, failure):
    """A request event whose context has no outcome: the recorder's row and the run's count."""
    ctx = {"endpoint": "/v1/chat/completions"}
    if status == 200 and b"request_id" in body:
        ctx["request_id"] = {b'{"request_id": "req_1"}': "req_1"}.get(body, 7)
    exception = failure if not status else (None if status == 200 else RuntimeError(status))
    row = dict(zip(ROW_NAMES, row_from_request(1.0, len(body), _Response(status), dict(ctx),
                                               exception, time.time())))
    hooks._State.counts = {}
    hooks._count_outcome(context=dict(ctx), name="/v1/chat/completions", exception=exception,
                         response=_Response(status))
    (counted,) = hooks._State.counts["/v1/chat/completions"]
    assert row["outcome"] == counted == request_outcome(status, ctx, exception)
    return row["outcome"]


def main() -> None:
    out = []
    for situation, status, body, failure, outcome in SITUATIONS:
        got = {"plain user": plain_user(status, body, failure),
               "plain user, not recording": plain_user(status, body, failure, recording=False),
               "openai sdk": sdk_client(status, body, failure),
               "no outcome in the context": said_nothing(status, body, failure)}
        out.append({"situation": situation, "expected": outcome, "got": got})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
