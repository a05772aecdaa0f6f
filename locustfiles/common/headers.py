"""Read Retry-After and the rate-limit headers, whatever shape they come in. Never raises:
a value that cannot be read gives NaN, and the raw text stays for the record."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping

from analysis.schema import RAW_MAX

NAN = math.nan
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?"
                       r"(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?\s*$")
# Beyond this a Retry-After is not a wait but a mistake (a year).
MAX_WAIT_S = 365 * 86400.0


def _get(headers: Mapping[str, str], name: str) -> str | None:
    try:
        value = headers.get(name)
    except Exception:
        return None
    return None if value is None else str(value)


def parse_retry_after(headers: Mapping[str, str], now: float) -> tuple[float, str]:
    """(seconds to wait, raw text). `retry-after-ms` wins over `Retry-After`; an HTTP-date
    counts from `now`. Negative, unreadable or absurd values give NaN."""
    ms = _get(headers, "retry-after-ms")
    ra = _get(headers, "retry-after")
    raw = "; ".join(v for v in (f"ms={ms}" if ms is not None else None, ra) if v)[:RAW_MAX]
    if ms is not None and _NUMBER.match(ms):
        value = float(ms) / 1000
        if 0 <= value <= MAX_WAIT_S:
            return value, raw
    if ra is None:
        return NAN, raw
    # A repeated header arrives joined with commas; take the first value (an HTTP-date holds a
    # comma after the weekday, so only split a header that does not parse whole).
    candidates = [ra] + ([ra.split(",")[0]] if "," in ra else [])
    for text in candidates:
        if _NUMBER.match(text):
            value = float(text)
            return (value if 0 <= value <= MAX_WAIT_S else NAN), raw
        try:
            when = email.utils.parsedate_to_datetime(text.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if when is None or when.tzinfo is None:
            continue
        # A date in the past means "now"; the server's clock may simply be behind.
        return min(MAX_WAIT_S, max(0.0, when.timestamp() - now)), raw
    return NAN, raw


def _number(text: str | None) -> float:
    if text is None:
        return NAN
    first = text.split(",")[0].split(";")[0]
    return float(first) if _NUMBER.match(first) else NAN


def _duration(text: str | None) -> float:
    """OpenAI's reset values: '1s', '6m0s', '20ms', '1h2m3.5s'; a plain number is seconds."""
    if text is None:
        return NAN
    if _NUMBER.match(text):
        return float(text)
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        return NAN
    h, mnt, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mnt * 60 + s + ms / 1000


def parse_ratelimit(headers: Mapping[str, str], now: float) -> tuple[float, float, float]:
    """(limit, remaining, seconds until reset) from IETF RateLimit-*, X-RateLimit-* or
    OpenAI's x-ratelimit-*-requests, whichever the response carries."""
    if _get(headers, "x-ratelimit-limit-requests") is not None:
        return (_number(_get(headers, "x-ratelimit-limit-requests")),
                _number(_get(headers, "x-ratelimit-remaining-requests")),
                _duration(_get(headers, "x-ratelimit-reset-requests")))
    for prefix in ("ratelimit-", "x-ratelimit-"):
        if _get(headers, prefix + "limit") is not None or \
                _get(headers, prefix + "remaining") is not None:
            reset = _number(_get(headers, prefix + "reset"))
            # X-RateLimit-Reset is often an epoch timestamp (GitHub's convention).
            if reset > 1e9:
                reset = max(0.0, reset - now)
            return (_number(_get(headers, prefix + "limit")),
                    _number(_get(headers, prefix + "remaining")), reset)
    return NAN, NAN, NAN
