"""Read Retry-After and the rate-limit headers, whatever shape they come in. Never raises:
a value that cannot be read gives NaN, and the raw text stays for the record.

The one parser: the recorder (every attempt) and the doctor (one answer at a time) both call
it. Standard library only. Headers may come as any mapping (httpx's, with multi_items), an
iterable of pairs, or geventhttpclient's Headers (Locust's FastHttpUser answers with them), a
dict keyed by lower-cased names, which gets a fast path. That class is recognised by its module
name, so that this module (and the doctor) never import the load tool. The rate-limit families
themselves are read by contract.ratelimit_families (on contract.structured_fields, RFC 9651),
which this module is the front of.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping

from .events import RAW_MAX
from .ratelimit_families import RATELIMIT_NAMES, read_declared

NAN = math.nan
# Beyond this a Retry-After is not a wait but a mistake (a year).
MAX_WAIT_S = 365 * 86400.0

# The only headers the recorder reads; `pick` copies them out of a response in one pass.
WANTED = frozenset({"retry-after", "retry-after-ms"}) | RATELIMIT_NAMES


def header_text(value) -> str:
    """One header's value as text, whatever shape the client handed it over in: str, bytes
    (read as Latin-1, as HTTP/1.1 allows), or a list of the lines of a repeated header,
    joined with ", " as RFC 9110 joins field lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (list, tuple)):
        return ", ".join(header_text(v) for v in value)
    return str(value)


def _pairs(headers):
    """(name, value) for every header line: a mapping's items (httpx's multi_items when it
    has them) or an iterable of pairs (http.client's getheaders())."""
    multi = getattr(headers, "multi_items", None)
    if multi is not None:
        return multi()
    items = getattr(headers, "items", None)
    return items() if items is not None else iter(headers)


_lowered_types: dict[type, bool] = {}


def _is_lowered(headers) -> bool:
    """Whether `headers` is geventhttpclient's Headers: a dict keyed by lower-cased names."""
    cls = type(headers)
    known = _lowered_types.get(cls)
    if known is None:
        known = _lowered_types[cls] = issubclass(cls, dict) and \
            cls.__module__.startswith("geventhttpclient.")
    return known


def pick(headers) -> dict[str, str]:
    """The wanted headers, names lower-cased, values as text (a repeated header's lines
    joined); {} for anything that holds no headers."""
    out: dict[str, str] = {}
    if headers is None:
        return out
    try:
        if _is_lowered(headers):
            # A set intersection in C instead of a Python loop over every header: this runs
            # once per attempt (benchmarks/recorder_overhead.py).
            # (Headers is a dict keyed by the lowered names; its own keys() is Python-level.)
            for name in WANTED.intersection(dict.keys(headers)):
                out[name] = header_text(headers.get(name))
            return out
        for name, value in _pairs(headers):
            low = header_text(name).lower()
            if low in WANTED:
                text = header_text(value)
                out[low] = f"{out[low]}, {text}" if low in out else text
    except Exception:
        return {}
    return out


_parsed: dict[str, float] = {}
# Values longer than this are parsed but not memoised (no wait or limit is written that long).
_MEMO_TEXT_MAX = 64


def _plain_number(text: str) -> float:
    """A non-negative decimal such as '7', ' 1.5 ', '.5'; NaN for anything else (signs,
    exponents, 'nan', 'inf' and words included). Memoised: the same few values repeat on
    almost every response."""
    value = _parsed.get(text)
    if value is None:
        t = text.strip()
        value = float(t) if t and t.replace(".", "", 1).isdigit() and t.isascii() else NAN
        if len(text) > _MEMO_TEXT_MAX:  # a hostile server's long values are not kept
            return value
        if len(_parsed) >= 4096:
            _parsed.clear()
        _parsed[text] = value
    return value


def parse_retry_after(headers: Mapping[str, str], now: float) -> tuple[float, str]:
    """(seconds to wait, raw text) from picked headers. `retry-after-ms` wins over
    `Retry-After`; an HTTP-date counts from `now`. Negative, unreadable or absurd values give
    NaN."""
    return _retry_after(headers, now)[:2]


def _retry_after(headers: Mapping[str, str], now: float) -> tuple[float, str, float | None]:
    """parse_retry_after's answer, and the HTTP-date's epoch time when it was one (the answer
    then depends on `now`), else None."""
    ms = headers.get("retry-after-ms")
    ra = headers.get("retry-after")
    if ms is None and ra is None:
        return NAN, "", None
    raw = (ra if ms is None else f"ms={ms}" + (f"; {ra}" if ra else ""))[:RAW_MAX]
    if ms is not None:
        value = _plain_number(ms) / 1000
        if value <= MAX_WAIT_S:  # NaN compares false
            return value, raw, None
    if ra is None:
        return NAN, raw, None
    value = _plain_number(ra)
    if value == value:
        return (value if value <= MAX_WAIT_S else NAN), raw, None
    when = _http_date(ra)
    if when is not None:
        return _wait_until(when, now), raw, when
    if "," in ra:
        # A repeated header arrives joined with commas. Retry-After holds one value: lines
        # that agree say that value; lines that differ say nothing certain (NaN, raw kept).
        values = {_plain_number(part) for part in ra.split(",")}
        if len(values) == 1:
            value = values.pop()
            if value == value:
                return (value if value <= MAX_WAIT_S else NAN), raw, None
    return NAN, raw, None


