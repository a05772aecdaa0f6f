"""The report's policy table holds the recommended setting and the SDK default, whatever
their rank by goodput (issue 10, item 6)."""

from __future__ import annotations

import re

from analysis.pipeline import build_report
from analysis.store import load_run
from .test_report import write_events


def _outcome(label: str, kind: str, goodput: float, rejected: float) -> dict:
    return {"policy": label, "offered_per_s": 2.4, "logical": 1000, "successes": 900,
            "attempts": 1200, "rejected": int(rejected * 900), "unavailable": 0,
            "goodput_per_s": goodput, "success_ratio": 0.9, "attempts_per_success": 1.3,
            "rejected_per_success": rejected, "p50_s": 0.2, "p99_s": 4.0,
            "ideal_goodput_per_s": 2.0, "params": {"kind": kind}}


def _backoff() -> dict:
    # twenty settings with more goodput than the recommended one, all over the 429 limit:
    # sorted by goodput, the recommended and the SDK default come after the first twelve
    greedy = [_outcome(f"full_jitter base={i}s", "full_jitter", 2.0 - i / 1000, 3.0)
              for i in range(20)]
    best = _outcome("retry_after jitter=0.1s retries=5 pacer=1", "retry_after", 1.9, 0.01)
    sdk = _outcome("sdk_default", "sdk_default", 1.5, 1.8)
    return {"offered_per_s": 2.4, "deadline_s": 30.0, "logical_requests": 1000,
            "limits": {"max_429_per_success": 0.2, "max_p99_s": None}, "server": {},
            "ideal_goodput_per_s": 2.0, "recommended": best, "sdk_default": sdk,
            "policies": greedy + [best, sdk], "code": {}, "note": ""}


def _table_rows(html: str) -> list[str]:
    section = html[html.index('<section id="backoff">'):]
    table = re.search(r"<table>\s*<tr><th>policy</th>.*?</table>", section, re.S)
    assert table, "no policy table in the backoff section"
    return re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S)[1:]


def test_recommended_and_sdk_default_are_in_the_policy_table(tmp_path):
    rows = [dict(run_id="r", worker="w", endpoint="/v1/chat/completions",
                 sent_ts=1000.0 + i / 2, intended_ts=1000.0 + i / 2, latency_ms=5.0,
                 status=200, outcome="ok", key_id="k", phase="", attempt=1, user=0,
                 response_bytes=10) for i in range(40)]
    write_events(tmp_path / "run" / "events" / "w.arrows", rows)
    _, _, html = build_report(load_run(tmp_path / "run"), backoff=_backoff())
    table = _table_rows(html)
    text = [re.sub(r"<[^>]+>", " ", r) for r in table]
    best = [t for t in text if "retry_after jitter=0.1s retries=5 pacer=1" in t]
    assert len(best) == 1 and "recommended" in best[0]
    assert "1.9" in best[0] and "0.01" in best[0]
    # it comes first, marked, and the settings beyond the limit say so
    assert text.index(best[0]) == 0
    assert sum("sdk_default" in t for t in text) == 1
    over = [t for t in text if "full_jitter base=0s" in t]
    assert len(over) == 1 and re.search(r"\bno\b", over[0])
    assert re.search(r"\byes\b", best[0])
