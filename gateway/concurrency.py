"""The concurrency cap: at most C requests in flight per key (or for all keys, `global`).

A request is admitted when fewer than C of its identity's admitted requests are in flight at
its arrival; otherwise it is refused at once and is never in flight itself.

In flight: from the moment the cap admits it (after authentication, before the body is read,
where every quota decides) until the gateway has finished with it: its response fully sent,
its stream ended or cut by the client (Starlette cancels the stream of a client that has
gone), or its handler failed. The release is done by the ASGI middleware `ReleaseAtEnd` when
the app's call for that request returns, whatever path it took, so that neither a later
refusal (422, 404, 403, the node pool's 503) nor a client that hangs up can leak a place. A
non-streamed completion whose client hangs up stays in flight until its answer would have been
sent: uvicorn does not cancel such a handler, as a GPU node would go on computing.

The refusal is 429 (`rate_limit_error`) or, with `concurrency_status = 503`, a 503
(`service_unavailable`, the node pool's type); both say `concurrency_limit_exceeded` and the
cap in the message, and carry no request_id. The 503 is answered at once, without the node
pool's routing delay or its `nodes.retry_after_s`: it was never routed.

Retry-After: there is no honest time-based value. When a place frees depends on how long the
requests in flight take, which the cap cannot know, so the profile refuses
`retry_after = "honest"`; "absent" sends none and "constant" sends its configured seconds, a
constant that promises nothing. The rate-limit header figures are limit = C, remaining = the
places left after this request, reset 0 (nothing here resets on a clock).
"""

from __future__ import annotations

from .profile import QuotaConfig
from .quota import Decision

AT_END = "pinaivu.at_end"


class ConcurrencyCap:
    def __init__(self, cfg: QuotaConfig) -> None:
        self.limit = cfg.limit
        self.in_flight: dict[str, int] = {}
        self.most_in_flight = 0  # of one identity at once, ever: ground truth for tests

    def hit(self, ident: str, now: float) -> Decision:
        busy = self.in_flight.get(ident, 0)
        if busy >= self.limit:
            return Decision(allowed=False, limit=self.limit, remaining=0, reset_s=0.0,
                            retry_after_s=0.0)
        self.in_flight[ident] = busy + 1
        self.most_in_flight = max(self.most_in_flight, busy + 1)
        return Decision(allowed=True, limit=self.limit, remaining=self.limit - busy - 1,
                        reset_s=0.0, retry_after_s=0.0)

    def release(self, ident: str) -> None:
        left = self.in_flight[ident] - 1
        if left:
            self.in_flight[ident] = left
        else:
            del self.in_flight[ident]

    def counters(self) -> dict[str, int]:
        return {"in_flight": sum(self.in_flight.values()), "most_in_flight": self.most_in_flight}


def refusal(cfg: QuotaConfig, who: str, fingerprint: str) -> tuple[int, str, str, str]:
    """(status, message, type, code) of the answer to a request over the cap."""
    message = (f"Too many requests in flight for {who} (key {fingerprint}): at most "
               f"{cfg.limit} at once. Retry when one of them has finished.")
    if cfg.concurrency_status == 503:
        return 503, message, "service_unavailable", "concurrency_limit_exceeded"
    return 429, message, "rate_limit_error", "concurrency_limit_exceeded"


class ReleaseAtEnd:
    """ASGI middleware: once the app's call for a request returns (the response sent, the
    stream over or cut, or an error), run what that request registered with `at_end`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        callbacks = scope[AT_END] = []
        try:
            await self.app(scope, receive, send)
        finally:
            for callback in callbacks:
                callback()


def at_end(scope: dict) -> list:
    """The list of callbacks ReleaseAtEnd runs for the request of this ASGI scope."""
    try:
        return scope[AT_END]
    except KeyError:
        raise RuntimeError("ReleaseAtEnd is not installed: a place in flight would never "
                           "be freed") from None
