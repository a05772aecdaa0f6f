"""Every rate-limit header family, read into the policy a response declares: limit, window,
remaining, seconds to the reset, and which family said so. Never raises.

The families, each as its specification or vendor writes it (names lower-cased):
  ietf-08    draft-ietf-httpapi-ratelimit-headers-08 to -10: `ratelimit-policy` and
             `ratelimit` are RFC 9651 Lists of Strings (or Tokens) with Parameters,
             `"default";q=10;w=5` and `"default";r=3;t=4`; q, w, r, t Integers, w > 0.
  ietf-07    draft-07: `ratelimit` a Dictionary, `limit=10, remaining=3, reset=4`, and
             `ratelimit-policy` a List of Integers with a `w` Parameter, `10;w=5, 50;w=60`.
  ietf-06    draft-06: `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` Items
             (seconds; one past 1e9 is read as an epoch time, as GitLab sends it) and the
             -07 `ratelimit-policy`; the earlier drafts' `ratelimit-limit: 10, 10;w=1` too.
  anthropic  `anthropic-ratelimit-requests-{limit,remaining}` counts and `-reset` an RFC 3339
             date-time with its offset (`2026-01-02T03:04:05Z`).
  openai     `x-ratelimit-{limit,remaining}-requests` counts and `-reset-requests` a Go
             duration (`6m0s`, `1s`, `12ms`, `1h2m3.5s`) or plain seconds.
  github     `x-ratelimit-{limit,remaining,reset}`, the reset epoch seconds (GitHub's
             convention) when past 1e9, else seconds from now.
The window comes only from an IETF policy: the one the current limit names (-08 by its id,
-06/-07 by its quota, which the draft makes unique), else the only one there is. Among several
-08 service limits the one with the fewest remaining is read (the drafts' "closest to its
limit"); a policy counted in another unit than requests is not read as a request limit.

Precedence, when a response carries several families: the first of FAMILIES that reads at
least one figure (the IETF fields first, newest draft first: they alone carry a window; then
the vendor families whose unit is named and whose reset is unambiguous; X-RateLimit-* last,
its reset being either an epoch time or a delay). A malformed field, or a repeated one whose
lines differ, is not read (NaN) and its text is kept in `raw` ("name: value; ..."); as the
drafts say, a malformed field is ignored, so a family with nothing readable gives way to the
next.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

from .events import RAW_MAX
from .structured_fields import StructuredFieldError, parse_dictionary, parse_list

NAN = math.nan
FAMILIES = ("ietf-08", "ietf-07", "ietf-06", "anthropic", "openai", "github")
_VENDOR = {
    "anthropic": ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
                  "anthropic-ratelimit-requests-reset"),
    "openai": ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
               "x-ratelimit-reset-requests"),
    "github": ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
}
_IETF06 = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
RATELIMIT_NAMES = frozenset(("ratelimit", "ratelimit-policy") + _IETF06
                            + sum(_VENDOR.values(), ()))
_EPOCH = 1e9  # a "reset" past this is a point in time, not a delay
_REQUESTS = ("requests", "request")  # -10's registry table writes the singular
# Matched against the stripped text with fullmatch: a leading and a trailing \s* around groups
# that may all be empty would backtrack over every split of a run of spaces (quadratic time on a
# hostile value).
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?"
                       r"(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?", re.ASCII)
_RFC3339 = re.compile(r"^\s*(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?"
                      r"(?:([Zz])|([+-])(\d\d):(\d\d))\s*$", re.ASCII)
_NONE = (NAN, NAN, NAN, NAN)


def _finite(value: float) -> float:
    """NaN for a figure too large to be one (hundreds of digits read as infinity)."""
    return value if value < math.inf else NAN


def _plain(text: str) -> float:
    t = text.strip()
    return _finite(float(t)) if t and t.isascii() and t.replace(".", "", 1).isdigit() else NAN


def _duration(text: str) -> float:
    value = _plain(text)
    if value == value:
        return value
    m = _DURATION.fullmatch(text.strip())
    if not m or not any(m.groups()):
        return NAN
    h, mnt, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return _finite(h * 3600 + mnt * 60 + s + ms / 1000)


def _rfc3339(text: str) -> float:
    m = _RFC3339.match(text)
    if not m:
        return NAN
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        sign = -1 if m.group(9) == "-" else 1
        tz = dt.UTC if m.group(8) else dt.timezone(
            sign * dt.timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
        leap = s == 60  # RFC 3339 allows a leap second
        when = dt.datetime(y, mo, d, h, mi, 59 if leap else s, tzinfo=tz)
        return when.timestamp() + leap + float(m.group(7) or 0)
    except (ValueError, OverflowError):
        return NAN


def _agreed(text: str, read) -> float:
    """One value from a field whose repeated lines were joined with ', ': lines that agree
    give their value, lines that differ give NaN."""
    if "," not in text:
        return read(text)
    values = {read(part) for part in text.split(",")}
    return values.pop() if len(values) == 1 else NAN  # NaNs never compare equal


def _count(v) -> float:
    """An sf Integer >= 0 as a float; NaN for anything else (booleans, decimals, text)."""
    return float(v) if type(v) is int and v >= 0 else NAN


def _sf(text: str | None, parse):
    if text is None:
        return None
    try:
        return parse(text)
    except StructuredFieldError:
        return False


def _ietf_sf(policies, limits, bad: list) -> tuple:
    """draft-08 to -10: the figures of the policy the lowest remaining names."""
    by_id = _distinct(policies, bad, "ratelimit-policy")
    limit = window = remaining = reset = NAN
    policy = None
    named = _distinct(limits, bad, "ratelimit")
    usable = [(_count(p.get("r")), i) for i, (name, p) in enumerate(limits or ())
              if name in named and by_id.get(name, {}).get("qu", "requests") in _REQUESTS]
    usable = [(r, i) for r, i in usable if r == r]
    if usable:
        remaining, i = min(usable)
        name, params = limits[i]
        if "t" in params:
            reset = _count(params["t"])
            if reset != reset:
                bad.append("ratelimit")
        policy = by_id.get(name)
    elif limits:
        bad.append("ratelimit")
    if policy is None and not limits and len(by_id) == 1:
        policy = next(iter(by_id.values()))
    elif policy is None and len(by_id) > 1 and not usable:
        bad.append("ratelimit-policy")  # several policies, none named: which one is unknown
    if policy is not None and policy.get("qu", "requests") in _REQUESTS:
        limit = _count(policy.get("q"))
        w = _count(policy.get("w", 1))
        window = w if w > 0 and "w" in policy else NAN
        if limit != limit or not w > 0:
            bad.append("ratelimit-policy")  # q is required, w a positive Integer
    return limit, window, remaining, reset


def _distinct(members, bad: list, name: str) -> dict:
    """Id -> parameters of draft-08 list members; an id listed twice with different parameters
    says two things at once, so it is left out and the field's text kept."""
    by_id: dict = {}
    clashing = set()
    for key, params in members or ():
        if by_id.setdefault(key, params) != params:
            clashing.add(key)
    if clashing:
        bad.append(name)
    return {k: v for k, v in by_id.items() if k not in clashing}


