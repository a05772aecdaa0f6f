"""The adaptive probe's steps as the report shows them (issue 13, item 5; the report part):
each step of its log (probe.json) with what its own events say was sent and came back, on
one clock, the probe's start. Pure: the log is read by store/, the events by load_run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.events import CHAT

# A step's log times are the probe's clock, its events' the recorder's: the same host, but
# a request sent as a step ends can be stamped a little after the step's end.
SPAN_TOL_S = 0.05


def _counts(chat: pd.DataFrame, name: str, start: float, end: float) -> dict:
    sent = chat["sent_ts"].to_numpy(float)
    mine = ((chat["phase"] == name).to_numpy(bool) & (sent >= start - SPAN_TOL_S)
            & (sent <= end + SPAN_TOL_S))
    status = chat["status"].to_numpy()[mine]
    ok = int(((status >= 200) & (status < 300)).sum())
    refused = int((status == 429).sum())
    return {"sent": int(mine.sum()), "ok": ok, "rate_limited": refused,
            "other": int(mine.sum()) - ok - refused}


def probe_section(log: dict | None, events: pd.DataFrame) -> dict | None:
    """summary.json's `probe`: None without a log (a missing or unusable probe.json)."""
    if log is None:
        return None
    chat = events[(events["endpoint"] == CHAT).to_numpy(bool)] if len(events) else events
    steps = log["steps"]
    t0 = log.get("started_ts")
    if t0 is None:
        t0 = min([s["started_ts"] for s in steps] or [0.0])
    out = []
    for s in steps:
        counts = (_counts(chat, s["name"], s["started_ts"], s["ended_ts"]) if len(chat)
                  else {"sent": 0})
        out.append({"index": s.get("index", len(out)), "name": s["name"],
                    "start_s": round(s["started_ts"] - t0, 3),
                    "end_s": round(s["ended_ts"] - t0, 3), "requests": s.get("requests"),
                    "tried": s["tried"], "learned": s["learned"],
                    "ruled_out": list(s.get("ruled_out", [])), "open": list(s.get("open", []))}
                   | counts)
    return {"settled": log["settled"], "settled_after_s": log.get("settled_after_s"),
            "budget_s": log.get("budget_s"), "request_cap": log.get("request_cap"),
            "verdict": log.get("verdict", ""), "hypotheses": list(log.get("hypotheses", [])),
            "open": list(log.get("open", [])), "steps": out, "started_ts": t0}


def step_spans(probe: dict) -> list[tuple[str, float, float]]:
    """(label, start, end) in seconds since the probe started, for the figure."""
    return [(f"{s['index']} {s['name']}", float(s["start_s"]), float(s["end_s"]))
            for s in probe["steps"]]


def probe_times(events: pd.DataFrame, probe: dict) -> np.ndarray:
    """The chat attempts' send times on the probe's clock (seconds since it started)."""
    chat = events[(events["endpoint"] == CHAT).to_numpy(bool)]
    return chat["sent_ts"].to_numpy(float) - probe["started_ts"]
