"""The Pinaivu user: chat completions with every attempt's details handed to the recorder.

Each attempt is sent with `stream=True` so that the time to the response headers (or, for a
streamed completion, to the first token) is measured apart from the whole response. The
user finishes the attempt's row itself (`recorder.finished_row`) and hands it over in the
context Locust passes to the request event, with the outcome (contract's rule).
429 and 503 are expected outcomes: they go to Locust's failure table under their outcome's
name, and `hooks` keeps them from failing the run by themselves.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid

from gevent import GreenletExit
from locust import FastHttpUser, events
from locust.exception import StopUser

from contract.events import RAW_MAX, attempt_outcome, key_fingerprint
from contract.headers import parse_ratelimit, parse_retry_after, pick
from contract.target import Target, load_target

from .body import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, read_body, request_id_of
from .recorder import finished_row

_user_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _body_options(parser) -> None:
    g = parser.add_argument_group("Pinaivu harness: response bodies")
    g.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help="read and inflate at most this many bytes of a response body; a "
                        "longer one is cut and its row says so (default %(default)s)")
    g.add_argument("--body-timeout", type=float, default=DEFAULT_BODY_TIMEOUT_S,
                   help="seconds a response body may go without a byte before the attempt "
                        "is recorded as a timeout (default %(default)s)")


class CancelledRequest(Exception):
    pass


class CapReached(StopUser):
    """--max-requests is spent: the request was not sent. In a user's own greenlet it stops
    the user as StopUser does; greenlets spawned for single requests end with it quietly."""


class RequestCap:
    """A hard limit on the requests this process sends: a slot is taken before each send,
    so the server never sees more than `limit` (a cap counted on completion would let every
    user's next request through while the run stops)."""

    def __init__(self, limit: int, on_reached) -> None:
        self.limit, self.sent, self._on_reached = limit, 0, on_reached

    @property
    def spent(self) -> bool:
        return self.sent >= self.limit

    def take(self) -> None:
        """Count one request about to be sent; CapReached when none is left."""
        if self.spent:
            raise CapReached()
        self.sent += 1
        if self.sent == self.limit:
            self._on_reached()


class Attempt:
    """What one attempt got. The stated wait is parsed only when asked for (the probe asks;
    the hot path does not)."""

    __slots__ = ("outcome", "status", "_headers", "_at")

    def __init__(self, outcome: str, status: int, headers, at: float) -> None:
        self.outcome, self.status, self._headers, self._at = outcome, status, headers, at

    @property
    def retry_after_s(self) -> float:
        """Seconds the response said to wait; NaN when it did not say."""
        return parse_retry_after(pick(self._headers), self._at)[0]

    @property
    def reset_s(self) -> float:
        """Seconds until the reset the rate-limit headers declare; NaN when they do not."""
        return parse_ratelimit(pick(self._headers), self._at)[2]

_models_cache: dict[str, str] = {}


class _EveryStatus:
    """geventhttpclient's valid_response_codes, holding every status. For a status it does not
    hold, it reads the whole body, inflated and uncapped, to log it (a gzip bomb on a 429),
    and raises on an encoding it does not know; every status is read here, capped, instead."""

    def __contains__(self, _status) -> bool:
        return True


class PinaivuUser(FastHttpUser):
    abstract = True
    # Generous: a slow 503 or a long completion is data, not a harness failure.
    network_timeout = 60.0
    connection_timeout = 10.0
    insecure = False
    # A redirect is an answer to record, not to follow: a hostile Location would take the
    # load, and the key, to another host.
    max_redirects = 0

    target: Target | None = None  # set by hooks at init, from the environment
    cap: RequestCap | None = None  # set by hooks at init when the run has --max-requests
    recording = False  # set by hooks at init when a recorder takes the rows

    def __init__(self, environment) -> None:
        target = PinaivuUser.target or load_target()
        # FastHttpUser joins host and path; the path prefix (/v1) stays in our paths.
        self.host = target.base_url.split("/v1")[0] if target.base_url.endswith("/v1") \
            else target.base_url
        self.path_prefix = target.base_url[len(self.host):]
        timeout = getattr(environment.parsed_options, "timeout", None)
        if timeout:
            self.network_timeout = timeout
        super().__init__(environment)
        self.client.client.valid_response_codes = _EveryStatus()
        self.number = next(_user_numbers)
        self.api_key = target.key_for_user(self.number)
        self.key_id = key_fingerprint(self.api_key)
        self.auth = {"Authorization": f"Bearer {self.api_key}"}
        # Only the codings body.read_body inflates under its cap (Locust would also offer br).
        self.post_headers = self.auth | {"Content-Type": "application/json",
                                         "Accept-Encoding": "gzip, deflate"}
        self._bodies: dict[str, str] = {}
        opts = environment.parsed_options
        self.stream = bool(getattr(opts, "stream", False))
        self.max_tokens = getattr(opts, "max_tokens", None)
        self.model = getattr(opts, "model", None) or ""
        self.max_body_bytes = max(1, int(getattr(opts, "max_body_bytes", None)
                                         or DEFAULT_MAX_BODY_BYTES))
        self.body_timeout = float(getattr(opts, "body_timeout", None) or DEFAULT_BODY_TIMEOUT_S)

    def on_start(self) -> None:
        if not self.model:
            self.model = self.discover_model()

    def discover_model(self) -> str:
        """The first id that /v1/models lists (once per process)."""
        cached = _models_cache.get(self.host)
        if cached:
            return cached
        self.take_slot()
        with self.client.get(self.path_prefix + "/models", headers=self.auth,
                             name="/v1/models", catch_response=True, stream=True,
                             context={"endpoint": "/v1/models", "key_id": self.key_id,
                                      "user": self.number}) as r:
            status, model, failure = r.status_code or 0, None, None
            if status:
                body = read_body(r._response, max_bytes=self.max_body_bytes,
                                 stall_s=self.body_timeout, sse=False)
                failure = body.failure
                try:
                    model = json.loads(body.data)["data"][0]["id"]
                except Exception:
                    pass
                if not (isinstance(model, str) and 0 < len(model) <= RAW_MAX):
                    model = None
            else:
                failure = getattr(r, "error", None) or r.request_meta.get("exception")
            # the first listed id is what a 200 from /v1/models must hold
            outcome = attempt_outcome(status, failure, model, body_whole=not body.cut
                                      if status else True)
            r.request_meta["context"]["outcome"] = outcome
            if outcome != "ok":
                r.failure(outcome)
                return "llama3.2:1b"
            r.success()
        _models_cache[self.host] = model
        return model

    def take_slot(self) -> None:
        """Called before every request: raises CapReached once --max-requests is spent."""
        if PinaivuUser.cap is not None:
            PinaivuUser.cap.take()

    def cap_spent(self) -> bool:
        return PinaivuUser.cap is not None and PinaivuUser.cap.spent

    def chat(self, *, phase: str = "", intended_ts: float | None = None,
             logical_id: str | None = None, attempt: int = 1,
             content: str = "Say hello", key: str | None = None) -> Attempt:
        """Send one chat completion attempt; `key`: another of the target's keys than this
        user's (the probe's scope step)."""
        if PinaivuUser.cap is not None:  # before any work for a request that may not go
            PinaivuUser.cap.take()
        body = self._bodies.get(content)
        if body is None:  # built once per user and prompt, not once per attempt
            doc = {"model": self.model, "messages": [{"role": "user", "content": content}]}
            if self.stream:
                doc["stream"] = True
            if self.max_tokens:
                doc["max_tokens"] = self.max_tokens
            body = self._bodies[content] = json.dumps(doc)
        ctx = {"phase": phase, "logical_id": logical_id or uuid.uuid4().hex[:16],
               "attempt": attempt, "key_id": key_fingerprint(key) if key else self.key_id,
               "model": self.model,
               "endpoint": "/v1/chat/completions", "user": self.number,
               "intended_ts": intended_ts}
        t0 = time.perf_counter()
        sent = time.time()
        reported = False
        try:
            headers = self.post_headers if not key else \
                self.post_headers | {"Authorization": f"Bearer {key}"}
            with self.client.post(self.path_prefix + "/chat/completions", data=body,
                                  headers=headers,
                                  name="/v1/chat/completions", stream=True,
                                  catch_response=True, context=ctx) as r:
                ctx = r.request_meta["context"]
                outcome = self._finish(r, ctx, t0, sent)
                reported = True  # __exit__ reports it, whatever happens from here
            return Attempt(outcome, r.status_code or 0, r.headers, time.time())
        except GreenletExit:
            # Locust stopped this user mid-request (a ramp-down past --stop-timeout, or the
            # end of the run). The server may have counted the attempt, so it is recorded,
            # not dropped; Locust's statistics count it too.
            if not reported:
                cancelled = CancelledRequest("cancelled: the user was stopped mid-request")
                ctx.pop("event_row", None)
                ctx.update(outcome=attempt_outcome(0, cancelled), error=str(cancelled))
                self.environment.events.request.fire(
                    request_type="POST", name="/v1/chat/completions",
                    response_time=(time.perf_counter() - t0) * 1000, response_length=0,
                    response=None, context=ctx, exception=cancelled,
                    start_time=sent, url=self.path_prefix + "/chat/completions")
            raise

    def _finish(self, r, ctx: dict, t0: float, sent: float) -> str:
        """Read the body, classify the attempt (contract's rule), finish its row, mark it for
        Locust; returns the outcome."""
        ttfb_ms = ctx["ttfb_ms"] = (time.perf_counter() - t0) * 1000  # the response headers
        status = r.status_code or 0
        streamed = self.stream and status == 200
        body = None
        if status:
            body = read_body(r._response, max_bytes=self.max_body_bytes,
                             stall_s=self.body_timeout, sse=streamed)
            failure = body.failure  # reset mid-body, stream cut short, a stall
        else:
            failure = getattr(r, "error", None) or r.request_meta.get("exception")
        raw = body.data if body is not None else b""
        meta = r.request_meta
        latency_ms = meta["response_time"] = (time.perf_counter() - t0) * 1000
        meta["response_length"] = len(raw)
        request_id = ""
        if failure is not None or not status:
            outcome = attempt_outcome(status, failure)
            error = f"{type(failure).__name__}: {failure}" if failure else "no response"
        else:
            outcome, request_id, error = self._classify(status, body)
        ctx["outcome"] = outcome
        if error:
            ctx["error"] = error
        if request_id:
            ctx["request_id"] = request_id
        if streamed:
            first, mean, longest, chunks = self._stream_fields(body, t0)
        else:
            first = mean = longest = math.nan
            chunks = 0
        if PinaivuUser.recording:
            ctx["event_row"] = finished_row(
                self.number, ctx["phase"], ctx["logical_id"], ctx["attempt"], ctx["key_id"],
                self.model, "/v1/chat/completions", ctx["intended_ts"], sent, latency_ms,
                ttfb_ms, status, outcome, r.headers, request_id, len(raw), error, first, mean,
                longest, chunks)
        if outcome == "ok":
            r.success()
        else:
            r.failure(outcome)
        return outcome

    def _classify(self, status: int, body) -> tuple[str, str, str]:
        """(outcome, request_id, error) of a response whose body was read (perhaps cut): the
        request_id of an `ok`, else ""; why it is not `ok` when the body says so."""
        unread = body.problem or (f"body cut at {self.max_body_bytes} bytes "
                                  "(--max-body-bytes)" if body.cut else "")
        request_id, why, ended = None, "", True
        if 200 <= status < 300 and not unread:
            request_id, why = request_id_of(body.data, self.stream)
            ended = not self.stream or b"data: [DONE]" in body.data
        outcome = attempt_outcome(status, None, request_id, body_whole=not unread,
                                  stream_ended=ended)
        error = unread or why or ("" if ended else
                                  "ConnectionError: stream ended before data: [DONE]")
        return outcome, request_id if outcome == "ok" else "", error

    @staticmethod
    def _stream_fields(body, t0: float) -> tuple[float, float, float, int]:
        """(first token, mean and longest time between tokens in ms, token events) of a
        streamed body: NaN where too few tokens came to say."""
        first = (body.first_token - t0) * 1000 if body.first_token is not None else math.nan
        if body.tokens > 1:
            return first, body.gap_sum / (body.tokens - 1) * 1000, body.gap_max * 1000, \
                body.tokens
        return first, math.nan, math.nan, body.tokens
