"""The OpenAI SDK's transport reads bodies as the FastHttpUser does: capped on the wire and
inflated, and a 200's request_id counts only as a string (issue 10, item 11)."""

import base64
import json
import tracemalloc

import httpx2
import pytest

from locustfiles.common.body import DEFAULT_MAX_BODY_BYTES
from locustfiles.common.sdk_client import _RecordingTransport, classify

from .test_hostile import start_server

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def post(url: str, cap: int = DEFAULT_MAX_BODY_BYTES):
    seen = []
    transport = _RecordingTransport(lambda *args: seen.append(args), lambda: None, cap)
    with httpx2.Client(transport=transport, timeout=30) as client:
        try:
            response = client.post(url + "/chat/completions", json=BODY)
        except httpx2.RemoteProtocolError as exc:
            response = exc
    (request, recorded, _sent, _t0, _ttfb, exc, unread), = seen
    return response, recorded, unread


def scripted(tmp_path, status: str, body: bytes, extra: str = ""):
    data = (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body
    return start_server(tmp_path, "script", [{"data": base64.b64encode(data).decode(),
                                              "then": "keep"}])


def test_a_gzip_bomb_is_cut_and_not_inflated_whole(tmp_path):
    server, url = start_server(tmp_path, "gzip_bomb")
    try:
        tracemalloc.start()
        answer, recorded, unread = post(url)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        server.kill()
        server.wait()
    assert isinstance(answer, httpx2.RemoteProtocolError)  # the SDK is not handed a cut body
    assert unread == f"body cut at {DEFAULT_MAX_BODY_BYTES} bytes (--max-body-bytes)"
    assert len(recorded.content) == DEFAULT_MAX_BODY_BYTES
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB for a 600 MiB bomb"


@pytest.mark.parametrize("rid", [42, {"id": "x"}, None, ""])
def test_a_request_id_that_is_not_a_string_is_not_ok(tmp_path, rid):
    server, url = scripted(tmp_path, "200 OK", json.dumps({"request_id": rid}).encode())
    try:
        answer, recorded, unread = post(url)
    finally:
        server.kill()
        server.wait()
    assert unread == "" and recorded.status_code == 200
    assert json.loads(answer.content) == {"request_id": rid}  # the SDK still gets the body
    row = classify(recorded.status_code, recorded.content, unread)
    assert row["outcome"] == "bad_response" and not row["request_id"]


def test_classify_needs_a_string_request_id_and_keeps_refusals():
    assert classify(200, b'{"request_id": "req_1"}', "") == {
        "outcome": "ok", "request_id": "req_1", "error": None}
    assert classify(200, b'{"request_id": 7}', "")["error"] == \
        "request_id is a number, not a string"
    cut = classify(429, b"", "body cut at 10 bytes (--max-body-bytes)")
    assert cut["outcome"] == "rate_limited" and "cut" in cut["error"]
    assert classify(200, b'{"request_id": "r"}', "body cut")["outcome"] == "bad_response"
