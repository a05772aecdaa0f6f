"""Read Retry-After and the rate-limit headers, whatever shape they come in. Never raises:
a value that cannot be read gives NaN, and the raw text stays for the record.

The one parser: the recorder (every attempt) and the doctor (one answer at a time) both call
it. Standard library only. Headers may come as any mapping (httpx's, with multi_items), an
iterable of pairs, or geventhttpclient's Headers (Locust's FastHttpUser answers with them), a
dict keyed by lower-cased names, which gets a fast path. That class is recognised by its module
name, so that this module (and the doctor) never import the load tool.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping

from .events import RAW_MAX

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


def _retry_after(headers: Mapping[str, str], now: float) -> tuple[float, str, bool]:
    """parse_retry_after's answer, and whether it depended on `now` (an HTTP-date)."""
    ms = headers.get("retry-after-ms")
    ra = headers.get("retry-after")
    if ms is None and ra is None:
        return NAN, "", False
    raw = (ra if ms is None else f"ms={ms}" + (f"; {ra}" if ra else ""))[:RAW_MAX]
    if ms is not None:
        value = _plain_number(ms) / 1000
        if value <= MAX_WAIT_S:  # NaN compares false
            return value, raw, False
    if ra is None:
        return NAN, raw, False
    value = _plain_number(ra)
    if value == value:
        return (value if value <= MAX_WAIT_S else NAN), raw, False
    when = _http_date(ra)
    if when is not None:
        # A date in the past means "now"; the server's clock may simply be behind.
        return min(MAX_WAIT_S, max(0.0, when - now)), raw, True
    if "," in ra:
        # A repeated header arrives joined with commas. Retry-After holds one value: lines
        # that agree say that value; lines that differ say nothing certain (NaN, raw kept).
        values = {_plain_number(part) for part in ra.split(",")}
        if len(values) == 1:
            value = values.pop()
            if value == value:
                return (value if value <= MAX_WAIT_S else NAN), raw, False
    return NAN, raw, False


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
    return _ratelimit(headers, now)[0]


def _ratelimit(headers: Mapping[str, str],
               now: float) -> tuple[tuple[float, float, float], bool]:
    """parse_ratelimit's answer, and whether it depended on `now` (an epoch reset)."""
    get = headers.get
    if "x-ratelimit-limit-requests" in headers or "x-ratelimit-remaining-requests" in headers:
        return (_number(get("x-ratelimit-limit-requests")),
                _number(get("x-ratelimit-remaining-requests")),
                _duration(get("x-ratelimit-reset-requests"))), False
    for prefix in ("ratelimit-", "x-ratelimit-"):
        if prefix + "limit" in headers or prefix + "remaining" in headers:
            reset = _number(get(prefix + "reset"))
            # X-RateLimit-Reset is often an epoch timestamp (GitHub's convention).
            epoch = reset > 1e9
            if epoch:
                reset = max(0.0, reset - now)
            return (_number(get(prefix + "limit")), _number(get(prefix + "remaining")),
                    reset), epoch
    return (NAN, NAN, NAN), False


NO_FIELDS = (NAN, "", NAN, NAN, NAN)
_OPENAI = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
           "x-ratelimit-reset-requests")
_OTHERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
           "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
_dict_get = dict.get
_fields_memo: dict[tuple, tuple] = {}


def header_fields(headers, now: float) -> tuple[float, str, float, float, float]:
    """The row's header columns of one response: (retry_after_s, retry_after_raw,
    ratelimit_limit, ratelimit_remaining, ratelimit_reset_s). Never raises.

    Runs once per attempt (benchmarks/recorder_overhead.py). For geventhttpclient's headers
    (Locust's FastHttpUser) the wanted values are read straight from the dict underneath
    (lowered name -> (name, value)) and the answer is memoised on them: a server repeats the
    same few values. Answers that depend on `now` (an HTTP-date, an epoch reset) are not
    memoised. Anything else goes the general way, `pick` then the parsers.
    """
    if _is_lowered(headers):
        try:
            key = (_dict_get(headers, "retry-after-ms"), _dict_get(headers, "retry-after"),
                   _dict_get(headers, _OPENAI[0]), _dict_get(headers, _OPENAI[1]),
                   _dict_get(headers, _OPENAI[2]))
            if key[2] is None and key[3] is None:  # not OpenAI's names: look at the rest
                key += tuple([_dict_get(headers, name) for name in _OTHERS])
            found = _fields_memo.get(key)  # TypeError: a repeated header (a list)
        except TypeError:
            found = key = None
        if found is not None:
            return found
    else:
        key = None
    picked = pick(headers)
    if not picked:
        return NO_FIELDS
    try:
        ra, raw, ra_now = _retry_after(picked, now)
        (limit, remaining, reset), rl_now = _ratelimit(picked, now)
    except Exception:  # the parsers do not raise; this is only a last guard
        return NO_FIELDS
    fields = (ra, raw, limit, remaining, reset)
    if key is not None and not (ra_now or rl_now) and \
            all(len(v) <= _MEMO_TEXT_MAX for v in picked.values()):
        if len(_fields_memo) >= 4096:
            _fields_memo.clear()
        _fields_memo[key] = fields
    return fields