def _window_of(policies, limit: float, bad: list) -> tuple[float, float]:
    """(limit, window) from -06/-07 policies: the one whose quota is the limit, else the one.
    Policies for the same quota with different windows leave the window unknown (NaN, text
    kept)."""
    pick = [p for v, p in policies if v == limit] if limit == limit else []
    if not pick and len(policies) == 1 and limit != limit and _count(policies[0][0]) >= 0:
        limit, pick = _count(policies[0][0]), [policies[0][1]]
    windows = {_count(p.get("w")) for p in pick}
    w = windows.pop() if len(windows) == 1 else NAN
    if len(windows) > 0:  # more than one distinct window was left
        bad.append("ratelimit-policy")
    return limit, (w if w > 0 else NAN)


def _ietf07(entries, policies, bad: list) -> tuple:
    got = {}
    for key in ("limit", "remaining", "reset"):
        seen = [v for k, (v, _) in entries if k == key]
        values = {_count(v) for v in seen}
        got[key] = values.pop() if len(values) == 1 else NAN
        if seen and got[key] != got[key]:
            bad.append("ratelimit")
    limit, window = _window_of(policies, got["limit"], bad)
    return limit, window, got["remaining"], got["reset"]


def _item_number(text: str | None, bad: list, name: str) -> float:
    """A -06 Item (its Parameters ignored, as the draft says), or repeated lines that agree."""
    if text is None:
        return NAN
    members = _sf(text, parse_list)
    values = {float(v) if type(v) in (int, float) and v >= 0 else NAN
              for v, _ in members} if members else set()
    value = values.pop() if len(values) == 1 else NAN
    if value != value:
        bad.append(name)
    return value


