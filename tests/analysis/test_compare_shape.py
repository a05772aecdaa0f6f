"""The compare page says how long each run lasted and with how many users, and warns when
they differ: a 30 s run beside a 12 s one looked like a goodput difference (issue 10)."""

from __future__ import annotations

import re

from analysis.pages.compare import Side, comparison, render_compare


def _summary(goodput: float) -> dict:
    level = {"level": "0", "start_ts": 1000.0, "duration_s": 10.0, "attempts": 100,
             "offered_per_s": 10.0, "goodput_per_s": goodput, "rate_limited_per_s": 1.0,
             "unavailable_per_s": 0.0, "error_fraction": 0.1}
    return {"schema_version": 1, "verdict": "v", "scenario": "tight_loop", "target": "t",
            "events": 100, "problems": [], "quota": {}, "retry_after": {},
            "throughput": {"levels": [level]}, "latency": {}, "unavailable": {}}


def _manifest(start: str, end: str, users: int, keys: int = 3, **options) -> dict:
    return {"scenario": options.pop("scenario", "tight_loop"), "start": start, "end": end,
            "key_ids": [f"k{i}" for i in range(keys)],
            "options": {"num_users": users, **options}}


def _rows(html: str) -> dict[str, str]:
    out = {}
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", html, re.S):
        field = re.search(r'data-field="([^"]+)"', attrs)
        if field:
            out[field.group(1)] = (attrs, re.sub(r"<[^>]+>", "|", body))
    return out


def test_duration_and_users_shown_and_flagged_when_they_differ():
    a = Side("a", _summary(2.0), _manifest("2026-01-01T00:00:00+00:00",
                                           "2026-01-01T00:00:30.4+00:00", 4))
    b = Side("b", _summary(1.0), _manifest("2026-01-01T01:00:00+00:00",
                                           "2026-01-01T01:00:12.2+00:00", 2))
    html = render_compare(a, b, {}, "now")
    rows = _rows(html)
    attrs, text = rows["duration_s"]
    assert "30.4 s" in text and "12.2 s" in text and 'class="differs"' in attrs
    assert "planned" not in text  # run.json gave no run time: none is made up
    attrs, text = rows["users"]
    assert "|4|" in text and "|2|" in text and 'class="differs"' in attrs
    attrs, _ = rows["keys"]
    assert 'class="differs"' not in attrs
    warning = re.search(r'<p class="warning" id="unlike-runs">(.*?)</p>', html, re.S)
    assert warning, "no warning that the runs are not like for like"
    assert "30.4 s against 12.2 s" in warning.group(1) and "4 against 2" in warning.group(1)


def test_alike_runs_carry_no_warning_and_spikes_show_their_users():
    spike = dict(scenario="spike", baseline_users=2, spike_users=20)
    a = Side("a", _summary(2.0), _manifest("2026-01-01T00:00:00+00:00",
                                           "2026-01-01T00:00:45.3+00:00", 1, **spike))
    b = Side("b", _summary(1.0), _manifest("2026-01-01T01:00:00+00:00",
                                           "2026-01-01T01:00:45.9+00:00", 1, **spike))
    c = comparison(a, b)
    assert c["unlike"] is None, c["unlike"]
    rows = {r["key"]: r for r in c["shape"]}
    assert rows["users"]["a"] == "2 → 20 → 2 (spike)" and not rows["users"]["differs"]
    assert not rows["duration_s"]["differs"]  # 45.3 s and 45.9 s: within a second
    assert 'id="unlike-runs"' not in render_compare(a, b, {}, "now")


def test_planned_run_times_that_differ_are_flagged_even_if_the_runs_lasted_alike():
    a = Side("a", _summary(2.0), _manifest("2026-01-01T00:00:00+00:00",
                                           "2026-01-01T00:00:30.5+00:00", 4, run_time=30))
    b = Side("b", _summary(2.0), _manifest("2026-01-01T01:00:00+00:00",
                                           "2026-01-01T01:00:30.2+00:00", 4, run_time=60))
    rows = {r["key"]: r for r in comparison(a, b)["shape"]}
    assert rows["duration_s"]["a"] == "30.5 s (30 s planned)"
    assert rows["duration_s"]["b"] == "30.2 s (60 s planned)"
    assert rows["duration_s"]["differs"]
