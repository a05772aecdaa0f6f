"""A small run folder of the adaptive probe, made here: its events and its probe.json (the
layout of issue 13's brief), for the report's tests. The limiter it pretends to face admits
3 per 1 s and, once exceeded, locks a key out for 4 s while every 429 says "wait 1 s"; the
rows are made by hand, so each count a test expects is counted from them, not assumed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from contract.events import COLUMN_NAMES
from contract.events_file import ARROW_SCHEMA

CHAT = "/v1/chat/completions"
T0 = 1000.0  # the probe's start
KEY = "k1"
LAT_S = 0.002  # a 429's send to its reply


def row(phase: str, sent: float, status: int, *, logical: str = "", attempt: int = 1,
        retry_after: float = float("nan"), reset: float = float("nan"),
        key: str = KEY) -> dict:
    return {"run_id": "probe-fixture", "worker": "w", "user": 1, "scenario": "probe",
            "phase": phase, "logical_id": logical or f"{phase}-{sent:.4f}", "attempt": attempt,
            "key_id": key, "model": "m", "endpoint": CHAT, "intended_ts": sent,
            "sent_ts": sent, "latency_ms": LAT_S * 1000 if status == 429 else 30.0,
            "ttfb_ms": LAT_S * 1000 if status == 429 else 30.0, "status": status,
            "outcome": {200: "ok", 429: "rate_limited", 503: "unavailable"}[status],
            "retry_after_s": retry_after, "retry_after_raw": "", "ratelimit_limit": float("nan"),
            "ratelimit_remaining": float("nan"), "ratelimit_reset_s": reset, "request_id": "r",
            "response_bytes": 10, "error": "", "first_token_ms": float("nan"),
            "tbt_mean_ms": float("nan"), "tbt_max_ms": float("nan"), "chunks": 0,
            "ratelimit_window_s": float("nan"), "ratelimit_family": "", "ratelimit_raw": ""}


def polite_pair(logical: str, first_sent: float, wait_s: float, status: int, *,
                stated: float = 1.0, on_reset: bool = False) -> list[dict]:
    """A polite 429 stating `stated` (as Retry-After, or as a declared reset), and its retry
    sent `wait_s` after the 429's reply."""
    first = row("polite", first_sent, 429, logical=logical,
                retry_after=float("nan") if on_reset else stated,
                reset=stated if on_reset else float("nan"))
    retry = row("polite", first_sent + LAT_S + wait_s, status, logical=logical, attempt=2,
                retry_after=1.0 if status == 429 else float("nan"))
    return [first, retry]


def probe_rows() -> list[dict]:
    """idle_burst: 3 admitted, 2 refused. polite: four retries that waited as told (two let
    in, two refused by the lockout: one of those on a declared reset), one sent early.
    reopen_gap: one request after a 4.5 s rest, admitted."""
    rows = [row("idle_burst", T0 + 0.5 + i * 0.01, 200 if i < 3 else 429,
                retry_after=float("nan") if i < 3 else 1.0) for i in range(5)]
    rows += polite_pair("p1", T0 + 1.0, 1.0, 429)  # locked out: refused after waiting 1 s
    rows += polite_pair("p2", T0 + 2.5, 0.5, 429)  # sent early: not counted
    rows += polite_pair("p3", T0 + 3.5, 1.0, 429, on_reset=True)
    rows += polite_pair("p4", T0 + 6.0, 1.0, 200)  # the lockout has run out
    rows += polite_pair("p5", T0 + 8.0, 2.0, 200, stated=2.0)
    rows.append(row("reopen_gap", T0 + 15.5, 200))
    return rows


STEPS = [
    {"index": 0, "name": "idle_burst", "started_ts": T0, "ended_ts": T0 + 0.6, "requests": 5,
     "tried": "a burst after 0.5 s idle", "learned": "3 admitted back to back",
     "ruled_out": ["none", "concurrency"], "open": ["fixed_window/first_request", "lockout"]},
    {"index": 1, "name": "polite", "started_ts": T0 + 1.0, "ended_ts": T0 + 11.1,
     "requests": 10, "tried": "waited exactly what each 429 said",
     "learned": "waiting as told was refused twice", "ruled_out": ["token_bucket"],
     "open": ["lockout"]},
    {"index": 2, "name": "reopen_gap", "started_ts": T0 + 11.1, "ended_ts": T0 + 15.6,
     "requests": 1, "tried": "one request after a 4.5 s rest",
     "learned": "the key reopened within 4.5 s", "ruled_out": ["fixed_window/epoch"],
     "open": []},
]


def probe_log(**changes) -> dict:
    return {"schema_version": 1, "budget_s": 150.0, "request_cap": 2000, "started_ts": T0,
            "ended_ts": T0 + 15.6, "settled": True, "settled_after_s": 15.6,
            "verdict": "3 per 1 s, fixed window, with a 4 s lockout after a refusal",
            "hypotheses": ["fixed_window/first_request", "token_bucket", "lockout", "none"],
            "open": [], "steps": STEPS} | changes


def write_events(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMN_NAMES} for r in rows],
                                 schema=ARROW_SCHEMA)
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, ARROW_SCHEMA) as w:
        w.write_table(table)


def make_probe_run(folder: Path, rows: list[dict] | None = None, log: dict | str | None = None,
                   scenario: str = "probe") -> Path:
    """A run folder: events, run.json and probe.json (`log`: a dict written as JSON, text
    written as it is, None for probe_log())."""
    folder.mkdir(parents=True, exist_ok=True)
    write_events(folder / "events" / "w.arrows", probe_rows() if rows is None else rows)
    (folder / "run.json").write_text(json.dumps({
        "schema_version": 3, "run_id": folder.name, "scenario": scenario, "complete": True,
        "target": "http://127.0.0.1:1/v1", "key_ids": [KEY]}))
    if log is not False:
        text = log if isinstance(log, str) else json.dumps(probe_log() if log is None else log)
        (folder / "probe.json").write_text(text)
    return folder
