"""One quota stream's decisions (a key's, or everyone's for a global quota), as the replays
read them, and the teacher-forced history arithmetic every family shares.

A replay answers, for every event, "would it be admitted at time t[i], given the admissions
that really came before it", where the history's times are `h` (the same events' decision
times, read early or late). Counts of earlier admissions are by event order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REJECTED = 429
# Entries kept per stream: the fit replays the candidates of one family and window together,
# so a few readings' worth is all that is ever reused.
MEMO_SIZE = 32


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
    # when the reply's first byte came (sent + time to first byte): how long an admitted
    # request was held before its answer (analysis/quota/shaping.py); None in bare test streams
    first_byte: np.ndarray | None = None
    # admissions held before their answer, when the run shows shaping (shaping.mark_held):
    # a family that answers at once cannot reproduce them
    held: np.ndarray | None = None
    # what replays of many candidates share (see remembered); never part of a comparison
    memo: dict = field(default_factory=dict, repr=False, compare=False)


# Requests sent within this of each other, each before any of them was answered, went
# together: the server's order among them is not known (see admissions_first).
TOGETHER_S = 0.002


def admissions_first(t: np.ndarray, end: np.ndarray, admitted: np.ndarray) -> np.ndarray:
    """The order to read sorted decisions in: as given, except that among requests sent
    together (each within TOGETHER_S of the one before, all sent before the first of them
    was answered) the admitted ones come first, in the order they were answered.

    A burst sent at once reaches the server in an order its send times do not keep, and a
    refusal answered fast can read first. Every family here admits the first arrivals of a
    burst and refuses the rest, so the server admitted the burst's admissions first: read in
    send order, a bucket that counts refusals looked full after its first admission (a probe
    burst of 8 into a bucket of 3 read A R R R A A R R, which the server decided A A A R R R
    R R, as the growing waits it stated show). Among the admissions, the one answered first
    was served first: a queue that holds a burst releases it in the server's order, which
    the answers keep (a burst of 16 into a shaped bucket read holds of 0, 0.5, 1, 2, 1.5 and
    2.5 s in send order)."""
    n = len(t)
    if n < 2:
        return np.arange(n)
    group = np.cumsum(np.r_[True, np.diff(t) > TOGETHER_S])
    # a request sent once an earlier one of its group was answered begins a group of its
    # own (a burst's last sends can follow its first fast refusal by a fraction of a ms)
    span = float(max(np.max(end), np.max(t)) - np.min(t)) + 1.0
    shifted = np.asarray(end, float) - np.min(t) - group * span  # later groups lower
    answered = np.r_[np.inf, (np.minimum.accumulate(shifted) + group * span)[:-1]]
    answered[np.r_[True, group[1:] != group[:-1]]] = np.inf  # nothing before a group's first
    group = np.cumsum(np.r_[True, (np.diff(t) > TOGETHER_S)
                            | (t[1:] - np.min(t) >= answered[1:])])
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, n])
    held = np.add.reduceat(admitted.astype(int), starts)
    # only a group with an admission beside a refusal, or two admissions, can read otherwise
    together = (sizes > 1) & (held >= 1) & ((held < sizes) | (held >= 2))
    if not together.any():
        return np.arange(n)
    mine = together[group - 1]
    rank = np.where(mine, ~admitted, False).astype(int)
    # admissions of a group sent together by their answer, the rest as they were
    within = np.where(mine & admitted, end, np.arange(n, dtype=float))
    return np.lexsort((np.arange(n), within, rank, group))


def make_stream(df: pd.DataFrame) -> Stream:
    """A stream from decision rows (analysis.decisions: `decided`, `decided_late`, ...),
    read admissions first among requests sent together (admissions_first)."""
    t = df["decided"].to_numpy(dtype=float)
    order = admissions_first(
        t, (df["sent_ts"] + df["latency_ms"].fillna(0) / 1000).to_numpy(float),
        df["status"].to_numpy() != REJECTED)
    if (order != np.arange(len(order))).any():
        df = df.iloc[order]  # each event keeps its outcome and reply; the times stay sorted
    status = df["status"].to_numpy()
    ok = (status >= 200) & (status < 300)
    rejected = status == REJECTED
    late = np.maximum(t, df["decided_late"].to_numpy(dtype=float))
    slack = float(np.max(late - t)) if len(t) else 0.0
    latest = df["decided_latest"].to_numpy(float) if "decided_latest" in df else late
    return Stream(t=t, t_late=late, slack=max(slack, 0.001), passed=~rejected,
                  rejected=rejected,
                  scored=ok | rejected, ok=ok,
                  end=(df["sent_ts"] + df["latency_ms"].fillna(0) / 1000).to_numpy(float),
                  retry_after=np.where(rejected, df["retry_after_s"].to_numpy(float), np.nan),
                  t_latest=np.maximum(late, latest),
                  first_byte=(df["sent_ts"] + df["ttfb_ms"].fillna(df["latency_ms"]).fillna(0)
                              / 1000).to_numpy(float))


def before(mask: np.ndarray) -> np.ndarray:
    """How many True entries come strictly before each position."""
    c = np.cumsum(mask)
    return c - mask


def since(earlier: np.ndarray, history: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Earlier admissions (`earlier`, as `before` counts them) whose time in the sorted
    `history` is at or after `start`."""
    return np.maximum(0, earlier - np.searchsorted(history, start, "left"))


def runs(s: Stream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of consecutive passed decisions: (start times, end times, sizes)."""
    passed = s.passed[s.passed | s.rejected]
    t = s.t[s.passed | s.rejected]
    if not passed.any():
        return np.array([]), np.array([]), np.array([], int)
    edges = np.diff(np.r_[False, passed, False].astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return t[starts], t[stops - 1], stops - starts


def remembered(s: Stream, key: tuple, t: np.ndarray, h: np.ndarray, compute):
    """compute(), kept on the stream under `key` and the readings `t` and `h` when they are
    the stream's own (what the fit passes); anything else is computed afresh. `key` must
    name everything else the result depends on: a replay's part that every limit shares
    (how many admissions a window holds) is computed once for all of them."""
    readings = (_reading(s, t), _reading(s, h))
    if None in readings:
        return compute()
    k = key + readings
    if k not in s.memo:
        if len(s.memo) >= MEMO_SIZE:
            s.memo.clear()
        s.memo[k] = compute()
    return s.memo[k]


def passed_before(s: Stream) -> np.ndarray:
    """before(s.passed), kept on the stream: every replay asks for it."""
    return remembered(s, ("passed_before",), s.t, s.t, lambda: before(s.passed))


def _reading(s: Stream, x: np.ndarray) -> str | None:
    return "t" if x is s.t else "late" if x is s.t_late else None
