"""Fit a quota model to the accept/reject decisions a run observed.

Parameter candidates are read off the events (clumps of accepts, their spacing, the long-run
admitted rate, stated Retry-After), then every candidate limiter is replayed over the observed
send times and scored by the fraction of 2xx/429 decisions it reproduces. Replays are
teacher-forced: each decision is judged against the admissions that really happened before it,
so one boundary miss does not throw every later decision off. The best score wins, after a
small penalty for complexity (fixed windows before sliding ones, plain before
"counts rejected requests too").

Decision times: a request is decided when it reaches the server, about half a fast round trip
after it was sent (the median latency of 429s, halved). 503s and 403/404/422 passed the quota
(the reference gateway checks it first) but are not scored; 401s and transport errors never
reached it. Pure functions: DataFrame in, dataclass out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

CHAT = "/v1/chat/completions"
PASSED = {200, 201, 202, 204, 400, 403, 404, 409, 422, 503}
REJECTED = 429
# A candidate window must be this many times the decision timing slack (see candidate_params).
MIN_WINDOW_SLACKS = 10
# Beyond this many decisions the fit uses the first ones: enough to pin any quota down.
MAX_FIT_EVENTS = 100_000
# No late reading is past this after its send; only refusals may read a window's anchor
# later, up to its reply (anchored_window_starts).
MAX_LATE_S = 0.05
PENALTY = {"fixed_window": 0.0, "sliding_log": 0.001, "token_bucket": 0.001,
           "sliding_counter": 0.002, "concurrency": 0.003}
COUNTS_REJECTED_PENALTY = 0.002
NOT_ROUND_PENALTY = 0.001
MIN_AGREEMENT = 0.9
TIE = 1e-4  # weighted agreements this close explain a run equally
# Fixed windows this close (relative) are the same window to the fit: the tolerance its
# candidate windows are read with (_nice) and the accuracy table allows.
SAME_WINDOW_REL = 0.03
ACCEPT_WEIGHT_CAP = 10.0
FINALISTS_PER_FAMILY = 6
SCREEN_EVENTS = 20_000


@dataclass
class Stream:
    t: np.ndarray  # earliest decision times (sent + a one-way trip), sorted
    t_late: np.ndarray  # latest: sent + a slow round trip (or the first byte, if sooner)
    slack: float  # how far apart the two readings can be
    passed: np.ndarray  # passed the quota (2xx, 503, 4xx after the quota)
    rejected: np.ndarray  # 429
    scored: np.ndarray  # 2xx or 429: the decisions a model is judged on
    ok: np.ndarray  # 2xx
    end: np.ndarray  # when the response finished (for concurrency)
    retry_after: np.ndarray  # stated wait on 429s, NaN elsewhere
    # latest the reply allows, uncapped (an admission's first byte less the quickest
    # generation); only refusals may read a window's anchor this late (anchored_window_starts)
    t_latest: np.ndarray | None = None


@dataclass
class Candidate:
    algorithm: str
    params: dict
    agreement: float
    weighted: float
    score: float

    def as_dict(self) -> dict:
        return {"algorithm": self.algorithm, **self.params,
                "agreement": round(self.agreement, 5), "weighted": round(self.weighted, 5)}


@dataclass
class QuotaFit:
    algorithm: str
    scope: str
    limit: int | None = None
    window_s: float | None = None
    rate_per_s: float | None = None
    burst: int | None = None
    alignment: str | None = None
    counts_rejected: bool = False
    agreement: float | None = None
    decisions: int = 0
    keys: int = 0
    rate_reached_per_s: float | None = None
    burst_observed: int | None = None
    candidates: list[dict] = field(default_factory=list)
    note: str = ""

    def summary(self) -> dict:
        """The summary.json `quota` object: every field, and the quota in words."""
        return asdict(self) | {"description": describe(self)}

    def params(self) -> dict:
        return {k: v for k, v in (("limit", self.limit), ("window_s", self.window_s),
                                  ("rate_per_s", self.rate_per_s), ("burst", self.burst),
                                  ("alignment", self.alignment),
                                  ("counts_rejected", self.counts_rejected)) if v is not None}


# --- preparing the decisions -------------------------------------------------------------

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


def quota_events(events: pd.DataFrame) -> pd.DataFrame:
    """The chat completion attempts that reached the quota, in decision order."""
    chat = events[(events["endpoint"] == CHAT) & events["status"].isin(PASSED | {REJECTED})]
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
    chat = chat.assign(decided=chat["sent_ts"] + typical, decided_late=chat["sent_ts"] + late,
                       decided_latest=chat["sent_ts"] + latest)
    chat = chat.sort_values("decided", kind="stable")
    return chat.head(MAX_FIT_EVENTS)


def make_stream(df: pd.DataFrame) -> Stream:
    status = df["status"].to_numpy()
    ok = (status >= 200) & (status < 300)
    rejected = status == REJECTED
    t = df["decided"].to_numpy(dtype=float)
    late = np.maximum(t, df["decided_late"].to_numpy(dtype=float))
    slack = float(np.max(late - t)) if len(t) else 0.0
    latest = df["decided_latest"].to_numpy(float) if "decided_latest" in df else late
    return Stream(t=t, t_late=late, slack=max(slack, 0.001), passed=~rejected,
                  rejected=rejected,
                  scored=ok | rejected, ok=ok,
                  end=(df["sent_ts"] + df["latency_ms"].fillna(0) / 1000).to_numpy(float),
                  retry_after=np.where(rejected, df["retry_after_s"].to_numpy(float), np.nan),
                  t_latest=np.maximum(late, latest))


def streams_for(df: pd.DataFrame, scope: str) -> list[Stream]:
    if scope == "global":
        return [make_stream(df)]
    return [make_stream(g) for _, g in df.groupby("key_id", observed=True, sort=True)]


# --- the models, replayed teacher-forced -------------------------------------------------
#
# Each model answers, for every event, "would it be admitted at time t[i], given the
# admissions that really came before it", where the history's times are `h` (the same events'
# decision times, read early or late). Counts of earlier admissions are by event order.

def _before(mask: np.ndarray) -> np.ndarray:
    """How many True entries come strictly before each position."""
    c = np.cumsum(mask)
    return c - mask


def _since(before: np.ndarray, history: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Earlier admissions whose time is at or after `start`."""
    return np.maximum(0, before - np.searchsorted(history, start, "left"))