def _limit_and_policies(text: str | None, bad: list, name: str) -> tuple[float, list]:
    """A limit Item, or the earlier drafts' list of it and its policies: "10, 10;w=1"."""
    members = _sf(text, parse_list) if text is not None else None
    if members and len(members) > 1 and all("w" in p for _, p in members[1:]):
        first = members[0][0]
        limit = float(first) if type(first) in (int, float) and first >= 0 else NAN
        if limit != limit:
            bad.append(name)
        return limit, list(members[1:])
    return _item_number(text, bad, name), []


def _ietf06(h: Mapping, policies, bad: list) -> tuple:
    limit, inline = _limit_and_policies(h.get("ratelimit-limit"), bad, "ratelimit-limit")
    remaining = _item_number(h.get("ratelimit-remaining"), bad, "ratelimit-remaining")
    reset = _item_number(h.get("ratelimit-reset"), bad, "ratelimit-reset")
    limit, window = _window_of(inline + (policies or []), limit, bad)
    return limit, window, remaining, reset


def read_declared(h: Mapping[str, str], now: float) -> tuple[tuple, float | None]:
    """((limit, window_s, remaining, reset_s, family, raw), reset_at) from picked headers
    (lower-cased names, text values). reset_at is the reset's epoch time when the headers gave
    a point in time (the answer then depends on `now`), else None."""
    bad: list[str] = []
    readings = []
    policy = _sf(h.get("ratelimit-policy"), parse_list)
    rl_list = _sf(h.get("ratelimit"), parse_list)
    sf_policy = policy if policy and all(isinstance(v, str) for v, _ in policy) else None
    int_policy = policy if policy and all(type(v) is int for v, _ in policy) else None
    sf_limits = rl_list if rl_list and all(isinstance(v, str) for v, _ in rl_list) else None
    entries = None
    if h.get("ratelimit") is not None and sf_limits is None:
        entries = _sf(h["ratelimit"], parse_dictionary) or None
        if entries is None:
            bad.append("ratelimit")
    if policy is not None and sf_policy is None and int_policy is None:
        bad.append("ratelimit-policy")
    if sf_policy is not None or sf_limits is not None:
        readings.append(("ietf-08", _ietf_sf(sf_policy, sf_limits, bad), None))
    if entries is not None:
        readings.append(("ietf-07", _ietf07(entries, int_policy or [], bad), None))
    if any(n in h for n in _IETF06) or (int_policy is not None and entries is None):
        figures = _ietf06(h, int_policy, bad)
        readings.append(("ietf-06", *_epoch(figures, now)))
    for family in FAMILIES[3:]:  # the vendor families, in precedence order
        names = _VENDOR[family]
        if not any(n in h for n in names):
            continue
        figures = []
        window = NAN
        for name, read in zip(names, (_plain, _plain, _RESET[family])):
            if name == "x-ratelimit-limit" and name in h:  # also the early drafts' list form
                limit, inline = _limit_and_policies(h[name], bad, name)
                limit, window = _window_of(inline, limit, bad) if inline else (limit, NAN)
                figures.append(limit)
                continue
            text = h.get(name)
            value = NAN if text is None else _agreed(text, read)
            if text is not None and value != value:
                bad.append(name)
            figures.append(value)
        limit, remaining, reset = figures
        if family == "anthropic":  # a point in time, always
            at = reset if reset == reset else None
            reading = ((limit, NAN, remaining, NAN if at is None else max(0.0, at - now)), at)
        elif family == "github":
            reading = _epoch((limit, window, remaining, reset), now)
        else:
            reading = ((limit, NAN, remaining, reset), None)
        readings.append((family, *reading))
    raw = "; ".join(f"{n}: {h[n]}" for n in dict.fromkeys(bad))[:RAW_MAX] if bad else ""
    for family, figures, at in readings:
        if any(v == v for v in figures):
            return (*figures, family, raw), at
    if readings:
        family, figures, at = readings[0]
        return (*figures, family, raw), at
    return (*_NONE, "", raw), None


def _epoch(figures: tuple, now: float) -> tuple[tuple, float | None]:
    limit, window, remaining, reset = figures
    if reset > _EPOCH:
        return (limit, window, remaining, max(0.0, reset - now)), reset
    return figures, None


_RESET = {"anthropic": _rfc3339, "openai": _duration, "github": _plain}
