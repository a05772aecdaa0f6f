"""Events -> the quota decisions every stage uses, computed once per report.

Decision times: a request is decided when it reaches the server, about half a fast round trip
after it was sent (the median latency of 429s, halved). 503s and 403/404/422 passed the quota
(the reference gateway checks it first) but are not scored; 401s and transport errors never
reached it. `decide(events)` is cheap: each part is computed the first time a stage asks for
it and kept, so the fit, the Retry-After audit, the model's reopenings and the figures share
one set of rows and one stream per key (or one for everyone). Pure: no I/O, no clock.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from contract.events import CHAT

from .stream import REJECTED, Stream, make_stream

PASSED = {200, 201, 202, 204, 400, 403, 404, 409, 422, 503}
# Beyond this many decisions the fit uses the first ones: enough to pin any quota down.
MAX_FIT_EVENTS = 100_000
# No late reading is past this after its send; only refusals may read a window's anchor
# later, up to its reply (fixed_window.anchored_window_starts).
MAX_LATE_S = 0.05
# What the stages read of a decision: the rows keep these columns only (copying every column
# of a million events was most of the cost); the declared remaining is held against them.
ROW_COLUMNS = ("key_id", "sent_ts", "latency_ms", "ttfb_ms", "status", "retry_after_s",
               "ratelimit_remaining")


def network_delay_s(events: pd.DataFrame) -> tuple[float, float]:
    """(typical, slowest) send-to-decision delay, from the latency of 429s (a fast path):
    half the median, and the 99th percentile (fresh connections included), capped."""
    fast = events.loc[events["status"] == REJECTED, "latency_ms"].to_numpy(float)
    fast = fast[np.isfinite(fast)]
    if len(fast) == 0:
        return 0.0, 0.005
    typical = float(min(0.05, max(0.0, np.median(fast) / 2000)))
    slowest = float(min(0.05, max(0.005, np.percentile(fast, 99) / 1000)))
    return typical, slowest


def quota_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The chat completion attempts that reached the quota, in decision order (the first
    MAX_FIT_EVENTS), with their earliest, late and latest decision times."""
    chat = events.loc[(events["endpoint"] == CHAT) & events["status"].isin(PASSED | {REJECTED}),
                      [c for c in ROW_COLUMNS if c in events]]
    typical, slowest = network_delay_s(chat)
    # A quota decides when the request arrives, not when the completion ends: the latest
    # reading is the reply's first byte or a slow round trip, whichever comes first.
    ttfb = chat["ttfb_ms"].fillna(chat["latency_ms"]).fillna(0) / 1000
    late = np.minimum(ttfb, slowest)
    # An admitted request's first byte also waited for its generation, which takes at least
    # the quickest admitted reply less the quickest refusal: the rest bounds when the quota
    # decided. It can be later than a slow refusal (a fresh connection, a stalled server),
    # which matters most for the first request, whose decision anchors what follows.
    ok = (chat["status"] >= 200) & (chat["status"] < 300)
    refused = chat.loc[chat["status"] == REJECTED, "latency_ms"].min() / 1000
    latest = late
    if ok.any() and np.isfinite(refused):
        generation = max(0.0, float(ttfb[ok].min()) - refused)
        latest = np.where(ok, np.maximum(late, ttfb - generation), late)
        late = np.minimum(latest, np.maximum(late, MAX_LATE_S))
    sent = chat["sent_ts"].to_numpy(float)
    # the first MAX_FIT_EVENTS in decision order (a stable sort, NaN last, as sort_values)
    first = np.argsort(sent + typical, kind="stable")[:MAX_FIT_EVENTS]
    late, latest = np.asarray(late, float), np.asarray(latest, float)
    return chat.iloc[first].assign(decided=(sent + typical)[first],
                                   decided_late=(sent + late)[first],
                                   decided_latest=(sent + latest)[first])


class Decisions:
    """A run's quota decisions: `events` as recorded, `rows` (quota_rows) and the streams."""

    def __init__(self, events: pd.DataFrame) -> None:
        self.events = events
        self._streams: dict[tuple[str, int | None], list[tuple[str, Stream]]] = {}

    @cached_property
    def rows(self) -> pd.DataFrame:
        return quota_rows(self.events)

    def keyed_streams(self, scope: str, head: int | None = None) -> list[tuple[str, Stream]]:
        """(key, stream) per key in key order, or [("*", everyone's)] for a global scope, of
        the first `head` rows (all of them by default); each built once."""
        cached = self._streams.get((scope, head))
        if cached is None:
            df = self.rows if head is None or head >= len(self.rows) else self.rows.head(head)
            if head is not None and head >= len(self.rows):
                cached = self.keyed_streams(scope)
            elif scope == "global":
                cached = [("*", make_stream(df))]
            else:
                cached = [(str(k), make_stream(g))
                          for k, g in df.groupby("key_id", observed=True, sort=True)]
            self._streams[(scope, head)] = cached
        return cached

    def streams(self, scope: str, head: int | None = None) -> list[Stream]:
        return [s for _, s in self.keyed_streams(scope, head)]

    def forget_memos(self) -> None:
        """Drop what replays kept on the streams built so far (Stream.memo)."""
        for built in self._streams.values():
            for _, s in built:
                s.memo.clear()


def decide(events: pd.DataFrame) -> Decisions:
    """The decisions of a run's events (nothing is computed until a stage asks)."""
    return Decisions(events)
