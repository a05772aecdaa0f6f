"""The event record: one row per HTTP attempt. The recorder writes it; the loader checks it.

Standard library only, so that locustfiles can import it without pandas. Units are in the
column names; timestamps are epoch seconds. An API key is never stored, only `key_id`.
"""

from __future__ import annotations

import hashlib

SCHEMA_VERSION = 3
# Columns each version added, so that older files still read (the added columns empty).
ADDED_IN = {2: ("first_token_ms", "tbt_mean_ms", "tbt_max_ms", "chunks"),
            3: ("ratelimit_window_s", "ratelimit_family", "ratelimit_raw")}

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
    # The policy the rate-limit headers declare (contract.ratelimit_families): the limit,
    # remaining and reset above and this window come from one family, named here ("" when
    # none came); the text of any rate-limit header that could not be read, cut to RAW_MAX.
    ("ratelimit_window_s", "float"),
    ("ratelimit_family", "str"),
    ("ratelimit_raw", "str"),
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


# Bound from OUTCOMES itself (unpacking fails at import if the two drift apart), so that the
# rule below can only answer with a member of it.
(_OK, _RATE_LIMITED, _UNAVAILABLE, _UNAUTHORIZED, _FORBIDDEN, _NOT_FOUND, _INVALID,
 _SERVER_ERROR, _TIMEOUT, _TRANSPORT_ERROR, _BAD_RESPONSE) = OUTCOMES
_BY_STATUS = {401: _UNAUTHORIZED, 403: _FORBIDDEN, 404: _NOT_FOUND, 422: _INVALID,
              400: _INVALID, 429: _RATE_LIMITED, 503: _UNAVAILABLE}


def attempt_outcome(status: int, failure: BaseException | None = None, answer_id=None, *,
                    body_whole: bool = True, stream_ended: bool = True) -> str:
    """The outcome of one HTTP attempt: the one rule every client of the harness uses.

    `status` is the response's (0: none arrived). `failure` is what broke the attempt off: no
    response, or a body that stopped coming (a timeout when it is one, else a transport
    error); None when nothing did (an HTTP error status is not a failure). A 2xx is `ok` only
    when its body was read whole (`body_whole`), holds the answer's id (`answer_id`, a
    non-empty string: a chat completion's top-level request_id, the first model /v1/models
    lists) and, streamed, reached its end (`stream_ended`)."""
    if failure is not None or not status:
        return _TIMEOUT if _is_timeout(failure) else _TRANSPORT_ERROR
    if not 200 <= status < 300:
        return _BY_STATUS.get(status, _SERVER_ERROR if status >= 500 else _INVALID)
    if not body_whole or type(answer_id) is not str or not answer_id:
        return _BAD_RESPONSE
    return _OK if stream_ended else _TRANSPORT_ERROR


def _is_timeout(failure: BaseException | None) -> bool:
    """Whether what broke an attempt off was a timeout: a TimeoutError (socket timeouts), an
    exception whose class or a base of it is named so (gevent's Timeout, httpx's), or one
    that says it timed out (geventhttpclient's connection errors)."""
    if failure is None:
        return False
    if isinstance(failure, TimeoutError) or any(
            "timeout" in cls.__name__.lower() for cls in type(failure).__mro__):
        return True
    try:
        return "timed out" in str(failure)
    except Exception:  # a failure whose text cannot be had is not a known timeout
        return False
