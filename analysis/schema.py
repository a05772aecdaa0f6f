"""The event record: one row per HTTP attempt. The recorder writes it; the loader checks it.

Standard library only, so that locustfiles can import it without pandas. Units are in the
column names; timestamps are epoch seconds. An API key is never stored, only `key_id`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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

# Raw header text kept in a row is cut to this many characters.
RAW_MAX = 200


# Where the harness sends load and with which keys: read from the environment by the load
# scenarios, the doctor and tune's live check alike.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # the reference gateway on loopback


class KeyListError(ValueError):
    """PINAIVU_API_KEYS holds an empty entry. The message names its position, never a key."""


def split_keys(raw: str, name: str = "PINAIVU_API_KEYS") -> list[str]:
    """The keys of a key list: entries separated by commas, and within an entry by whitespace.

    An empty entry ("a,,b", a leading or trailing comma) is refused, not skipped: it is most
    likely a key that went missing while pasting, and skipping it would silently run with one
    key fewer (and a different round robin) than the user meant. A blank list is no keys."""
    if not raw.strip():
        return []
    entries = raw.split(",")
    keys: list[str] = []
    for position, entry in enumerate(entries, 1):
        words = entry.split()
        if not words:
            raise KeyListError(
                f"{name}: entry {position} of {len(entries)} (comma separated) is empty; "
                "remove the extra comma or put the missing key there")
        keys += words
    return keys


def env_keys(env) -> list[str]:
    """The keys the load uses: PINAIVU_API_KEYS, else PINAIVU_API_KEY. KeyListError when the
    list holds an empty entry."""
    if (env.get("PINAIVU_API_KEYS", "") or "").strip():
        return split_keys(env["PINAIVU_API_KEYS"])
    return split_keys(env.get("PINAIVU_API_KEY", "") or "", "PINAIVU_API_KEY")


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


REPORTS_DIR_ENV = "PINAIVU_REPORTS_DIR"


def reports_dir(default: str | os.PathLike = "reports", env=None) -> Path:
    """Where run folders go when none is named: $PINAIVU_REPORTS_DIR, else `default`. One
    setting for the runner, the locustfiles, the analysis and the demo, so that a test (or a
    user keeping runs elsewhere) can move them all without touching the checkout."""
    value = (os.environ if env is None else env).get(REPORTS_DIR_ENV, "")
    return Path(value) if value.strip() else Path(default)
