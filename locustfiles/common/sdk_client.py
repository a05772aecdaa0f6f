"""The real OpenAI Python SDK as a load client: its own retry rules, every attempt recorded.

The SDK retries inside one `create()` call, so its attempts are seen from below: a transport
under the SDK's HTTP client times each one, reads its body and hands a row to the recorder
through Locust's request event, like any other attempt. Which logical request an attempt
belongs to is known by the greenlet that runs it (one logical request per greenlet).
"""

from __future__ import annotations

import logging
import time

import gevent
import httpx2  # the SDK's own HTTP library (openai>=3 depends on it)
import openai

from contract.events import attempt_outcome

from .body import inflate, request_id_of

CHAT = "/v1/chat/completions"


def classify(status: int, content: bytes, unread: str) -> dict:
    """The row's outcome (contract's rule), request_id and error for a response read as
    `_read` reads it."""
    request_id, why = None, ""
    if 200 <= status < 300 and not unread:
        request_id, why = request_id_of(content, False)
    fields = {"outcome": attempt_outcome(status, None, request_id, body_whole=not unread),
              "error": unread or why or None}
    if 200 <= status < 300 and not unread:
        fields["request_id"] = request_id
    return fields


class _RecordingTransport(httpx2.HTTPTransport):
    def __init__(self, record, take_slot, max_body_bytes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self._record, self._take_slot = record, take_slot
        self._max = max_body_bytes

    def handle_request(self, request):
        self._take_slot()  # CapReached is not a transport error: the SDK does not retry it
        t0 = time.perf_counter()
        sent = time.time()
        try:
            response = super().handle_request(request)
            ttfb_ms = (time.perf_counter() - t0) * 1000
            unread = self._read(response)  # the attempt lasts until its body is in
        except Exception as exc:
            self._record(request, None, sent, t0, None, exc)
            raise
        self._record(request, response, sent, t0, ttfb_ms, None, unread)
        if unread:  # the SDK must not parse a cut body: to it, the answer broke off
            raise httpx2.RemoteProtocolError(unread, request=request)
        return response

    def _read(self, response) -> str:
        """Read the body, at most the cap on the wire and inflated, as the response's content;
        why it is not whole ("" when it is)."""
        raw = bytearray()
        for chunk in response.iter_raw():
            raw += chunk
            if len(raw) > self._max:
                response.close()
                break
        encoding = response.headers.get("content-encoding", "")
        data, cut, problem = inflate(bytes(raw[:self._max]), encoding, self._max)
        response._content = data  # what .read() and .json() hand the SDK
        if problem:
            return problem
        if cut or len(raw) > self._max:
            return f"body cut at {self._max} bytes (--max-body-bytes)"
        return ""


class SdkClient:
    """One OpenAI client for one Locust user; `logical(id, arrival)` is one create() call."""

    def __init__(self, user, phase: str, max_retries: int) -> None:
        self.user, self.phase = user, phase
        # the SDK logs every request and retry at INFO: our rows already say it all
        for name in ("httpx2", "openai"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._current: dict = {}  # greenlet -> [logical_id, arrival, attempts so far]
        timeout = getattr(user.environment.parsed_options, "timeout", None) or 60.0
        transport = _RecordingTransport(self._record, user.take_slot, user.max_body_bytes)
        http = openai.DefaultHttpxClient(transport=transport, timeout=timeout)
        self.client = openai.OpenAI(base_url=user.host + user.path_prefix, api_key=user.api_key,
                                    max_retries=max_retries, timeout=timeout, http_client=http)

    def logical(self, logical_id: str, arrival: float) -> None:
        me = gevent.getcurrent()
        self._current[me] = [logical_id, arrival, 0]
        kwargs = {"model": self.user.model,
                  "messages": [{"role": "user", "content": "Say hello"}]}
        if self.user.max_tokens:
            kwargs["max_tokens"] = self.user.max_tokens
        try:
            self.client.chat.completions.create(**kwargs)
        except (openai.APIError, ValueError):
            # recorded attempt by attempt; the SDK's verdict is the last attempt's (ValueError:
            # a 200 it could not parse, recorded already)
            pass
        finally:
            self._current.pop(me, None)

    def _record(self, request, response, sent: float, t0: float, ttfb_ms, exc,
                unread: str = "") -> None:
        state = self._current.get(gevent.getcurrent())
        if state is None or not request.url.path.endswith("/chat/completions"):
            return
        state[2] += 1
        taken = request.headers.get("x-stainless-retry-count", "")
        if taken.isdigit():  # the SDK's own count of retries taken, when it says
            state[2] = int(taken) + 1
        ctx = {"phase": self.phase, "logical_id": state[0], "attempt": state[2],
               "key_id": self.user.key_id, "model": self.user.model, "endpoint": CHAT,
               "user": self.user.number, "intended_ts": state[1] if state[2] == 1 else None,
               "ttfb_ms": ttfb_ms}
        length = 0
        if response is None:
            ctx["outcome"] = attempt_outcome(0, exc)
            ctx["error"] = f"{type(exc).__name__}: {exc}"
        else:
            length = len(response.content)
            ctx.update(classify(response.status_code, response.content, unread))
        self.user.environment.events.request.fire(
            request_type="POST", name="/v1/chat/completions (openai sdk)",
            response_time=(time.perf_counter() - t0) * 1000, response_length=length,
            response=response, context=ctx,
            exception=None if ctx["outcome"] == "ok" else RuntimeError(ctx["outcome"]),
            start_time=sent, url=str(request.url))
