"""Read Retry-After and the rate-limit headers, whatever shape they come in. Never raises:
a value that cannot be read gives NaN, and the raw text stays for the record."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping

from analysis.schema import RAW_MAX

NAN = math.nan
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?"
                       r"(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?\s*$")
# Beyond this a Retry-After is not a wait but a mistake (a year).
MAX_WAIT_S = 365 * 86400.0

# The only headers the recorder reads; `pick` copies them out of a response in one pass.
WANTED = frozenset({
    "retry-after", "retry-after-ms",
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
})


try:  # Locust's FastHttpUser answers with these; their class lowers every header name.
    from geventhttpclient.header import Headers as _LoweredHeaders
except ImportError:  # pragma: no cover
    _LoweredHeaders = ()


def pick(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The wanted headers, names lower-cased; {} for anything that is not a mapping."""
    out: dict[str, str] = {}
    try:
        if isinstance(headers, _LoweredHeaders):
            # A set intersection in C instead of a Python loop over every header: this runs
            # once per attempt (benchmarks/recorder_overhead.py).
            # (Headers is a dict keyed by the lowered names; its own keys() is Python-level.)
            for name in WANTED.intersection(dict.keys(headers)):
                out[name] = str(headers.get(name))
            return out
        for name, value in headers.items():
            low = name.lower()
            if low in WANTED:
                out[low] = str(value)
    except Exception:
        return {}
    return out


_parsed: dict[str, float] = {}


def _plain_number(text: str) -> float:
    """A non-negative decimal such as '7', ' 1.5 ', '.5'; NaN for anything else (signs,
    exponents, 'nan', 'inf' and words included). Memoised: the same few values repeat on
    almost every response."""
    value = _parsed.get(text)
    if value is None:
        t = text.strip()
        value = float(t) if t and t.replace(".", "", 1).isdigit() and t.isascii() else NAN
        if len(_parsed) >= 4096:
            _parsed.clear()
        _parsed[text] = value
    return value


def parse_retry_after(headers: Mapping[str, str], now: float) -> tuple[float, str]:
    """(seconds to wait, raw text) from picked headers. `retry-after-ms` wins over
    `Retry-After`; an HTTP-date counts from `now`. Negative, unreadable or absurd values give
    NaN."""
    ms = headers.get("retry-after-ms")
    ra = headers.get("retry-after")
    if ms is None and ra is None:
        return NAN, ""
    raw = (ra if ms is None else f"ms={ms}" + (f"; {ra}" if ra else ""))[:RAW_MAX]
    if ms is not None:
        value = _plain_number(ms) / 1000
        if value <= MAX_WAIT_S:  # NaN compares false
            return value, raw
    if ra is None:
        return NAN, raw
    value = _plain_number(ra)
    if value == value:
        return (value if value <= MAX_WAIT_S else NAN), raw
    # A repeated header arrives joined with commas; take the first value (an HTTP-date holds a
    # comma after the weekday, so only split a header that does not parse whole).
    for text in (ra, ra.split(",")[0]) if "," in ra else (ra,):
        value = _plain_number(text)
        if value == value:
            return (value if value <= MAX_WAIT_S else NAN), raw
        if text.lstrip().startswith("-"):
            continue
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
    return _plain_number(text.split(",")[0].split(";")[0])


def _duration(text: str | None) -> float:
    """OpenAI's reset values: '1s', '6m0s', '20ms', '1h2m3.5s'; a plain number is seconds."""
    if text is None:
        return NAN
    value = _plain_number(text)
    if value == value:
        return value
    if text.endswith("s") and not text.endswith("ms"):
        value = _plain_number(text[:-1])
        if value == value:
            return value
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        return NAN
    h, mnt, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mnt * 60 + s + ms / 1000


def parse_ratelimit(headers: Mapping[str, str], now: float) -> tuple[float, float, float]:
    """(limit, remaining, seconds until reset) from picked headers: IETF RateLimit-*,
    X-RateLimit-* or OpenAI's x-ratelimit-*-requests, whichever the response carries."""
    get = headers.get
    if "x-ratelimit-limit-requests" in headers or "x-ratelimit-remaining-requests" in headers:
        return (_number(get("x-ratelimit-limit-requests")),
                _number(get("x-ratelimit-remaining-requests")),
                _duration(get("x-ratelimit-reset-requests")))
    for prefix in ("ratelimit-", "x-ratelimit-"):
        if prefix + "limit" in headers or prefix + "remaining" in headers:
            reset = _number(get(prefix + "reset"))
            # X-RateLimit-Reset is often an epoch timestamp (GitHub's convention).
            if reset > 1e9:
                reset = max(0.0, reset - now)
            return _number(get(prefix + "limit")), _number(get(prefix + "remaining")), reset
    return NAN, NAN, NAN