def fixed_epoch(s, t, h, limit, window_s):
    start = np.floor(t / window_s) * window_s
    admitted = epoch_admissions(h[s.passed], s.end[s.passed], limit, window_s)
    return _since(_before(s.passed), admitted, start) < limit


def epoch_admissions(h: np.ndarray, end: np.ndarray, limit: int, window_s: float) -> np.ndarray:
    """Sorted admission times for clock-aligned windows, each read where it can have been.

    A window that already holds `limit` admissions has no room for another: one read there
    was decided in the next window, if its reply came after that window began (a stalled
    server decides late; the reply's arrival bounds when). Left where it was read, it would
    make the next window look a whole admission short and every refusal there look wrong.
    """
    order = np.argsort(h, kind="stable")
    out = h[order].copy()
    if len(out) == 0 or np.unique(np.floor(out / window_s), return_counts=True)[1].max() <= limit:
        return out  # no window holds more than it can: nothing was read early
    counts: dict[int, int] = {}
    for i, e in enumerate(end[order]):
        w = math.floor(out[i] / window_s)
        if counts.get(w, 0) >= limit and (w + 1) * window_s <= e:
            w += 1
            out[i] = w * window_s
        counts[w] = counts.get(w, 0) + 1
    return np.sort(out)


def window_starts(admitted: np.ndarray, limit: int, window_s: float,
                  slack: float = 0.0) -> np.ndarray:
    """Where windows anchored at the first request begin, given sorted admission times: at
    the first admission after the last window ended.

    A tight loop re-hits just as a window ends, so an admission can read a hair (up to
    `slack`) before the end; if the window is already full it can only be the next one's first.
    """
    return admitted[_window_anchors(admitted, limit, window_s, slack)].astype(float)


def _window_anchors(admitted: np.ndarray, limit: int, window_s: float,
                    slack: float) -> np.ndarray:
    """Positions in the sorted `admitted` of the admissions that begin a window."""
    anchors = []
    current, count = -math.inf, 0
    for i, a in enumerate(admitted):
        if a >= current + window_s or (count >= limit and a >= current + window_s - slack):
            current, count = a, 0
            anchors.append(i)
        count += 1
    return np.asarray(anchors, dtype=int)


