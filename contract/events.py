"""The event record: one row per HTTP attempt. The recorder writes it; the loader checks it.

Standard library only, so that locustfiles can import it without pandas. Units are in the
column names; timestamps are epoch seconds. An API key is never stored, only `key_id`.
"""

from __future__ import annotations

import hashlib

SCHEMA_VERSION = 2
# Columns each version added, so that older files still read (the added columns empty).
ADDED_IN = {2: ("first_token_ms", "tbt_mean_ms", "tbt_max_ms", "chunks")}

# (name, kind): kind is one of str, int, float. Order is the file's column order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "str"),
    ("worker", "str"),
    ("user", "int"),
    ("scenario", "str"),
    ("phase", "str"),
    ("logical_id", "str"),
    ("attempt", "int"),
    ("key_id", "str"),
    ("model", "str"),
    ("endpoint", "str"),
    ("intended_ts", "float"),  # when the schedule wanted it sent
    ("sent_ts", "float"),  # when it was sent
    ("latency_ms", "float"),  # sent_ts to the whole response (or to the error)
    ("ttfb_ms", "float"),  # sent_ts to the response headers
    ("status", "int"),  # 0: no HTTP response arrived
    ("outcome", "str"),
    ("retry_after_s", "float"),  # NaN when absent or malformed
    ("retry_after_raw", "str"),
    ("ratelimit_limit", "float"),
    ("ratelimit_remaining", "float"),
    ("ratelimit_reset_s", "float"),  # seconds from the response until the reset
    ("request_id", "str"),
    ("response_bytes", "int"),
    ("error", "str"),
    # A streamed 200 (SSE): the events that carry a token (a delta beyond the role). NaN, or
    # 0 chunks, when the attempt was not streamed or no token came.
    ("first_token_ms", "float"),  # sent_ts to the first token's arrival
    ("tbt_mean_ms", "float"),  # mean time between tokens (two tokens or more)
    ("tbt_max_ms", "float"),  # longest time between tokens
    ("chunks", "int"),  # token events received
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)

OUTCOMES = ("ok", "rate_limited", "unavailable", "unauthorized", "forbidden", "not_found",
            "invalid", "server_error", "timeout", "transport_error", "bad_response")

# An events file's name ends so: an Arrow IPC stream (contract.events_file).
SUFFIX = ".arrows"

# The endpoint every quota verdict is about: the one that spends the quota.
CHAT = "/v1/chat/completions"

# Raw header text kept in a row is cut to this many characters.
RAW_MAX = 200


def key_fingerprint(key: str) -> str:
    """The first 8 hex digits of the key's SHA-256: enough to tell keys apart, useless to use."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def outcome_for_status(status: int, has_request_id: bool = True) -> str:
    """The outcome of an attempt that got an HTTP response (status > 0)."""
    if 200 <= status < 300:
        return "ok" if has_request_id else "bad_response"
    return {401: "unauthorized", 403: "forbidden", 404: "not_found", 422: "invalid",
            400: "invalid", 429: "rate_limited", 503: "unavailable"}.get(
        status, "server_error" if status >= 500 else "invalid")
