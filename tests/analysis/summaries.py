"""A small summary.json of the current version, built by hand, for the tests of what reads
summaries (the model, compare, the runs index, render)."""

from __future__ import annotations

import copy

from analysis.summary import SUMMARY_VERSION

_LEVEL = {"level": "0.0-10.0 s", "start_ts": 1000.0, "start_s": 0.0, "end_s": 10.0,
          "duration_s": 10.0, "attempts": 100, "ok": 20, "rate_limited": 80, "unavailable": 0,
          "offered_per_s": 10.0, "goodput_per_s": 2.0, "rate_limited_per_s": 8.0,
          "unavailable_per_s": 0.0, "other_errors_per_s": 0.0, "error_fraction": 0.8}
_PCT = {"p50": 100.5, "p90": 120.0, "p99": 130.25, "count": 20, "max": 131.0, "mean": 101.0}

SUMMARY = {
    "schema_version": SUMMARY_VERSION, "events_schema_version": 2, "run_id": "r1",
    "scenario": "tight_loop", "target": "http://127.0.0.1:8000/v1", "events": 100,
    "generated_at": "2026-12-01T10:00:00+00:00", "problems": [], "failures": [],
    "verdict": "20 requests per 10 s, fixed window; Retry-After honest.",
    "quota": {"algorithm": "fixed_window", "scope": "global", "limit": 20, "window_s": 10.0,
              "rate_per_s": 2.0, "burst": 20, "alignment": "epoch", "counts_rejected": False,
              "agreement": 1.0, "decisions": 100, "keys": 1, "rate_reached_per_s": 10.0,
              "burst_observed": 20, "candidates": [], "note": "",
              "description": "20 requests per 10 s, fixed window, aligned to the clock"},
    "retry_after": {"verdict": "honest", "rejections": 80, "with_header": 80, "evaluable": 80,
                    "too_early": 0, "over_1s_late": 0, "most_early_s": None,
                    "most_late_s": None, "error_s": {"count": 80, "p50": 0.1},
                    "error_vs_model_s": {}, "probes": {}, "note": "",
                    "headline": "Retry-After honest", "rule": "the rule"},
    "throughput": {"levels": [_LEVEL], "left_out": [], "by": "time", "offered_levels": 1,
                   "overall": _LEVEL | {"level": "whole run"}, "sustained_per_s": 2.0,
                   "quota_period_s": 10.0, "levels_shorter_than_period": False,
                   "saturation": None, "knee": None, "headline": "One offered level."},
    "unavailable": {"count": 0, "share": 0.0, "rate_per_s": 0.0, "latency_ms": {"count": 0},
                    "with_retry_after": 0},
    "latency": {"ok_from_intended_ms": _PCT, "ok_from_sent_ms": _PCT,
                "send_lateness_ms": _PCT, "by_outcome": {"ok": _PCT}, "spike": None},
    "keys": [{"key_id": "k1", "attempts": 100, "ok": 20, "rate_limited": 80, "unavailable": 0,
              "other_errors": 0, "goodput_per_s": 2.0, "median_retry_after_s": 4.0}],
    "backoff": {"recommended": None, "policies": [], "note": "not tuned yet"},
    "figures": [],
}


def summary(**changes) -> dict:
    """A fresh copy, with top-level keys replaced."""
    return copy.deepcopy(SUMMARY) | changes
