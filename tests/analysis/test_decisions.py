"""A report computes the quota decisions once (issue 11): one pass over the events for the
rows the fit, the Retry-After audit, the model's reopenings and the figures share, and one
stream per key (and one for everyone) however many stages read them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import analysis.decisions as decisions_module
from analysis.decisions import decide
from analysis.quota import fit_quota
from analysis.pipeline import build_report
from analysis.retry_after import audit_retry_after
from analysis.store import load_run
from .test_report import write_events

DATA = Path(__file__).parent / "data"


def test_a_report_builds_the_decisions_once(monkeypatch, tmp_path):
    # a first-request window (the figures draw its windows, the audit reads its reopenings)
    recorded = pd.read_parquet(DATA / "fixed-window-first-request-115ms-late.parquet")
    ok = recorded["status"] == 200
    rows = recorded.assign(run_id="r", worker="w", user=0, phase="", attempt=1,
                           intended_ts=recorded["sent_ts"],
                           outcome=ok.map({True: "ok", False: "rate_limited"}))
    write_events(tmp_path / "run" / "events" / "w.arrows", rows.to_dict("records"))
    run = load_run(tmp_path / "run")
    events = run.events
    calls = {"rows": 0, "streams": 0}
    quota_rows, make_stream = decisions_module.quota_rows, decisions_module.make_stream

    def counted_rows(ev):
        calls["rows"] += 1
        return quota_rows(ev)

    def counted_stream(df):
        calls["streams"] += 1
        return make_stream(df)

    monkeypatch.setattr(decisions_module, "quota_rows", counted_rows)
    monkeypatch.setattr(decisions_module, "make_stream", counted_stream)
    summary, figures, _ = build_report(run)
    assert summary["quota"]["algorithm"] == "fixed_window"
    assert summary["retry_after"]["error_vs_model_s"], "the audit read the model's reopenings"
    assert "accepts" in figures
    keys = events["key_id"].nunique()
    assert keys >= 2
    assert calls["rows"] == 1
    assert calls["streams"] == keys + 1  # one per key, one for everyone


def test_the_stages_take_decisions_not_events():
    events = pd.read_parquet(DATA / "fixed-window-late-first-request.parquet")
    with pytest.raises(TypeError, match="decide"):
        fit_quota(events)
    with pytest.raises(TypeError, match="decide"):
        audit_retry_after(events)
    d = decide(events)
    assert d.streams("per_key") is not d.streams("per_key")  # lists, but the same streams
    assert all(a is b for a, b in zip(d.streams("per_key"), d.streams("per_key")))