def anchored_window_starts(s: Stream, h: np.ndarray, limit: int,
                           window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(window starts, sorted admission times) for windows anchored at the first request, the
    admissions read at `h` and each anchor moved forward to what the refusals prove.

    A refusal at r proves its window was still open then: it began after r - window_s. The
    anchor was decided somewhere between its send and what its reply allows (`t_latest`),
    which on a loaded machine can be far past the cap on ordinary late readings (a key's
    first request met the gateway 115 ms after it was sent, its reply 189 ms): read early,
    the window ends early and every refusal before the true reopening looks wrong, which a
    longer window explains better. So the anchor is read as late as the refusals in its
    window need, never past its reply nor past the window's next admission (which the server
    decided after it). Refusals only move a window later: an admission the model refuses is
    not excused by this.
    """
    order = np.argsort(h[s.passed], kind="stable")
    admitted = h[s.passed][order]
    anchors = _window_anchors(admitted, limit, window_s, s.slack)
    if not len(anchors):
        return np.array([], float), admitted
    latest = (s.t_latest if s.t_latest is not None else s.t_late)[s.passed][order]
    refused = np.sort(s.t[s.rejected])
    admitted = admitted.copy()
    starts = admitted[anchors].copy()
    for k, i in enumerate(anchors):
        nxt = admitted[anchors[k + 1]] if k + 1 < len(anchors) else math.inf
        last = np.searchsorted(refused, nxt, "left") - 1
        if last < 0 or refused[last] < starts[k]:
            continue
        bound = latest[i]
        if i + 1 < len(admitted) and (k + 1 == len(anchors) or i + 1 < anchors[k + 1]):
            bound = min(bound, admitted[i + 1])
        # a microsecond past: epoch-second floats resolve ~0.2 µs
        moved = min(max(starts[k], refused[last] - window_s + 1e-6), bound)
        if moved > starts[k]:
            starts[k] = admitted[i] = moved
    return starts, admitted


def fixed_first_request(s, t, h, limit, window_s):
    starts_arr, admitted = anchored_window_starts(s, h, limit, window_s)
    if not len(starts_arr):
        return np.ones(len(t), bool)
    idx = np.maximum(np.searchsorted(starts_arr, t, "right") - 1, 0)
    start = starts_arr[idx]
    inside = (t >= start) & (t < start + window_s)
    return ~inside | (_since(_before(s.passed), admitted, start) < limit)


def sliding_log(s, t, h, limit, window_s, counts_rejected=False):
    basis = (s.passed | s.rejected) if counts_rejected else s.passed
    return _since(_before(basis), np.sort(h[basis]), t - window_s) < limit


def sliding_counter(s, t, h, limit, window_s):
    admitted = np.sort(h[s.passed])
    start = np.floor(t / window_s) * window_s
    cur = _since(_before(s.passed), admitted, start)
    prev = np.searchsorted(admitted, start, "left") - np.searchsorted(admitted, start - window_s,
                                                                      "left")
    return prev * (window_s - (t - start)) / window_s + cur < limit


def token_bucket(s, t, h, rate_per_s, burst, counts_rejected=False):
    interval = 1.0 / rate_per_s
    tolerance = (burst - 1) * interval
    basis = (s.passed | s.rejected) if counts_rejected else s.passed
    order = np.argsort(h[basis], kind="stable")
    a = h[basis][order]
    if len(a) == 0:
        return np.ones(len(t), bool)
    admitted = s.passed[basis][order]
    floor = None if counts_rejected else refusal_floor(a, h[s.rejected], tolerance)
    tat_after = gcra_tat(a, admitted, interval, tolerance, s.slack, floor)
    k = _before(basis)
    tat_before = np.where(k > 0, tat_after[np.maximum(k - 1, 0)], -np.inf)
    return tat_before - t <= tolerance + 1e-9


def refusal_floor(a: np.ndarray, refused: np.ndarray, tolerance: float) -> np.ndarray | None:
    """For each sorted attempt time in `a`: the latest refusal before it plus the tolerance
    (a refusal at r proves the bucket had no room then: tat > r + tolerance from there on);
    None when nothing was refused."""
    if not len(refused):
        return None
    refused = np.sort(refused)
    last = np.searchsorted(refused, a, "left") - 1
    return np.where(last >= 0, refused[np.maximum(last, 0)] + tolerance, -np.inf)


def gcra_tat(a: np.ndarray, admitted: np.ndarray, interval: float, tolerance: float,
             slack: float, floor: np.ndarray | None = None) -> np.ndarray:
    """The bucket's theoretical arrival time after each of the sorted attempts `a`.

    GCRA: tat_j = max(tat_{j-1}, a_j) + T, whose closed form is
    tat_j = (j+1) T + max_{i<=j} (a_i - i T). The state chains through every admission, so a
    tight loop admitted right at each reopening carries any timing error forward, both ways:
    - An observed admission that reads up to `slack` before the bucket had room proves it had
      room: the chain restarts from it (as window_starts does for anchored windows).
    - `floor[j]`, the latest refusal before attempt j plus the tolerance, proves the bucket
      had no room until then: the chain moves forward to it. In a drained bucket tat runs a
      whole tolerance ahead of the attempts, so without this a chain that started a few
      milliseconds early (a slow first request, a reply the server sent late) would stay
      early for the rest of the run, and every reopening's last refusals would look wrong.
    """
    c = a if floor is None else np.maximum(a, floor)
    j = np.arange(len(a))
    tat_after = (j + 1) * interval + np.maximum.accumulate(c - j * interval)
    tat_before = np.r_[-np.inf, tat_after[:-1]]
    early = admitted & (tat_before - a > tolerance + 1e-9) & \
        (tat_before - a <= tolerance + slack)
    if not early.any():
        return tat_after
    tat = -math.inf
    for i in range(len(a)):
        tat = max(tat, a[i])
        if admitted[i] and tolerance < tat - a[i] <= tolerance + slack:
            tat = a[i] + tolerance
        if floor is not None:
            tat = max(tat, floor[i])
        tat += interval
        tat_after[i] = tat
    return tat_after


def concurrency(s, t, h, limit):
    ends = np.sort(s.end[s.passed])
    return _before(s.passed) - np.searchsorted(ends, t, "right") < limit


def predict(algorithm: str, params: dict, s: Stream, t=None, h=None) -> np.ndarray:
    t = s.t if t is None else t
    h = s.t if h is None else h
    p = params
    if algorithm == "fixed_window":
        model = fixed_epoch if p.get("alignment") == "epoch" else fixed_first_request
        return model(s, t, h, p["limit"], p["window_s"])
    if algorithm == "sliding_log":
        return sliding_log(s, t, h, p["limit"], p["window_s"], p.get("counts_rejected", False))
    if algorithm == "sliding_counter":
        return sliding_counter(s, t, h, p["limit"], p["window_s"])
    if algorithm == "token_bucket":
        return token_bucket(s, t, h, p["rate_per_s"], p["burst"],
                            p.get("counts_rejected", False))
    return concurrency(s, t, h, p["limit"])


def reproduced(algorithm: str, params: dict, s: Stream, readings: int = 4) -> np.ndarray:
    """Per scored decision: does the model give the observed answer at some reading of when
    the server decided (this request's and the earlier ones', each between send and reply)?
    `readings=1` tries only the typical reading: a cheap first pass."""
    ok = s.ok[s.scored]
    hit = np.zeros(int(s.scored.sum()), bool)
    pairs = [(s.t, s.t), (s.t_late, s.t_late), (s.t, s.t_late), (s.t_late, s.t)][:readings]
    for t, h in pairs:
        hit |= predict(algorithm, params, s, t, h)[s.scored] == ok
        if hit.all():
            break
    return hit


def agreement(algorithm: str, params: dict, streams: list[Stream],
              readings: int = 4) -> tuple[float, float]:
    """(plain, weighted) agreement. Plain: the fraction of decisions reproduced. Weighted:
    accepts count up to ACCEPT_WEIGHT_CAP times a refusal (as many times as refusals outnumber
    them), so that thousands of 429s in a tight loop cannot hide a model that gets the few
    accepts wrong, while one missed accept cannot outweigh hundreds of refusals either.
    Fits are chosen on it."""
    hits = {True: 0, False: 0}
    totals = {True: 0, False: 0}
    for s in streams:
        if s.scored.any():
            r = reproduced(algorithm, params, s, readings)
            ok = s.ok[s.scored]
            for side in (True, False):
                hits[side] += int(r[ok == side].sum())
                totals[side] += int((ok == side).sum())
    total = totals[True] + totals[False]
    if not total:
        return 0.0, 0.0
    plain = (hits[True] + hits[False]) / total
    weight = min(ACCEPT_WEIGHT_CAP, max(1.0, totals[False] / totals[True])) if totals[True] else 1
    weighted = (weight * hits[True] + hits[False]) / (weight * totals[True] + totals[False])
    return plain, weighted


# --- candidates ----------------------------------------------------------------------------

def _runs(s: Stream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of consecutive passed decisions: (start times, end times, sizes)."""
    passed = s.passed[s.passed | s.rejected]
    t = s.t[s.passed | s.rejected]
    if not passed.any():
        return np.array([]), np.array([]), np.array([], int)
    edges = np.diff(np.r_[False, passed, False].astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return t[starts], t[stops - 1], stops - starts


def _nice(values, rel: float = 0.03) -> set[float]:
    """Each value, and the round numbers within `rel` of it (windows are usually whole)."""
    out = set()
    for v in values:
        if not (v and math.isfinite(v) and v > 0):
            continue
        out.add(round(v, 6))
        for step in (1.0, 0.5, 0.1):
            r = round(v / step) * step
            if r > 0 and abs(r - v) <= rel * v:
                out.add(round(r, 6))
    return out


def _whole_near(values, rel: float = 0.3) -> set[float]:
    """Whole and half seconds within `rel` of each estimate: estimates read off a short run
    are a few percent off, and real windows are almost always whole seconds."""
    out = set()
    for v in values:
        if not (v and math.isfinite(v) and v > 0):
            continue
        for step in (1.0, 0.5):
            lo, hi = math.ceil(v * (1 - rel) / step), math.floor(v * (1 + rel) / step)
            out |= {round(k * step, 6) for k in range(max(lo, 1), hi + 1)}
    return out


def _is_round(v: float) -> bool:
    """Whole or half seconds, or a rate of at most two significant digits."""
    if abs(v * 2 - round(v * 2)) < 1e-9:
        return True
    digits = f"{v:.2g}"
    return abs(float(digits) - v) < 1e-9


def observed_shape(streams: list[Stream]) -> dict:
    first_sizes, rest_sizes, spacings, rates, gaps, stated = [], [], [], [], [], []
    first_durations, reopen_spans = [], []
    for s in streams:
        starts, ends, sizes = _runs(s)
        if len(sizes) == 0:
            continue
        first_sizes.append(int(sizes[0]))
        first_durations.append(float(ends[0] - starts[0]))
        rest_sizes += [int(x) for x in sizes[1:]]
        big = starts[sizes >= 2]
        if len(big) >= 2:
            spacings += list(np.diff(big))
        admitted = s.t[s.passed]
        later = admitted[int(sizes[0]):]
        if len(later) >= 2 and later[-1] > ends[0]:
            rates.append(len(later) / (later[-1] - ends[0]))
            gaps += list(np.diff(later))
        ra = s.retry_after[s.rejected]
        stated += list(ra[np.isfinite(ra)])
        # The first 429 after a run of accepts says when the quota reopens; for a window
        # anchored at that run's start, reopening minus start is the window.
        order = s.passed | s.rejected
        t_all, rej_all, ra_all = s.t[order], s.rejected[order], s.retry_after[order]
        after = np.searchsorted(t_all, ends, "right")
        for start, i in zip(starts, after):
            if i < len(t_all) and rej_all[i] and np.isfinite(ra_all[i]):
                reopen_spans.append(t_all[i] + ra_all[i] - start)
    return {"first": first_sizes, "rest": rest_sizes, "spacing": spacings, "rate": rates,
            "gaps": gaps, "stated": stated, "first_duration": first_durations,
            "reopen_span": reopen_spans}


def candidate_params(streams: list[Stream]) -> list[tuple[str, dict]]:
    shape = observed_shape(streams)
    if not shape["first"]:
        return []
    burst = max(shape["first"])
    limits = {burst}
    if shape["rest"]:
        rest = np.asarray(shape["rest"])
        limits |= {int(np.median(rest)), int(rest.max()), int(np.bincount(rest).argmax())}
    limits |= {x + d for x in list(limits) for d in (-1, 1)}
    limits = sorted(x for x in limits if x >= 1)
    rate = float(np.median(shape["rate"])) if shape["rate"] else None
    windows = set()
    if shape["spacing"]:
        windows |= _nice([float(np.median(shape["spacing"]))])
    if rate:
        windows |= _nice([lim / rate for lim in limits])
    if shape["reopen_span"]:
        spans = np.asarray(shape["reopen_span"])
        windows |= _nice([float(np.median(spans)), float(spans.min())])
    windows |= _whole_near(list(windows))
    # A window within ten times the timing slack is timing noise, not a quota: a sliding
    # log of 1 per 1.2 ms "counting rejects" once beat the true token bucket on a loaded
    # machine by reading which requests happened to follow a slow reply.
    shortest = MIN_WINDOW_SLACKS * max(s.slack for s in streams)
    windows = sorted(w for w in windows if w >= shortest)

    out: list[tuple[str, dict]] = []
    for lim in limits:
        for w in windows:
            base = {"limit": int(lim), "window_s": float(w)}
            out.append(("fixed_window", base | {"alignment": "first_request"}))
            out.append(("fixed_window", base | {"alignment": "epoch"}))
            out.append(("sliding_log", dict(base)))
            out.append(("sliding_log", base | {"counts_rejected": True}))
            out.append(("sliding_counter", dict(base)))
    if rate:
        rates = _nice([rate] + ([1 / float(np.median(shape["gaps"]))] if shape["gaps"] else []),
                      rel=0.05)
        bursts = {burst, burst - 1, burst + 1}
        for r in list(rates):
            refill = int(round(r * max(shape["first_duration"] or [0])))
            bursts |= {burst - refill, burst - refill + 1}
        for r in sorted(rates):
            for b in sorted(x for x in bursts if x >= 1):
                out.append(("token_bucket", {"rate_per_s": float(r), "burst": int(b)}))
                out.append(("token_bucket", {"rate_per_s": float(r), "burst": int(b),
                                             "counts_rejected": True}))
    # A concurrency limit shows as slow admissions overlapping: only worth trying then.
    ok_latency = [float(np.median(s.end[s.ok] - s.t[s.ok])) for s in streams if s.ok.any()]
    if ok_latency and np.median(ok_latency) > 0.02:
        peak = 0
        for s in streams:
            ends = np.sort(s.end[s.passed])
            in_flight = _before(s.passed) - np.searchsorted(ends, s.t, "right")
            if s.passed.any():
                peak = max(peak, int(in_flight[s.passed].max()) + 1)
        for c in (peak - 1, peak, peak + 1):
            if c >= 1:
                out.append(("concurrency", {"limit": c}))
    return out


def _screened_out(c: Candidate) -> Candidate:
    """A candidate that did not reach the second pass: its score can no longer win."""
    c.params = dict(c.params, screened_only=True)
    c.score = -1.0
    return c


def _penalty(algorithm: str, params: dict, stated_window: float | None = None) -> float:
    p = PENALTY[algorithm]
    if stated_window and "window_s" in params:
        # Breaks ties only (a millionth per relative error): when the decisions cannot tell
        # windows apart, as when a limiter that counts refusals keeps a loop locked out, the
        # reopening the server stated decides.
        p += 1e-6 * min(1.0, abs(params["window_s"] - stated_window) / stated_window)
    if params.get("counts_rejected"):
        p += COUNTS_REJECTED_PENALTY
    for name in ("window_s", "rate_per_s"):
        if name in params and not _is_round(params[name]):
            p += NOT_ROUND_PENALTY
    return p


# --- the fit -------------------------------------------------------------------------------

def fit_quota(events: pd.DataFrame) -> QuotaFit:
    df = quota_events(events)
    keys = int(df["key_id"].nunique()) if len(df) else 0
    n_rejected = int((df["status"] == REJECTED).sum()) if len(df) else 0
    n_ok = int(((df["status"] >= 200) & (df["status"] < 300)).sum()) if len(df) else 0
    span = float(df["decided"].max() - df["decided"].min()) if len(df) > 1 else 0.0
    reached = n_ok / span if span > 0 else None
    if len(df) == 0:
        return QuotaFit("unknown", "unknown", note="no chat completion reached the quota "
                        "(only errors before it, or no events)")
    if n_rejected == 0:
        return QuotaFit("none_observed", "unknown", decisions=n_ok, keys=keys,
                        rate_reached_per_s=reached,
                        note=f"no 429 in {n_ok} admitted requests: the quota, if any, is above "
                             f"{reached:.2f} requests/s" if reached else "no 429 observed")
    scopes = ["per_key", "global"] if keys >= 2 else ["per_key"]
    tried: list[tuple[str, Candidate]] = []
    spans = observed_shape(streams_for(df, "per_key"))["reopen_span"]
    stated_window = float(np.median(spans)) if spans else None
    # Two passes for long runs: every candidate on the first SCREEN_EVENTS decisions, then the
    # best few of each model family (and scope) on all of them. Short runs: one pass.
    screen_df = df.head(SCREEN_EVENTS)
    screened: list[tuple[str, Candidate, list[Stream]]] = []
    for scope in scopes:
        streams = streams_for(df, scope)
        screen_streams = streams if len(df) <= SCREEN_EVENTS else streams_for(screen_df, scope)
        for algorithm, params in candidate_params(streams):
            plain, weighted = agreement(algorithm, params, screen_streams)
            penalty = _penalty(algorithm, params, stated_window)
            screened.append((scope, Candidate(algorithm, params, plain, weighted,
                                              weighted - penalty), streams))
    screened.sort(key=lambda x: -x[1].score)
    finalists, per_family = [], {}
    for scope, cand, streams in screened:
        family = (scope, cand.algorithm, cand.params.get("alignment"),
                  cand.params.get("counts_rejected", False))
        if len(df) <= SCREEN_EVENTS or per_family.get(family, 0) < FINALISTS_PER_FAMILY:
            per_family[family] = per_family.get(family, 0) + 1
            finalists.append((scope, cand, streams))
    for scope, cand, streams in finalists:
        if len(df) > SCREEN_EVENTS:
            cand.agreement, cand.weighted = agreement(cand.algorithm, cand.params, streams)
            cand.score = cand.weighted - _penalty(cand.algorithm, cand.params, stated_window)
        tried.append((scope, cand))
    final_ids = {id(c) for _, c, _ in finalists}
    tried += [(scope, _screened_out(c)) for scope, c, _ in screened if id(c) not in final_ids]
    if not tried and not (df["status"] != REJECTED).any():
        return QuotaFit("unknown", "unknown", decisions=len(df), keys=keys,
                        note="every request was refused: no accepted request to derive a "
                             "quota from")
    key_streams = streams_for(df, "per_key")
    reopened = any(len(_runs(st)[2]) > 1 for st in key_streams)
    if not reopened and not observed_shape(key_streams)["reopen_span"]:
        first = max(observed_shape(key_streams)["first"] or [0])
        return QuotaFit("unknown", "unknown", limit=first or None, burst_observed=first,
                        decisions=len(df), keys=keys, rate_reached_per_s=reached,
                        candidates=[dict(c.as_dict(), scope=sc) for sc, c in tried],
                        note=f"{first} requests were admitted, then the quota did not reopen "
                             f"during the run ({span:.1f} s): its window is longer; run for "
                             "longer than one window, or use the probe")
    tried.sort(key=lambda sc: -sc[1].score)
    scope, best = tried[0]
    aligned = _alignment_twins(best, [c for sc, c in tried if sc == scope])
    if aligned:
        # A tie between alignments goes to the clock, not to whichever is listed first. A
        # clock-aligned window is the more specific claim: it puts every window at a multiple
        # of the window since the epoch, whatever the traffic does, and any window that
        # began elsewhere would have contradicted it. An anchored window fits a run starting
        # at any phase, so its fitting this run is no evidence for it; windows that all began
        # on the clock's multiples are what a clock-aligned limiter always does and an
        # anchored one only when its first request happens to land on a boundary. The note
        # names the other (below); only a candidate as good after penalties (the same
        # roundness) takes over, so the window's tie-breaks stand.
        epoch = next((c for c in [best] + aligned if c.params.get("alignment") == "epoch"
                      and best.score - c.score < TIE), best)
        if epoch is not best:
            tried.remove((scope, epoch))
            tried.insert(0, (scope, epoch))
            best = epoch
            aligned = _alignment_twins(best, [c for sc, c in tried if sc == scope])
    rival = next((c for sc, c in tried if sc != scope), None)
    scope_tie = rival is not None and best.weighted - rival.weighted < TIE
    streams = streams_for(df, scope)
    burst_seen = max(observed_shape(streams)["first"] or [0])
    fit = QuotaFit(
        algorithm=best.algorithm if best.weighted >= MIN_AGREEMENT else "unknown",
        scope=scope if keys >= 2 and not scope_tie else "unknown",
        agreement=best.agreement, decisions=int(sum(s.scored.sum() for s in streams)),
        keys=keys, rate_reached_per_s=reached, burst_observed=burst_seen,
        candidates=[dict(c.as_dict(), scope=sc) for sc, c in tried])
    for name, value in quota_fields(best.algorithm, best.params).items():
        setattr(fit, name, value)
    if fit.algorithm == "unknown":
        fit.note = (f"no model reproduces more than {best.weighted:.1%} of the decisions "
                    "(accepts weighted up against refusals); "
                    "the best is listed first among the candidates")
    else:
        notes = []
        if not reopened:
            notes.append("the quota did not reopen during the run: its window comes from "
                         "Retry-After alone")
        twin = next((c for sc, c in tried if c.algorithm != best.algorithm
                     and not c.params.get("screened_only")
                     and best.weighted - c.weighted < TIE), None)
        if twin is not None:
            notes.append(f"a {best.algorithm.replace('_', ' ')} of {_short(best)} and a "
                         f"{twin.algorithm.replace('_', ' ')} of {_short(twin)} explain the "
                         "run equally (a tight loop can meet them at the same moments): the "
                         "probe, which idles, bursts and splits a window, tells them apart")
        if aligned:
            other = aligned[0]
            where = {"epoch": "aligned to the clock", "first_request":
                     "anchored at the first request"}
            clock = best if best.params["alignment"] == "epoch" else other
            why = "the clock-aligned one is reported, as the more specific claim" \
                if clock is best else "the anchored one is reported, its window the rounder"
            notes.append(f"a fixed window of {_short(best)} {where[best.params['alignment']]} "
                         f"and one of {_short(other)} {where[other.params['alignment']]} "
                         f"explain the run equally (its windows began on multiples of "
                         f"{clock.params['window_s']:g} s since the epoch); {why}: start keys at "
                         "different clock phases, or idle longer than a window and then "
                         "send mid-window (a clock-aligned window reopens at the next "
                         "multiple of the window, an anchored one a whole window after "
                         "that request), to tell them apart")
        if keys < 2:
            notes.append("one key in the run: per-key and global quotas look the same")
        elif scope_tie:
            notes.append(f"the keys were used alike, so {_short(best)} {scope} and "
                         f"{_short(rival)} {'global' if scope == 'per_key' else 'per key'} "
                         "explain the run equally: load the keys unevenly (for example 3 "
                         "users on 2 keys) to tell them apart")
        fit.note = "; ".join(notes)
    return fit


def _alignment_twins(best: Candidate, others: list[Candidate]) -> list[Candidate]:
    """Fixed windows that differ from `best` only in alignment (the same limit, the same
    window within SAME_WINDOW_REL) and explain the run equally (weighted within TIE), best
    first: a run whose windows began on the clock's multiples cannot tell an anchored window
    from a clock-aligned one."""
    if best.algorithm != "fixed_window":
        return []
    p = best.params
    return [c for c in others if c is not best and c.algorithm == "fixed_window"
            and not c.params.get("screened_only")
            and c.params.get("alignment") != p.get("alignment")
            and c.params["limit"] == p["limit"]
            and abs(c.params["window_s"] - p["window_s"]) <= SAME_WINDOW_REL * p["window_s"]
            and best.weighted - c.weighted < TIE]


def quota_fields(algorithm: str, p: dict) -> dict:
    """QuotaFit's quota fields for one model's parameters (a candidate's dict will do)."""
    out = {"counts_rejected": bool(p.get("counts_rejected", False))}
    if algorithm in ("fixed_window", "sliding_log", "sliding_counter"):
        out.update(limit=p["limit"], window_s=p["window_s"], rate_per_s=p["limit"] / p["window_s"],
                   burst=p["limit"], alignment=p.get("alignment"))
    elif algorithm == "token_bucket":
        out.update(limit=p["burst"], burst=p["burst"], rate_per_s=p["rate_per_s"])
    else:
        out.update(limit=p["limit"])
    return out


def _short(c: Candidate) -> str:
    p = c.params
    if "window_s" in p:
        return f"{p['limit']} per {p['window_s']:g} s"
    if "rate_per_s" in p:
        return f"{p['rate_per_s']:g}/s burst {p['burst']}"
    return f"{p['limit']} in flight"


def describe(fit: QuotaFit) -> str:
    """The quota in words, for the report's verdict."""
    scope = {"per_key": " per key", "global": " shared by all keys", "unknown": ""}[fit.scope]
    if fit.algorithm == "none_observed":
        reached = f" at up to {fit.rate_reached_per_s:.2f} requests/s" \
            if fit.rate_reached_per_s else ""
        return f"no rate limit observed{reached}"
    if fit.algorithm == "unknown":
        return "quota not identified" + (f" ({fit.note})" if fit.note else "")
    also = " (rejected requests count too)" if fit.counts_rejected else ""
    if fit.algorithm == "token_bucket":
        return (f"token bucket: {fit.rate_per_s:g} requests/s sustained, bursts of "
                f"{fit.burst}{scope}{also}")
    if fit.algorithm == "concurrency":
        return f"at most {fit.limit} requests in flight{scope}"
    name = {"fixed_window": "fixed window", "sliding_log": "sliding log",
            "sliding_counter": "sliding window counter"}[fit.algorithm]
    where = {"epoch": ", aligned to the clock", "first_request":
             ", anchored at the first request"}.get(fit.alignment or "", "")
    return f"{fit.limit} requests per {fit.window_s:g} s{scope}, {name}{where}{also}"


def sliding_counter_wait(prev, cur, elapsed, window: float, limit: int):
    """Seconds until a sliding window counter admits again (prev * (W - e) / W + cur < limit),
    with no admissions in between; works on numbers and on numpy arrays alike."""
    prev, cur = np.asarray(prev, float), np.asarray(cur, float)
    to_end = window - np.asarray(elapsed, float)
    # within this window, as the previous window's weight decays
    within = np.where(prev > 0, to_end - (limit - cur) * window / np.maximum(prev, 1), 0.0)
    # or in the next one, where this window's count becomes the decaying one
    later = to_end + np.maximum(0.0, window * (1 - limit / np.maximum(cur, 1)))
    return np.where(cur < limit, np.maximum(within, 0.0), later)


def fitted_window_starts(fit: QuotaFit, events: pd.DataFrame, most: int = 200) -> np.ndarray:
    """Where the fitted fixed windows begin (for the first key, or for everyone when the quota
    is global): what the report draws on the accepts."""
    if fit.algorithm != "fixed_window" or not fit.window_s:
        return np.array([])
    df = quota_events(events)
    if df.empty:
        return np.array([])
    w = fit.window_s
    if fit.alignment == "epoch":
        first, last = df["decided"].min(), df["decided"].max()
        return np.arange(math.ceil(first / w) * w, last, w)[:most]
    if fit.scope != "global":
        df = df[df["key_id"] == df["key_id"].iloc[0]]
    s = make_stream(df)
    return anchored_window_starts(s, s.t, fit.limit, w)[0][:most]


def model_reopenings(fit: QuotaFit, events: pd.DataFrame, most: int = 20_000) -> pd.DataFrame:
    """For each 429 (the first `most`): when the fitted model says the quota reopens, from the
    admissions observed before it. Columns: key_id, decided, reopens (NaN where the model
    cannot say, as for a concurrency limit)."""
    if fit.algorithm not in ("fixed_window", "sliding_log", "sliding_counter", "token_bucket"):
        return pd.DataFrame(columns=["key_id", "decided", "reopens"])
    df = quota_events(events)
    groups = [("*", df)] if fit.scope == "global" else list(
        df.groupby("key_id", observed=True, sort=True))
    out = []
    for key, g in groups:
        s = make_stream(g)
        admitted = s.t[s.passed]
        before = _before(s.passed)
        rej = np.flatnonzero(s.rejected)[:most]
        t = s.t[rej]
        k = before[rej]  # admissions before each 429
        w, lim = fit.window_s, fit.limit
        if fit.algorithm == "fixed_window" and fit.alignment == "epoch":
            reopen = (np.floor(t / w) + 1) * w
        elif fit.algorithm == "fixed_window":
            starts_arr = anchored_window_starts(s, s.t, lim, w)[0]
            if not len(starts_arr):
                starts_arr = np.array([np.nan])
            idx = np.maximum(np.searchsorted(starts_arr, t, "right") - 1, 0)
            reopen = starts_arr[idx] + w
        elif fit.algorithm == "sliding_log":
            # the limit-th newest admission before the 429 expires first
            pos = k - lim
            reopen = np.where(pos >= 0, admitted[np.clip(pos, 0, None)] + w, t)
        elif fit.algorithm == "token_bucket":
            interval = 1 / fit.rate_per_s
            tol = (fit.burst - 1) * interval
            floor = None if fit.counts_rejected else refusal_floor(admitted, s.t[s.rejected], tol)
            tat = gcra_tat(admitted, np.ones(len(admitted), bool), interval, tol, s.slack,
                           floor) if len(admitted) else np.array([np.nan])
            reopen = tat[np.clip(k - 1, 0, None)] - tol
        else:
            start = np.floor(t / w) * w
            cur = k - np.searchsorted(admitted, start, "left")
            prev = np.searchsorted(admitted, start, "left") - np.searchsorted(
                admitted, start - w, "left")
            reopen = t + sliding_counter_wait(prev, cur, t - start, w, lim)
        out.append(pd.DataFrame({"key_id": str(key), "decided": t,
                                 "reopens": np.maximum(reopen, t)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["key_id", "decided", "reopens"])