def _wait_until(when: float, now: float) -> float:
    # A date in the past means "now"; the server's clock may simply be behind.
    return min(MAX_WAIT_S, max(0.0, when - now))


def _http_date(text: str) -> float | None:
    """An HTTP-date as epoch seconds; None when it is not one."""
    if text.lstrip().startswith("-"):
        return None
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    try:
        return when.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def parse_ratelimit(headers: Mapping[str, str], now: float) -> tuple[float, float, float]:
    """(limit, remaining, seconds until reset) from picked headers, of whichever family the
    response carries (contract.ratelimit_families' precedence)."""
    limit, _, remaining, reset, _, _ = read_declared(headers, now)[0]
    return limit, remaining, reset


def parse_declared(headers: Mapping[str, str],
                   now: float) -> tuple[float, float, float, float, str, str]:
    """(limit, window_s, remaining, reset_s, family, raw) from picked headers: the policy the
    response declares (contract.ratelimit_families)."""
    return read_declared(headers, now)[0]


# retry_after_s, retry_after_raw, ratelimit_limit, ratelimit_remaining, ratelimit_reset_s,
# ratelimit_window_s, ratelimit_family, ratelimit_raw
NO_FIELDS = (NAN, "", NAN, NAN, NAN, NAN, "", "")
# The names the memo's key is made of (header_fields writes them out); WANTED exactly.
_KEY_NAMES = ("retry-after-ms", "retry-after", "ratelimit", "ratelimit-policy",
              "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
              "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
              "anthropic-ratelimit-requests-reset", "x-ratelimit-limit-requests",
              "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
              "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
assert frozenset(_KEY_NAMES) == WANTED and len(_KEY_NAMES) == len(WANTED)
_dict_get = dict.get
_fields_memo: dict[tuple, tuple] = {}


def header_fields(headers, now: float) -> tuple:
    """The row's header columns of one response, NO_FIELDS' order: (retry_after_s,
    retry_after_raw, ratelimit_limit, ratelimit_remaining, ratelimit_reset_s,
    ratelimit_window_s, ratelimit_family, ratelimit_raw). Never raises.

    Runs once per attempt (benchmarks/recorder_overhead.py). For geventhttpclient's headers
    (Locust's FastHttpUser) the wanted values are read straight from the dict underneath
    (lowered name -> (name, value)) and the answer is memoised on them: a server repeats the
    same few values. An answer that depends on `now` (an HTTP-date, an epoch or RFC 3339
    reset) is memoised with the point in time it names, and the waits are taken from `now`
    again. Anything else goes the general way, `pick` then the parsers.
    """
    if _is_lowered(headers):
        try:
            g = _dict_get  # written out, not a loop: this is the hot path
            key = (g(headers, "retry-after-ms"), g(headers, "retry-after"),
                   g(headers, "ratelimit"), g(headers, "ratelimit-policy"),
                   g(headers, "ratelimit-limit"), g(headers, "ratelimit-remaining"),
                   g(headers, "ratelimit-reset"),
                   g(headers, "anthropic-ratelimit-requests-limit"),
                   g(headers, "anthropic-ratelimit-requests-remaining"),
                   g(headers, "anthropic-ratelimit-requests-reset"),
                   g(headers, "x-ratelimit-limit-requests"),
                   g(headers, "x-ratelimit-remaining-requests"),
                   g(headers, "x-ratelimit-reset-requests"), g(headers, "x-ratelimit-limit"),
                   g(headers, "x-ratelimit-remaining"), g(headers, "x-ratelimit-reset"))
            found = _fields_memo.get(key)  # TypeError: a repeated header (a list)
        except TypeError:
            found = key = None
        if found is not None:
            fields, ra_at, reset_at = found
            if ra_at is None and reset_at is None:
                return fields
            return _from_now(fields, ra_at, reset_at, now)
    else:
        key = None
    picked = pick(headers)
    if not picked:
        return NO_FIELDS
    try:
        ra, raw, ra_at = _retry_after(picked, now)
        (limit, window, remaining, reset, family, rl_raw), reset_at = read_declared(picked, now)
    except Exception:  # the parsers do not raise; this is only a last guard
        return NO_FIELDS
    fields = (ra, raw, limit, remaining, reset, window, family, rl_raw)
    if key is not None and all(len(v) <= _MEMO_TEXT_MAX for v in picked.values()):
        if len(_fields_memo) >= 4096:
            _fields_memo.clear()
        _fields_memo[key] = (fields, ra_at, reset_at)
    return fields


def _from_now(fields: tuple, ra_at, reset_at, now: float) -> tuple:
    ra, raw, limit, remaining, reset, window, family, rl_raw = fields
    if ra_at is not None:
        ra = _wait_until(ra_at, now)
    if reset_at is not None:
        reset = max(0.0, reset_at - now)
    return ra, raw, limit, remaining, reset, window, family, rl_raw
