"""Time to first token and between tokens in the summary, from independently built rows."""

import math

import numpy as np
import pandas as pd

from analysis.streaming import streaming_latency

CHAT = "/v1/chat/completions"


def frame(rows):
    base = {"endpoint": CHAT, "outcome": "ok", "latency_ms": 100.0, "first_token_ms": math.nan,
            "tbt_mean_ms": math.nan, "tbt_max_ms": math.nan}
    return pd.DataFrame([base | r for r in rows])


def test_nothing_streamed_gives_nothing():
    assert streaming_latency(frame([{}, {}])) == {}
    assert streaming_latency(frame([])) == {}


def test_percentiles_over_streamed_successes_only():
    ttft = [10.0, 20.0, 30.0, 40.0, 50.0]
    rows = [{"first_token_ms": t, "tbt_mean_ms": 5.0 + i, "tbt_max_ms": 9.0 + i,
             "latency_ms": 200.0} for i, t in enumerate(ttft)]
    rows += [{"first_token_ms": 999.0, "outcome": "rate_limited"},       # not a success
             {"first_token_ms": 999.0, "endpoint": "/v1/models"},         # not a completion
             {}]                                                         # not streamed
    got = streaming_latency(frame(rows))
    assert got["streamed"] == 5
    assert got["ttft_ms"]["p50"] == 30.0 and got["ttft_ms"]["max"] == 50.0
    assert got["ttft_ms"]["p90"] == np.percentile(ttft, 90)
    assert got["tbt_ms"]["p50"] == 7.0 and got["tbt_max_ms"]["max"] == 13.0
    assert got["ttft_share_of_latency_p50"] == 0.15
