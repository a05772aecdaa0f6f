"""Time to first token and time between tokens, for a run that streamed (SSE).

Pure: events in, a dict for summary.json's `latency` out ({} when nothing streamed). Counted
over chat completions that succeeded and whose first token arrived; times are from the send
(`sent_ts`), as the recorder measures them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# the latency section's own percentiles, so both read alike on the page
from .load_levels import percentiles

CHAT = "/v1/chat/completions"


def streaming_latency(events: pd.DataFrame) -> dict:
    """{"streamed": n, "ttft_ms": {...}, "tbt_ms": {...}, "tbt_max_ms": {...},
    "ttft_share_of_latency_p50": x} over the streamed successes; {} when there are none.

    `tbt_ms` is the distribution of each attempt's mean time between tokens, `tbt_max_ms` of
    each attempt's longest gap; both need two tokens or more in an attempt."""
    if "first_token_ms" not in events.columns or len(events) == 0:
        return {}
    streamed = events[(events["endpoint"] == CHAT) & (events["outcome"] == "ok")
                      & np.isfinite(events["first_token_ms"].to_numpy(float))]
    if len(streamed) == 0:
        return {}
    ttft = streamed["first_token_ms"].to_numpy(float)
    latency = streamed["latency_ms"].to_numpy(float)
    share = ttft / latency
    share = share[np.isfinite(share) & (latency > 0)]
    return {
        "streamed": int(len(streamed)),
        "ttft_ms": percentiles(ttft),
        "tbt_ms": percentiles(streamed["tbt_mean_ms"].to_numpy(float)),
        "tbt_max_ms": percentiles(streamed["tbt_max_ms"].to_numpy(float)),
        "ttft_share_of_latency_p50": round(float(np.median(share)), 3) if len(share) else None,
    }
